//! # csx-web
//!
//! The dashboard: the node's answers as pages for staff (the NHS.UK frontend look, charts drawn
//! on the server as SVG with their data tables beneath), forms that record reviews, prices,
//! switches, motions and retractions through the same parsers as the CLI, staff accounts with
//! roles, a local audit log, and a JSON API (`/api/v1/…`) returning exactly what
//! `csx … --json` prints. `csx daemon` serves it beside the node; `csx dashboard` serves it for
//! one person over an offline home.

pub mod accounts;
pub mod api;
pub mod app;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod csvout;
pub mod html;
pub mod link;
pub mod pages;
pub mod sessions;
pub mod tls;

pub use accounts::{Accounts, Role};
pub use app::{App, Running, Settings, StartError, bind, router, serve, start};
pub use audit::AuditLog;
pub use link::NodeLink;
