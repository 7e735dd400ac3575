//! The node (administrators): its state, its peers and how fresh its sync is, members and
//! applicants, and endorsing an applicant (a record signed by the node, audited).

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use csx_node::client::AsyncNode as _;
use csx_protocol::Body;
use csx_protocol::body::Endorse;

use super::{Page, PageError, Table, render};
use crate::accounts::Role;
use crate::app::App;
use crate::auth::User;
use crate::html::collect;

#[derive(Template)]
#[template(path = "node.html")]
struct NodePage {
    page: Page,
    facts: Vec<(String, String)>,
    peers: Option<Table>,
    peers_note: String,
    members: Table,
    applicants: Vec<(String, String, String, String)>,
    saved: String,
    forks: usize,
}

fn ago(now: u64, t: Option<u64>) -> String {
    match t {
        None => "never".into(),
        Some(t) => {
            let s = now.saturating_sub(t) / 1000;
            match s {
                0..=119 => format!("{s} seconds ago"),
                120..=7199 => format!("{} minutes ago", s / 60),
                7200..=172_799 => format!("{} hours ago", s / 3600),
                _ => format!("{} days ago", s / 86_400),
            }
        }
    }
}

pub async fn page(
    State(app): State<Arc<App>>,
    user: User,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Admin)?;
    let now = app.now();
    let status = app.node.status().await?;
    let mut facts = vec![
        ("Organisation".to_string(), format!("{} {}", status.identity.ods_code, status.identity.name)),
        ("Federation".into(), format!("{} ({})", status.federation.name, status.federation.id.short())),
        ("Node key".into(), status.identity.node_key.to_string()),
        ("Records held".into(), status.store.records.to_string()),
        ("Feeds".into(), status.store.feeds.to_string()),
        (
            "Running as".into(),
            if status.mode == "daemon" {
                "the node's daemon".into()
            } else {
                "offline: no daemon is running, nothing is synced".into()
            },
        ),
        (
            "Figures shown when at least".into(),
            format!("{} members contribute", status.federation.disclosure_threshold),
        ),
    ];
    let (peers, peers_note) = match &status.network {
        Some(net) => {
            facts.push(("Last sync".into(), ago(now, net.last_sync_at)));
            facts.push((
                "Members' nodes connected".into(),
                net.peers.iter().filter(|p| p.connected && p.verified).count().to_string(),
            ));
            let mut t = Table::new(
                "Peers this node knows",
                &[
                    ("Organisation", false),
                    ("Role", false),
                    ("Connected", false),
                    ("Last sync", false),
                    ("In step", false),
                    ("They have more", true),
                    ("We have more", true),
                ],
            );
            for p in &net.peers {
                t.rows.push(vec![
                    p.org.clone().unwrap_or_else(|| {
                        p.peer_id.chars().rev().take(10).collect::<String>().chars().rev().collect()
                    }),
                    if p.bootstrap { "bootstrap server".into() } else { "member's node".into() },
                    if p.connected { ago(now, p.connected_since) } else { "no".into() },
                    ago(now, p.last_sync_at),
                    match p.in_sync {
                        Some(true) => "yes".into(),
                        Some(false) => "no".into(),
                        None => "–".into(),
                    },
                    p.behind.to_string(),
                    p.ahead.to_string(),
                ]);
            }
            (Some(t), String::new())
        }
        None => (
            None,
            "No daemon is running for this node, so it is not connected to anyone. Start it with `csx daemon`."
                .to_string(),
        ),
    };
    let m = app.node.members().await?;
    let mut members = Table::new(
        format!("Members ({} endorsements admit a new member)", m.endorsement_threshold),
        &[("Member", false), ("Status", false), ("Admitted by", false), ("Nodes", true)],
    );
    for x in &m.members {
        members.rows.push(vec![
            format!("{} {}", x.ods_code, x.name),
            if !x.current {
                format!("revoked by {}", x.revoked_by.join(", "))
            } else if x.founder {
                "founder".into()
            } else {
                "member".into()
            },
            x.endorsed_by.join(", "),
            x.nodes.len().to_string(),
        ]);
    }
    let applicants = m
        .applicants
        .iter()
        .filter(|a| !a.endorsed_by.iter().any(|e| e.eq_ignore_ascii_case(&app.identity.ods_code)))
        .map(|a| {
            (
                a.org_key.to_string(),
                format!("{} {}", a.ods_code, a.name),
                format!(
                    "{} of {} endorsements{}",
                    a.endorsements,
                    a.needed,
                    if a.endorsed_by.is_empty() {
                        String::new()
                    } else {
                        format!(" (from {})", a.endorsed_by.join(", "))
                    }
                ),
                a.ods_code.clone(),
            )
        })
        .collect();
    let t = NodePage {
        page: Page::new(&app, &user, "Node", "/node"),
        facts,
        peers,
        peers_note,
        members,
        applicants,
        saved: params.get("saved").cloned().unwrap_or_default(),
        forks: status.forks.len(),
    };
    render(&t)
}

/// Endorses an applicant named by its organisation key.
pub async fn endorse(
    State(app): State<Arc<App>>,
    user: User,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Admin)?;
    let form = collect(pairs);
    user.check_csrf(&form)?;
    let key = form.get("org_key").cloned().unwrap_or_default();
    let m = app.node.members().await?;
    let a = m.applicants.iter().find(|a| a.org_key.to_string() == key).ok_or_else(|| {
        PageError::NotFound("That organisation is not an applicant (it may have been admitted already).".into())
    })?;
    let body = Body::Endorse(Endorse {
        org_key: a.org_key,
        ods_code: a.ods_code.clone(),
        name: a.name.clone(),
        comment: None,
    });
    let detail = format!("endorsed {} {} for membership", a.ods_code, a.name);
    match super::record::publish(&app, &user, vec![body], "endorse", &detail).await {
        Ok(records) => {
            let id = records.last().map(|r| r.id().to_string()).unwrap_or_default();
            Ok(Redirect::to(&format!("/node?saved={id}")).into_response())
        }
        Err(e) => Err(e),
    }
}
