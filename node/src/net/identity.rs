//! Node keys as libp2p identities: a node's PeerId is derived from its ed25519 node key.

use csx_protocol::NodeKey;
use csx_protocol::keys::SecretKey;
use libp2p::PeerId;
use libp2p::identity::{self, Keypair, PublicKey};

/// The libp2p keypair of a node key.
pub fn keypair(key: &SecretKey) -> Keypair {
    let seed = key.seed();
    // ed25519_from_bytes zeroes the buffer it is given; hand it a copy.
    let mut copy = *seed;
    Keypair::ed25519_from_bytes(&mut copy).expect("a 32-byte seed is always a valid ed25519 secret")
}

pub fn peer_id(node: &NodeKey) -> PeerId {
    match identity::ed25519::PublicKey::try_from_bytes(node.as_bytes()) {
        Ok(pk) => PublicKey::from(pk).to_peer_id(),
        // Not a valid point: no peer can have this id; a random id can never match a peer.
        Err(_) => PeerId::random(),
    }
}

/// The node key inside an ed25519 PeerId (None for other key types).
pub fn node_key(peer: &PeerId) -> Option<NodeKey> {
    let mh: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if mh.code() != 0x00 {
        return None;
    }
    let pk = PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    Some(NodeKey(pk.try_into_ed25519().ok()?.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_keys_and_peer_ids_convert_both_ways() {
        let key = SecretKey::from_seed(&[8; 32]);
        let pid = keypair(&key).public().to_peer_id();
        assert_eq!(pid, peer_id(&key.node_key()));
        assert_eq!(node_key(&pid), Some(key.node_key()));
    }
}
