//! Discovery at a bootstrap server: the messages of `/csx/discovery/1` and their bytes
//! (docs/PROTOCOL.md §9). A member's node registers the addresses it can be reached at, for a
//! short time, and asks for the other members' registrations; the server answers members'
//! nodes only. Peer ids and addresses are carried as opaque bytes (libp2p's encodings), so
//! this crate stays free of libp2p.

use crate::encoding::{Reader, Writer};
use crate::error::DecodeError;
use crate::ids::FederationId;
use crate::sync::RefusalCode;

/// Largest request on the wire.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Largest response on the wire.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Most addresses in one registration (and per peer in an answer).
pub const MAX_ADDRESSES: usize = 8;
/// Longest address (bytes).
pub const MAX_ADDRESS_BYTES: usize = 512;
/// Longest peer id (bytes).
pub const MAX_PEER_ID_BYTES: usize = 64;
/// Most peers in one answer.
pub const MAX_PEERS: usize = 1024;

/// A request to a bootstrap server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryRequest {
    /// "Give these addresses of mine to the federation's members for `ttl_secs`."
    Register { federation: FederationId, ttl_secs: u32, addresses: Vec<Vec<u8>> },
    /// "Which members' nodes are registered?" — for `federation`, or (`None`) for whatever
    /// federation the server serves.
    Discover { federation: Option<FederationId> },
}

/// A bootstrap server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryResponse {
    /// Registered for this many seconds (at most what was asked).
    Registered {
        ttl_secs: u32,
    },
    /// Members' nodes and their addresses (peer id bytes, address bytes).
    Peers {
        peers: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
    },
    Refused {
        code: RefusalCode,
        message: String,
    },
}

const Q_REGISTER: u8 = 1;
const Q_DISCOVER: u8 = 2;
const A_REGISTERED: u8 = 1;
const A_PEERS: u8 = 2;
const A_REFUSED: u8 = 3;

fn too_many(field: &'static str, expected: usize, got: usize) -> DecodeError {
    DecodeError::FieldLength { context: "discovery", field, expected, got }
}

fn write_addresses(w: &mut Writer, addresses: &[Vec<u8>]) {
    w.u8(addresses.len().min(MAX_ADDRESSES) as u8);
    for a in addresses.iter().take(MAX_ADDRESSES) {
        w.u16(a.len() as u16);
        w.bytes(a);
    }
}

fn read_addresses(r: &mut Reader<'_>) -> Result<Vec<Vec<u8>>, DecodeError> {
    let n = r.u8("address count")? as usize;
    if n > MAX_ADDRESSES {
        return Err(too_many("addresses", MAX_ADDRESSES, n));
    }
    (0..n)
        .map(|_| {
            let len = r.u16("address length")? as usize;
            if len > MAX_ADDRESS_BYTES {
                return Err(too_many("address", MAX_ADDRESS_BYTES, len));
            }
            Ok(r.take(len, "address")?.to_vec())
        })
        .collect()
}

impl DiscoveryRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        match self {
            DiscoveryRequest::Register { federation, ttl_secs, addresses } => {
                w.u8(Q_REGISTER);
                w.bytes(federation.as_bytes());
                w.u32(*ttl_secs);
                write_addresses(&mut w, addresses);
            }
            DiscoveryRequest::Discover { federation } => {
                w.u8(Q_DISCOVER);
                match federation {
                    Some(f) => {
                        w.u8(1);
                        w.bytes(f.as_bytes());
                    }
                    None => w.u8(0),
                }
            }
        }
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<DiscoveryRequest, DecodeError> {
        let mut r = Reader::new(bytes);
        let req = match r.u8("discovery request type")? {
            Q_REGISTER => DiscoveryRequest::Register {
                federation: FederationId(r.array("federation")?),
                ttl_secs: r.u32("ttl")?,
                addresses: read_addresses(&mut r)?,
            },
            Q_DISCOVER => match r.u8("federation given")? {
                0 => DiscoveryRequest::Discover { federation: None },
                1 => DiscoveryRequest::Discover { federation: Some(FederationId(r.array("federation")?)) },
                value => return Err(DecodeError::BadBool { context: "discovery", field: "federation given", value }),
            },
            code => return Err(DecodeError::UnknownCode { context: "discovery", field: "request type", code }),
        };
        r.finish("discovery request")?;
        Ok(req)
    }
}

