//! How long-running `csx` processes (`daemon`, `bootstrap`, `dashboard`, `demo`) stop: on
//! SIGINT (Ctrl-C), SIGTERM (`kill`, systemd, a container runtime) and SIGHUP (a closed
//! terminal) alike, each shuts down cleanly — the store flushed, the control socket removed,
//! children stopped. And a process `csx demo` starts goes with the demo even if the demo is
//! killed outright (SIGKILL), through the kernel's parent-death signal.

use std::fmt;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The signals that ask a long-running process to stop.
pub struct Shutdown {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Shutdown")
    }
}

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
    Hangup,
}

impl Stop {
    /// What the log says.
    pub fn describe(self) -> &'static str {
        match self {
            Stop::Interrupt => "interrupted (SIGINT)",
            Stop::Terminate => "terminated (SIGTERM)",
            Stop::Hangup => "hung up (SIGHUP: the terminal closed)",
        }
    }

    /// The signal's number, for a shell's exit status of 128 + n.
    pub fn number(self) -> i32 {
        match self {
            Stop::Interrupt => 2,
            Stop::Terminate => 15,
            Stop::Hangup => 1,
        }
    }
}

impl Shutdown {
    /// Takes over SIGINT, SIGTERM and SIGHUP from now on (a signal that arrives before
    /// [`Shutdown::recv`] is awaited is kept, not lost). Must be called within a tokio runtime;
    /// call it first, before the process starts anything that needs stopping cleanly.
    pub fn install() -> std::io::Result<Shutdown> {
        Ok(Shutdown {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Resolves at the first of the three signals.
    pub async fn recv(&mut self) -> Stop {
        tokio::select! {
            _ = self.int.recv() => Stop::Interrupt,
            _ = self.term.recv() => Stop::Terminate,
            _ = self.hup.recv() => Stop::Hangup,
        }
    }
}

/// The environment variable by which a parent (`csx demo`) asks a `csx` child process to stop
/// when the parent dies; its value is the parent's process id.
pub const EXIT_WITH_PARENT_ENV: &str = "CSX_EXIT_WITH_PARENT";

/// In a child started with [`EXIT_WITH_PARENT_ENV`]: asks the kernel for SIGTERM when the
/// parent dies (`PR_SET_PDEATHSIG`; it then shuts down cleanly as on any SIGTERM), and exits at
/// once if the parent is already gone. Called first thing in `main`, before any thread starts
/// (the kernel ties the signal to the parent *thread* that started this process: the demo
/// starts its children from its main thread).
pub fn exit_with_parent() {
    let Some(parent) = std::env::var_os(EXIT_WITH_PARENT_ENV) else {
        return;
    };
    let Some(parent) = parent.to_str().and_then(|p| p.parse::<i32>().ok()) else {
        eprintln!("{EXIT_WITH_PARENT_ENV}: not a process id; ignored");
        return;
    };
    #[cfg(target_os = "linux")]
    {
        use nix::sys::signal::Signal as Sig;
        if let Err(e) = nix::sys::prctl::set_pdeathsig(Some(Sig::SIGTERM)) {
            eprintln!("cannot ask to stop with the parent process (prctl: {e})");
        }
    }
    // The parent may have died before the request took effect: then this process was
    // re-parented already and must not run on as an orphan.
    if nix::unistd::getppid().as_raw() != parent {
        eprintln!("the process that started this one ({parent}) has gone; stopping");
        std::process::exit(1);
    }
}
