//! A raw peer: a real libp2p node that speaks csx's gossip, sync and discovery protocols (and
//! the standard rendezvous and relay protocols) with bytes the test chooses — in order or not,
//! well formed or not — to drive a node or a bootstrap server from outside, and that records
//! everything it is sent.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use csx_node::net::behaviour::{forks_topic, gossipsub as csx_gossipsub, identify_version, topic};
use csx_node::net::codec::SYNC_PROTOCOL;
use csx_node::net::discovery::{DISCOVERY_PROTOCOL, DiscoveryCodec};
use csx_protocol::FederationId;
use csx_protocol::discovery::{DiscoveryRequest, DiscoveryResponse};
use csx_protocol::keys::SecretKey;
use csx_protocol::sync::{RefusalCode, SyncRequest, SyncResponse};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Swarm, SwarmBuilder, Transport as _, gossipsub, identify, noise, ping, relay, rendezvous, yamux,
};

/// A frame as it goes on the wire: a length prefix (normally the payload's length) and payload.
#[derive(Debug, Clone)]
pub struct Frame {
    pub declared_len: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn new(payload: Vec<u8>) -> Frame {
        Frame { declared_len: payload.len() as u32, payload }
    }
    pub fn response(r: &SyncResponse) -> Frame {
        Frame::new(r.encode())
    }
    pub fn request(r: &SyncRequest) -> Frame {
        Frame::new(r.encode())
    }
}

/// Reads and writes frames without interpreting them.
#[derive(Debug, Clone, Default)]
pub struct RawCodec;

/// Largest frame a raw peer reads (more than any limit of the node, so it can see them).
const RAW_MAX: usize = 16 * 1024 * 1024;

async fn read<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let n = (u32::from_be_bytes(len) as usize).min(RAW_MAX);
    let mut buf = vec![0u8; n];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write<T: AsyncWrite + Unpin + Send>(io: &mut T, f: Frame) -> io::Result<()> {
    io.write_all(&f.declared_len.to_be_bytes()).await?;
    io.write_all(&f.payload).await?;
    io.close().await
}

