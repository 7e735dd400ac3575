//! A federation of real nodes in one process.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use csx_node::client::AsyncNode as _;
use csx_node::home::{Home, InitParams};
use csx_node::net::{NetConfig, TransportKind};
use csx_node::runtime::{NodeOptions, RunningNode};
use csx_node::service::system_clock;
use csx_node::store::{Store, StoreConfig};
use csx_protocol::body::{OrgKind, Profile, Review};
use csx_protocol::{Body, FinancialYear, Founder, Genesis, Record};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// ICB codes used as members' ODS codes (from shared/data/icb_codes.csv).
pub const ICB_CODES: &[&str] = &[
    "QE1", "QF7", "QGH", "QH8", "QHG", "QHL", "QHM", "QJ2", "QJG", "QJK", "QJM", "QK1", "QKK", "QKS", "QM7", "QMF",
    "QMJ", "QMM", "QNC", "QNQ", "QNX", "QOC", "QOP", "QOQ", "QOX", "QPM", "QR1", "QRL", "QRV", "QSL", "QT1", "QT6",
    "QU9", "QUA", "QUE", "QUY", "QVV", "QWE", "QWO", "QWU", "QXU", "QYG",
];

/// One member's node in the test federation.
pub struct Member {
    pub home: Home,
    pub node: Option<RunningNode>,
    pub listen: Multiaddr,
    pub peer_id: PeerId,
    pub ods: String,
    /// Addresses this node dials when it starts.
    pub dials: Vec<Multiaddr>,
}

/// A federation of `n` founding members, each with a node on the memory transport.
pub struct Federation {
    _dir: tempfile::TempDir,
    pub genesis: Genesis,
    pub members: Vec<Member>,
    pub net: NetConfig,
    /// Memory by default; [`Federation::use_tcp`] puts every node on loopback TCP.
    pub transport: TransportKind,
    /// How far each member's clock is off true time, in milliseconds (0: right).
    pub clock_offsets: Vec<Arc<AtomicI64>>,
}

fn memory_port() -> u64 {
    // Random ports keep concurrent tests in one process apart.
    fastrand::u64(1_000_000..u64::MAX / 2)
}

impl Federation {
    /// Creates `n` members (not started).
    pub fn new(n: usize) -> Federation {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut homes = Vec::new();
        let mut founders = Vec::new();
        for i in 0..n {
            // Real ICB codes first; beyond them, made-up codes that cannot clash.
            let ods = ICB_CODES.get(i).map_or_else(|| format!("X{i:03}"), |c| c.to_string());
            let home = Home::new(dir.path().join(format!("m{i}-{ods}")));
            let profile = Profile {
                name: format!("NHS Test ICB {i}"),
                org_kind: OrgKind::Icb,
                population: Some(300_000 + 10_000 * i as u64),
                population_year: Some(FinancialYear(2024)),
                region: None,
                predecessors: vec![],
                successors: vec![],
            };
            let id = home
                .init(&InitParams { ods_code: ods.clone(), profile, cert_expires_at: u64::MAX / 2 }, None)
                .expect("home initialises");
            founders.push(Founder { org_key: id.org_key, ods_code: ods.clone(), name: id.name.clone() });
            homes.push((home, ods, id.node_key));
        }
        let genesis = Genesis::new("Test federation", 1_700_000_000_000, founders);
        let mut members = Vec::new();
        for (home, ods, node_key) in homes {
            home.set_genesis(&genesis).expect("joins");
            let listen: Multiaddr = format!("/memory/{}", memory_port()).parse().expect("multiaddr");
            let peer_id = csx_node::net::identity::peer_id(&node_key);
            members.push(Member { home, node: None, listen, peer_id, ods, dials: vec![] });
        }
        let net = NetConfig { sync_interval: Duration::from_secs(2), ..NetConfig::default() };
        let clock_offsets = (0..n).map(|_| Arc::new(AtomicI64::new(0))).collect();
        Federation { _dir: dir, genesis, members, net, transport: TransportKind::Memory, clock_offsets }
    }

    /// Puts every member's node on loopback TCP (a free port each) instead of the memory transport.
    pub fn use_tcp(&mut self) {
        self.transport = TransportKind::Tcp;
        for m in &mut self.members {
            let port = crate::process::free_port();
            m.listen = format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("multiaddr");
        }
    }

    /// The address others dial to reach member `i`.
    pub fn address(&self, i: usize) -> Multiaddr {
        self.members[i].listen.clone().with(Protocol::P2p(self.members[i].peer_id))
    }

    /// Connects the members in a mesh where each dials up to `fanout` earlier members.
    pub fn connect_chain(&mut self, fanout: usize) {
        for i in 0..self.members.len() {
            let from = i.saturating_sub(fanout);
            self.members[i].dials = (from..i).map(|j| self.address(j)).collect();
        }
    }

