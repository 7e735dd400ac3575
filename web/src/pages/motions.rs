use super::PageError;
pub async fn page() -> PageError { PageError::NotFound("x".into()) }
pub async fn one() -> PageError { PageError::NotFound("x".into()) }
pub async fn support() -> PageError { PageError::NotFound("x".into()) }
