//! What every command needs: the home, the printer, and a connection to the node.

use std::cell::OnceCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use std::time::Duration;

use csx_node::api::{ApiError, Request, Response};
use csx_node::control::ControlClient;
use csx_node::home::Home;
use csx_node::service::Service;
use csx_node::store::{SledStore, StoreConfig, StoreError};
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

/// The running daemon, reached over its control socket.
struct Daemon(ControlClient);

/// How long a command waits for the daemon (a sync waits its own timeout and a margin).
fn reply_timeout(request: &Request) -> Duration {
    match request {
        Request::Sync { timeout_ms } => Duration::from_millis(*timeout_ms) + Duration::from_secs(10),
        _ => Duration::from_secs(300),
    }
}

impl Node for Daemon {
    fn call(&self, request: Request) -> Result<Response, ApiError> {
        self.0.call(&request, reply_timeout(&request))
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
    pub fn new(home: PathBuf, out: Output, no_input: bool) -> Ctx {
        let interactive = !no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Ctx { home: Home::new(home), out, interactive, node: OnceCell::new() }
    }

    /// The node, connected on first use.
    pub fn node(&self) -> anyhow::Result<&dyn Node> {
        if let Some(n) = self.node.get() {
            return Ok(n.as_ref());
        }
        self.home.identity()?;
        if let Some(client) = ControlClient::connect(&self.home)? {
            return Ok(self.node.get_or_init(|| Box::new(Daemon(client))).as_ref());
        }
        let store = match SledStore::open(&self.home.store_dir(), StoreConfig::default()) {
            Ok(s) => s,
            Err(StoreError::Locked { .. }) => {
                // A daemon may be starting (it takes the store before it opens its socket), or
                // another command may be using the store for a moment: wait for either.
                match wait_for_store_or_daemon(&self.home)? {
                    Either::Daemon(client) => return Ok(self.node.get_or_init(|| Box::new(Daemon(client))).as_ref()),
                    Either::Store(s) => *s,
                }
            }
            Err(e) => return Err(e).with_context(|| format!("opening the store of {}", self.home.root().display())),
        };
        let service = Service::open(&self.home, Arc::new(store), Arc::new(crate::now_ms), "offline")?;
        Ok(self.node.get_or_init(|| Box::new(Offline(service))).as_ref())
    }

    pub fn call(&self, request: Request) -> anyhow::Result<Response> {
        Ok(self.node()?.call(request)?)
    }

    /// Every provider's name by code (built-in and those members added).
    pub fn provider_names(&self) -> anyhow::Result<crate::view::Names> {
        let Response::Providers { providers } = self.call(Request::Providers)? else {
            anyhow::bail!("unexpected reply")
        };
        Ok(providers.into_iter().map(|p| (p.code, p.name)).collect())
    }

    /// A provider given on the command line by code or name, as its code.
    pub fn provider_code(&self, names: &crate::view::Names, given: &str) -> anyhow::Result<String> {
        let mut known = csx_node::input::ProviderNames::default();
        for (code, name) in names {
            known.add(code, name, &[]);
        }
        known.resolve("provider", given).map_err(|e| crate::error::CliError::invalid(e.as_flag()).into())
    }

    /// Resolves a record id or unique prefix to a full id.
    pub fn resolve(&self, text: &str) -> anyhow::Result<RecordId> {
        match self.call(Request::Record { id: text.to_string() })? {
            Response::Record { record } => Ok(record.record.decode()?.id()),
            other => anyhow::bail!("unexpected reply {other:?}"),
        }
    }
}

/// How long a command waits, when the store is held, for a starting daemon's control socket or for
/// another command to let the store go.
const DAEMON_START_WAIT: Duration = Duration::from_secs(10);

enum Either {
    Daemon(ControlClient),
    Store(Box<SledStore>),
}

/// Waits until a daemon answers for `home` or its store comes free, for a while.
fn wait_for_store_or_daemon(home: &Home) -> anyhow::Result<Either> {
    let deadline = std::time::Instant::now() + DAEMON_START_WAIT;
    loop {
        if let Some(c) = ControlClient::connect(home)? {
            return Ok(Either::Daemon(c));
        }
        match SledStore::open(&home.store_dir(), StoreConfig::default()) {
            Ok(s) => return Ok(Either::Store(Box::new(s))),
            Err(e @ StoreError::Locked { .. }) if std::time::Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("opening the store of {}", home.root().display()));
            }
            Err(StoreError::Locked { .. }) => std::thread::sleep(Duration::from_millis(25 + fastrand::u64(..50))),
            Err(e) => return Err(e).with_context(|| format!("opening the store of {}", home.root().display())),
        }
    }
}

/// The default home: `$CSX_HOME`, else the platform's data directory (e.g. ~/.local/share/csx).
pub fn default_home() -> PathBuf {
    directories::ProjectDirs::from("", "", "csx")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".csx"))
}
