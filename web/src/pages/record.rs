use super::PageError;
pub async fn index() -> PageError { PageError::NotFound("x".into()) }
pub async fn form() -> PageError { PageError::NotFound("x".into()) }
pub async fn submit() -> PageError { PageError::NotFound("x".into()) }
pub async fn mine() -> PageError { PageError::NotFound("x".into()) }
pub async fn retract_form() -> PageError { PageError::NotFound("x".into()) }
pub async fn retract() -> PageError { PageError::NotFound("x".into()) }
pub async fn saved() -> PageError { PageError::NotFound("x".into()) }
