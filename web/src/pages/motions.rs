//! Motions for collective action: support against the threshold, days left, the term asked
//! for and how many members' contracts already meet it; support or withdraw with one button
//! (a record signed by the node, attributed to the account in the audit log).

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use csx_node::client::AsyncNode as _;
use csx_node::query::Question;
use csx_node::query::motions::MotionView;
use csx_protocol::Body;
use csx_protocol::body::{Stance, Support};

use super::{Page, PageError, downloads, render};
use crate::accounts::Role;
use crate::api;
use crate::app::App;
use crate::auth::User;
use crate::charts::simple;
use crate::html::{collect, query};

/// One motion as the pages show it.
#[derive(Debug, Clone)]
pub struct MotionCard {
    pub id: String,
    pub title: String,
    pub text: String,
    pub term: String,
    pub scope: String,
    pub status: String,
    pub support: String,
    pub closes: String,
    pub compliance: String,
    pub progress: String,
    pub marks: usize,
    /// Whether this node's organisation supports it now.
    pub mine: bool,
    pub open: bool,
    pub proposer: String,
}

fn card(m: &MotionView, me: &str) -> MotionCard {
    let chart = simple::progress(
        &format!("motion-{}", &m.id.to_string()[..12]),
        &format!("Support for “{}”", m.title),
        m.support,
        m.support_needed as usize,
    );
    MotionCard {
        id: m.id.to_string(),
        title: m.title.clone(),
        text: m.text.clone(),
        term: m.term_text.clone().unwrap_or_else(|| "no contract term".into()),
        scope: match (&m.service_line_name, &m.provider_name) {
            (None, None) => "every line and provider".into(),
            (l, p) => [l.clone(), p.clone()].into_iter().flatten().collect::<Vec<_>>().join(", "),
        },
        status: m.status.to_string(),
        support: format!("{} of {} members needed ({} still needed)", m.support, m.support_needed, m.still_needed),
        closes: match m.days_left {
            d if d < 0 => format!("closed on {}", m.closes_on),
            0 => format!("closes today ({})", m.closes_on),
            1 => format!("closes tomorrow ({})", m.closes_on),
            d => format!("closes on {} ({d} days left)", m.closes_on),
        },
        compliance: m
            .compliance
            .as_ref()
            .map(|c| match (c.meeting, c.not_meeting, c.unknown) {
                (Some(meeting), Some(not), Some(unknown)) => format!(
                    "{meeting} of {} members with disclosures already meet it ({not} do not, {unknown} do not say)",
                    c.members
                ),
                _ => format!("{} ({} members with disclosures)", c.disclosure.explain(), c.members),
            })
            .unwrap_or_default(),
        progress: chart.svg,
        marks: chart.marks,
        mine: m.supporters.iter().any(|s| s.org.ods.eq_ignore_ascii_case(me)),
        open: m.days_left >= 0,
        proposer: format!("{} {} on {}", m.proposer.ods, m.proposer.name, m.proposed),
    }
}

#[derive(Template)]
#[template(path = "motions.html")]
struct Motions {
    page: Page,
    status: String,
    motions: Vec<MotionCard>,
    provenance: String,
    downloads: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "motion.html")]
struct MotionPage {
    page: Page,
    m: MotionCard,
    supporters: Vec<(String, String, String)>,
    withdrawn: usize,
    saved: String,
    provenance: String,
    downloads: Vec<(String, String)>,
}

pub async fn page(
    State(app): State<Arc<App>>,
    user: User,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let q = api::motion_question(&params)?;
    let status = params.get("status").cloned().unwrap_or_default();
    let answered = app.node.query(Question::Motions(q)).await?;
    let motions = answered.motions()?;
    let t = Motions {
        page: Page::new(&app, &user, "Motions", "/motions"),
        motions: motions.iter().map(|m| card(m, &app.identity.ods_code)).collect(),
        provenance: answered.provenance.line(),
        downloads: downloads("motions", &query(&[("status", &status)])),
        status,
    };
    render(&t)
}

pub async fn one(
    State(app): State<Arc<App>>,
    user: User,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    user.require(Role::Viewer)?;
    let answered = app.node.query(Question::Motion { id: id.clone() }).await?;
    let m = answered.motion()?;
    let t = MotionPage {
        page: Page::new(&app, &user, &m.title, "/motions"),
        m: card(m, &app.identity.ods_code),
        supporters: m
            .supporters
            .iter()
            .map(|s| {
                (format!("{} {}", s.org.ods, s.org.name), s.since.to_string(), s.comment.clone().unwrap_or_default())
            })
            .collect(),
        withdrawn: m.withdrawn,
        saved: params.get("saved").cloned().unwrap_or_default(),
        provenance: answered.provenance.line(),
        downloads: downloads(&format!("motions/{}", m.id), ""),
    };
    render(&t)
}

/// Supports the motion, or withdraws support (`stance=withdraw`), as this organisation.
pub async fn support(
    State(app): State<Arc<App>>,
    user: User,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    user.require(Role::Editor)?;
    let form = collect(form);
    user.check_csrf(&form)?;
    let motion = id.parse().map_err(|_| PageError::NotFound(format!("`{id}` is not a motion's id")))?;
    let stance = match form.get("stance").map(String::as_str) {
        Some("withdraw") => Stance::Withdraw,
        Some("support") | None => Stance::Support,
        Some(other) => {
            return Err(PageError::Node(csx_node::api::ApiError::invalid(format!(
                "stance: `{other}` is not support or withdraw"
            ))));
        }
    };
    let comment = csx_node::input::opt_string(&form.get("comment").cloned());
    let body = Body::Support(Support { motion, stance, comment });
    let what = if stance == Stance::Withdraw { "withdrew support for" } else { "supported" };
    let records = super::record::publish(&app, &user, vec![body], "support", &format!("{what} motion {id}")).await?;
    let saved = records.last().map(|r| r.id().to_string()).unwrap_or_default();
    Ok(Redirect::to(&format!("/motions/{id}?saved={saved}")).into_response())
}
