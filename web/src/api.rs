use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use crate::app::App;
pub fn routes() -> axum::Router<Arc<App>> { axum::Router::new() }
pub async fn help() -> crate::pages::PageError { crate::pages::PageError::NotFound("x".into()) }
pub fn error_json(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": {"kind": kind, "message": message}}))).into_response()
}
