//! A gate in front of a libp2p behaviour: on each connection its handler is held shut — never
//! polled, so it sends nothing and nothing it receives is processed — until the event loop
//! opens the gate for that peer (once the peer is verified as a member's node). Whatever the
//! behaviour queued meanwhile (gossipsub's SUBSCRIBE, identify's answer) goes out then, and
//! what the peer sent waits in the stream until then, so nothing honest is lost.
//!
//! Gossipsub and identify are gated: a stranger never learns the federation's topic, the
//! node's listen addresses or its version. The sync protocol is not: it carries verification.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::{Deref, DerefMut};
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::behaviour::FromSwarm;
use libp2p::swarm::handler::ConnectionEvent;
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, NetworkBehaviour, NotifyHandler,
    SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

/// A behaviour whose connection handlers stay shut until [`Gated::open`].
#[allow(missing_debug_implementations)] // the libp2p behaviours it wraps have no Debug
pub struct Gated<B> {
    inner: B,
    open: HashSet<PeerId>,
    connections: HashMap<PeerId, Vec<ConnectionId>>,
    to_open: VecDeque<(PeerId, ConnectionId)>,
}

impl<B> Gated<B> {
    pub fn new(inner: B) -> Gated<B> {
        Gated { inner, open: HashSet::new(), connections: HashMap::new(), to_open: VecDeque::new() }
    }

    /// Opens the gate for every connection with `peer`, now and until it disconnects.
    pub fn open(&mut self, peer: PeerId) {
        if self.open.insert(peer) {
            for c in self.connections.get(&peer).into_iter().flatten() {
                self.to_open.push_back((peer, *c));
            }
        }
    }

    pub fn is_open(&self, peer: &PeerId) -> bool {
        self.open.contains(peer)
    }
}

impl<B> Deref for Gated<B> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.inner
    }
}

impl<B> DerefMut for Gated<B> {
    fn deref_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B: NetworkBehaviour> Gated<B> {
    fn wrap(&mut self, peer: PeerId, connection: ConnectionId, handler: THandler<B>) -> GatedHandler<THandler<B>> {
        self.connections.entry(peer).or_default().push(connection);
        GatedHandler { inner: handler, open: self.open.contains(&peer) }
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for Gated<B> {
    type ConnectionHandler = GatedHandler<THandler<B>>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner.handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let handler = self.inner.handle_established_inbound_connection(connection_id, peer, local_addr, remote_addr)?;
        Ok(self.wrap(peer, connection_id, handler))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(connection_id, maybe_peer, addresses, effective_role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let handler =
            self.inner.handle_established_outbound_connection(connection_id, peer, addr, role_override, port_use)?;
        Ok(self.wrap(peer, connection_id, handler))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(closed) = &event {
            if let Some(list) = self.connections.get_mut(&closed.peer_id) {
                list.retain(|c| *c != closed.connection_id);
                if list.is_empty() {
                    self.connections.remove(&closed.peer_id);
                }
            }
            if closed.remaining_established == 0 {
                self.open.remove(&closed.peer_id);
            }
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(&mut self, peer: PeerId, connection: ConnectionId, event: THandlerOutEvent<Self>) {
        self.inner.on_connection_handler_event(peer, connection, event)
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some((peer_id, c)) = self.to_open.pop_front() {
            return Poll::Ready(ToSwarm::NotifyHandler {
                peer_id,
                handler: NotifyHandler::One(c),
                event: GateIn::Open,
            });
        }
        self.inner.poll(cx).map(|e| e.map_in(GateIn::Inner))
    }
}

/// What the gated behaviour tells a connection's handler.
#[derive(Debug)]
pub enum GateIn<E> {
    /// The peer is verified: start working.
    Open,
    /// An event for the inner handler.
    Inner(E),
}

/// A connection handler that is not polled until opened.
#[derive(Debug)]
pub struct GatedHandler<H> {
    inner: H,
    open: bool,
}

impl<H: ConnectionHandler> ConnectionHandler for GatedHandler<H> {
    type FromBehaviour = GateIn<H::FromBehaviour>;
    type ToBehaviour = H::ToBehaviour;
    type InboundProtocol = H::InboundProtocol;
    type OutboundProtocol = H::OutboundProtocol;
    type InboundOpenInfo = H::InboundOpenInfo;
    type OutboundOpenInfo = H::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        // Streams the peer opens are accepted (refusing them would make an honest peer give up
        // on the protocol for this connection); they are read only once the gate is open.
        self.inner.listen_protocol()
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>> {
        if !self.open {
            return Poll::Pending;
        }
        self.inner.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        if !self.open {
            return Poll::Ready(None);
        }
        self.inner.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {
            GateIn::Open => self.open = true,
            GateIn::Inner(e) => self.inner.on_behaviour_event(e),
        }
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        self.inner.on_connection_event(event)
    }
}
