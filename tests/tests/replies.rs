//! The provider's right of reply across real nodes: a reply signed offline with the provider's
//! key round-trips to every node's provider page once k members confirmed the key; a reply signed
//! by an unconfirmed key, or by a key confirmed for another provider, is refused by name; a
//! reply to a review later retracted is hidden on every node; and a reply whose provider
//! signature does not verify is refused by every node that receives it, not only its writer's.

use std::sync::atomic::Ordering;
use std::time::Duration;

use csx_node::author::Author;
use csx_node::client::AsyncNode as _;
use csx_node::query::providers::ProviderProfile;
use csx_node::query::{Answer, Question};
use csx_protocol::body::{ProviderKey, ProviderReply, Retract};
use csx_protocol::keys::SecretKey;
use csx_protocol::{Body, Record};
use csx_tests::federation::{Federation, review};
use csx_tests::peer::RawPeer;
use csx_tests::{now_ms, wait_until};

const SETTLE: Duration = Duration::from_secs(30);

async fn settle(fed: &Federation, records: &[Record]) {
    wait_until("every node holds the new records", SETTLE, || {
        fed.running().into_iter().all(|i| records.iter().all(|r| fed.holds(i, r)))
    })
    .await;
}

/// Member `i` tries to publish `bodies`: the node's refusal, in words.
async fn refused(fed: &Federation, i: usize, bodies: Vec<Body>) -> String {
    match fed.node(i).api().publish(bodies).await {
        Err(e) => e.to_string(),
        Ok(r) => panic!("expected a refusal, got {r:?}"),
    }
}

async fn provider_page(fed: &Federation, i: usize, code: &str) -> ProviderProfile {
    let question = Question::Provider { code: code.into() };
    match fed.node(i).api().query(question).await.expect("answers").answer {
        Answer::Provider(p) => *p,
        other => panic!("unexpected answer {other:?}"),
    }
}

