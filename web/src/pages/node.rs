use super::PageError;
pub async fn page() -> PageError { PageError::NotFound("x".into()) }
pub async fn endorse() -> PageError { PageError::NotFound("x".into()) }
