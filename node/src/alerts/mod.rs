//! Alerts: what a member is told when something it should act on happens (docs/QUERIES.md,
//! "Alerts"; docs/OPERATIONS.md, "Alerts").
//!
//! - [`rules`]: the built-in rules, as pure functions of the records just stored, the query
//!   engine's view of the store, this member's own records and the date. No I/O: every figure
//!   an alert carries comes from the query engine after the disclosure rules, so an alert
//!   never shows what an answer would withhold.
//! - [`state`]: what the node remembers between evaluations and across restarts — the keys of
//!   alerts already raised (an alert fires once per event), a bounded log, where each feed was
//!   read up to, and what state-based rules saw last.
//! - [`watcher`]: the daemon task that evaluates the rules when records are stored and daily,
//!   keeps the log, and hands new alerts to [`deliver`] (webhooks and email).
//! - [`settings`]: the `[alerts]` section of config.toml, and the mutes `csx alert mute` keeps.

pub mod deliver;
pub mod rules;
pub mod settings;
pub mod state;
pub mod watcher;

use csx_protocol::RecordId;
use serde::{Deserialize, Serialize};

/// A built-in rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Your £/head on a line is above the market's p75 (or your gap above the median is past
    /// the configured %).
    PriceAboveMarket,
    /// A member switched away from a provider you use, on a line you buy.
    SwitchAway,
    /// A new review of a provider you use leaves its shown score below the threshold.
    PoorReview,
    /// A new review of a provider you use lowers its shown age-weighted score by more than X.
    ScoreDrop,
    /// A motion you have not supported has reached 75% of its threshold.
    MotionNearThreshold,
    /// A motion you have not supported closes within 7 days.
    MotionClosing,
    /// A motion carried.
    MotionCarried,
    /// Notice to leave one of your contracts must be given by a date 90, 30 or 7 days away.
    NoticeDeadline,
    /// A new member joined the federation.
    MemberJoined,
    /// Another member intends to re-procure a line in a window where you intend to, joined, or
    /// your own contract on the line comes up for renewal: a joint tender is forming.
    TenderForming,
    /// A node signed two records at one place in its feed (a fork), or a member was revoked.
    Integrity,
    /// Sent by `csx alert test`.
    Test,
}

impl Rule {
    pub const ALL: [Rule; 11] = [
        Rule::PriceAboveMarket,
        Rule::SwitchAway,
        Rule::PoorReview,
        Rule::ScoreDrop,
        Rule::MotionNearThreshold,
        Rule::MotionClosing,
        Rule::MotionCarried,
        Rule::NoticeDeadline,
        Rule::MemberJoined,
        Rule::TenderForming,
        Rule::Integrity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::PriceAboveMarket => "price_above_market",
            Rule::SwitchAway => "switch_away",
            Rule::PoorReview => "poor_review",
            Rule::ScoreDrop => "score_drop",
            Rule::MotionNearThreshold => "motion_near_threshold",
            Rule::MotionClosing => "motion_closing",
            Rule::MotionCarried => "motion_carried",
            Rule::NoticeDeadline => "notice_deadline",
            Rule::MemberJoined => "member_joined",
            Rule::TenderForming => "tender_forming",
            Rule::Integrity => "integrity",
            Rule::Test => "test",
        }
    }

    /// What the rule watches, in words (for `csx alert list`).
    pub fn describe(self) -> &'static str {
        match self {
            Rule::PriceAboveMarket => {
                "your £/head on a line you buy goes above the market's p75, or your gap past a set %"
            }
            Rule::SwitchAway => "a member switches away from a provider you use, on a line you buy",
            Rule::PoorReview => "a new review leaves the shown score of a provider you use below a threshold",
            Rule::ScoreDrop => "a new review lowers the shown score of a provider you use by more than a set amount",
            Rule::MotionNearThreshold => "a motion you have not supported reaches a share of its threshold",
            Rule::MotionClosing => "a motion you have not supported closes within a few days",
            Rule::MotionCarried => "a motion carries",
            Rule::NoticeDeadline => "notice to leave one of your contracts is due in 90, 30 or 7 days",
            Rule::MemberJoined => "a new member joins the federation",
            Rule::TenderForming => {
                "another member intends to re-procure a line in a window where you intend to, joined, or renew"
            }
            Rule::Integrity => "a node forks its feed, or a member is revoked (for admins)",
            Rule::Test => "a test alert sent by `csx alert test`",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Rule, String> {
        let t = s.trim().to_ascii_lowercase().replace('-', "_");
        Rule::ALL.into_iter().chain([Rule::Test]).find(|r| r.as_str() == t).ok_or_else(|| {
            let names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
            format!("`{s}` is not an alert rule; the rules are {}", names.join(", "))
        })
    }
}

/// An alert a rule raised, before the node numbers and dates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Raised {
    /// Stable across evaluations and restarts: the same event always gives the same key.
    pub key: String,
    pub rule: Rule,
    /// One line.
    pub title: String,
    /// The details, in sentences.
    pub text: String,
    #[serde(default)]
    pub service_line: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    /// The records it is about (provenance).
    #[serde(default)]
    pub records: Vec<RecordId>,
    /// Who wrote them (ODS code and name), where naming them shows nothing the query engine
    /// withholds.
    #[serde(default)]
    pub authors: Vec<String>,
    /// The dashboard page it is about (a path such as `/prices?service_line=BI`).
    #[serde(default)]
    pub link: Option<String>,
}

/// An alert in this node's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Its place in this node's log (from 1).
    pub seq: u64,
    /// When it was raised (Unix ms).
    pub at: u64,
    #[serde(flatten)]
    pub raised: Raised,
    /// The full address of `link` when the dashboard is configured.
    #[serde(default)]
    pub url: Option<String>,
}
