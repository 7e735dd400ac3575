//! The discovery protocol with bootstrap servers, `/csx/discovery/1`: its libp2p codec (each
//! message `len u32 ‖ bytes`, with hard limits) over csx-protocol's discovery messages, and
//! the conversions between their opaque bytes and libp2p's peer ids and addresses.

use std::io;

use csx_protocol::discovery::{DiscoveryRequest, DiscoveryResponse, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use futures::{AsyncRead, AsyncWrite};
use libp2p::{Multiaddr, PeerId, StreamProtocol};

use super::codec::{BadRequest, classify, invalid, read_frame, write_frame};

/// The discovery protocol's name on the wire.
pub const DISCOVERY_PROTOCOL: StreamProtocol = StreamProtocol::new("/csx/discovery/1");

/// A discovery request as read from the wire.
pub type InboundDiscovery = Result<DiscoveryRequest, BadRequest>;

#[derive(Debug, Clone, Default)]
pub struct DiscoveryCodec;

impl libp2p::request_response::Codec for DiscoveryCodec {
    type Protocol = StreamProtocol;
    type Request = InboundDiscovery;
    type Response = DiscoveryResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<InboundDiscovery>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = match read_frame(io, MAX_REQUEST_BYTES, "discovery request").await {
            Ok(b) => b,
            Err(e) => match classify(&e) {
                Some(kind) => return Ok(Err(BadRequest { kind, detail: e.to_string() })),
                None => return Err(e),
            },
        };
        Ok(DiscoveryRequest::decode(&bytes).map_err(|e| BadRequest { kind: "malformed", detail: e.to_string() }))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<DiscoveryResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_frame(io, MAX_RESPONSE_BYTES, "discovery response").await?;
        DiscoveryResponse::decode(&bytes).map_err(|e| invalid("discovery response", e))
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: InboundDiscovery) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match req {
            Ok(r) => write_frame(io, &r.encode()).await,
            Err(bad) => Err(io::Error::new(io::ErrorKind::InvalidInput, bad.detail)),
        }
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: DiscoveryResponse) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res.encode()).await
    }
}

/// Addresses as carried in discovery messages.
pub fn address_bytes(addrs: &[Multiaddr]) -> Vec<Vec<u8>> {
    addrs.iter().map(|a| a.to_vec()).collect()
}

/// Addresses read from a discovery message; unreadable ones are skipped.
pub fn addresses(bytes: &[Vec<u8>]) -> Vec<Multiaddr> {
    bytes.iter().filter_map(|b| Multiaddr::try_from(b.clone()).ok()).collect()
}

/// Peers read from a discovery answer; unreadable ids are skipped.
pub fn peers(list: Vec<(Vec<u8>, Vec<Vec<u8>>)>) -> Vec<(PeerId, Vec<Multiaddr>)> {
    list.into_iter().filter_map(|(p, a)| Some((PeerId::from_bytes(&p).ok()?, addresses(&a)))).collect()
}
