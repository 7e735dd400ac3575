use super::PageError;
pub async fn page() -> PageError { PageError::NotFound("x".into()) }
pub async fn password() -> PageError { PageError::NotFound("x".into()) }
pub async fn create_token() -> PageError { PageError::NotFound("x".into()) }
pub async fn revoke_token() -> PageError { PageError::NotFound("x".into()) }