impl request_response::Codec for RawCodec {
    type Protocol = libp2p::StreamProtocol;
    type Request = Frame;
    type Response = Frame;
    async fn read_request<T: AsyncRead + Unpin + Send>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Frame> {
        read(io).await.map(Frame::new)
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> io::Result<Frame> {
        read(io).await.map(Frame::new)
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        f: Frame,
    ) -> io::Result<()> {
        write(io, f).await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        f: Frame,
    ) -> io::Result<()> {
        write(io, f).await
    }
}

#[derive(NetworkBehaviour)]
pub struct RawBehaviour {
    pub gossipsub: gossipsub::Behaviour,
    pub sync: request_response::Behaviour<RawCodec>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub discovery: request_response::Behaviour<DiscoveryCodec>,
    pub rendezvous: rendezvous::client::Behaviour,
    pub relay: relay::client::Behaviour,
}

/// What a peer sent the raw peer, besides sync requests.
#[derive(Debug, Default)]
pub struct Seen {
    /// Peers that told us they subscribe to a topic, with the topic.
    pub subscriptions: Vec<(PeerId, gossipsub::TopicHash)>,
    /// Gossip messages received (propagation source, topic).
    pub gossip: Vec<(PeerId, gossipsub::TopicHash)>,
    /// Peers that answered identify (and what they announced).
    pub identified: Vec<(PeerId, identify::Info)>,
    /// Answers of the standard rendezvous protocol, as debug text.
    pub rendezvous: Vec<String>,
    /// Relay client events, as debug text.
    pub relay: Vec<String>,
    /// Addresses we listen on (a relay reservation shows here).
    pub listen: Vec<Multiaddr>,
    /// Peers we had a connection with closed.
    pub closed: Vec<PeerId>,
    /// Dials that failed, with why.
    pub dial_errors: Vec<String>,
}

/// How the raw peer answers the node's sync requests.
pub type Responder = Box<dyn FnMut(&[u8]) -> Frame + Send>;

pub struct RawPeer {
    pub swarm: Swarm<RawBehaviour>,
    pub federation: FederationId,
    pub responder: Responder,
    /// Responses to our requests, by request id.
    pub responses: HashMap<OutboundRequestId, Result<Vec<u8>, String>>,
    /// Requests the node sent us, as received.
    pub requests_seen: Vec<Vec<u8>>,
    /// Answers to our discovery requests, by request id (an error when none came).
    pub discovery: HashMap<OutboundRequestId, Result<DiscoveryResponse, String>>,
    pub seen: Seen,
}

impl RawPeer {
    /// A raw peer with node key `key`. By default it answers a request for its own certificate
    /// with `cert` (record 1 of its feed) and refuses everything else.
    pub fn new(key: &SecretKey, federation: FederationId, cert: Option<Vec<u8>>) -> RawPeer {
        let keypair = csx_node::net::identity::keypair(key);
        let swarm = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_other_transport(|key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                Ok(MemoryTransport::default()
                    .upgrade(Version::V1)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()))
            })
            .expect("transport")
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .expect("relay client")
            .with_behaviour(|key, relay| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                Ok(RawBehaviour {
                    gossipsub: csx_gossipsub(&federation)?,
                    sync: request_response::Behaviour::with_codec(
                        RawCodec,
                        [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                        request_response::Config::default().with_request_timeout(Duration::from_secs(20)),
                    ),
                    // It claims to be a node of the federation (it copies the version).
                    identify: identify::Behaviour::new(identify::Config::new(
                        identify_version(&federation),
                        key.public(),
                    )),
                    ping: ping::Behaviour::new(ping::Config::new()),
                    discovery: request_response::Behaviour::with_codec(
                        DiscoveryCodec,
                        [(DISCOVERY_PROTOCOL, ProtocolSupport::Outbound)],
                        request_response::Config::default().with_request_timeout(Duration::from_secs(60)),
                    ),
                    rendezvous: rendezvous::client::Behaviour::new(key.clone()),
                    relay,
                })
            })
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
            .build();
        let own = key.node_key();
        let responder: Responder = Box::new(move |raw: &[u8]| match SyncRequest::decode(raw) {
            Ok(SyncRequest::Fetch { author, from_seq: 1, .. }) if author == own && cert.is_some() => {
                Frame::response(&SyncResponse::Records { records: vec![cert.clone().expect("checked")] })
            }
            _ => Frame::response(&SyncResponse::Refused { code: RefusalCode::TooBusy, message: "raw peer".into() }),
        });
        RawPeer {
            swarm,
            federation,
            responder,
            responses: HashMap::new(),
            requests_seen: vec![],
            discovery: HashMap::new(),
            seen: Seen::default(),
        }
    }

    fn on_event(&mut self, ev: SwarmEvent<RawBehaviourEvent>) -> Option<SwarmEvent<RawBehaviourEvent>> {
        use request_response::{Event, Message};
        match ev {
            SwarmEvent::Behaviour(RawBehaviourEvent::Sync(Event::Message {
                message: Message::Request { request, channel, .. },
                ..
            })) => {
                self.requests_seen.push(request.payload.clone());
                let answer = (self.responder)(&request.payload);
                let _ = self.swarm.behaviour_mut().sync.send_response(channel, answer);
                None
            }
            SwarmEvent::Behaviour(RawBehaviourEvent::Sync(Event::Message {
                message: Message::Response { request_id, response },
                ..
            })) => {
                self.responses.insert(request_id, Ok(response.payload));
                None
            }
            SwarmEvent::Behaviour(RawBehaviourEvent::Sync(Event::OutboundFailure { request_id, error, .. })) => {
                self.responses.insert(request_id, Err(error.to_string()));
                None
            }
            SwarmEvent::Behaviour(RawBehaviourEvent::Discovery(Event::Message {
                message: Message::Response { request_id, response },
                ..
            })) => {
                self.discovery.insert(request_id, Ok(response));
                None
            }
            SwarmEvent::Behaviour(RawBehaviourEvent::Discovery(Event::OutboundFailure {
                request_id, error, ..
            })) => {
                self.discovery.insert(request_id, Err(error.to_string()));
                None
            }
            other => {
                self.note(&other);
                Some(other)
            }
        }
    }

    fn note(&mut self, ev: &SwarmEvent<RawBehaviourEvent>) {
        match ev {
            SwarmEvent::Behaviour(RawBehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic })) => {
                self.seen.subscriptions.push((*peer_id, topic.clone()))
            }
            SwarmEvent::Behaviour(RawBehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message,
                ..
            })) => self.seen.gossip.push((*propagation_source, message.topic.clone())),
            SwarmEvent::Behaviour(RawBehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                self.seen.identified.push((*peer_id, info.clone()))
            }
            SwarmEvent::Behaviour(RawBehaviourEvent::Rendezvous(e)) => self.seen.rendezvous.push(format!("{e:?}")),
            SwarmEvent::Behaviour(RawBehaviourEvent::Relay(e)) => self.seen.relay.push(format!("{e:?}")),
            SwarmEvent::NewListenAddr { address, .. } => self.seen.listen.push(address.clone()),
            SwarmEvent::ListenerClosed { reason, .. } => self.seen.relay.push(format!("listener closed: {reason:?}")),
            SwarmEvent::OutgoingConnectionError { error, .. } => self.seen.dial_errors.push(error.to_string()),
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => self.seen.closed.push(*peer_id),
            _ => {}
        }
    }

    /// Dials `addr` and drives the swarm until a connection with `peer` is established.
    pub async fn connect_only(&mut self, addr: Multiaddr, peer: PeerId) {
        self.swarm.dial(addr).expect("dial");
        self.pump_until("connected", Duration::from_secs(20), |p| p.is_connected(&peer)).await;
    }

    /// Sends a discovery request to `peer` (a bootstrap server) and drives the swarm until its
    /// answer arrives (or the request fails).
    pub async fn discover(&mut self, peer: PeerId, request: DiscoveryRequest) -> Result<DiscoveryResponse, String> {
        let id = self.swarm.behaviour_mut().discovery.send_request(&peer, Ok(request));
        self.pump_until("an answer to the discovery request", Duration::from_secs(60), |p| {
            p.discovery.contains_key(&id)
        })
        .await;
        self.discovery.remove(&id).expect("present")
    }

    /// Dials `addr` and drives the swarm until `peer` has subscribed to the records topic.
    pub async fn connect(&mut self, addr: Multiaddr, peer: PeerId) {
        self.swarm.dial(addr).expect("dial");
        let t = topic(&self.federation).hash();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.swarm.select_next_some())
                .await
                .expect("peer subscribed in time");
            if self.on_event(ev).is_none() {
                continue;
            }
            if self.seen.subscriptions.iter().any(|(p, topic)| *p == peer && *topic == t) {
                return;
            }
        }
    }

    /// Drives the swarm until `done` is true (checked after every event and every 20 ms).
    pub async fn pump_until(&mut self, what: &str, timeout: Duration, mut done: impl FnMut(&mut Self) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(self) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for: {what}");
            if let Ok(ev) = tokio::time::timeout(Duration::from_millis(20), self.swarm.select_next_some()).await {
                self.on_event(ev);
            }
        }
    }

    /// Drives the swarm for `d`.
    pub async fn pump(&mut self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        while let Ok(ev) = tokio::time::timeout_at(end, self.swarm.select_next_some()).await {
            self.on_event(ev);
        }
    }

    /// Publishes raw bytes on the records topic.
    pub fn gossip(&mut self, bytes: Vec<u8>) -> Result<gossipsub::MessageId, gossipsub::PublishError> {
        let t = topic(&self.federation);
        self.swarm.behaviour_mut().gossipsub.publish(t, bytes)
    }

    /// Publishes raw bytes on the fork-proofs topic.
    pub fn gossip_proof(&mut self, bytes: Vec<u8>) -> Result<gossipsub::MessageId, gossipsub::PublishError> {
        let t = forks_topic(&self.federation);
        self.swarm.behaviour_mut().gossipsub.publish(t, bytes)
    }

    /// Sends a raw sync request frame to `peer` and drives the swarm until its answer arrives.
    pub async fn request(&mut self, peer: PeerId, frame: Frame) -> Result<Vec<u8>, String> {
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, frame);
        self.pump_until("an answer to the raw request", Duration::from_secs(30), |p| p.responses.contains_key(&id))
            .await;
        self.responses.remove(&id).expect("present")
    }

    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.swarm.is_connected(peer)
    }
}

/// A flag that turns true once `api`'s node has verified `peer_id` as a member's node (it polls
/// the node's peer list in a background task).
pub fn watch_verified(
    api: csx_node::runtime::NodeApi,
    peer_id: String,
) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use csx_node::client::AsyncNode as _;
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    tokio::spawn(async move {
        loop {
            if let Ok(peers) = api.peers().await
                && peers.iter().any(|p| p.peer_id == peer_id && p.verified)
            {
                f.store(true, std::sync::atomic::Ordering::SeqCst);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    flag
}
