//! The cloneable handle through which the rest of the node talks to the event loop.

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::event_loop::Command;
use crate::api::{NetStatus, SyncReport};

/// The event loop has stopped.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the network has stopped")]
pub struct Stopped;

#[derive(Debug, Clone)]
pub struct NetHandle {
    tx: mpsc::Sender<Command>,
}

impl NetHandle {
    pub fn new(tx: mpsc::Sender<Command>) -> Self {
        NetHandle { tx }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Stopped> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Gossips records that are already stored.
    pub async fn publish(&self, records: Vec<Vec<u8>>) -> Result<(), Stopped> {
        self.tx.send(Command::Publish { records }).await.map_err(|_| Stopped)
    }

    pub async fn status(&self) -> Result<NetStatus, Stopped> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// Syncs with every connected member; resolves when level with all, or a round failed.
    pub async fn sync(&self) -> Result<SyncReport, Stopped> {
        self.ask(|reply| Command::Sync { reply }).await
    }

    /// Refuses (`deny = true`) or allows again every connection with `peers`: existing connections
    /// are closed and neither side can connect until allowed. Operators cut a node off from a peer
    /// with it; the fault tests split federations with it.
    pub async fn deny(&self, peers: Vec<PeerId>, deny: bool) -> Result<(), Stopped> {
        self.tx.send(Command::Deny { peers, deny }).await.map_err(|_| Stopped)
    }

    pub async fn dial(&self, addr: Multiaddr) -> Result<(), Stopped> {
        self.tx.send(Command::Dial { addr }).await.map_err(|_| Stopped)
    }

    pub async fn shutdown(&self) -> Result<(), Stopped> {
        self.ask(|reply| Command::Shutdown { reply }).await
    }
}
