//! The provider registry (built-in providers plus `provider` records) and the checks that a new
//! record refers to things that exist: known service lines and providers, motions, switches, and
//! one's own records for retraction.

use std::collections::BTreeMap;

use csx_protocol::body::{Kind, Party};
use csx_protocol::refdata;
use csx_protocol::{Body, Date, OrgKey, Record, RecordId};

use crate::api::ProviderEntry;
use crate::error_kind::ApiError;
use crate::store::{Scan, Store, StoreError};

/// Whether `code` is a built-in provider or has a provider record.
pub fn provider_known(store: &dyn Store, code: &str) -> Result<bool, StoreError> {
    if refdata::builtin_provider(code).is_some() {
        return Ok(true);
    }
    Ok(store.scan(Scan::Provider { code, kind: Some(Kind::Provider) }, false).next().transpose()?.is_some())
}

/// Every provider: built-ins, overridden or extended by the latest provider record per code.
pub fn providers(store: &dyn Store) -> Result<Vec<ProviderEntry>, StoreError> {
    let mut out: BTreeMap<String, ProviderEntry> = refdata::PROVIDERS
        .iter()
        .map(|p| {
            let e = ProviderEntry {
                code: p.code.into(),
                name: p.name.into(),
                kind: p.kind.name().into(),
                aliases: vec![],
                source: "builtin".into(),
                note: Some(p.note.into()),
            };
            (p.code.to_string(), e)
        })
        .collect();
    // Oldest first, so later records replace earlier ones.
    for record in store.scan(Scan::Kind(Kind::Provider), false) {
        let record = record?;
        if retracted_by(store, &record.id())?.is_some() {
            continue;
        }
        if let Body::Provider(p) = record.body() {
            let note = out.get(&p.code).and_then(|e| e.note.clone());
            out.insert(
                p.code.clone(),
                ProviderEntry {
                    code: p.code.clone(),
                    name: p.name.clone(),
                    kind: p.provider_kind.name().into(),
                    aliases: p.aliases.clone(),
                    source: record.id().to_hex(),
                    note,
                },
            );
        }
    }
    Ok(out.into_values().collect())
}

/// The retraction of `id`, if it has been withdrawn.
pub fn retracted_by(store: &dyn Store, id: &RecordId) -> Result<Option<RecordId>, StoreError> {
    Ok(store.scan(Scan::RefersTo { id: *id, kind: Some(Kind::Retract) }, false).next().transpose()?.map(|r| r.id()))
}

/// The organisation (key and ODS code) whose node wrote `record`, from the author's certificate.
pub fn org_of(store: &dyn Store, author: &csx_protocol::NodeKey) -> Result<Option<(OrgKey, String)>, StoreError> {
    Ok(store.get_at(author, 1)?.and_then(|r| match r.body() {
        Body::NodeCert(c) => Some((c.org_key, c.ods_code.clone())),
        _ => None,
    }))
}

