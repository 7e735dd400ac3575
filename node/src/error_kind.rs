//! The node's error type, [`ApiError`], and its class, [`ErrorKind`]: a leaf module that imports
//! nothing from this crate, so the modules whose errors convert into it ([`crate::home`],
//! [`crate::store`], [`crate::import`], …) need not depend on [`crate::api`], which depends on
//! them for the types its replies carry. [`crate::api`] re-exports both.

use serde::{Deserialize, Serialize};

/// The class of an error, which the CLI maps to its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A field, argument or file is not acceptable.
    InvalidInput,
    /// The thing asked for does not exist (or a prefix matches nothing or several things).
    NotFound,
    /// The store or daemon cannot be reached or is busy.
    Unavailable,
    /// The home is not initialised or has not joined a federation.
    NotSetUp,
    /// An operation did not finish in time.
    Timeout,
    /// Anything else.
    Internal,
}

/// An error from the node, with a message that names the culprit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError { kind, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

impl From<csx_protocol::RecordError> for ApiError {
    fn from(e: csx_protocol::RecordError) -> Self {
        ApiError::invalid(e.to_string())
    }
}
