//! `csx status`'s view of the network: this node's addresses, its peers with their standing
//! and sync figures, bans, table sizes and catch-up progress.

use super::event_loop::EventLoop;
use crate::api::{NetStatus, PeerInfo};

impl EventLoop {
    pub(super) fn status(&self) -> NetStatus {
        let now = self.now();
        let mut peers: Vec<PeerInfo> = self
            .admission
            .iter()
            .map(|(id, e)| {
                let node_key = super::identity::node_key(id);
                PeerInfo {
                    peer_id: id.to_string(),
                    org: node_key.as_ref().and_then(|k| self.org_of(k)),
                    node_key,
                    bootstrap: e.bootstrap,
                    connected: e.connected(),
                    verified: e.verified(),
                    addresses: e.addresses.iter().map(|a| a.to_string()).collect(),
                    connected_since: e.link.as_ref().map(|l| l.since),
                    last_sync_at: e.extra.last_sync_at,
                    in_sync: e.extra.in_sync,
                    behind: e.extra.behind,
                    ahead: e.extra.ahead,
                    received: e.extra.received,
                    strikes: self.admission.strikes(id, now),
                    banned: self.admission.banned(id, now).map(|r| r.as_str().to_string()),
                }
            })
            .collect();
        for (id, _, reason) in self.admission.bans(now) {
            if self.admission.get(&id).is_none() {
                peers.push(PeerInfo {
                    peer_id: id.to_string(),
                    node_key: super::identity::node_key(&id),
                    banned: Some(reason.as_str().to_string()),
                    ..PeerInfo::default()
                });
            }
        }
        peers.sort_by(|a, b| (b.connected, &a.org, &a.peer_id).cmp(&(a.connected, &b.org, &b.peer_id)));
        NetStatus {
            peer_id: self.swarm.local_peer_id().to_string(),
            listen: self.swarm.listeners().map(|a| a.to_string()).collect(),
            external: self.swarm.external_addresses().map(|a| a.to_string()).collect(),
            peers,
            last_sync_at: self.last_sync_at,
            counters: self.ctx.counters.snapshot(),
            own_feed_confirmed: self.ctx.own_feed.is_confirmed(),
            tables: self.admission.sizes(),
            progress: self.catch_up.progress(self.sync_remaining(), now),
        }
    }
}