fn register(provider: &str, key: &SecretKey) -> Body {
    Body::ProviderKey(ProviderKey {
        provider: provider.into(),
        key: key.public_bytes(),
        contact: Some("Head of Contracts".into()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_reaches_every_node_only_under_a_confirmed_key_and_hides_with_its_review() {
    // Four founders: a key is confirmed by 2 members (the endorsement threshold).
    let mut fed = Federation::new(4);
    fed.connect_chain(4);
    fed.start_all().await;
    // review(1) is member 0's review of 0AR for CONTRACT (federation::review's rotation).
    let reviewed = fed.publish(0, vec![review(1)]).await;
    settle(&fed, &reviewed).await;
    let Body::Review(r) = reviewed[0].body() else { panic!("a review") };
    let (provider, review_id) = (r.provider.clone(), reviewed[0].id());
    let acme = SecretKey::generate().expect("key");
    // Signed offline: nothing but the key, the review's id and the text.
    let reply =
        ProviderReply::sign(&acme, review_id, "We replaced the analyst team in March.", now_ms()).expect("signs");

    // Nobody registered the key.
    let e = refused(&fed, 3, vec![Body::ProviderReply(reply.clone())]).await;
    assert!(e.contains("is not registered by any member for any provider"), "{e}");
    // One member of the two needed.
    let one = fed.publish(1, vec![register(&provider, &acme)]).await;
    settle(&fed, &one).await;
    let e = refused(&fed, 3, vec![Body::ProviderReply(reply.clone())]).await;
    assert!(
        e.contains(&format!("is not confirmed: 1 of the 2 members needed have registered it for {provider}")),
        "{e}"
    );
    // A key confirmed for another provider, replying about this one's review.
    let other = SecretKey::generate().expect("key");
    let mut keys = fed.publish(1, vec![register("0DE", &other)]).await;
    keys.extend(fed.publish(2, vec![register("0DE", &other)]).await);
    settle(&fed, &keys).await;
    let wrong = ProviderReply::sign(&other, review_id, "Not ours to answer.", now_ms()).expect("signs");
    let e = refused(&fed, 3, vec![Body::ProviderReply(wrong)]).await;
    assert!(
        e.contains(&format!("is confirmed for provider 0DE, but review {} is about {provider}", review_id.short())),
        "{e}"
    );
    // A second member confirms the key: the reply is published and reaches every node.
    let two = fed.publish(2, vec![register(&provider, &acme)]).await;
    settle(&fed, &two).await;
    let published = fed.publish(3, vec![Body::ProviderReply(reply.clone())]).await;
    settle(&fed, &published).await;
    for i in 0..4 {
        let page = provider_page(&fed, i, &provider).await;
        assert_eq!(page.replies.len(), 1, "node {i}: {page:#?}");
        let answered = &page.replies[0];
        assert_eq!(answered.review, review_id.to_hex());
        assert_eq!(answered.reviewer.ods, fed.members[0].ods);
        assert_eq!(answered.replies.len(), 1);
        let shown = &answered.replies[0];
        assert_eq!(shown.author, "provider", "always marked as the provider's words");
        assert_eq!(shown.text, "We replaced the analyst team in March.");
        assert_eq!(shown.published_by.ods, fed.members[3].ods);
        assert_eq!(shown.provider_key, hex::encode(acme.public_bytes()));
    }
    // The same signed reply again: refused by name.
    let e = refused(&fed, 1, vec![Body::ProviderReply(reply)]).await;
    assert!(e.contains("this signed reply is already published"), "{e}");

    // The reviewer retracts its review: the reply is hidden with it on every node.
    let retracted =
        fed.publish(0, vec![Body::Retract(Retract::one(review_id, "entered against the wrong provider"))]).await;
    settle(&fed, &retracted).await;
    for i in 0..4 {
        let page = provider_page(&fed, i, &provider).await;
        assert!(page.replies.is_empty(), "node {i}: {:#?}", page.replies);
    }
    fed.stop_all().await;
}

/// Member 2 writes from outside (a raw peer holding its node key) a valid review and then a
/// record carrying a reply whose text was changed after the provider signed it. Both running
/// nodes receive it by gossip, each refuses it as `bad_provider_signature` and neither stores it,
/// while the valid records before it are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_checks_the_providers_signature_on_receipt() {
    let mut fed = Federation::new(3);
    fed.members[1].dials = vec![fed.address(0)];
    fed.start(0).await;
    fed.start(1).await;
    let key = fed.members[2].home.node_key().expect("key");
    let author = Author::new(fed.members[2].home.node_key().expect("key"), fed.genesis.id(), None);
    let acme = SecretKey::generate().expect("key");
    let mut forged =
        ProviderReply::sign(&acme, csx_protocol::RecordId([7; 32]), "We fixed it.", now_ms()).expect("signs");
    forged.text = "The reviewer was wrong about everything.".into();
    assert!(!forged.signature_valid());
    let records = author
        .sign(
            vec![
                Body::NodeCert(fed.members[2].home.node_cert().expect("cert")),
                Body::Profile(fed.members[2].home.profile().expect("profile")),
                review(7),
                Body::ProviderReply(forged),
            ],
            now_ms(),
        )
        .expect("the member's node signs (the provider's signature is not its to check)");
    let mut peer = RawPeer::new(&key, fed.genesis.id(), Some(records[0].bytes().to_vec()));
    let mut verified = Vec::new();
    for i in 0..2 {
        peer.connect(fed.address(i), fed.members[i].peer_id).await;
        verified
            .push(csx_tests::peer::watch_verified(fed.node(i).api().clone(), peer.swarm.local_peer_id().to_string()));
    }
    let (good, bad) = (records[..3].to_vec(), records[3].clone());
    let stores = [fed.store(0), fed.store(1)];
    let counters = [fed.node(0).counters().clone(), fed.node(1).counters().clone()];
    let mut sent = false;
    peer.pump_until("both nodes refuse the forged reply as bad_provider_signature", SETTLE, |p| {
        if !sent && verified.iter().all(|v| v.load(Ordering::SeqCst)) {
            for r in &records {
                let _ = p.gossip(r.bytes().to_vec());
            }
            sent = true;
        }
        (0..2).all(|i| {
            good.iter().all(|r| stores[i].get(&r.id()).ok().flatten().is_some())
                && counters[i].get("rejected.bad_provider_signature") >= 1
        })
    })
    .await;
    for (i, store) in stores.iter().enumerate() {
        assert!(store.get(&bad.id()).expect("reads").is_none(), "node {i} did not store the forged reply");
    }
    fed.stop_all().await;
}