impl DiscoveryResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        match self {
            DiscoveryResponse::Registered { ttl_secs } => {
                w.u8(A_REGISTERED);
                w.u32(*ttl_secs);
            }
            DiscoveryResponse::Peers { peers } => {
                w.u8(A_PEERS);
                w.u16(peers.len().min(MAX_PEERS) as u16);
                for (peer, addresses) in peers.iter().take(MAX_PEERS) {
                    w.u8(peer.len() as u8);
                    w.bytes(peer);
                    write_addresses(&mut w, addresses);
                }
            }
            DiscoveryResponse::Refused { code, message } => {
                w.u8(A_REFUSED);
                w.u8(code.code());
                let m = &message.as_bytes()[..message.len().min(1024)];
                w.u16(m.len() as u16);
                w.bytes(m);
            }
        }
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<DiscoveryResponse, DecodeError> {
        let mut r = Reader::new(bytes);
        let resp = match r.u8("discovery response type")? {
            A_REGISTERED => DiscoveryResponse::Registered { ttl_secs: r.u32("ttl")? },
            A_PEERS => {
                let n = r.u16("peer count")? as usize;
                if n > MAX_PEERS {
                    return Err(too_many("peers", MAX_PEERS, n));
                }
                let peers = (0..n)
                    .map(|_| {
                        let len = r.u8("peer id length")? as usize;
                        if len > MAX_PEER_ID_BYTES {
                            return Err(too_many("peer id", MAX_PEER_ID_BYTES, len));
                        }
                        let peer = r.take(len, "peer id")?.to_vec();
                        Ok((peer, read_addresses(&mut r)?))
                    })
                    .collect::<Result<_, DecodeError>>()?;
                DiscoveryResponse::Peers { peers }
            }
            A_REFUSED => {
                let c = r.u8("refusal code")?;
                let code = RefusalCode::from_code(c).ok_or(DecodeError::UnknownCode {
                    context: "discovery",
                    field: "refusal",
                    code: c,
                })?;
                let n = r.u16("message length")? as usize;
                let message = String::from_utf8_lossy(r.take(n, "message")?).into_owned();
                DiscoveryResponse::Refused { code, message }
            }
            code => return Err(DecodeError::UnknownCode { context: "discovery", field: "response type", code }),
        };
        r.finish("discovery response")?;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_reject_trailing_bytes() {
        let requests = [
            DiscoveryRequest::Register {
                federation: FederationId([1; 32]),
                ttl_secs: 300,
                addresses: vec![vec![4, 127, 0, 0, 1], vec![]],
            },
            DiscoveryRequest::Discover { federation: Some(FederationId([2; 32])) },
            DiscoveryRequest::Discover { federation: None },
        ];
        for q in requests {
            let mut bytes = q.encode();
            assert_eq!(DiscoveryRequest::decode(&bytes), Ok(q));
            bytes.push(0);
            assert!(DiscoveryRequest::decode(&bytes).is_err());
        }
        let responses = [
            DiscoveryResponse::Registered { ttl_secs: 120 },
            DiscoveryResponse::Peers { peers: vec![(vec![0, 36, 8], vec![vec![4, 10, 0, 0, 1]]), (vec![9], vec![])] },
            DiscoveryResponse::Refused { code: RefusalCode::NotAMember, message: "members only".into() },
        ];
        for a in responses {
            let mut bytes = a.encode();
            assert_eq!(DiscoveryResponse::decode(&bytes), Ok(a));
            bytes.push(0);
            assert!(DiscoveryResponse::decode(&bytes).is_err());
        }
        assert_eq!(DiscoveryRequest::Discover { federation: None }.encode(), vec![2, 0]);
    }

    #[test]
    fn oversized_lists_are_refused_by_name() {
        let mut w = Writer::default();
        w.u8(Q_REGISTER);
        w.bytes(&[0; 32]);
        w.u32(60);
        w.u8(9);
        let err = DiscoveryRequest::decode(&w.into_bytes()).expect_err("too many addresses");
        assert!(err.to_string().contains("addresses"), "{err}");
        assert!(DiscoveryRequest::decode(&[2, 7]).is_err(), "a flag other than 0 or 1");
    }
}
