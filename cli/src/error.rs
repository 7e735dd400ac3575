//! Exit codes and the error type that carries one.

use csx_node::api::{ApiError, ErrorKind};
use csx_node::client::ClientError;

/// Exit codes of `csx` (also listed in `csx --help`).
pub mod exit {
    /// Unexpected failure (a bug, a damaged store, an I/O error).
    pub const FAILURE: i32 = 1;
    /// A value, record or file is not acceptable; nothing was written.
    pub const INVALID: i32 = 3;
    /// The record, feed or file asked for does not exist, or a prefix is ambiguous.
    pub const NOT_FOUND: i32 = 4;
    /// The store or daemon is busy or unreachable.
    pub const UNAVAILABLE: i32 = 5;
    /// This home is not set up (`csx init`) or has not joined a federation.
    pub const NOT_SET_UP: i32 = 6;
    /// An operation did not complete in time.
    pub const TIMEOUT: i32 = 7;
}

pub const AFTER_HELP: &str = "Examples:
  csx prices --service-line BI            what members pay for business intelligence
  csx price add --provider 0DE --service-line BI --year 2024/25 --annual-value \"£1,680,000\" \\
      --vat-included no --pricing-model fixed
  csx import contracts.csv --kind price --dry-run
  csx review list --csv > reviews.csv     open in Excel
  csx prices --help                       any command's options and examples

Exit codes:
  0  success
  1  unexpected failure (damaged store, I/O error, bug)
  2  usage error (unknown command or flag)
  3  invalid input: a field, record or file is not acceptable; nothing was written
  4  not found: no such record/feed/file, or an ambiguous id prefix
  5  unavailable: the store is held by another process or the daemon cannot be reached
  6  not set up: run `csx init` and `csx federation join` first
  7  timeout: the operation did not complete in time
  A closed output (`csx review list | head`) ends the command quietly with exit code 0.";

/// An error that decides the process's exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        CliError { code, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(exit::INVALID, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(exit::NOT_FOUND, message)
    }
}

impl From<ApiError> for CliError {
    fn from(e: ApiError) -> Self {
        let code = match e.kind {
            ErrorKind::InvalidInput => exit::INVALID,
            ErrorKind::NotFound => exit::NOT_FOUND,
            ErrorKind::Unavailable => exit::UNAVAILABLE,
            ErrorKind::NotSetUp => exit::NOT_SET_UP,
            ErrorKind::Timeout => exit::TIMEOUT,
            ErrorKind::Internal => exit::FAILURE,
        };
        CliError::new(code, e.message)
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        CliError::from(ApiError::from(e))
    }
}

/// The exit code for an error chain: the first [`CliError`] or [`ApiError`] in it decides.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<CliError>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return CliError::from(ApiError::new(e.kind(), "")).code;
        }
        if let Some(e) = cause.downcast_ref::<ApiError>() {
            return CliError::from(e.clone()).code;
        }
        if let Some(e) = cause.downcast_ref::<csx_node::home::HomeError>() {
            return CliError::from(ApiError::new(e.kind(), "")).code;
        }
        if let Some(e) = cause.downcast_ref::<csx_node::store::StoreError>() {
            return CliError::from(ApiError::new(e.kind(), "")).code;
        }
    }
    exit::FAILURE
}
