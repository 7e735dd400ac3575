//! How the dashboard reaches its node: in the daemon, the running node's in-process API; for
//! `csx dashboard`, the service over the store it opened, or a daemon's control socket. All
//! three answer the same `Request`s with the same `Response`s, so a page shows what
//! `csx … --json` prints. Pages use the typed methods of [`AsyncNode`], which `NodeLink`
//! implements: the matching of replies to requests is the node crate's (`csx_node::client`).

use std::sync::Arc;

use csx_node::api::{ApiError, ErrorKind, Request, Response};
use csx_node::client::AsyncNode;
use csx_node::control::ControlClient;
use csx_node::runtime::NodeApi;
use csx_node::service::Service;

/// How long a page waits for a daemon reached over its control socket.
const CONTROL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A connection to the node.
#[derive(Debug, Clone)]
pub enum NodeLink {
    /// The daemon's own node (the dashboard runs inside `csx daemon`).
    InProcess(NodeApi),
    /// The service over a store this process opened (`csx dashboard` with no daemon running).
    Offline(Arc<Service>),
    /// A daemon running for the home, reached over its control socket.
    Control(Arc<ControlClient>),
}

impl AsyncNode for NodeLink {
    async fn send(&self, request: Request) -> Result<Response, ApiError> {
        match self {
            NodeLink::InProcess(api) => api.handle(request).await,
            NodeLink::Offline(service) => {
                let service = service.clone();
                blocking(move || service.handle(request)).await
            }
            NodeLink::Control(client) => {
                let client = client.clone();
                blocking(move || client.call(&request, CONTROL_TIMEOUT)).await
            }
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, format!("a node task failed: {e}")))?
}
