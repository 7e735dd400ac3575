//! What every command needs: the home, the printer, and a connection to the node.

use std::cell::OnceCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use std::time::Duration;

use csx_node::client::Node;
use csx_node::control::ControlClient;
use csx_node::home::Home;
use csx_node::service::Service;
use csx_node::store::{SledStore, StoreConfig, StoreError};
use csx_protocol::RecordId;

use crate::output::Output;

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
            return Ok(self.node.get_or_init(|| Box::new(client)).as_ref());
        }
        // A daemon is starting (it holds its lock but does not answer yet): wait for it rather
        // than answer from the store, or say "no daemon is running".
        if daemon_starting(&self.home)
            && let Some(client) = wait_for_daemon(&self.home)?
        {
            return Ok(self.node.get_or_init(|| Box::new(client)).as_ref());
        }
        let store = match SledStore::open(&self.home.store_dir(), StoreConfig::default()) {
            Ok(s) => s,
            Err(StoreError::Locked { .. }) => {
                // A daemon may be starting (it takes the store before it opens its socket), or
                // another command may be using the store for a moment: wait for either.
                match wait_for_store_or_daemon(&self.home)? {
                    Either::Daemon(client) => return Ok(self.node.get_or_init(|| Box::new(client)).as_ref()),
                    Either::Store(s) => *s,
                }
            }
            Err(e) => return Err(e).with_context(|| format!("opening the store of {}", self.home.root().display())),
        };
        let service = Service::open(&self.home, Arc::new(store), Arc::new(crate::now_ms), "offline")?;
        Ok(self.node.get_or_init(|| Box::new(service)).as_ref())
    }

    /// For commands only a daemon answers (`csx sync`): when no daemon runs or starts for this
    /// home yet, waits up to `grace` for one to (e.g. `csx daemon &` just before); the call that
    /// follows then waits for a starting daemon as every command does.
    pub fn await_daemon(&self, grace: Duration) -> anyhow::Result<()> {
        if self.node.get().is_some() {
            return Ok(());
        }
        self.home.identity()?;
        let deadline = std::time::Instant::now() + grace;
        loop {
            if daemon_starting(&self.home) || ControlClient::connect(&self.home)?.is_some() {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25 + fastrand::u64(..50)));
        }
    }

    /// Every provider's name by code (built-in and those members added).
    pub fn provider_names(&self) -> anyhow::Result<crate::view::Names> {
        Ok(self.node()?.providers()?.into_iter().map(|p| (p.code, p.name)).collect())
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
        Ok(self.node()?.record(text.to_string())?.record.decode()?.id())
    }
}

/// How long a command waits, when the store is held, for a starting daemon's control socket or for
/// another command to let the store go.
const DAEMON_START_WAIT: Duration = Duration::from_secs(10);

/// How long a command waits for a starting daemon (one that holds its lock) to answer: it may
/// wait for its store for up to 10 s, then starts its network and binds its socket.
const DAEMON_ANSWER_WAIT: Duration = Duration::from_secs(30);

/// The file a daemon holds locked for as long as it runs (see [`lock_daemon`]).
fn daemon_lock_path(home: &Home) -> PathBuf {
    home.path("daemon.lock")
}

/// Held by a running daemon: a second one for the same home fails at once, and commands can
/// tell a starting daemon (locked, no socket yet) from none.
#[derive(Debug)]
pub struct DaemonLock(#[allow(dead_code)] std::fs::File);

/// How many times (10 ms apart) a starting daemon tries for a lock another process holds.
const LOCK_TRIES: u32 = 20;

/// Takes this home's daemon lock, or says that a daemon is already running for it.
pub fn lock_daemon(home: &Home) -> anyhow::Result<DaemonLock> {
    let path = daemon_lock_path(home);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    // A command asking whether a daemon is starting takes the lock shared for a moment
    // (`daemon_starting`); a daemon starting just then must not take that for a running daemon.
    // Such a probe lasts microseconds, a running daemon holds the lock for good: try for a while.
    let mut tries = 0;
    let contended = |e: &std::io::Error| {
        e.kind() == fs2::lock_contended_error().kind() || e.kind() == std::io::ErrorKind::WouldBlock
    };
    let locked = loop {
        match fs2::FileExt::try_lock_exclusive(&file) {
            Err(e) if contended(&e) && tries < LOCK_TRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => break other,
        }
    };
    match locked {
        Ok(()) => Ok(DaemonLock(file)),
        Err(e) if contended(&e) => Err(crate::error::CliError::new(
            crate::error::exit::UNAVAILABLE,
            format!(
                "a daemon is already running for this home ({}): use it, or stop it with `csx shutdown` first",
                home.root().display()
            ),
        )
        .into()),
        Err(e) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// Whether a daemon holds this home's lock.
fn daemon_starting(home: &Home) -> bool {
    let Ok(file) = std::fs::OpenOptions::new().read(true).open(daemon_lock_path(home)) else { return false };
    match fs2::FileExt::try_lock_shared(&file) {
        Ok(()) => {
            let _ = fs2::FileExt::unlock(&file);
            false
        }
        Err(_) => true,
    }
}

/// Waits for a starting daemon to answer on its socket, while it holds its lock, for a while.
fn wait_for_daemon(home: &Home) -> anyhow::Result<Option<ControlClient>> {
    let deadline = std::time::Instant::now() + DAEMON_ANSWER_WAIT;
    loop {
        if let Some(c) = ControlClient::connect(home)? {
            return Ok(Some(c));
        }
        if !daemon_starting(home) || std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(25 + fastrand::u64(..50)));
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commands_brief_probe_does_not_stop_a_daemon_starting_but_a_running_daemon_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        // A command probing whether a daemon is starting holds the lock shared for a moment.
        let probe = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(daemon_lock_path(&home))
            .expect("open");
        fs2::FileExt::lock_shared(&probe).expect("shared");
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            drop(probe);
        });
        let lock = lock_daemon(&home).expect("the probe ends and the daemon takes the lock");
        release.join().expect("thread");
        // With the lock held for good, a second daemon is told one is running.
        let err = lock_daemon(&home).expect_err("held");
        assert!(err.to_string().contains("a daemon is already running for this home"), "{err}");
        drop(lock);
        assert!(lock_daemon(&home).is_ok());
    }
}
