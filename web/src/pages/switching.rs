use super::PageError;
pub async fn page() -> PageError { PageError::NotFound("x".into()) }
