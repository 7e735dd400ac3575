//! `csx status`: this node, its federation, its store and (with a daemon) its network.

use csx_node::api::{NetStatus, Status};

use crate::context::Ctx;
use crate::labels;
use crate::output::fields;

pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let status = ctx.node()?.status()?;
    ctx.out.print(&status, || fields(rows(&status)))
}

fn rows(s: &Status) -> Vec<(String, String)> {
    let forks = if s.forks.is_empty() {
        "none".to_string()
    } else {
        s.forks
            .iter()
            .map(|f| format!("node {} signed two records as number {}", f.author.short(), f.seq))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut rows = vec![
        ("organisation".into(), format!("{} ({})", s.identity.name, s.identity.ods_code)),
        ("node key".into(), s.identity.node_key.to_hex()),
        ("federation".into(), format!("{} ({})", s.federation.name, s.federation.id.short())),
        (
            "answered by".into(),
            if s.mode == "daemon" { "the running daemon".into() } else { "this command, from the store".into() },
        ),
        (
            "records".into(),
            format!(
                "{} from {} node{} ({} bytes)",
                labels::count(s.store.records as usize),
                s.store.feeds,
                if s.store.feeds == 1 { "" } else { "s" },
                labels::count(s.store.record_bytes as usize)
            ),
        ),
        ("records waiting for earlier ones".into(), s.store.pending.to_string()),
        (
            "this node's records".into(),
            s.own_head.map(|h| format!("{} (latest {})", h.seq, h.id.short())).unwrap_or_else(|| "none yet".into()),
        ),
        ("nodes that signed two versions of a record".into(), forks),
        ("data fingerprint (equal on nodes in step)".into(), s.heads_digest.clone()),
    ];
    match &s.network {
        None => rows.push(("network".into(), "no daemon running (start one with `csx daemon`)".into())),
        Some(n) => rows.extend(network_rows(n)),
    }
    rows
}

fn network_rows(n: &NetStatus) -> Vec<(String, String)> {
    let now = crate::now_ms();
    let connected = |bootstrap: bool| n.peers.iter().filter(move |p| p.connected && p.bootstrap == bootstrap);
    let members = connected(false).count();
    let level = connected(false).filter(|p| p.in_sync == Some(true)).count();
    let lag: u64 = connected(false).map(|p| p.behind).sum();
    let count = |k: &str| n.counters.get(k).copied().unwrap_or(0);
    let by_reason = |prefix: &str| -> String {
        let list: Vec<String> =
            n.counters.iter().filter_map(|(k, v)| k.strip_prefix(prefix).map(|r| format!("{r} {v}"))).collect();
        if list.is_empty() { "none".into() } else { list.join(", ") }
    };
    let t = &n.tables;
    vec![
        ("peer id".into(), n.peer_id.clone()),
        ("listening on".into(), n.listen.join("\n")),
        (
            "connected".into(),
            format!(
                "{members} members ({level} level at last sync, {lag} records behind), {} bootstrap servers",
                connected(true).count()
            ),
        ),
        (
            "last sync".into(),
            n.last_sync_at.map(|t| format!("{}s ago", now.saturating_sub(t) / 1000)).unwrap_or_else(|| "never".into()),
        ),
        (
            "catching up".into(),
            n.progress.as_ref().map(progress_line).unwrap_or_else(|| "no catch-up since the start".into()),
        ),
        (
            "received".into(),
            format!("{} records ({} new, {} waited for a gap)", count("received"), count("appended"), count("held")),
        ),
        ("refused records".into(), by_reason("rejected.")),
        ("refused requests".into(), by_reason("refused.")),
        ("dropped peers".into(), by_reason("dropped.")),
        (
            "peer tables".into(),
            format!(
                "{} peers ({} being verified), {} addresses, {} with strikes, {} banned",
                t.peers, t.unverified, t.addresses, t.strikes, t.bans
            ),
        ),
    ]
}

/// A catch-up by sync in one line: under way with the time left, or how the last one went.
pub fn progress_line(p: &csx_node::api::SyncProgress) -> String {
    let bytes = csx_node::net::progress::human_bytes(p.received_bytes);
    if p.active {
        let left = p.eta_secs.map(|s| format!("about {s:.0}s left")).unwrap_or_else(|| "time left unknown".into());
        format!(
            "under way: {} of about {} records ({bytes}), {:.0} records/s, {left}",
            p.received_records,
            p.received_records + p.remaining_records,
            p.records_per_sec
        )
    } else {
        format!("done: {} records ({bytes}) in {:.1}s", p.received_records, p.elapsed_secs)
    }
}
