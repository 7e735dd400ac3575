//! The fault suite, in-process part: partitions, rolling restarts, an unknown future kind, a disk
//! that refuses writes, clocks hours off, and a flapping network. Every test waits for the state
//! it expects, with a deadline; figures are printed (run with `--nocapture` to see them).
//! The flapping network runs alone in `flapping.rs` (it measures the process's memory); kill -9
//! cycles and bad files, with real processes, are in `faults_processes.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use csx_node::api::{Request, Response};
use csx_node::store::{ForkProof, InsertReport, Records, Scan, SledStore, Store, StoreConfig, StoreError, StoreStats};
use csx_protocol::{Head, Kind, NodeKey, Record, RecordId, Verified};
use csx_tests::federation::{Federation, review};
use csx_tests::wait_until;

const SETTLE: Duration = Duration::from_secs(60);

fn all_agree(fed: &Federation, nodes: &[usize]) -> bool {
    let d = fed.digest(nodes[0]);
    nodes.iter().all(|i| fed.digest(*i) == d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_federation_of_six_converges_after_the_partition_heals() {
    let mut fed = Federation::new(6);
    fed.connect_chain(5);
    fed.start_all().await;
    let all: Vec<usize> = (0..6).collect();
    wait_until("initial records everywhere", SETTLE, || all.iter().all(|i| fed.records(*i) == 12)).await;

    let (left, right) = ([0, 1, 2], [3, 4, 5]);
    fed.cut(&left, &right, true).await;
    wait_until("no connection crosses the partition", SETTLE, || {
        left.iter().all(|i| {
            let peers = futures::executor::block_on(fed.node(*i).api().handle(Request::Peers));
            match peers {
                Ok(Response::Peers { peers }) => !peers
                    .iter()
                    .any(|p| p.connected && right.iter().any(|j| p.peer_id == fed.members[*j].peer_id.to_string())),
                _ => false,
            }
        })
    })
    .await;
    // Both sides write while apart.
    let mut on_left = fed.publish(0, (0..40).map(review).collect()).await;
    on_left.extend(fed.publish(2, (40..60).map(review).collect()).await);
    let mut on_right = fed.publish(4, (100..140).map(review).collect()).await;
    on_right.extend(fed.publish(5, (140..160).map(review).collect()).await);
    wait_until("each side converges on its own writes", SETTLE, || {
        left.iter().all(|i| on_left.iter().all(|r| fed.holds(*i, r)))
            && right.iter().all(|i| on_right.iter().all(|r| fed.holds(*i, r)))
    })
    .await;
    // A sync round on each side proves the other side's records cannot arrive.
    for i in all.iter() {
        let _ = fed.node(*i).api().handle(Request::Sync { timeout_ms: 20_000 }).await;
    }
    assert!(left.iter().all(|i| on_right.iter().all(|r| !fed.holds(*i, r))), "the partition leaked");
    assert!(right.iter().all(|i| on_left.iter().all(|r| !fed.holds(*i, r))), "the partition leaked");
    assert!(all_agree(&fed, &left) && all_agree(&fed, &right) && fed.digest(0) != fed.digest(3));

    let healed = Instant::now();
    fed.cut(&left, &right, false).await;
    wait_until("all six hold the identical record set", SETTLE, || all_agree(&fed, &all)).await;
    let took = healed.elapsed();
    let expected = 12 + 120;
    assert!(all.iter().all(|i| fed.records(*i) == expected), "every node holds all {expected} records");
    assert!(all.iter().all(|i| fed.store(*i).stats().expect("stats").pending == 0));
    println!("FIGURE partition: 6 nodes, 2 sides, 120 records written apart; converged {took:?} after healing");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_continuous_writes_loses_nothing() {
    let mut fed = Federation::new(6);
    fed.connect_chain(5);
    fed.start_all().await;
    let all: Vec<usize> = (0..6).collect();
    wait_until("initial records everywhere", SETTLE, || all.iter().all(|i| fed.records(*i) == 12)).await;

    // The writer reaches each node through a slot the restarter empties while the node is down.
    let slots: Arc<tokio::sync::RwLock<Vec<Option<csx_node::runtime::NodeApi>>>> =
        Arc::new(tokio::sync::RwLock::new(all.iter().map(|i| Some(fed.node(*i).api().clone())).collect()));
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let (slots, stop, count) = (slots.clone(), stop.clone(), count.clone());
        tokio::spawn(async move {
            let (mut saved, mut refused, mut n) = (Vec::<RecordId>::new(), 0u32, 0u32);
            while !stop.load(Ordering::Relaxed) {
                let i = fastrand::usize(..6);
                let slots = slots.read().await;
                if let Some(api) = &slots[i] {
                    match api.handle(Request::Publish { bodies: vec![review(10_000 + n), review(20_000 + n)] }).await {
                        Ok(Response::Published { records }) => {
                            saved.extend(records.iter().map(|r| r.decode().expect("decodes").id()));
                            count.store(saved.len(), Ordering::Relaxed);
                        }
                        _ => refused += 1,
                    }
                    n += 1;
                }
                drop(slots);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (saved, refused)
        })
    };
    for i in 0..6 {
        slots.write().await[i] = None;
        fed.stop(i).await;
        // Writes go on elsewhere while the node is down.
        let at = count.load(Ordering::Relaxed);
        wait_until("writes while a node is down", SETTLE, || count.load(Ordering::Relaxed) >= at + 20).await;
        fed.start(i).await;
        slots.write().await[i] = Some(fed.node(i).api().clone());
        // Let writes land on the restarted node before the next one goes down.
        let before = fed.records(i);
        wait_until("the restarted node receives new writes", SETTLE, || fed.records(i) > before).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (saved, refused) = writer.await.expect("writer");
    wait_until("all six converge", SETTLE, || all_agree(&fed, &all)).await;
    for i in &all {
        let store = fed.store(*i);
        let lost = saved.iter().filter(|id| store.get(id).ok().flatten().is_none()).count();
        assert_eq!(lost, 0, "node {i} lacks {lost} of the {} saved records", saved.len());
        assert!(store.forks().expect("forks").is_empty(), "no node forked its feed");
    }
    println!(
        "FIGURE rolling restart: 6 nodes restarted in turn, {} records saved during it ({refused} writes refused while a node stopped), 0 lost",
        saved.len()
    );
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_of_an_unknown_future_kind_passes_through_unharmed() {
    use csx_node::author::Author;
    use csx_protocol::Body;
    use csx_tests::peer::RawPeer;

    let mut fed = Federation::new(3);
    // Member 1's node hears only member 0's; member 2 writes from "a newer version" (a raw peer).
    fed.members[1].dials = vec![fed.address(0)];
    fed.start(0).await;
    fed.start(1).await;
    let key = fed.members[2].home.node_key().expect("key");
    let author = Author::new(fed.members[2].home.node_key().expect("key"), fed.genesis.id(), None);
    let future = Body::Unknown { code: 0x7e01, bytes: b"\x01\x00\x05hello, from csx v9".to_vec() };
    let records = author
        .sign(
            vec![
                Body::NodeCert(fed.members[2].home.node_cert().expect("cert")),
                Body::Profile(fed.members[2].home.profile().expect("profile")),
                future,
                review(7),
            ],
            csx_tests::now_ms(),
        )
        .expect("signs");
    let mut peer = RawPeer::new(&key, fed.genesis.id(), Some(records[0].bytes().to_vec()));
    peer.connect(fed.address(0), fed.members[0].peer_id).await;
    let store1 = fed.store(1);
    let wanted = records.clone();
    let verified = csx_tests::peer::watch_verified(fed.node(0).api().clone(), peer.swarm.local_peer_id().to_string());
    let mut sent = false;
    peer.pump_until("member 1 holds the whole feed, the unknown kind included", SETTLE, |p| {
        if !sent && verified.load(Ordering::SeqCst) {
            for r in &wanted {
                let _ = p.gossip(r.bytes().to_vec());
            }
            sent = true;
        }
        wanted.iter().all(|r| store1.get(&r.id()).ok().flatten().is_some())
    })
    .await;
    let through = fed.store(1).get(&records[2].id()).expect("read").expect("held");
    assert_eq!(through.bytes(), records[2].bytes(), "forwarded as the exact bytes signed");
    assert!(matches!(through.body(), Body::Unknown { code: 0x7e01, .. }));
    assert_eq!(fed.store(1).head(&key.node_key()).expect("head").map(|h| h.seq), Some(4), "the feed goes on past it");
    // Queries ignore it; the review after it counts.
    let reviews = fed
        .node(1)
        .api()
        .handle(Request::List { kind: csx_protocol::Kind::Review, service_line: None, provider: None, limit: 100 })
        .await;
    match reviews {
        Ok(Response::Records { records }) => assert_eq!(records.len(), 1),
        other => panic!("unexpected {other:?}"),
    }
    fed.stop_all().await;
}

/// The real store, with writes that fail while `full` is set, as on a full or read-only disk.
struct FailingStore {
    inner: SledStore,
    full: AtomicBool,
}

impl FailingStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.full.load(Ordering::Relaxed) {
            let io = std::io::Error::from(std::io::ErrorKind::StorageFull);
            return Err(StoreError::Io(sled::Error::Io(io)));
        }
        Ok(())
    }
}

impl Store for FailingStore {
    fn insert(&self, records: Vec<Verified<Record>>) -> Result<InsertReport, StoreError> {
        self.check()?;
        self.inner.insert(records)
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.check()?;
        self.inner.flush()
    }
    fn get(&self, id: &RecordId) -> Result<Option<Record>, StoreError> {
        self.inner.get(id)
    }
    fn get_at(&self, author: &NodeKey, seq: u64) -> Result<Option<Record>, StoreError> {
        self.inner.get_at(author, seq)
    }
    fn locate(&self, id: &RecordId) -> Result<Option<(NodeKey, u64)>, StoreError> {
        self.inner.locate(id)
    }
    fn ids_with_prefix(&self, hex_prefix: &str, limit: usize) -> Result<Vec<RecordId>, StoreError> {
        self.inner.ids_with_prefix(hex_prefix, limit)
    }
    fn head(&self, author: &NodeKey) -> Result<Option<Head>, StoreError> {
        self.inner.head(author)
    }
    fn heads(&self) -> Result<Vec<(NodeKey, Head)>, StoreError> {
        self.inner.heads()
    }
    fn feed_bytes(
        &self,
        author: &NodeKey,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.feed_bytes(author, from_seq, max_records, max_bytes)
    }
    fn scan(&self, scan: Scan<'_>, newest_first: bool) -> Records<'_> {
        self.inner.scan(scan, newest_first)
    }
    fn latest(&self, kind: Kind, skip: &dyn Fn(&RecordId) -> bool) -> Result<Vec<Record>, StoreError> {
        self.inner.latest(kind, skip)
    }
    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.stats()
    }
    fn count_kind(&self, kind: u16) -> Result<u64, StoreError> {
        self.inner.count_kind(kind)
    }
    fn forks(&self) -> Result<Vec<ForkProof>, StoreError> {
        self.inner.forks()
    }
    fn pending_seqs(&self, author: &NodeKey) -> Result<Vec<u64>, StoreError> {
        self.inner.pending_seqs(author)
    }
    fn add_fork_proof(&self, first: Verified<Record>, second: Verified<Record>) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.add_fork_proof(first, second)
    }
    fn fork_proof(&self, author: &NodeKey) -> Result<Option<ForkProof>, StoreError> {
        self.inner.fork_proof(author)
    }
    fn quarantine(&self, records: Vec<Verified<Record>>) -> Result<Vec<bool>, StoreError> {
        self.check()?;
        self.inner.quarantine(records)
    }
    fn quarantined_authors(&self) -> Result<Vec<NodeKey>, StoreError> {
        self.inner.quarantined_authors()
    }
    fn quarantined(&self, author: &NodeKey) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.quarantined(author)
    }
    fn take_quarantined(&self, author: &NodeKey) -> Result<Vec<Vec<u8>>, StoreError> {
        self.check()?;
        self.inner.take_quarantined(author)
    }
    fn truncate_feed(&self, author: &NodeKey, keep_through: u64) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.truncate_feed(author, keep_through)
    }
    fn heads_index(&self) -> std::sync::MutexGuard<'_, csx_protocol::sync::HeadsIndex> {
        self.inner.heads_index()
    }
    fn meta_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.meta_get(name)
    }
    fn meta_put(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.check()?;
        self.inner.meta_put(name, value)
    }
    fn meta_names(&self) -> Result<Vec<String>, StoreError> {
        self.inner.meta_names()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_refuses_writes_is_reported_and_nothing_is_lost_or_half_written() {
    let mut fed = Federation::new(2);
    fed.members[1].dials = vec![fed.address(0)];
    fed.start(0).await;
    let store = Arc::new(FailingStore {
        inner: SledStore::open(&fed.members[1].home.store_dir(), StoreConfig::default()).expect("opens"),
        full: AtomicBool::new(false),
    });
    fed.start_on(1, store.clone()).await;
    wait_until("both hold both certificates and profiles", SETTLE, || fed.records(0) == 4 && fed.records(1) == 4).await;
    let before = fed.publish(1, vec![review(1)]).await;
    wait_until("member 0 has member 1's review", SETTLE, || fed.holds(0, &before[0])).await;
    let held = fed.records(1);
    let own = fed.members[1].home.node_key().expect("key").node_key();
    let head = fed.store(1).head(&own).expect("head");

    store.full.store(true, Ordering::Relaxed);
    // A local write is refused with an error that says what failed and what to do.
    let err = fed
        .node(1)
        .api()
        .handle(Request::Publish { bodies: vec![review(2)] })
        .await
        .expect_err("a full disk refuses the write");
    assert!(err.message.contains("no storage space"), "says what failed: {}", err.message);
    assert!(err.message.contains("disk is full"), "names what to do: {}", err.message);
    // Records arriving from peers are refused and counted, not lost for good.
    let theirs = fed.publish(0, (100..110).map(review).collect()).await;
    wait_until("the refused writes are counted", SETTLE, || fed.node(1).counters().get("rejected.store_error") > 0)
        .await;
    assert_eq!(fed.records(1), held, "nothing half-written");
    assert_eq!(fed.store(1).head(&own).expect("head"), head, "the node's own feed did not move");
    // The daemon carries on: it still answers.
    assert!(matches!(fed.node(1).api().handle(Request::Status).await, Ok(Response::Status { .. })));

    // Space again: the node writes on from where it was and sync brings what it missed.
    store.full.store(false, Ordering::Relaxed);
    let after = fed.publish(1, vec![review(3)]).await;
    assert_eq!(after[0].seq(), head.map(|h| h.seq).unwrap_or(0) + 1, "no gap and no fork in its own feed");
    let _ = fed.node(1).api().handle(Request::Sync { timeout_ms: 20_000 }).await;
    wait_until("member 1 has the records refused while the disk was full", SETTLE, || {
        theirs.iter().all(|r| fed.holds(1, r))
    })
    .await;
    wait_until("both agree", SETTLE, || fed.digest(0) == fed.digest(1)).await;
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_hours_off_are_judged_by_the_rules_and_every_refusal_is_counted() {
    const HOURS_3: i64 = 3 * 3600 * 1000;
    let mut fed = Federation::new(3);
    fed.connect_chain(2);
    fed.start_all().await;
    wait_until("initial records everywhere", SETTLE, || (0..3).all(|i| fed.records(i) == 6)).await;

    // Member 1's clock runs three hours fast, member 2's three hours slow.
    fed.set_clock_offset(1, HOURS_3);
    fed.set_clock_offset(2, -HOURS_3);
    let slow = fed.publish(2, vec![review(2)]).await;
    let fast = fed.publish(1, vec![review(1)]).await;
    // A record from a slow clock is merely old: everyone takes it.
    wait_until("the slow clock's record reaches everyone", SETTLE, || (0..3).all(|i| fed.holds(i, &slow[0]))).await;
    // A record from three hours ahead is refused now, by name, and its sender is not punished.
    wait_until("members 0 and 2 count the record from the future", SETTLE, || {
        [0, 2].iter().all(|i| fed.node(*i).counters().get("rejected.from_the_future") > 0)
    })
    .await;
    for i in [0, 2] {
        let _ = fed.node(i).api().handle(Request::Sync { timeout_ms: 20_000 }).await;
        assert!(!fed.holds(i, &fast[0]), "member {i} took a record from three hours ahead");
    }
    let peers = match fed.node(0).api().handle(Request::Peers).await {
        Ok(Response::Peers { peers }) => peers,
        other => panic!("unexpected {other:?}"),
    };
    let p1 = peers.iter().find(|p| p.peer_id == fed.members[1].peer_id.to_string()).expect("member 1 is a peer");
    assert!(p1.connected && p1.banned.is_none(), "a fast clock is not treated as an attack: {p1:?}");

    // Three hours later (their clocks reach it), a sync round brings it: nothing was dropped.
    fed.set_clock_offset(0, HOURS_3);
    fed.set_clock_offset(2, HOURS_3);
    for i in [0, 2] {
        let _ = fed.node(i).api().handle(Request::Sync { timeout_ms: 20_000 }).await;
    }
    wait_until("the record is taken once its time has come", SETTLE, || [0, 2].iter().all(|i| fed.holds(*i, &fast[0])))
        .await;
    wait_until("all agree", SETTLE, || all_agree(&fed, &[0, 1, 2])).await;
    let refusals: u64 = [0, 2].iter().map(|i| fed.node(*i).counters().get("rejected.from_the_future")).sum();
    println!(
        "FIGURE clocks: a +3h record refused {refusals} times (counted) before its time, then taken; -3h taken at once"
    );
    fed.stop_all().await;
}
