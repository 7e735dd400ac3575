//! A bootstrap server in the test process, on libp2p's memory transport.

use std::sync::Arc;

use csx_node::bootstrap::{self, BootstrapLimits, BootstrapOptions};
use csx_node::ingest::Counters;
use csx_node::net::TransportKind;
use csx_protocol::Genesis;
use csx_protocol::keys::SecretKey;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

/// A running bootstrap server for one federation.
pub struct TestBootstrap {
    pub peer_id: PeerId,
    /// The address members configure (`/memory/…/p2p/<peer id>`).
    pub address: Multiaddr,
    /// Its refusals and drops by reason.
    pub counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl TestBootstrap {
    /// Starts a server for `genesis`'s federation with `limits`.
    pub async fn start(genesis: &Genesis, limits: BootstrapLimits) -> TestBootstrap {
        let key = SecretKey::generate().expect("key");
        let peer_id = csx_node::net::identity::keypair(&key).public().to_peer_id();
        let listen: Multiaddr = format!("/memory/{}", fastrand::u64(1_000_000..u64::MAX / 2)).parse().expect("addr");
        let counters = Arc::new(Counters::default());
        let options = BootstrapOptions {
            listen: vec![listen.clone()],
            external: vec![listen.clone()],
            max_connections: 512,
            genesis: genesis.clone(),
            transport: TransportKind::Memory,
            state: None,
            limits,
            clock: csx_node::service::system_clock(),
            counters: counters.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, listening) = oneshot::channel::<()>();
        let mut ready = Some(ready);
        let task = tokio::spawn(async move {
            let on_address = move |_: &Multiaddr| {
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
            };
            bootstrap::run(&key, options, on_address, async move {
                let _ = stopped.await;
            })
            .await
        });
        // It announces its address once it listens.
        listening.await.expect("the bootstrap server starts listening");
        TestBootstrap { peer_id, address: listen.with(Protocol::P2p(peer_id)), counters, stop: Some(stop), task }
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let result = (&mut self.task).await.expect("the server task ran");
        result.expect("the server ran without error");
    }
}
