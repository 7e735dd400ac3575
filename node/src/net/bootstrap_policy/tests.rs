//! The policy towards bootstrap servers, driven by a virtual clock.

use super::*;

const INTERVAL: u64 = 60_000;

fn peer() -> PeerId {
    libp2p::identity::Keypair::generate_ed25519().public().to_peer_id()
}

fn addr(port: u16) -> Multiaddr {
    format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("addr")
}

/// A policy with one server, and the server.
fn one_server(seed: u64) -> (BootstrapPolicy, PeerId) {
    let server = peer();
    (BootstrapPolicy::new([server], INTERVAL, seed), server)
}

/// Moves the clock from `from` to `to` in steps of `step`, collecting intents with their times.
fn run(policy: &mut BootstrapPolicy, from: u64, to: u64, step: u64) -> Vec<(u64, Intent)> {
    let mut out = vec![];
    let mut now = from;
    while now <= to {
        out.extend(policy.tick(now).into_iter().map(|i| (now, i)));
        now += step;
    }
    out
}

#[test]
fn backoff_doubles_to_its_cap_and_jitters_within_half_and_all_of_it() {
    let b = Backoff { first_ms: 250, max_ms: 5_000 };
    let nominal: Vec<u64> = (1..=7).map(|n| b.nominal(n)).collect();
    assert_eq!(nominal, vec![250, 500, 1_000, 2_000, 4_000, 5_000, 5_000]);
    assert_eq!(b.nominal(u32::MAX), 5_000, "no overflow");
    let mut rng = fastrand::Rng::with_seed(7);
    let draws: Vec<u64> = (0..200).map(|_| b.delay(3, &mut rng)).collect();
    assert!(draws.iter().all(|d| (500..=1_000).contains(d)), "{draws:?}");
    assert!(draws.iter().min() < Some(&600) && draws.iter().max() > Some(&900), "spread over the range");
}

#[test]
fn a_server_connected_before_the_node_has_an_address_is_asked_at_once_and_registered_once_it_has() {
    let (mut p, s) = one_server(1);
    p.connected(s, 0);
    assert_eq!(p.tick(0), vec![Intent::Discover(s)]);
    assert_eq!(p.tick(100), Vec::<Intent>::new(), "nothing to register yet");
    p.address_added(150);
    assert_eq!(p.tick(150), vec![Intent::Register(s)]);
    p.answered(&s, Ask::Discover, 160);
    p.answered(&s, Ask::Register, 170);
    assert!(p.is_registered(&s));
    // Registered: ask again at once, so as to find who registered meanwhile.
    assert_eq!(p.tick(170), vec![Intent::Discover(s)]);
    p.answered(&s, Ask::Discover, 180);
    assert_eq!(run(&mut p, 181, INTERVAL - 1, 100), Vec::<(u64, Intent)>::new(), "quiet until the interval");
    let mut renewed = p.tick(INTERVAL);
    renewed.sort_by_key(|i| format!("{i:?}"));
    assert_eq!(renewed, vec![Intent::Discover(s), Intent::Register(s)]);
}

#[test]
fn a_registration_refused_as_busy_is_retried_soon_with_growing_jittered_waits() {
    let (mut p, s) = one_server(2);
    p.address_added(0);
    p.connected(s, 0);
    let first = p.tick(0);
    assert!(first.contains(&Intent::Register(s)), "{first:?}");
    p.answered(&s, Ask::Discover, 5);
    let mut sent_at = vec![0];
    let mut now = 10;
    for _ in 0..6 {
        p.refused(&s, Ask::Register, RefusalCode::TooBusy, now);
        let next =
            run(&mut p, now, now + 10_000, 10).into_iter().find(|(_, i)| *i == Intent::Register(s)).expect("retried");
        sent_at.push(next.0);
        now = next.0 + 10;
    }
    let waits: Vec<u64> = sent_at.windows(2).map(|w| w[1] - w[0] - 10).collect();
    for (n, w) in waits.iter().enumerate() {
        let nominal = RETRY.nominal(n as u32 + 1);
        assert!(*w >= nominal / 2 - 10 && *w <= nominal + 10, "retry {}: waited {w} ms, nominal {nominal}", n + 1);
    }
    // Accepted: the next refusal starts from the shortest wait again.
    p.answered(&s, Ask::Register, now);
    assert!(p.is_registered(&s));
    p.tick(now);
    p.address_added(now + 1);
    assert_eq!(p.tick(now + 1), vec![Intent::Register(s)]);
    p.refused(&s, Ask::Register, RefusalCode::TooBusy, now + 2);
    let again = run(&mut p, now + 2, now + 2 + 1_000, 10);
    assert!(again.iter().any(|(t, i)| *i == Intent::Register(s) && *t <= now + 2 + RETRY.first_ms + 10), "{again:?}");
}

