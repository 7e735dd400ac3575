//! `csx providers` (scorecards by service line) and `csx provider show` (one provider on every
//! line, dimension by dimension, with comments).

use clap::Args;
use csx_node::query::Question;
use csx_node::query::providers::{ProviderProfile, ProviderQuery, Scorecard};

use super::{ask, dash, num4, opt, show, withheld, withheld_notes};
use crate::context::Ctx;
use crate::labels::{self, gbp};
use crate::output::{Grid, fields, wrap};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  csx providers                           every provider on every line
  csx providers --service-line CONTRACT   who scores best for contracting
  csx providers --service-line CONTRACT --wide
  csx provider show 0DE                   one provider, dimension by dimension, with comments")]
pub struct ProvidersArgs {
    /// One service line (code or name, e.g. CONTRACT)
    #[arg(long, value_name = "LINE")]
    pub service_line: Option<String>,
    /// One provider (code or name)
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
}

pub fn providers(ctx: &Ctx, args: ProvidersArgs) -> anyhow::Result<()> {
    let q = ProviderQuery {
        service_line: super::service_line(&args.service_line)?,
        provider: super::provider(ctx, &args.provider)?,
    };
    let one_line = q.service_line.is_some();
    let answered = ask(ctx, Question::Providers(q))?;
    let scorecards = answered.scorecards()?;
    if scorecards.is_empty() && !ctx.out.json {
        ctx.out.note("No reviews held match; `csx review add` records yours.");
    }
    show(
        ctx,
        &answered,
        || scorecard_rows(scorecards),
        || {
            let mut out = String::new();
            if let (true, Some(c)) = (one_line, scorecards.first()) {
                out.push_str(&format!(
                    "{} ({}): providers by members' reviews\n\n",
                    c.service_line_name, c.service_line
                ));
            }
            out.push_str(&scorecard_text(ctx, scorecards, one_line));
            out
        },
    )
}

