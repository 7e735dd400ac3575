//! `csx-sim`: runs the seeded network simulator (`csx_tests::sim`) and prints its figures; the
//! same seed gives the same figures. See docs/PERFORMANCE.md, section "Simulator".
//!
//! ```sh
//! cargo run --release -p csx-tests --bin csx-sim -- --nodes 1000 --seed 1
//! cargo run --release -p csx-tests --bin csx-sim -- --nodes 10000 --seed 1 --scenario propagation --json sim.json
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use csx_tests::sim::scenarios::table;
use csx_tests::sim::{Scenario, SimConfig, run};

/// Runs N csx nodes' policy machines, stores and sync sessions over a simulated network on a
/// virtual clock, and prints how records spread.
#[derive(Debug, Parser)]
#[command(name = "csx-sim", version)]
struct Args {
    /// Nodes in the federation.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Seed of every random choice: the same seed gives the same figures.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// What to run: propagation, hostile, partition, churn, sync-bytes, skew, flapping, or all.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// Percentage of hostile nodes (the hostile scenario uses 10 when this is 0).
    #[arg(long, default_value_t = 0.0)]
    hostile_pct: f64,
    /// Most members' nodes each node stays connected to.
    #[arg(long, default_value_t = csx_node::net::connections::DEFAULT_MAX_PEERS)]
    max_peers: usize,
    /// Probability that a packet is lost (and resent after a timeout).
    #[arg(long, default_value_t = 0.01)]
    loss: f64,
    /// Records published and measured.
    #[arg(long, default_value_t = 10)]
    records: usize,
    /// Authors in the stores of the sync-bytes scenario.
    #[arg(long, default_value_t = 10_000)]
    authors: usize,
    /// Clock skew of each node, up to ± this many milliseconds (the skew scenario uses 15
    /// minutes when this is at most 2 s).
    #[arg(long, default_value_t = 2_000)]
    max_skew_ms: u64,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = SimConfig {
        seed: args.seed,
        nodes: args.nodes,
        hostile_pct: args.hostile_pct,
        max_peers: args.max_peers,
        loss: args.loss,
        records: args.records,
        max_skew_ms: args.max_skew_ms,
        ..SimConfig::default()
    };
    if let Err(e) = cfg.check() {
        eprintln!("csx-sim: {e}");
        return ExitCode::from(2);
    }
    if args.authors == 0 || args.authors > 1_000_000 {
        eprintln!("csx-sim: --authors must be between 1 and 1,000,000");
        return ExitCode::from(2);
    }
    let scenarios: Vec<Scenario> = if args.scenario == "all" {
        Scenario::ALL.to_vec()
    } else {
        match Scenario::parse(&args.scenario) {
            Ok(s) => vec![s],
            Err(e) => {
                eprintln!("csx-sim: {e} (or all)");
                return ExitCode::from(2);
            }
        }
    };
    let mut all = serde_json::Map::new();
    all.insert("config".into(), serde_json::to_value(&cfg).unwrap_or_default());
    println!("{:<12} {:<52} value", "scenario", "figure");
    for s in scenarios {
        let started = Instant::now();
        let figures = run(s, &cfg, args.authors);
        for (scenario, name, value) in table(s.name(), &figures) {
            println!("{scenario:<12} {name:<52} {value}");
        }
        println!(
            "{:<12} {:<52} {:.1} s (real time, not part of the figures)",
            s.name(),
            "wall_time",
            started.elapsed().as_secs_f64()
        );
        all.insert(s.name().into(), figures);
    }
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(all)).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, text + "\n") {
            eprintln!("csx-sim: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