/// Checks that `body`, about to be written by organisation `own_org`, refers to things that
/// exist. `earlier` are bodies of the same batch (a provider added just before its review).
pub fn check_references(
    store: &dyn Store,
    own_org: &OrgKey,
    body: &Body,
    earlier: &[Body],
    today: Date,
    roster: &dyn Fn() -> Result<std::sync::Arc<csx_protocol::roster::Roster>, ApiError>,
) -> Result<(), ApiError> {
    let ctx = body.kind_name();
    let line = |code: &str| -> Result<(), ApiError> {
        if refdata::service_line(code).is_none() {
            return Err(ApiError::invalid(format!(
                "{ctx}.service_line: `{code}` is not a known service line; known: {}",
                refdata::service_line_codes()
            )));
        }
        Ok(())
    };
    let provider = |field: &str, code: &str| -> Result<(), ApiError> {
        // The store first: scanning the batch for each of its rows would be quadratic.
        if !provider_known(store, code)? && !earlier.iter().any(|b| matches!(b, Body::Provider(p) if p.code == code)) {
            return Err(ApiError::invalid(format!(
                "{ctx}.{field}: `{code}` is not a known provider; see `csx provider list`, or add it with `csx provider add`"
            )));
        }
        Ok(())
    };
    let own_record = |field: &str, id: &RecordId, kind: Option<Kind>| -> Result<Record, ApiError> {
        let target = store
            .get(id)?
            .ok_or_else(|| ApiError::not_found(format!("{ctx}.{field}: no record {} is held", id.short())))?;
        if let Some(k) = kind
            && target.body().kind() != Some(k)
        {
            return Err(ApiError::invalid(format!(
                "{ctx}.{field}: record {} is a {}, not a {}",
                id.short(),
                target.body().kind_name(),
                k
            )));
        }
        let org = org_of(store, &target.author())?.map(|(k, _)| k);
        if org.as_ref() != Some(own_org) {
            return Err(ApiError::invalid(format!(
                "{ctx}.{field}: record {} was written by another organisation; you can only refer to your own",
                id.short()
            )));
        }
        Ok(target)
    };
    match body {
        Body::Review(r) => {
            line(&r.service_line)?;
            provider("provider", &r.provider)
        }
        Body::Price(p) => {
            line(&p.service_line)?;
            provider("provider", &p.provider)
        }
        Body::Switch(s) => {
            line(&s.service_line)?;
            for (field, party) in [("from", &s.from), ("to", &s.to)] {
                if let Party::Provider(code) = party {
                    provider(field, code)?;
                }
            }
            Ok(())
        }
        Body::Motion(m) => {
            if let Some(l) = &m.service_line {
                line(l)?;
            }
            if let Some(p) = &m.provider {
                provider("provider", p)?;
            }
            if m.closes_on < today {
                return Err(ApiError::invalid(format!("motion.closes_on: {} is in the past", m.closes_on)));
            }
            Ok(())
        }
        Body::Support(s) => {
            let motion = store.get(&s.motion)?.ok_or_else(|| {
                ApiError::not_found(format!("support.motion: no motion {} is held", s.motion.short()))
            })?;
            let Body::Motion(m) = motion.body() else {
                return Err(ApiError::invalid(format!(
                    "support.motion: record {} is a {}, not a motion",
                    s.motion.short(),
                    motion.body().kind_name()
                )));
            };
            if m.closes_on < today {
                return Err(ApiError::invalid(format!(
                    "support.motion: motion \"{}\" closed on {}",
                    m.title, m.closes_on
                )));
            }
            if retracted_by(store, &s.motion)?.is_some() {
                return Err(ApiError::invalid(format!(
                    "support.motion: motion {} has been retracted",
                    s.motion.short()
                )));
            }
            Ok(())
        }
        Body::SwitchOutcome(o) => own_record("switch", &o.switch, Some(Kind::Switch)).map(|_| ()),
        Body::Endorse(e) => {
            if &e.org_key == own_org {
                return Err(ApiError::invalid("endorse.org_key: an organisation cannot endorse itself"));
            }
            let roster = roster()?;
            if roster.is_current_member(&e.org_key) {
                return Err(ApiError::invalid(format!(
                    "endorse.org_key: {} ({}) is already a member",
                    e.ods_code,
                    e.org_key.short()
                )));
            }
            let mine = store.scan(Scan::Kind(Kind::Endorse), false).any(|r| {
                r.ok().is_some_and(|r| {
                    matches!(r.body(), Body::Endorse(x) if x.org_key == e.org_key)
                        && org_of(store, &r.author()).ok().flatten().is_some_and(|(k, _)| &k == own_org)
                })
            });
            if mine {
                return Err(ApiError::invalid(format!(
                    "endorse.org_key: your organisation has already endorsed {}",
                    e.ods_code
                )));
            }
            Ok(())
        }
        Body::Revoke(r) => {
            if &r.org_key == own_org {
                return Err(ApiError::invalid("revoke.org_key: an organisation cannot revoke itself"));
            }
            if !roster()?.is_current_member(&r.org_key) {
                return Err(ApiError::invalid(format!(
                    "revoke.org_key: {} is not a current member",
                    r.org_key.short()
                )));
            }
            Ok(())
        }
        Body::RetireNode(r) => {
            if &r.org_key != own_org {
                return Err(ApiError::invalid("retire_node.org_key: only the node's own organisation can retire it"));
            }
            match org_of(store, &r.node_key)? {
                Some((org, _)) if &org == own_org => Ok(()),
                Some(_) => Err(ApiError::invalid("retire_node.node_key: that node belongs to another organisation")),
                None => Err(ApiError::not_found(format!(
                    "retire_node.node_key: no node {} is known here",
                    r.node_key.short()
                ))),
            }
        }
        Body::Retract(r) => {
            for (i, id) in r.targets().enumerate() {
                let field = if i == 0 { "target" } else { "also" };
                let target = own_record(field, &id, None)?;
                match target.body().kind() {
                    Some(Kind::NodeCert) | Some(Kind::Retract) => {
                        return Err(ApiError::invalid(format!(
                            "retract.{field}: record {} is a {}, which cannot be retracted",
                            id.short(),
                            target.body().kind_name()
                        )));
                    }
                    _ => {}
                }
                if let Some(by) = retracted_by(store, &id)? {
                    return Err(ApiError::invalid(format!(
                        "retract.{field}: record {} was already retracted by {}",
                        id.short(),
                        by.short()
                    )));
                }
            }
            Ok(())
        }
        Body::ProviderKey(k) => {
            provider("provider", &k.provider)?;
            let mine =
                store.scan(Scan::Provider { code: &k.provider, kind: Some(Kind::ProviderKey) }, false).any(|r| {
                    r.ok().is_some_and(|r| {
                        matches!(r.body(), Body::ProviderKey(x) if x.key == k.key)
                            && org_of(store, &r.author()).ok().flatten().is_some_and(|(o, _)| &o == own_org)
                            && retracted_by(store, &r.id()).ok().flatten().is_none()
                    })
                });
            if mine {
                return Err(ApiError::invalid(format!(
                    "provider_key.key: your organisation has already registered key {} for {}",
                    hex::encode(&k.key[..6]),
                    k.provider
                )));
            }
            Ok(())
        }
        Body::ProviderReply(reply) => {
            // The reply must stand as queries judge it: a confirmed key of the review's provider,
            // and a review that counts.
            let roster = roster()?;
            let want = crate::query::Want { reviews: true, ..Default::default() };
            let d = crate::query::Dataset::load(store, &roster, want)?;
            crate::query::replies::judge(&d, reply).map_err(|e| ApiError::invalid(e.to_string()))?;
            if let Some(same) = d.replies.iter().find(|r| r.body.provider_signature == reply.provider_signature) {
                return Err(ApiError::invalid(format!(
                    "provider_reply: this signed reply is already published (record {}, by {})",
                    same.id.short(),
                    d.directory.org(&same.org).name
                )));
            }
            Ok(())
        }
        Body::Intent(i) => {
            line(&i.service_line)?;
            if i.from < today {
                return Err(ApiError::invalid(format!("intent.from: {} is in the past", i.from)));
            }
            Ok(())
        }
        Body::TenderJoin(j) => {
            let intent = store.get(&j.intent)?.ok_or_else(|| {
                ApiError::not_found(format!("tender_join.intent: no intent {} is held", j.intent.short()))
            })?;
            if !matches!(intent.body(), Body::Intent(_)) {
                return Err(ApiError::invalid(format!(
                    "tender_join.intent: record {} is a {}, not an intent",
                    j.intent.short(),
                    intent.body().kind_name()
                )));
            }
            if retracted_by(store, &j.intent)?.is_some() {
                return Err(ApiError::invalid(format!(
                    "tender_join.intent: intent {} has been withdrawn",
                    j.intent.short()
                )));
            }
            if org_of(store, &intent.author())?.is_some_and(|(o, _)| &o == own_org) {
                return Err(ApiError::invalid(
                    "tender_join.intent: that is your own intent; others join it, you need not",
                ));
            }
            let joined = store.scan(Scan::RefersTo { id: j.intent, kind: Some(Kind::TenderJoin) }, false).any(|r| {
                r.ok().is_some_and(|r| {
                    org_of(store, &r.author()).ok().flatten().is_some_and(|(o, _)| &o == own_org)
                        && retracted_by(store, &r.id()).ok().flatten().is_none()
                })
            });
            if joined {
                return Err(ApiError::invalid(format!(
                    "tender_join.intent: your organisation has already joined intent {}",
                    j.intent.short()
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
