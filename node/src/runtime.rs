//! A running node: store, service, ingest thread and network event loop, wired together. The
//! daemon runs one; in-process tests run many.

use std::sync::Arc;

use libp2p::PeerId;
use tokio::sync::{Notify, mpsc};

use crate::api::{Request, Response};
use crate::error_kind::{ApiError, ErrorKind};
use crate::home::Home;
use crate::ingest::{self, Counters};
use crate::membership::Membership;
use crate::net::event_loop::{EventLoop, LoopContext, OwnFeedGate};
use crate::net::{NetConfig, NetHandle, TransportKind, behaviour, identity};
use crate::service::{Clock, Service};
use crate::store::{SledStore, Store, StoreConfig};

/// How long a starting node waits for a store another process holds (a `csx` command reading
/// it offline holds it for well under a second; a daemon holds it for good).
const STORE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How to run a node.
#[derive(Clone)]
pub struct NodeOptions {
    pub net: NetConfig,
    pub transport: TransportKind,
    pub store: StoreConfig,
    pub clock: Clock,
}

impl std::fmt::Debug for NodeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeOptions").field("net", &self.net).field("transport", &self.transport).finish()
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot start the network: {0}")]
    Network(String),
}

/// What answers requests: the service for the store, the network handle for the rest.
#[derive(Clone)]
pub struct NodeApi {
    service: Arc<Service>,
    net: NetHandle,
    stop: Arc<Notify>,
    own_feed: Arc<OwnFeedGate>,
    own_feed_wait: std::time::Duration,
    membership: Arc<Membership>,
    counters: Arc<Counters>,
    alerts: Arc<std::sync::OnceLock<Arc<crate::alerts::watcher::Alerts>>>,
}

impl std::fmt::Debug for NodeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeApi").field("service", &self.service).finish()
    }
}

impl NodeApi {
    /// Answers one request. Store work runs on the blocking pool; records written are gossiped.
    pub async fn handle(&self, request: Request) -> Result<Response, ApiError> {
        match request {
            Request::Peers => {
                let status = self.net.status().await.map_err(stopped)?;
                Ok(Response::Peers { peers: status.peers })
            }
            Request::Sync { timeout_ms } => {
                let wait = std::time::Duration::from_millis(timeout_ms);
                match tokio::time::timeout(wait, self.net.sync()).await {
                    Err(_) => Err(self.sync_timed_out(wait).await),
                    Ok(Err(e)) => Err(stopped(e)),
                    Ok(Ok(report)) if report.peers.is_empty() => Err(ApiError::new(
                        ErrorKind::Unavailable,
                        "not connected to any member's node: nothing to sync with",
                    )),
                    Ok(Ok(report)) => Ok(Response::Synced(report)),
                }
            }
            Request::Shutdown => {
                self.stop.notify_one();
                Ok(Response::Stopping)
            }
            Request::Status => {
                let service = self.service.clone();
                let mut status = blocking(move || service.status()).await?;
                status.mode = "daemon".into();
                status.network = Some(self.net.status().await.map_err(stopped)?);
                Ok(Response::Status(Box::new(status)))
            }
            Request::Query { question } => {
                let service = self.service.clone();
                let mut answered = blocking(move || service.query(question)).await?;
                let net = self.net.status().await.map_err(stopped)?;
                answered.provenance.mode = "daemon".into();
                answered.provenance.peers = Some(net.peers.iter().filter(|p| p.connected && p.verified).count());
                if net.last_sync_at.is_some() {
                    answered.provenance.last_sync_at = net.last_sync_at;
                }
                Ok(Response::Answer(Box::new(answered)))
            }
            Request::Publish { bodies } => {
                self.own_feed_confirmed().await?;
                let service = self.service.clone();
                let records = blocking(move || service.publish(bodies)).await?;
                self.stored(&records);
                self.gossip(&records).await;
                Ok(Response::Published { records: records.iter().map(crate::api::RecordBytes::from).collect() })
            }
            Request::Import(req) => {
                if !req.dry_run {
                    self.own_feed_confirmed().await?;
                }
                let service = self.service.clone();
                let (report, records) = blocking(move || crate::import::import(&service, req)).await?;
                self.stored(&records);
                self.gossip(&records).await;
                Ok(Response::Imported(Box::new(report)))
            }
            Request::ImportUndo { batch, reason } => {
                self.own_feed_confirmed().await?;
                let service = self.service.clone();
                let (records, batch) = blocking(move || crate::import::undo(&service, &batch, reason)).await?;
                self.stored(&records);
                self.gossip(&records).await;
                Ok(Response::Undone { retractions: records.iter().map(crate::api::RecordBytes::from).collect(), batch })
            }
            Request::Alerts { after, since_ms, wait_ms } => {
                let Some(alerts) = self.alerts.get() else {
                    return Err(ApiError::new(
                        ErrorKind::Unavailable,
                        "alerts are off in this daemon: set [alerts] enabled = true in config.toml and restart it",
                    ));
                };
                let alerts = if wait_ms > 0 {
                    alerts.wait_after(after, std::time::Duration::from_millis(wait_ms)).await
                } else {
                    alerts.list(after, since_ms)
                };
                Ok(Response::Alerts { alerts })
            }
            other => {
                let service = self.service.clone();
                blocking(move || service.handle(other)).await
            }
        }
    }

