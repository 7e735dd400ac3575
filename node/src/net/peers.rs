//! Peers a node has met, remembered in the store so it can start with every bootstrap server
//! down.

use std::collections::BTreeMap;

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::store::Store;

/// Store metadata key of the peer book.
const META_KEY: &str = "peers";
/// Most peers remembered.
const MAX_PEERS: usize = 256;
/// Most addresses remembered per peer.
const MAX_ADDRS: usize = 8;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Entry {
    addrs: Vec<String>,
    last_seen: u64,
}

/// Peers and their addresses, most recently seen kept.
#[derive(Debug, Default)]
pub struct PeerBook {
    peers: BTreeMap<String, Entry>,
    dirty: bool,
}

impl PeerBook {
    pub fn load(store: &dyn Store) -> PeerBook {
        let peers = store
            .meta_get(META_KEY)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<BTreeMap<String, Entry>>(&b).ok())
            .unwrap_or_default();
        PeerBook { peers, dirty: false }
    }

    pub fn save(&mut self, store: &dyn Store) {
        if !self.dirty {
            return;
        }
        match serde_json::to_vec(&self.peers) {
            Ok(bytes) => match store.meta_put(META_KEY, &bytes) {
                Ok(()) => self.dirty = false,
                Err(e) => tracing::warn!("could not remember peers: {e}"),
            },
            Err(e) => tracing::warn!("could not remember peers: {e}"),
        }
    }

    /// Remembers that `peer` was reachable at `addrs` at `now`.
    pub fn saw(&mut self, peer: &PeerId, addrs: impl IntoIterator<Item = Multiaddr>, now: u64) {
        let e = self.peers.entry(peer.to_string()).or_default();
        for a in addrs {
            if is_dialable(&a) {
                let a = a.to_string();
                e.addrs.retain(|x| x != &a);
                e.addrs.insert(0, a);
            }
        }
        e.addrs.truncate(MAX_ADDRS);
        e.last_seen = now;
        self.dirty = true;
        if self.peers.len() > MAX_PEERS
            && let Some(oldest) = self.peers.iter().min_by_key(|(_, e)| e.last_seen).map(|(k, _)| k.clone())
        {
            self.peers.remove(&oldest);
        }
    }

    pub fn forget(&mut self, peer: &PeerId) {
        if self.peers.remove(&peer.to_string()).is_some() {
            self.dirty = true;
        }
    }

    /// Remembered peers with their addresses, most recently seen first.
    pub fn peers(&self) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut v: Vec<_> = self
            .peers
            .iter()
            .filter_map(|(p, e)| {
                let pid: PeerId = p.parse().ok()?;
                let addrs: Vec<Multiaddr> = e.addrs.iter().filter_map(|a| a.parse().ok()).collect();
                Some((pid, addrs, e.last_seen))
            })
            .collect();
        v.sort_by_key(|(_, _, seen)| std::cmp::Reverse(*seen));
        v.into_iter().map(|(p, a, _)| (p, a)).collect()
    }
}

/// An address worth dialling again (not a wildcard, not a relayed circuit).
fn is_dialable(a: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    !a.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        Protocol::P2pCircuit => true,
        _ => false,
    })
}
