use super::PageError;
pub async fn page() -> PageError { PageError::NotFound("x".into()) }
pub async fn add() -> PageError { PageError::NotFound("x".into()) }
pub async fn act() -> PageError { PageError::NotFound("x".into()) }