fn trend(s: &Scorecard) -> String {
    s.trend
        .iter()
        .map(|y| format!("{} {}", y.year, opt(y.overall, |x| format!("{x:.2}"))))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// The median price per head and its year, or why it is withheld.
fn price(s: &Scorecard) -> String {
    match &s.prices {
        None => dash(),
        Some(p) => match &p.stats {
            Some(st) => match (st.median, st.median_band) {
                (Some(m), _) => format!("{} ({})", gbp(m), p.year),
                (None, Some([low, high])) => format!("{}–{} (band, {})", gbp(low), gbp(high), p.year),
                (None, None) => format!("– ({})", p.year),
            },
            None => withheld(&p.disclosure),
        },
    }
}

fn price_range(s: &Scorecard) -> String {
    s.prices
        .as_ref()
        .and_then(|p| p.stats.as_ref())
        .and_then(|st| Some(format!("{}–{}", gbp(st.p25?), gbp(st.p75?))))
        .unwrap_or_else(dash)
}

/// `3 of 5`: how many reviewers would recommend (9 or 10 out of 10).
fn would_recommend(s: &Scorecard) -> String {
    opt(s.recommend.as_ref(), |r| format!("{} of {}", r.promoters, r.answers))
}

/// The scorecards in brief, and notes on withheld figures.
fn scorecard_text(ctx: &Ctx, cards: &[Scorecard], one_line: bool) -> String {
    let mut g = Grid::new();
    g = if one_line { g.keep("line").wide() } else { g.keep("line") };
    g = g
        .num("rank")
        .text("provider")
        .num("reviewers")
        .num("score /5")
        .num("would recommend")
        .num("net score")
        .wide()
        .text("trend")
        .wide()
        .num("£ a head (year)")
        .num("p25–p75")
        .wide()
        .num("switched to / away")
        .num("still customers")
        .wide();
    for s in cards {
        g.row(vec![
            s.service_line.clone(),
            opt(s.rank, |r| r.to_string()),
            labels::provider(&s.provider, &s.provider_name),
            s.reviewers.to_string(),
            if s.disclosure.shown() { opt(s.overall, |x| format!("{x:.2}")) } else { withheld(&s.disclosure) },
            would_recommend(s),
            opt(s.recommend.as_ref(), |r| format!("{:+.0}", r.score)),
            trend(s),
            price(s),
            price_range(s),
            format!("{} / {}", s.switches.joined, s.switches.left),
            s.still_customers.to_string(),
        ]);
    }
    let mut out = ctx.out.render(&g);
    let mut withheld_here: Vec<_> = cards.iter().filter(|s| !s.disclosure.shown()).map(|s| &s.disclosure).collect();
    withheld_here
        .extend(cards.iter().filter_map(|s| s.prices.as_ref()).filter(|p| p.stats.is_none()).map(|p| &p.disclosure));
    let mut notes = withheld_notes(&withheld_here);
    notes.push(
        "Would recommend: reviewers answering 9 or 10 of 10. Net score (--wide): that share less those answering 0 to 6, from −100 to +100."
            .into(),
    );
    for n in notes {
        out.push('\n');
        out.push_str(&wrap(&n, ctx.out.width, 2));
    }
    out
}

fn scorecard_rows(cards: &[Scorecard]) -> Vec<Vec<String>> {
    let mut header: Vec<String> = [
        "service_line",
        "provider",
        "provider_name",
        "reviews",
        "reviewers",
        "still_customers",
        "disclosure",
        "rank",
        "overall",
    ]
    .map(String::from)
    .to_vec();
    let dims: Vec<String> =
        cards.first().map(|c| c.dimensions.iter().map(|d| d.name.clone()).collect()).unwrap_or_default();
    header.extend(dims.iter().cloned());
    header.extend(
        [
            "recommend_net",
            "promoters",
            "passives",
            "detractors",
            "price_year",
            "price_median",
            "price_p25",
            "price_p75",
            "joined",
            "left",
            "net_switching",
        ]
        .map(String::from),
    );
    let f = num4;
    let mut rows = vec![header];
    for s in cards {
        let mut row = vec![
            s.service_line.clone(),
            s.provider.clone(),
            s.provider_name.clone(),
            s.reviews.to_string(),
            s.reviewers.to_string(),
            s.still_customers.to_string(),
            s.disclosure.explain(),
            s.rank.map(|r| r.to_string()).unwrap_or_default(),
            f(s.overall),
        ];
        for d in &dims {
            row.push(f(s.dimensions.iter().find(|x| &x.name == d).and_then(|x| x.mean)));
        }
        let r = s.recommend.as_ref();
        row.push(f(r.map(|r| r.score)));
        for n in [r.map(|r| r.promoters), r.map(|r| r.passives), r.map(|r| r.detractors)] {
            row.push(n.map(|n| n.to_string()).unwrap_or_default());
        }
        let st = s.prices.as_ref().and_then(|p| p.stats.as_ref());
        row.push(s.prices.as_ref().map(|p| p.year.to_string()).unwrap_or_default());
        row.extend([f(st.and_then(|s| s.median)), f(st.and_then(|s| s.p25)), f(st.and_then(|s| s.p75))]);
        row.extend([s.switches.joined.to_string(), s.switches.left.to_string(), s.switches.net.to_string()]);
        rows.push(row);
    }
    rows
}

/// `csx provider show CODE`.
pub fn provider_show(ctx: &Ctx, code: &str) -> anyhow::Result<()> {
    let code = ctx.provider_code(&ctx.provider_names()?, code)?;
    let answered = ask(ctx, Question::Provider { code })?;
    let p = answered.provider()?;
    show(ctx, &answered, || scorecard_rows(&p.scorecards), || profile_text(ctx, p))
}

fn profile_text(ctx: &Ctx, p: &ProviderProfile) -> String {
    let mut rows = vec![("provider".to_string(), format!("{} {}", p.code, p.name))];
    if let Some(k) = &p.kind {
        rows.push(("kind".into(), labels::words(k)));
    }
    if let Some(n) = &p.note {
        rows.push(("note".into(), n.clone()));
    }
    let reviewed = p.scorecards.iter().filter(|c| c.reviews > 0).count();
    rows.push(("service lines reviewed".into(), reviewed.to_string()));
    if reviewed < p.scorecards.len() {
        rows.push(("priced or switched only".into(), (p.scorecards.len() - reviewed).to_string()));
    }
    let mut out = ctx.out.render(&fields(rows));
    if p.scorecards.is_empty() {
        out.push_str("\n\nNo member has reviewed, priced or switched this provider yet.");
        return out;
    }
    out.push_str("\n\n");
    out.push_str(&scorecard_text(ctx, &p.scorecards, false));
    for s in &p.scorecards {
        let shown = if s.disclosure.shown() { String::new() } else { format!(" — {}", s.disclosure.explain()) };
        out.push_str(&format!("\n\n{} ({}){shown}\n", s.service_line_name, s.service_line));
        let mut g = Grid::new().text("rated on").num("answers").num("mean /5 (recent years count more)");
        for d in &s.dimensions {
            let mean = match d.mean {
                Some(m) => format!("{m:.2}"),
                None if d.answers == 0 => dash(),
                None => d.disclosure.explain(),
            };
            g.row(vec![labels::words(&d.name), d.answers.to_string(), mean]);
        }
        if let Some(r) = &s.recommend {
            g.row(vec![
                "would recommend".into(),
                r.answers.to_string(),
                format!("{} of {} (net score {:+.0})", r.promoters, r.answers, r.score),
            ]);
        }
        out.push_str(&ctx.out.render(&g));
        for c in &s.comments {
            let line = format!(
                "“{}” — {}, {} ({}, {}{})",
                c.text,
                c.reviewer_role,
                c.org.name,
                c.year,
                c.written,
                if c.still_customer { "" } else { ", no longer a customer" }
            );
            out.push_str("\n  ");
            out.push_str(&wrap(&line, ctx.out.width.map(|w| w.saturating_sub(2)), 2));
        }
    }
    if !p.replies.is_empty() {
        out.push_str("\n\nReplies from the provider (its own words, signed with a key members confirmed)\n");
        out.push_str(&replies_text(ctx, &p.replies));
    }
    out
}

/// Reviews with the provider's replies beneath, each marked as the provider's.
pub fn replies_text(ctx: &Ctx, answered: &[csx_node::query::replies::Answered]) -> String {
    let width = |indent: u16| ctx.out.width.map(|w| w.saturating_sub(indent));
    let mut out = String::new();
    for a in answered {
        let review = format!(
            "Review {} by {}, {} ({}, {}){}",
            &a.review[..12],
            a.reviewer.name,
            a.reviewer_role,
            a.service_line,
            a.year,
            a.comment.as_ref().map(|c| format!(": “{c}”")).unwrap_or_default()
        );
        out.push_str("\n  ");
        out.push_str(&wrap(&review, width(2), 2));
        for r in &a.replies {
            let reply = format!(
                "↳ PROVIDER'S REPLY from {} ({}), signed {} with key {}, published by {}: “{}”",
                r.provider_name,
                r.provider,
                r.signed_on.map(|d| d.to_string()).unwrap_or_else(|| "–".into()),
                &r.provider_key[..12],
                r.published_by.name,
                r.text
            );
            out.push_str("\n    ");
            out.push_str(&wrap(&reply, width(4), 4));
        }
    }
    out
}
