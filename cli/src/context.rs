//! What every command needs: the home, the printer, and a connection to the node.

use std::cell::OnceCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use csx_node::api::{ApiError, Request, Response};
use csx_node::home::Home;
use csx_node::service::{Service, system_clock};
use csx_node::store::{SledStore, StoreConfig};
use csx_protocol::RecordId;

use crate::output::Output;

/// A way to reach the node: its service over the store, or (later) the running daemon.
pub trait Node {
    fn call(&self, request: Request) -> Result<Response, ApiError>;
}

/// The offline node: the CLI opens the store itself.
struct Offline(Service);

impl Node for Offline {
    fn call(&self, request: Request) -> Result<Response, ApiError> {
        self.0.handle(request)
    }
}

pub struct Ctx {
    pub home: Home,
    pub out: Output,
    /// Whether a person is at a terminal to answer prompts.
    pub interactive: bool,
    node: OnceCell<Box<dyn Node>>,
}

impl Ctx {
    pub fn new(home: PathBuf, json: bool, no_input: bool) -> Ctx {
        let interactive = !no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Ctx {
            home: Home::new(home),
            out: Output { json },
            interactive,
            node: OnceCell::new(),
        }
    }

    /// The node, connected on first use.
    pub fn node(&self) -> anyhow::Result<&dyn Node> {
        if let Some(n) = self.node.get() {
            return Ok(n.as_ref());
        }
        self.home.identity()?;
        let store = SledStore::open(&self.home.store_dir(), StoreConfig::default())
            .with_context(|| format!("opening the store of {}", self.home.root().display()))?;
        let service = Service::open(&self.home, Arc::new(store), system_clock(), "offline")?;
        Ok(self.node.get_or_init(|| Box::new(Offline(service))).as_ref())
    }

    pub fn call(&self, request: Request) -> anyhow::Result<Response> {
        Ok(self.node()?.call(request)?)
    }

    /// Resolves a record id or unique prefix to a full id.
    pub fn resolve(&self, text: &str) -> anyhow::Result<RecordId> {
        match self.call(Request::Record { id: text.to_string() })? {
            Response::Record { record } => Ok(record.record.decode()?.id()),
            other => anyhow::bail!("unexpected reply {other:?}"),
        }
    }
}

/// The default home: `$CSX_HOME`, else the platform's data directory (e.g. ~/.local/share/csx).
pub fn default_home() -> PathBuf {
    directories::ProjectDirs::from("", "", "csx")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".csx"))
}