#[test]
fn many_nodes_refused_together_come_back_spread_out() {
    let mut times = vec![];
    for seed in 0..60 {
        let (mut p, s) = one_server(seed);
        p.address_added(0);
        p.connected(s, 0);
        p.tick(0);
        p.refused(&s, Ask::Register, RefusalCode::TooBusy, 0);
        p.refused(&s, Ask::Discover, RefusalCode::TooBusy, 0);
        let at = run(&mut p, 0, 1_000, 1).into_iter().find(|(_, i)| *i == Intent::Register(s)).expect("retried").0;
        times.push(at);
    }
    times.sort_unstable();
    times.dedup();
    assert!(times.len() >= 30, "60 nodes retried at only {} distinct times: {times:?}", times.len());
    assert!(times.iter().all(|t| (125..=250).contains(t)), "{times:?}");
}

#[test]
fn other_refusals_wait_for_the_interval_and_a_failed_request_is_retried() {
    let (mut p, s) = one_server(3);
    p.address_added(0);
    p.connected(s, 0);
    p.tick(0);
    p.refused(&s, Ask::Register, RefusalCode::NotAMember, 10);
    p.failed(&s, Ask::Discover, 10);
    let soon = run(&mut p, 10, 10_000, 10);
    assert_eq!(soon.iter().map(|(_, i)| i.clone()).collect::<Vec<_>>(), vec![Intent::Discover(s)]);
    assert!(soon[0].0 <= 10 + RETRY.first_ms + 10);
    p.answered(&s, Ask::Discover, soon[0].0);
    assert!(run(&mut p, 10_010, INTERVAL - 1, 1_000).is_empty());
    assert!(p.tick(INTERVAL).contains(&Intent::Register(s)));
}

#[test]
fn nothing_is_sent_to_a_server_that_is_not_connected_and_a_reconnection_starts_afresh() {
    let (mut p, s) = one_server(4);
    p.address_added(0);
    assert!(run(&mut p, 0, 2 * INTERVAL, 1_000).is_empty());
    p.connected(s, 10);
    p.tick(10);
    p.answered(&s, Ask::Register, 20);
    p.disconnected(&s);
    assert!(!p.is_registered(&s));
    p.refused(&s, Ask::Register, RefusalCode::TooBusy, 30);
    assert!(run(&mut p, 30, 30 + 2 * INTERVAL, 1_000).is_empty(), "answers from a closed connection do nothing");
    p.connected(s, 200_000);
    let mut again = p.tick(200_000);
    again.sort_by_key(|i| format!("{i:?}"));
    assert_eq!(again, vec![Intent::Discover(s), Intent::Register(s)]);
}

#[test]
fn a_named_member_that_turned_us_away_is_redialled_soon_a_few_times_then_left_for_the_next_answer() {
    let (mut p, _) = one_server(5);
    let m = peer();
    p.learnt([(m, vec![addr(4001)])], 0);
    assert_eq!(p.tick(0), vec![Intent::Dial { peer: m, addrs: vec![addr(4001)] }]);
    assert!(p.tick(1).is_empty(), "one dial at a time");
    let mut now = 100;
    for redial in 1..=MAX_REDIALS {
        p.lost(&m, now);
        let next = run(&mut p, now, now + 20_000, 10).into_iter().find(|(_, i)| matches!(i, Intent::Dial { .. }));
        let (at, _) = next.expect("redialled");
        let nominal = REDIAL.nominal(redial);
        assert!(at - now >= nominal / 2 && at - now <= nominal + 10, "redial {redial}: after {} ms", at - now);
        now = at + 100;
    }
    p.lost(&m, now);
    assert!(run(&mut p, now, now + 60_000, 100).is_empty(), "given up");
    assert_eq!(p.learnt_len(), 0);
    // Named again by a server: dialled again.
    p.learnt([(m, vec![addr(4002)])], now + 60_001);
    assert_eq!(p.tick(now + 60_001), vec![Intent::Dial { peer: m, addrs: vec![addr(4002)] }]);
    // Verified: forgotten, and a later loss does nothing.
    p.verified(&m);
    p.lost(&m, now + 60_002);
    assert!(run(&mut p, now + 60_002, now + 120_000, 100).is_empty());
}

#[test]
fn the_table_of_named_members_is_bounded() {
    let (mut p, _) = one_server(6);
    for round in 0..3 {
        p.learnt((0..MAX_LEARNT / 2).map(|i| (peer(), vec![addr(i as u16)])), round);
        p.learnt([(peer(), vec![])], round);
    }
    assert_eq!(p.learnt_len(), MAX_LEARNT);
    assert_eq!(p.tick(10).len(), MAX_LEARNT);
}