    /// Connects the members at random: each dials up to `degree` distinct earlier members, so
    /// the graph is connected and its diameter grows with the logarithm of its size.
    pub fn connect_random(&mut self, degree: usize) {
        for i in 1..self.members.len() {
            let mut earlier: Vec<usize> = (0..i).collect();
            fastrand::shuffle(&mut earlier);
            self.members[i].dials = earlier.into_iter().take(degree).map(|j| self.address(j)).collect();
        }
    }

    pub async fn start_all(&mut self) {
        for i in 0..self.members.len() {
            self.start(i).await;
        }
    }

    pub async fn start(&mut self, i: usize) {
        let node = RunningNode::start(&self.members[i].home, self.options(i)).await.expect("node starts");
        self.members[i].node = Some(node);
    }

    /// Starts member `i`'s node over `store` (the fault tests wrap the real store).
    pub async fn start_on(&mut self, i: usize, store: Arc<dyn Store>) {
        let node =
            RunningNode::start_with_store(&self.members[i].home, store, self.options(i)).await.expect("node starts");
        self.members[i].node = Some(node);
    }

    fn options(&self, i: usize) -> NodeOptions {
        let m = &self.members[i];
        let net = NetConfig { listen: vec![m.listen.clone()], peers: m.dials.clone(), ..self.net.clone() };
        let offset = self.clock_offsets[i].clone();
        let system = system_clock();
        let clock: csx_node::service::Clock =
            Arc::new(move || system().saturating_add_signed(offset.load(Ordering::Relaxed)));
        NodeOptions { net, transport: self.transport, store: StoreConfig::default(), clock }
    }

    /// Sets member `i`'s clock `ms` ahead of true time (behind when negative), from now on.
    pub fn set_clock_offset(&self, i: usize, ms: i64) {
        self.clock_offsets[i].store(ms, Ordering::Relaxed);
    }

    /// Cuts every link between the members in `a` and those in `b` (each side refuses the other),
    /// or restores them when `cut` is false. Restored links are dialled again at once.
    pub async fn cut(&self, a: &[usize], b: &[usize], cut: bool) {
        for (side, other) in [(a, b), (b, a)] {
            let peers: Vec<PeerId> = other.iter().map(|j| self.members[*j].peer_id).collect();
            for i in side {
                if let Some(node) = &self.members[*i].node {
                    node.api().net().deny(peers.clone(), cut).await.expect("network running");
                }
            }
        }
        if !cut {
            for i in a {
                for j in b {
                    if let Some(node) = &self.members[*i].node {
                        node.api().net().dial(self.address(*j)).await.expect("network running");
                    }
                }
            }
        }
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(node) = self.members[i].node.take() {
            node.shutdown().await;
        }
    }

    pub async fn stop_all(&mut self) {
        for i in 0..self.members.len() {
            self.stop(i).await;
        }
    }

    pub fn node(&self, i: usize) -> &RunningNode {
        self.members[i].node.as_ref().expect("node is running")
    }

    pub fn store(&self, i: usize) -> Arc<dyn Store> {
        self.node(i).store().clone()
    }

    /// Member `i` writes `bodies` through its node's API (as `csx` would).
    pub async fn publish(&self, i: usize, bodies: Vec<Body>) -> Vec<Record> {
        let records = self.node(i).api().publish(bodies).await.expect("publish");
        records.iter().map(|r| r.decode().expect("decodes")).collect()
    }

    pub fn holds(&self, i: usize, record: &Record) -> bool {
        self.store(i).get(&record.id()).ok().flatten().is_some()
    }

    pub fn digest(&self, i: usize) -> [u8; 32] {
        self.store(i).heads_index().root()
    }

    pub fn records(&self, i: usize) -> u64 {
        self.store(i).stats().expect("stats").records
    }

    /// Indexes of running members.
    pub fn running(&self) -> Vec<usize> {
        (0..self.members.len()).filter(|i| self.members[*i].node.is_some()).collect()
    }
}

/// A review body numbered `n` (distinct content per n).
pub fn review(n: u32) -> Body {
    Body::Review(Review {
        provider: ["0DE", "0AR", "0CX", "0DF", "0DJ"][n as usize % 5].into(),
        service_line: ["BI", "CONTRACT", "MEDS", "CHC"][n as usize % 4].into(),
        year: FinancialYear(2020 + (n % 5) as u16),
        quality: Some(1 + (n % 5) as u8),
        timeliness: Some(1 + (n / 5 % 5) as u8),
        responsiveness: None,
        data_accuracy: None,
        flexibility: None,
        value_for_money: None,
        kpi_delivery: None,
        would_recommend: Some((n % 11) as u8),
        still_customer: !n.is_multiple_of(3),
        reviewer_role: "Head of Contracting".into(),
        comment: Some(format!("Review number {n}: {}", "service notes ".repeat(40))),
    })
}
