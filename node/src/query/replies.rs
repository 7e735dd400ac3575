//! The provider's right of reply: which provider keys members have confirmed, and which
//! published replies stand (docs/QUERIES.md, "Providers' replies").
//!
//! A key is **confirmed** for a provider once at least as many distinct current members as
//! admission needs (the genesis's endorsement threshold) hold an unretracted `provider_key`
//! record naming that provider and key. A key confirmed for two providers is confirmed for
//! neither (ambiguous). A reply **stands** when its key is confirmed for the provider of the
//! review it answers and that review is one queries count (not retracted, not superseded, by a
//! current member); every node checked the provider's signature when the record arrived.
//! A reply that does not stand is not shown; `csx provider-reply publish` refuses it by name.

use std::collections::{BTreeMap, BTreeSet};

use csx_protocol::body::{ProviderReply, Review};
use csx_protocol::{Date, OrgKey, RecordId};
use serde::{Deserialize, Serialize};

use super::{Dataset, Item, OrgRef};

/// Why a reply does not stand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyProblem {
    #[error(
        "provider_reply.provider_key: key {key} is not registered by any member for any provider (a member registers it with `csx provider key add`)"
    )]
    UnknownKey { key: String },
    #[error(
        "provider_reply.provider_key: key {key} is not confirmed: {confirmed_by} of the {needed} members needed have registered it for {provider}"
    )]
    UnconfirmedKey { key: String, provider: String, confirmed_by: usize, needed: u16 },
    #[error("provider_reply.provider_key: key {key} is confirmed for several providers ({providers}), so for none")]
    AmbiguousKey { key: String, providers: String },
    #[error(
        "provider_reply.provider_key: key {key} is confirmed for provider {key_provider}, but review {review} is about {review_provider}"
    )]
    AnotherProvider { key: String, key_provider: String, review: String, review_provider: String },
    #[error("provider_reply.review: no review {review} is held, or it was retracted or replaced by a later review")]
    NoSuchReview { review: String },
}

impl ReplyProblem {
    /// A stable short name for the problem (for JSON and tests).
    pub fn reason(&self) -> &'static str {
        match self {
            ReplyProblem::UnknownKey { .. } => "unknown_key",
            ReplyProblem::UnconfirmedKey { .. } => "unconfirmed_key",
            ReplyProblem::AmbiguousKey { .. } => "ambiguous_key",
            ReplyProblem::AnotherProvider { .. } => "key_of_another_provider",
            ReplyProblem::NoSuchReview { .. } => "no_such_review",
        }
    }
}

/// A provider key and who registered it for which provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub key: String,
    pub provider: String,
    pub provider_name: String,
    pub registered_by: Vec<OrgRef>,
    pub needed: u16,
    pub confirmed: bool,
}

/// A reply as answers show it: always marked as the provider's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyView {
    /// The record that carries it.
    pub id: String,
    /// The review it answers.
    pub review: String,
    /// Always `provider`: these are the provider's words, not a member's.
    pub author: String,
    pub provider: String,
    pub provider_name: String,
    pub text: String,
    pub signed_on: Option<Date>,
    pub provider_key: String,
    /// The member that published it.
    pub published_by: OrgRef,
}

/// A review with the replies that stand, as the provider page and report show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answered {
    pub review: String,
    pub service_line: String,
    pub year: csx_protocol::FinancialYear,
    pub reviewer: OrgRef,
    pub reviewer_role: String,
    pub comment: Option<String>,
    pub replies: Vec<ReplyView>,
}

/// Every registered key, by key then provider, with who registered it.
fn registrations(d: &Dataset) -> BTreeMap<[u8; 32], BTreeMap<String, BTreeSet<OrgKey>>> {
    let mut out: BTreeMap<[u8; 32], BTreeMap<String, BTreeSet<OrgKey>>> = BTreeMap::new();
    for it in &d.provider_keys {
        out.entry(it.body.key).or_default().entry(it.body.provider.clone()).or_default().insert(it.org);
    }
    out
}