    /// Why a `csx sync` did not end within `wait`: no member's node connected, or rounds still
    /// running.
    async fn sync_timed_out(&self, wait: std::time::Duration) -> ApiError {
        let secs = wait.as_secs_f64();
        let net = match self.net.status().await {
            Ok(n) => n,
            Err(e) => return stopped(e),
        };
        let members = net.peers.iter().filter(|p| p.connected && p.verified).count();
        let bootstraps = net.peers.iter().filter(|p| p.connected && p.bootstrap).count();
        if members == 0 {
            return ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "not connected to any member's node within {secs:.1}s: nothing to sync with \
                     ({bootstraps} bootstrap servers connected; check `csx peers`, firewalls and the \
                     addresses in config.toml)"
                ),
            );
        }
        ApiError::new(
            ErrorKind::Timeout,
            format!("sync did not complete within {secs:.1}s ({members} members' nodes connected; see `csx peers`)"),
        )
    }

    /// Tells the alert watcher this node wrote records.
    fn stored(&self, records: &[csx_protocol::Record]) {
        if !records.is_empty() {
            self.counters.records_stored.notify_one();
        }
    }

    /// The alert log, when the daemon evaluates alerts.
    pub fn alerts(&self) -> Option<&Arc<crate::alerts::watcher::Alerts>> {
        self.alerts.get()
    }

    /// Refuses to write until a peer has confirmed this node's own feed (see [`OwnFeedGate`]).
    async fn own_feed_confirmed(&self) -> Result<(), ApiError> {
        if self.own_feed.wait(self.own_feed_wait).await {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorKind::Unavailable,
            "this node has not yet confirmed its own feed with a peer since it started \
             (was it restored from a backup?): it writes nothing until a member's node \
             confirms what it holds of this node's feed; check `csx peers`, then retry",
        ))
    }

    /// Sends records just written to the peers. They are saved: gossip is best effort from
    /// here, and sync guarantees delivery.
    async fn gossip(&self, records: &[csx_protocol::Record]) {
        if records.is_empty() {
            return;
        }
        let bytes = records.iter().map(|r| r.bytes().to_vec()).collect();
        if self.net.publish(bytes).await.is_err() {
            tracing::warn!("the network has stopped; the records are saved and will be synced later");
        }
    }

    /// Resolves when a shutdown was requested through the API.
    pub async fn stop_requested(&self) {
        self.stop.notified().await
    }

    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    pub fn net(&self) -> &NetHandle {
        &self.net
    }

    pub fn membership(&self) -> &Arc<Membership> {
        &self.membership
    }

    /// What the node received, refused and queued (for `/metrics`).
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }
}

fn stopped(_: crate::net::handle::Stopped) -> ApiError {
    ApiError::new(ErrorKind::Unavailable, "the node is shutting down")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("a node task failed: {e}")))?
}

/// A running node.
#[derive(Debug)]
pub struct RunningNode {
    api: NodeApi,
    store: Arc<dyn Store>,
    counters: Arc<Counters>,
    peer_id: PeerId,
    event_loop: tokio::task::JoinHandle<()>,
    ingest: std::thread::JoinHandle<()>,
    alert_watcher: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl RunningNode {
    /// Opens the home's store and starts the node. Must be called within a tokio runtime.
    pub async fn start(home: &Home, options: NodeOptions) -> Result<RunningNode, StartError> {
        // A `csx` command may hold the store for a moment (it reads it offline): wait for it.
        let deadline = tokio::time::Instant::now() + STORE_LOCK_WAIT;
        let store = loop {
            match SledStore::open(&home.store_dir(), options.store.clone()) {
                Err(crate::store::StoreError::Locked { .. }) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await
                }
                other => break other.map_err(ApiError::from)?,
            }
        };
        Self::start_with_store(home, Arc::new(store), options).await
    }

