use super::PageError;
pub async fn form() -> PageError { PageError::NotFound("x".into()) }
pub async fn submit() -> PageError { PageError::NotFound("x".into()) }
