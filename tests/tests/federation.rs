//! Federations of real nodes in one process: gossip reaches everyone, sync completes what
//! gossip missed.

use std::time::Duration;

use csx_protocol::Record;
use csx_tests::federation::{Federation, review};
use csx_tests::wait_until;

const SETTLE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_published_on_one_node_reaches_all_twelve() {
    let mut fed = Federation::new(12);
    fed.connect_chain(3);
    fed.start_all().await;
    // Everyone first learns everyone's certificate and profile.
    let n = fed.members.len() as u64;
    wait_until("every node holds every certificate and profile", SETTLE, || (0..12).all(|i| fed.records(i) == 2 * n))
        .await;
    let written = fed.publish(5, vec![review(1)]).await;
    wait_until("the review reached all 12 nodes", SETTLE, || (0..12).all(|i| fed.holds(i, &written[0]))).await;
    let digest = fed.digest(0);
    wait_until("all heads digests agree", SETTLE, || (0..12).all(|i| fed.digest(i) == digest)).await;
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_offline_while_1000_records_are_written_catches_up() {
    let mut fed = Federation::new(10);
    fed.connect_chain(3);
    // The returning node dials nodes that keep running.
    fed.members[9].dials = vec![fed.address(0), fed.address(4)];
    fed.start_all().await;
    wait_until("initial records everywhere", SETTLE, || (0..10).all(|i| fed.records(i) == 20)).await;
    fed.stop(9).await;
    let mut written: Vec<Record> = Vec::new();
    for batch in 0..10u32 {
        let author = (batch % 4) as usize;
        let bodies = (0..100).map(|k| review(batch * 100 + k)).collect();
        written.extend(fed.publish(author, bodies).await);
    }
    assert_eq!(written.len(), 1000);
    wait_until("the 1000 records reached the running nodes", SETTLE, || (0..9).all(|i| fed.records(i) == 1020)).await;
    fed.start(9).await;
    wait_until("the returning node holds all 1020 records", SETTLE, || fed.records(9) == 1020).await;
    assert!(written.iter().all(|r| fed.holds(9, r)));
    assert_eq!(fed.digest(9), fed.digest(0), "same heads as its peers");
    assert_eq!(fed.store(9).stats().expect("stats").pending, 0, "no gaps left");
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_late_receives_the_whole_history() {
    let mut fed = Federation::new(11);
    fed.connect_chain(2);
    fed.members[10].dials = vec![fed.address(3)];
    for i in 0..10 {
        fed.start(i).await;
    }
    for i in 0..10 {
        fed.publish(i, (0..20).map(|k| review(i as u32 * 100 + k)).collect()).await;
    }
    // 10 running members × (cert + profile + 20 reviews); member 10 has not written anything.
    wait_until("history everywhere", SETTLE, || (0..10).all(|i| fed.records(i) == 220)).await;
    fed.start(10).await;
    wait_until("the late joiner holds the whole history and its own records", SETTLE, || fed.records(10) == 222).await;
    wait_until("and its records reached the others", SETTLE, || (0..11).all(|i| fed.records(i) == 222)).await;
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_gossiped_out_of_order_are_all_stored_without_gaps() {
    use csx_node::author::Author;
    use csx_protocol::Body;
    use csx_tests::peer::RawPeer;

    let mut fed = Federation::new(3);
    fed.start(0).await;
    // Member 2's node writes its feed elsewhere; a raw peer with its key gossips it shuffled.
    let key = fed.members[2].home.node_key().expect("key");
    let mut bodies = vec![
        Body::NodeCert(fed.members[2].home.node_cert().expect("cert")),
        Body::Profile(fed.members[2].home.profile().expect("profile")),
    ];
    bodies.extend((0..60).map(review));
    let author = Author::new(key, fed.genesis.id(), None);
    let records = author.sign(bodies, csx_tests::now_ms()).expect("signs");
    let mut order: Vec<usize> = (0..records.len()).collect();
    fastrand::seed(7);
    fastrand::shuffle(&mut order);
    assert_ne!(order, (0..records.len()).collect::<Vec<_>>());

    let mut peer = RawPeer::new(
        &fed.members[2].home.node_key().expect("key"),
        fed.genesis.id(),
        Some(records[0].bytes().to_vec()),
    );
    peer.connect(fed.address(0), fed.members[0].peer_id).await;
    // The node verifies the peer (asks for its certificate) before it takes its gossip.
    let verified = csx_tests::peer::watch_verified(fed.node(0).api().clone(), peer.swarm.local_peer_id().to_string());
    peer.pump_until("the node verified the raw peer", SETTLE, |_| verified.load(std::sync::atomic::Ordering::SeqCst))
        .await;
    for i in &order {
        peer.gossip(records[*i].bytes().to_vec()).expect("published");
    }
    let author_key = records[0].author();
    let store = fed.store(0);
    let done = async {
        wait_until("node 0 holds all 62 records of the feed, contiguous", SETTLE, || {
            store.head(&author_key).ok().flatten().map(|h| h.seq) == Some(62)
        })
        .await
    };
    tokio::select! {
        _ = done => {}
        _ = peer.pump(SETTLE + Duration::from_secs(5)) => panic!("the raw peer stopped"),
    }
    assert!(records.iter().all(|r| fed.holds(0, r)));
    assert!(fed.node(0).counters().get("held") > 0, "some records did arrive ahead of their predecessors");
    assert_eq!(store.stats().expect("stats").pending, 0, "nothing left waiting");
    assert!(store.pending_seqs(&author_key).expect("pending").is_empty());
    fed.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_a_backup_does_not_fork_its_own_feed() {
    use csx_node::api::Request;
    let mut fed = Federation::new(2);
    fed.members[1].dials = vec![fed.address(0)];
    fed.net.own_feed_wait = Duration::from_secs(3);
    fed.start_all().await;
    fed.publish(1, vec![review(1)]).await;
    wait_until("both hold the first review", SETTLE, || fed.records(0) == 5 && fed.records(1) == 5).await;
    // Back up member 1's store now, then write two more.
    fed.stop(1).await;
    let store_dir = fed.members[1].home.store_dir();
    let backup = store_dir.with_extension("backup");
    copy_dir(&store_dir, &backup);
    fed.start(1).await;
    fed.publish(1, vec![review(2), review(3)]).await;
    wait_until("member 0 holds all of member 1's feed", SETTLE, || fed.records(0) == 7).await;
    // Restore the backup: member 1's store is two records behind what member 0 holds of its feed.
    fed.stop(1).await;
    std::fs::remove_dir_all(&store_dir).expect("remove");
    copy_dir(&backup, &store_dir);
    // Alone, it refuses to write.
    fed.stop(0).await;
    fed.start(1).await;
    let refused = fed.node(1).api().handle(Request::Publish { bodies: vec![review(4)] }).await;
    let err = refused.expect_err("no peer has confirmed its own feed");
    assert!(err.message.contains("has not yet confirmed its own feed"), "{}", err.message);
    // With its peer back, it first fetches what it signed before, then writes after it.
    fed.start(0).await;
    let written = fed.publish(1, vec![review(4)]).await;
    assert_eq!(written[0].seq(), 6, "signed after records 4 and 5, which the backup lacked and the peer held");
    wait_until("both agree", SETTLE, || fed.digest(0) == fed.digest(1)).await;
    assert!(fed.store(0).forks().expect("forks").is_empty() && fed.store(1).forks().expect("forks").is_empty());
    fed.stop_all().await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy");
        }
    }
}