/// Every key members registered, with whether it is confirmed.
pub fn keys(d: &Dataset) -> Vec<KeyView> {
    let needed = d.key_threshold.max(1);
    let mut out = Vec::new();
    for (key, by_provider) in registrations(d) {
        for (provider, orgs) in by_provider {
            out.push(KeyView {
                key: hex::encode(key),
                provider_name: d.provider_name(&provider),
                provider,
                registered_by: orgs.iter().map(|o| d.directory.org(o)).collect(),
                needed,
                confirmed: orgs.len() >= needed as usize,
            });
        }
    }
    out
}

/// The provider `key` is confirmed for.
pub fn provider_of_key(d: &Dataset, key: &[u8; 32]) -> Result<String, ReplyProblem> {
    let short = hex::encode(&key[..6]);
    let regs = registrations(d);
    let Some(by_provider) = regs.get(key) else { return Err(ReplyProblem::UnknownKey { key: short }) };
    let needed = d.key_threshold.max(1);
    let confirmed: Vec<&String> =
        by_provider.iter().filter(|(_, orgs)| orgs.len() >= needed as usize).map(|(p, _)| p).collect();
    match confirmed[..] {
        [one] => Ok(one.clone()),
        [] => {
            let (provider, orgs) =
                by_provider.iter().max_by_key(|(p, o)| (o.len(), std::cmp::Reverse(p.as_str()))).expect("not empty");
            Err(ReplyProblem::UnconfirmedKey {
                key: short,
                provider: provider.clone(),
                confirmed_by: orgs.len(),
                needed,
            })
        }
        _ => Err(ReplyProblem::AmbiguousKey {
            key: short,
            providers: confirmed.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Whether `reply` stands against the reviews queries count.
pub fn judge<'a>(d: &'a Dataset, reply: &ProviderReply) -> Result<&'a Item<Review>, ReplyProblem> {
    let review = d
        .reviews
        .iter()
        .find(|r| r.id == reply.review)
        .ok_or_else(|| ReplyProblem::NoSuchReview { review: reply.review.short() })?;
    let provider = provider_of_key(d, &reply.provider_key)?;
    if provider != review.body.provider {
        return Err(ReplyProblem::AnotherProvider {
            key: hex::encode(&reply.provider_key[..6]),
            key_provider: provider,
            review: reply.review.short(),
            review_provider: review.body.provider.clone(),
        });
    }
    Ok(review)
}

/// The replies that stand, by the review they answer, oldest first; one copy of each
/// statement (two members publishing the same signed reply show it once).
pub fn standing(d: &Dataset) -> BTreeMap<RecordId, Vec<ReplyView>> {
    let mut out: BTreeMap<RecordId, Vec<ReplyView>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut replies: Vec<&Item<ProviderReply>> = d.replies.iter().collect();
    replies.sort_by_key(|it| (it.body.signed_at, it.created_at, it.id));
    for it in replies {
        let Ok(review) = judge(d, &it.body) else { continue };
        if !seen.insert(it.body.provider_signature) {
            continue;
        }
        out.entry(review.id).or_default().push(ReplyView {
            id: it.id.to_hex(),
            review: review.id.to_hex(),
            author: "provider".into(),
            provider: review.body.provider.clone(),
            provider_name: d.provider_name(&review.body.provider),
            text: it.body.text.clone(),
            signed_on: Date::from_unix_ms(it.body.signed_at),
            provider_key: hex::encode(it.body.provider_key),
            published_by: d.directory.org(&it.org),
        });
    }
    out
}

/// The reviews of `provider` (every provider: `None`) that have replies standing, newest
/// review first.
pub fn answered(d: &Dataset, provider: Option<&str>) -> Vec<Answered> {
    let mut replies = standing(d);
    let mut reviews: Vec<&Item<Review>> = d
        .reviews
        .iter()
        .filter(|r| replies.contains_key(&r.id) && provider.is_none_or(|p| p == r.body.provider))
        .collect();
    reviews.sort_by_key(|r| std::cmp::Reverse(r.order()));
    reviews
        .into_iter()
        .map(|r| Answered {
            review: r.id.to_hex(),
            service_line: r.body.service_line.clone(),
            year: r.body.year,
            reviewer: d.directory.org(&r.org),
            reviewer_role: r.body.reviewer_role.clone(),
            comment: r.body.comment.clone(),
            replies: replies.remove(&r.id).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tests::{dataset, item, review};
    use csx_protocol::body::ProviderKey;
    use csx_protocol::keys::SecretKey;

    fn register(d: &mut Dataset, member: u8, provider: &str, key: &SecretKey, at: u64) {
        d.provider_keys.push(item(
            7,
            member,
            at,
            ProviderKey { provider: provider.into(), key: key.public_bytes(), contact: None },
        ));
    }

    fn publish(d: &mut Dataset, member: u8, reply: ProviderReply, at: u64) {
        d.replies.push(item(8, member, at, reply));
    }

    #[test]
    fn a_reply_stands_only_with_a_confirmed_key_of_the_reviews_provider() {
        let mut d = dataset(3);
        d.key_threshold = 2;
        let r = review(0, "0DE", "BI", 2025, 2, Some(3), 10);
        let review_id = r.id;
        d.reviews.push(r);
        let acme = SecretKey::from_seed(&[4; 32]);
        let reply = ProviderReply::sign(&acme, review_id, "We have fixed the feed.", 20).expect("signs");
        publish(&mut d, 1, reply.clone(), 30);
        // Nobody registered the key.
        assert_eq!(judge(&d, &reply).expect_err("unknown").reason(), "unknown_key");
        assert!(standing(&d).is_empty());
        // One member of the two needed.
        register(&mut d, 1, "0DE", &acme, 11);
        let e = judge(&d, &reply).expect_err("unconfirmed");
        assert_eq!(e.reason(), "unconfirmed_key");
        assert!(e.to_string().contains("1 of the 2 members needed have registered it for 0DE"), "{e}");
        // A second member confirms it: the reply stands, marked as the provider's.
        register(&mut d, 2, "0DE", &acme, 12);
        let shown = standing(&d);
        let views = &shown[&review_id];
        assert_eq!(views.len(), 1);
        assert_eq!((views[0].author.as_str(), views[0].published_by.ods.as_str()), ("provider", "M1"));
        let answered = answered(&d, Some("0DE"));
        assert_eq!(answered.len(), 1);
        assert_eq!(answered[0].replies[0].text, "We have fixed the feed.");
        assert!(super::answered(&d, Some("AGEM")).is_empty());
    }

    #[test]
    fn a_key_confirmed_for_another_provider_is_refused_by_name() {
        let mut d = dataset(2);
        d.key_threshold = 1;
        let r = review(0, "0DE", "BI", 2025, 2, None, 10);
        let review_id = r.id;
        d.reviews.push(r);
        let other = SecretKey::from_seed(&[6; 32]);
        register(&mut d, 1, "AGEM", &other, 11);
        let reply = ProviderReply::sign(&other, review_id, "Not our contract.", 20).expect("signs");
        let e = judge(&d, &reply).expect_err("another provider's key");
        assert_eq!(e.reason(), "key_of_another_provider");
        assert!(e.to_string().contains("confirmed for provider AGEM, but review"), "{e}");
        // Confirmed for two providers: for neither.
        register(&mut d, 0, "0DE", &other, 12);
        assert_eq!(judge(&d, &reply).expect_err("ambiguous").reason(), "ambiguous_key");
    }

    #[test]
    fn a_reply_to_a_review_queries_do_not_count_is_hidden() {
        // The dataset holds no retracted review: a reply to one finds no review and is hidden.
        let mut d = dataset(2);
        d.key_threshold = 1;
        let acme = SecretKey::from_seed(&[4; 32]);
        register(&mut d, 1, "0DE", &acme, 11);
        let reply = ProviderReply::sign(&acme, RecordId([3; 32]), "Answer.", 20).expect("signs");
        publish(&mut d, 1, reply.clone(), 30);
        assert_eq!(judge(&d, &reply).expect_err("no review").reason(), "no_such_review");
        assert!(standing(&d).is_empty());
    }
}