    /// Starts the node over an already opened store.
    pub async fn start_with_store(
        home: &Home,
        store: Arc<dyn Store>,
        options: NodeOptions,
    ) -> Result<RunningNode, StartError> {
        let service = Arc::new(Service::open(home, store.clone(), options.clock.clone(), "daemon")?);
        let restored = crate::backup::awaiting_confirmation(store.as_ref()).map_err(ApiError::from)?;
        // A node that has never written is still announced by its certificate and profile.
        if !restored && store.head(&service.identity().node_key).map_err(ApiError::from)?.is_none() {
            service.publish(vec![])?;
        }
        let federation = service.genesis().id();
        let key = home.node_key().map_err(ApiError::from)?;
        let peer_id = identity::keypair(&key).public().to_peer_id();
        let counters = Arc::new(Counters::default());
        let membership = service.membership().clone();
        let (ingest, ingest_thread) =
            ingest::spawn(store.clone(), membership.clone(), options.clock.clone(), counters.clone());
        let swarm = behaviour::build_swarm(&key, &federation, options.transport, &options.net)
            .map_err(|e| StartError::Network(e.to_string()))?;
        // Nothing to confirm against for a node that has never met a peer.
        let own_feed = Arc::new(OwnFeedGate::new(false));
        let ctx = LoopContext {
            federation,
            own_node: key.node_key(),
            store: store.clone(),
            membership: membership.clone(),
            ingest,
            counters: counters.clone(),
            clock: options.clock.clone(),
            config: options.net.clone(),
            own_feed: own_feed.clone(),
        };
        let (tx, rx) = mpsc::channel(256);
        let mut event_loop = EventLoop::new(swarm, ctx, rx);
        // A restored home waits for a peer even if its backup knew none.
        if restored {
            tracing::info!("this home was restored from a backup: it signs nothing until a peer confirms its own feed");
        } else if event_loop.never_met_a_peer() {
            own_feed.confirm();
        }
        event_loop.start().map_err(StartError::Network)?;
        let event_loop = tokio::spawn(event_loop.run());
        let api = NodeApi {
            service,
            net: NetHandle::new(tx),
            stop: Arc::new(Notify::new()),
            own_feed,
            own_feed_wait: options.net.own_feed_wait,
            membership,
            counters: counters.clone(),
            alerts: Arc::default(),
        };
        Ok(RunningNode { api, store, counters, peer_id, event_loop, ingest: ingest_thread, alert_watcher: None })
    }

    /// Starts the alert watcher with `config` (docs/OPERATIONS.md, "Alerts"); `base_url` is the
    /// dashboard's address, for links in alerts. Returns the problems with delivery targets
    /// that were left out (the rest run).
    pub fn start_alerts(
        &mut self,
        home: &Home,
        config: crate::alerts::settings::AlertsConfig,
        base_url: Option<String>,
    ) -> Result<Vec<String>, ApiError> {
        if !config.enabled || self.alert_watcher.is_some() {
            return Ok(vec![]);
        }
        let identity = self.api.service.identity();
        let sender = crate::alerts::deliver::Sender { ods: identity.ods_code.clone(), name: identity.name.clone() };
        let (alerts, problems) = crate::alerts::watcher::Alerts::open(home, config, base_url, sender)?;
        let alerts = Arc::new(alerts);
        let _ = self.api.alerts.set(alerts.clone());
        self.alert_watcher =
            Some(crate::alerts::watcher::spawn(alerts, self.api.service.clone(), self.counters.clone()));
        Ok(problems)
    }

    pub fn api(&self) -> &NodeApi {
        &self.api
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Stops the network, lets the ingest thread finish and flushes the store.
    pub async fn shutdown(self) {
        if let Some(w) = &self.alert_watcher {
            w.abort();
        }
        let _ = self.api.net.shutdown().await;
        let _ = self.event_loop.await;
        // The event loop held the last ingest sender: the thread drains, flushes and exits.
        let ingest = self.ingest;
        let _ = tokio::task::spawn_blocking(move || ingest.join()).await;
        if let Err(e) = self.store.flush() {
            tracing::error!("flushing the store failed: {e}");
        }
    }
}
