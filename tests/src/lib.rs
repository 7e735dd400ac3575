//! End-to-end tests of csx.
