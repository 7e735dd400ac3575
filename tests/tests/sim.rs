//! The seeded network simulator (`csx_tests::sim`) at a size CI runs: records reach every
//! honest node within the goal over bounded connections, and the same seed reproduces the same
//! figures. Larger runs: `csx-sim` (docs/PERFORMANCE.md, section "Simulator").

use csx_tests::sim::scenarios::{self, Spread};
use csx_tests::sim::{Scenario, SimConfig, run};

fn config(nodes: usize, seed: u64) -> SimConfig {
    SimConfig { nodes, seed, ..SimConfig::default() }
}

fn assert_reaches_all(s: &Spread, goal_ms: f64) {
    assert_eq!(s.missing, 0, "every honest node holds every record: {s:#?}");
    let p99 = s.reach_all_p99_ms.expect("every record reached every honest node");
    assert!(p99 <= goal_ms, "p99 time to reach every honest node {p99} ms is over {goal_ms} ms: {s:#?}");
    assert!(
        s.max_connections_seen <= s.max_peers,
        "a node held {} connections, over {}",
        s.max_connections_seen,
        s.max_peers
    );
    assert!(s.max_connections_seen > 0);
}

#[test]
fn records_reach_every_node_of_200_within_a_second_over_bounded_connections() {
    let s = scenarios::propagation(&config(200, 7));
    assert_reaches_all(&s, 1_000.0);
    assert!(s.mesh_min >= 1, "every node is in the gossip mesh: {s:#?}");
    assert!(s.counters.rounds > 0, "the round policy ran sync rounds");
    // Gossip amplification is bounded by the mesh: each node sends a record to at most D_hi
    // peers (and the publisher to every connected peer).
    assert!(s.gossip_messages_per_node_per_record < 20.0, "{s:#?}");
}

#[test]
fn the_same_seed_gives_the_same_figures() {
    let a = run(Scenario::Propagation, &config(60, 3), 100);
    let b = run(Scenario::Propagation, &config(60, 3), 100);
    let c = run(Scenario::Propagation, &config(60, 4), 100);
    let text = |v: &serde_json::Value| serde_json::to_string(v).expect("figures serialise");
    assert_eq!(text(&a), text(&b));
    assert_ne!(text(&a), text(&c));
}

#[test]
fn bad_values_are_refused_with_a_reason() {
    for (cfg, what) in [
        (SimConfig { nodes: 1, ..SimConfig::default() }, "--nodes"),
        (SimConfig { loss: 0.9, ..SimConfig::default() }, "--loss"),
        (SimConfig { hostile_pct: 120.0, ..SimConfig::default() }, "--hostile-pct"),
        (SimConfig { max_peers: 0, ..SimConfig::default() }, "--max-peers"),
        (SimConfig { records: 0, ..SimConfig::default() }, "--records"),
    ] {
        let e = cfg.check().expect_err(what);
        assert!(e.contains(what), "{e}");
    }
    assert!(Scenario::parse("nope").is_err());
}

#[test]
fn a_tight_bound_is_held_and_records_still_reach_everyone() {
    // Ten connections each: nodes fill up, turn newcomers away and rotate.
    let cfg = SimConfig { max_peers: 10, ..config(200, 11) };
    let s = scenarios::propagation(&cfg);
    assert_reaches_all(&s, 1_000.0);
    assert_eq!(s.max_connections_seen, 10, "the bound is reached and never exceeded: {s:#?}");
}

#[test]
fn hostile_nodes_are_banned_and_records_still_reach_every_honest_node() {
    let cfg = SimConfig { hostile_pct: 10.0, ..config(200, 5) };
    let s = scenarios::propagation(&cfg);
    assert_reaches_all(&s, 1_000.0);
    assert!(s.counters.forged_sent > 0 && s.counters.forged_refused > 0, "{s:#?}");
    assert_eq!(s.counters.forged_stored, 0, "no forged record is stored");
    assert_eq!(s.hostile_banned, 20, "every hostile node is banned by some honest node: {s:#?}");
    assert_eq!(s.honest_banned, 0, "no honest node is banned: {s:#?}");
}

#[test]
fn after_a_partition_heals_every_node_converges() {
    let f = scenarios::partition(&config(200, 13));
    assert!(f.spread_before_heal, "nothing crossed the split: {f:#?}");
    let after = f.converged_after_ms.expect("converged after the heal");
    // Records published during the split come by sync rounds (every 30 s with a random peer,
    // and rounds back), over the links rotation makes across the old split.
    assert!(after <= 300_000.0, "{f:#?}");
    assert!(f.max_connections_seen <= SimConfig::default().max_peers);
}

#[test]
fn nodes_back_from_an_outage_catch_up() {
    let f = scenarios::churn(&config(200, 17));
    assert_reaches_all(&f.spread, 1_000.0);
    assert!(f.away > 0);
    assert!(f.caught_up_after_ms.is_some_and(|t| t <= 60_000.0), "{f:#?}");
}

#[test]
fn sync_rounds_cost_little_in_step_and_for_one_missing_record() {
    let b = scenarios::sync_bytes(1_000, 1);
    assert!(b.fetched, "{b:#?}");
    assert!(b.in_step_bytes <= 1_024, "{b:#?}");
    assert!(b.one_missing_bytes <= 8 * 1_024, "{b:#?}");
}

#[test]
fn skewed_clocks_delay_records_but_strike_no_honest_node_out() {
    let cfg = SimConfig { max_skew_ms: 12 * 60 * 1000, ..config(100, 19) };
    let f = scenarios::skew(&cfg);
    assert_eq!(f.spread.missing, 0, "every record arrives once clocks are within the tolerance: {f:#?}");
    assert!(f.spread.counters.refused_from_the_future > 0, "{f:#?}");
    assert_eq!(f.spread.honest_banned, 0, "{f:#?}");
}

/// The simulator's tier of tests/tests/flapping.rs (which keeps the real sockets): virtual time,
/// so 20 cuts and 200 records take well under a second, the same every run.
#[test]
fn a_node_on_a_flapping_network_still_converges_with_nothing_left_waiting() {
    let cfg = SimConfig { records: 200, ..config(30, 23) };
    let f = scenarios::flapping(&cfg, 20);
    assert_eq!(f.records, 200);
    assert!(f.converged_after_ms.is_some_and(|t| t <= 120_000.0), "{f:#?}");
    assert_eq!(f.pending_at_end, 0, "{f:#?}");
    assert!(f.max_pending <= 200, "{f:#?}");
}
