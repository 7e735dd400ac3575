//! The admission policy with the clock moved by hand.

use super::*;

const TIMEOUT: u64 = 30_000;

fn node_peer() -> PeerId {
    libp2p::identity::Keypair::generate_ed25519().public().to_peer_id()
}

fn inbound() -> Connection {
    Connection { dialer: false, relayed: false, remote: "/ip4/192.0.2.1/tcp/4001".parse().expect("addr") }
}

fn dialled(port: u16) -> Connection {
    Connection { dialer: true, relayed: false, remote: format!("/ip4/192.0.2.2/tcp/{port}").parse().expect("addr") }
}

fn admission() -> Admission<()> {
    Admission::new(TIMEOUT, TableLimits::default(), [])
}

fn stranger(_: &PeerId, _: u64) -> Standing {
    Standing::Stranger
}

fn member(_: &PeerId, _: u64) -> Standing {
    Standing::Member
}

fn applicant(_: &PeerId, _: u64) -> Standing {
    Standing::Applicant
}

fn disconnects(actions: &[Action]) -> Vec<(Reason, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Disconnect { reason, ban, .. } => Some((*reason, *ban)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_member_the_roster_knows_is_admitted_at_once() {
    let mut a = admission();
    let p = node_peer();
    assert_eq!(a.on_connected(p, inbound(), &member, 0), vec![Action::Admit(p)]);
    assert!(a.is_verified(&p));
    assert_eq!(a.on_request(p, Ask::Sync, 1).0, Access::Serve);
}

#[test]
fn a_stranger_is_only_asked_for_its_certificate_then_dropped_and_banned_in_time() {
    let mut a = admission();
    let p = node_peer();
    assert_eq!(a.on_connected(p, inbound(), &stranger, 0), vec![Action::AskCertificate(p)]);
    let check = a.on_certificate_answer(p, CertAnswer::Record(vec![1, 2, 3]), 10);
    assert_eq!(check, vec![Action::CheckCertificate { peer: p, record: vec![1, 2, 3] }]);
    // Validly signed, but its organisation is not a member: it waits (the roster may be behind)
    // with a strike for the work, and is sent nothing.
    assert!(a.on_certificate_checked(p, CertCheck::Valid, &stranger, 20).is_empty());
    assert!((a.strikes(&p, 20) - weight::NOT_VALID).abs() < 1e-9);
    assert!(!a.is_verified(&p));
    assert!(a.on_tick(&stranger, TIMEOUT).is_empty(), "not yet out of time");
    let out = a.on_tick(&stranger, TIMEOUT + 1);
    assert_eq!(disconnects(&out), vec![(Reason::NotAMember, true)]);
    assert_eq!(a.banned(&p, TIMEOUT + 2), Some(Reason::NotAMember));
    a.on_disconnected(&p, TIMEOUT + 3);
    assert!(a.get(&p).is_none(), "a peer never verified is forgotten");
    // It comes back while banned: turned away on sight.
    assert_eq!(disconnects(&a.on_connected(p, inbound(), &stranger, TIMEOUT + 4)), vec![(Reason::Banned, false)]);
}

#[test]
fn the_dialler_shows_its_certificate_first() {
    let mut a = admission();
    let (theirs, ours) = (node_peer(), node_peer());
    a.on_connected(theirs, inbound(), &stranger, 0);
    a.on_connected(ours, dialled(1), &stranger, 0);
    // Held while we check its certificate; refused once it withholds it.
    assert_eq!(a.on_request(theirs, Ask::OwnCertificate, 1).0, Access::Hold);
    assert_eq!(a.strikes(&theirs, 1), 0.0, "an honest dialler asks for it first: no strike");
    assert_eq!(a.on_certificate_answer(theirs, CertAnswer::Withheld, 2), vec![Action::ReleaseHeld(theirs)]);
    assert_eq!(a.on_request(theirs, Ask::OwnCertificate, 3).0, Access::Refuse(Reason::Unverified));
    assert_eq!(a.on_request(ours, Ask::OwnCertificate, 1).0, Access::Serve);
}

#[test]
fn requests_made_while_its_certificate_is_checked_are_held_then_served_or_refused() {
    // A member's node that verified us first: its asks wait for our check, with no strike.
    let mut a = admission();
    let p = node_peer();
    a.on_connected(p, inbound(), &stranger, 0);
    for ask in [Ask::OwnCertificate, Ask::Sync, Ask::Membership] {
        assert_eq!(a.on_request(p, ask, 1), (Access::Hold, vec![]), "{ask:?}");
    }
    a.on_certificate_answer(p, CertAnswer::Record(vec![1]), 2);
    assert_eq!(a.on_request(p, Ask::Sync, 3).0, Access::Hold, "still being checked");
    assert_eq!(a.on_certificate_checked(p, CertCheck::Valid, &member, 4), vec![Action::Admit(p)]);
    assert_eq!(a.strikes(&p, 4), 0.0);
    // A stranger: its held asks are refused as soon as its certificate shows it is not a member.
    let s = node_peer();
    a.on_connected(s, inbound(), &stranger, 10);
    assert_eq!(a.on_request(s, Ask::Sync, 11).0, Access::Hold);
    a.on_certificate_answer(s, CertAnswer::Record(vec![2]), 12);
    let out = a.on_certificate_checked(s, CertCheck::Valid, &stranger, 13);
    assert_eq!(out, vec![Action::ReleaseHeld(s)]);
    assert_eq!(a.on_request(s, Ask::Sync, 14).0, Access::Refuse(Reason::Unverified));
    // At most MAX_HELD_REQUESTS are held; beyond, refused at once.
    let f = node_peer();
    a.on_connected(f, inbound(), &stranger, 20);
    let held = (0..20).filter(|_| a.on_request(f, Ask::Sync, 21).0 == Access::Hold).count();
    assert_eq!(held, MAX_HELD_REQUESTS as usize);
}

#[test]
fn a_withheld_certificate_is_asked_for_again_on_a_sign_or_after_a_second() {
    let mut a = admission();
    let p = node_peer();
    a.on_connected(p, dialled(1), &stranger, 0);
    assert!(a.on_certificate_answer(p, CertAnswer::Withheld, 5).is_empty());
    // It asks us for more than our certificate: it has verified us, so it will show it now.
    let (access, actions) = a.on_request(p, Ask::Sync, 6);
    assert_eq!(access, Access::Refuse(Reason::Unverified));
    assert_eq!(actions, vec![Action::AskCertificate(p)]);
    // Withheld again: asked again after CERT_RETRY_MS.
    a.on_certificate_answer(p, CertAnswer::Withheld, 10);
    assert!(a.on_tick(&stranger, 10 + CERT_RETRY_MS - 1).is_empty());
    assert_eq!(a.on_tick(&stranger, 10 + CERT_RETRY_MS), vec![Action::AskCertificate(p)]);
    assert!(matches!(
        &a.on_certificate_answer(p, CertAnswer::Record(vec![9]), 2_000)[..],
        [Action::CheckCertificate { .. }]
    ));
    assert_eq!(a.on_certificate_checked(p, CertCheck::Valid, &member, 2_001), vec![Action::Admit(p)]);
}

#[test]
fn anything_but_a_valid_certificate_of_this_federation_drops_it_at_once() {
    for (answer, check, reason) in [
        (CertAnswer::Other, None, Reason::NoCertificate),
        (CertAnswer::Record(vec![1]), Some(CertCheck::Invalid), Reason::BadCertificate),
        (CertAnswer::Record(vec![1]), Some(CertCheck::WrongFederation), Reason::WrongFederation),
    ] {
        let mut a = admission();
        let p = node_peer();
        a.on_connected(p, inbound(), &stranger, 0);
        let mut out = a.on_certificate_answer(p, answer, 1);
        if let Some(check) = check {
            out = a.on_certificate_checked(p, check, &stranger, 2);
        }
        assert_eq!(disconnects(&out), vec![(reason, true)], "{reason}");
        assert_eq!(a.banned(&p, 3), Some(reason));
        assert_eq!(a.sizes().unverified, 0, "a peer being dropped no longer counts");
    }
}

#[test]
fn at_most_two_certificates_are_verified_per_connection() {
    let mut a = admission();
    let p = node_peer();
    let mut checks = 0;
    a.on_connected(p, inbound(), &stranger, 0);
    for t in 1..10 {
        for action in a.on_certificate_answer(p, CertAnswer::Record(vec![t as u8]), t) {
            if matches!(action, Action::CheckCertificate { .. }) {
                checks += 1;
                a.on_certificate_checked(p, CertCheck::Valid, &stranger, t);
            }
        }
        // A membership change makes the node ask again (once).
        a.on_roster_changed(&stranger, t);
    }
    assert_eq!(checks, MAX_CERT_CHECKS as usize);
}

#[test]
fn asking_for_more_before_verification_is_refused_struck_and_ends_in_a_ban() {
    let mut a = admission();
    let p = node_peer();
    a.on_connected(p, inbound(), &stranger, 0);
    let mut dropped = vec![];
    for t in 0..(30 + u64::from(MAX_HELD_REQUESTS)) {
        let (access, actions) = a.on_request(p, Ask::Sync, t);
        if t < u64::from(MAX_HELD_REQUESTS) {
            assert_eq!(access, Access::Hold, "held while its certificate is asked for");
        } else {
            assert!(matches!(access, Access::Refuse(Reason::Unverified | Reason::Banned)));
        }
        dropped.extend(disconnects(&actions));
    }
    assert_eq!(dropped, vec![(Reason::Misbehaving, true)], "banned at 19 strikes beyond the held ones");
}

#[test]
fn an_applicant_waits_then_leaves_without_a_ban_and_is_admitted_if_the_roster_says_so() {
    let mut a = admission();
    let p = node_peer();
    a.on_connected(p, inbound(), &stranger, 0);
    a.on_certificate_answer(p, CertAnswer::Record(vec![1]), 1);
    assert!(a.on_certificate_checked(p, CertCheck::Valid, &applicant, 2).is_empty());
    assert_eq!(a.on_roster_changed(&member, 3), vec![Action::Admit(p)], "admitted meanwhile");

    let q = node_peer();
    a.on_connected(q, dialled(2), &stranger, 0);
    a.on_certificate_answer(q, CertAnswer::Record(vec![1]), 1);
    a.on_certificate_checked(q, CertCheck::Valid, &applicant, 2);
    let late = dialler_timeout(TIMEOUT);
    let out = a.on_tick(&applicant, late + 1);
    assert_eq!(disconnects(&out), vec![(Reason::Applicant, false)]);
    assert_eq!(a.banned(&q, late + 2), None);
    assert!(!a.may_dial(&q, late + 2), "not redialled at once");
    assert!(a.may_dial(&q, late + 1 + FIRST_BACKOFF_MS));
}

#[test]
fn the_node_that_dialled_waits_longer_than_the_node_it_dialled_so_the_dialled_one_judges_first() {
    // Both ends of one connection start their clocks together; the dialled end must run out of
    // time first, or which end hangs up (and counts the drop) depends on scheduling.
    let mut a = admission();
    let (dialled_by_us, dialled_us) = (node_peer(), node_peer());
    a.on_connected(dialled_by_us, dialled(3), &stranger, 0);
    a.on_connected(dialled_us, inbound(), &stranger, 0);
    let out = a.on_tick(&stranger, TIMEOUT + 1);
    assert_eq!(disconnects(&out), vec![(Reason::NotAMember, true)], "the inbound one only");
    assert!(a.get(&dialled_by_us).is_some_and(|e| e.link.is_some()), "the one we dialled still waits");
    assert!(dialler_timeout(TIMEOUT) > TIMEOUT + 1);
    assert!(a.on_tick(&stranger, dialler_timeout(TIMEOUT)).is_empty(), "not yet out of its longer time");
    let out = a.on_tick(&stranger, dialler_timeout(TIMEOUT) + 1);
    assert_eq!(disconnects(&out), vec![(Reason::NotAMember, true)]);
}

#[test]
fn a_membership_change_lifts_not_a_member_bans_and_drops_who_is_no_longer_a_member() {
    let mut a = admission();
    let (outsider, insider) = (node_peer(), node_peer());
    a.on_connected(outsider, inbound(), &stranger, 0);
    a.on_tick(&stranger, TIMEOUT + 1);
    a.on_connected(insider, inbound(), &member, 0);
    let misbehaving = node_peer();
    a.drop_peer(misbehaving, Reason::Misbehaving, 0);
    let out = a.on_roster_changed(&stranger, TIMEOUT + 2);
    assert!(out.contains(&Action::Unblock(outsider)));
    assert!(!out.contains(&Action::Unblock(misbehaving)), "other bans stay");
    assert_eq!(disconnects(&out), vec![(Reason::NoLongerAMember, true)]);
    a.on_disconnected(&insider, TIMEOUT + 3);
    assert!(a.get(&insider).is_none(), "a dropped member is not remembered");
}

#[test]
fn beyond_the_bound_of_peers_being_verified_new_ones_are_turned_away_without_a_ban() {
    let limits = TableLimits { max_unverified: 3, max_queued: 0, ..TableLimits::default() };
    let mut a: Admission<()> = Admission::new(TIMEOUT, limits, []);
    for _ in 0..3 {
        assert!(matches!(&a.on_connected(node_peer(), inbound(), &stranger, 0)[..], [Action::AskCertificate(_)]));
    }
    let p = node_peer();
    assert_eq!(disconnects(&a.on_connected(p, inbound(), &stranger, 0)), vec![(Reason::TooManyUnverified, false)]);
    assert_eq!(a.banned(&p, 1), None);
    // Members the roster knows still get in.
    assert_eq!(a.on_connected(node_peer(), inbound(), &member, 0).len(), 1);
}

#[test]
fn a_churn_of_a_thousand_identities_leaves_every_table_within_its_bound() {
    let limits = TableLimits {
        max_peers: 50,
        max_unverified: 8,
        max_queued: 8,
        max_addresses: 4,
        max_strikes: 64,
        max_bans: 64,
        max_backoff: 32,
    };
    let mut a: Admission<()> = Admission::new(TIMEOUT, limits, []);
    // A few members met over time.
    for i in 0..100u16 {
        let m = node_peer();
        a.on_connected(m, dialled(i), &member, u64::from(i));
        a.note_addresses(&m, (0..20u16).map(|k| format!("/ip4/10.0.0.{}/tcp/{k}", i % 250).parse().expect("addr")));
        a.on_disconnected(&m, u64::from(i) + 1);
    }
    let mut now = 1_000;
    for i in 0..1_000u32 {
        let p = node_peer();
        now += 10;
        a.on_connected(p, if i % 2 == 0 { inbound() } else { dialled(i as u16) }, &stranger, now);
        a.on_request(p, Ask::Sync, now);
        a.on_certificate_answer(p, CertAnswer::Record(vec![1]), now);
        a.on_certificate_checked(p, CertCheck::Valid, &stranger, now);
        a.dial_failed(p, now);
        if i % 3 == 0 {
            a.drop_peer(p, Reason::NotAMember, now);
        }
        a.on_disconnected(&p, now + 1);
        let s = a.sizes();
        assert!(
            s.peers <= 50 && s.unverified <= 8 && s.queued <= 8 && s.strikes <= 64 && s.bans <= 64 && s.backoff <= 32,
            "{s:?}"
        );
        assert!(s.addresses <= 50 * 4, "{s:?}");
    }
    let s = a.sizes();
    assert_eq!((s.unverified, s.queued, s.buckets), (0, 0, 0), "nothing of the strangers is left connected: {s:?}");
    assert!(a.iter().all(|(_, e)| e.was_member), "only members are remembered");
}

#[test]
fn redials_back_off_exponentially_up_to_a_cap() {
    let mut a = admission();
    let p = node_peer();
    assert!(a.may_dial(&p, 0));
    let mut now = 0;
    let mut waits = vec![];
    for _ in 0..12 {
        a.dial_failed(p, now);
        let mut t = now;
        while !a.may_dial(&p, t) {
            t += 1_000;
        }
        waits.push(t - now);
        now = t;
    }
    assert_eq!(&waits[..4], &[5_000, 10_000, 20_000, 40_000]);
    assert_eq!(*waits.last().expect("some"), MAX_BACKOFF_MS);
    a.on_connected(p, dialled(1), &member, now);
    assert!(a.may_dial(&p, now), "reset once it is in");
}

#[test]
fn bootstrap_servers_are_never_timed_out_and_get_only_certificates_and_membership() {
    let b = node_peer();
    let mut a: Admission<()> = Admission::new(TIMEOUT, TableLimits::default(), [b]);
    assert!(a.on_connected(b, dialled(4000), &stranger, 0).is_empty());
    assert_eq!(a.on_request(b, Ask::OwnCertificate, 1).0, Access::Serve);
    assert_eq!(a.on_request(b, Ask::Membership, 1).0, Access::Serve);
    assert_eq!(a.on_request(b, Ask::Sync, 1).0, Access::Refuse(Reason::NotAMember));
    assert!(a.on_tick(&stranger, 10 * TIMEOUT).is_empty());
    assert!(a.on_strike(b, 100.0, 1).is_empty(), "infrastructure is not struck");
    assert!(!a.is_verified(&b));
}

#[test]
fn a_bootstrap_server_holds_discovery_until_the_peer_is_verified() {
    let mut a = admission();
    let p = node_peer();
    a.on_connected(p, inbound(), &stranger, 0);
    assert_eq!(a.on_request(p, Ask::Discovery, 1).0, Access::Hold);
    a.on_certificate_answer(p, CertAnswer::Record(vec![1]), 2);
    a.on_certificate_checked(p, CertCheck::Valid, &member, 3);
    assert_eq!(a.on_request(p, Ask::Discovery, 4).0, Access::Serve);
}

#[test]
fn certificate_answers_are_read_strictly() {
    let key = csx_protocol::keys::SecretKey::from_seed(&[3; 32]);
    let peer = super::super::identity::peer_id(&key.node_key());
    let genesis = csx_protocol::FederationId([1; 32]);
    let sign = |seq: u64, author: &csx_protocol::keys::SecretKey| {
        let header = csx_protocol::Header {
            version: 1,
            kind: 2,
            federation: genesis,
            author: author.node_key(),
            seq,
            prev: (seq > 1).then_some(csx_protocol::RecordId([0; 32])),
            created_at: 1,
        };
        csx_protocol::Record::sign_unchecked(author, &header, b"")
    };
    let one = sign(1, &key);
    assert_eq!(
        certificate_answer(&peer, SyncResponse::Records { records: vec![one.clone()] }),
        CertAnswer::Record(one.clone())
    );
    let other = csx_protocol::keys::SecretKey::from_seed(&[4; 32]);
    for bad in [
        SyncResponse::Records { records: vec![one.clone(), one.clone()] },
        SyncResponse::Records { records: vec![sign(2, &key)] },
        SyncResponse::Records { records: vec![sign(1, &other)] },
        SyncResponse::Records { records: vec![] },
        SyncResponse::InSync,
    ] {
        assert_eq!(certificate_answer(&peer, bad), CertAnswer::Other);
    }
    let refused =
        SyncResponse::Refused { code: csx_protocol::sync::RefusalCode::NotAMember, message: "not yet".into() };
    assert_eq!(certificate_answer(&peer, refused), CertAnswer::Withheld);
}

#[test]
fn beyond_the_bound_of_peers_being_verified_new_ones_wait_their_turn_in_a_bounded_queue() {
    let limits = TableLimits { max_unverified: 2, max_queued: 2, ..TableLimits::default() };
    let mut a: Admission<()> = Admission::new(TIMEOUT, limits, []);
    let (v1, v2) = (node_peer(), node_peer());
    assert_eq!(a.on_connected(v1, inbound(), &stranger, 0), vec![Action::AskCertificate(v1)]);
    assert_eq!(a.on_connected(v2, inbound(), &stranger, 0), vec![Action::AskCertificate(v2)]);
    // Two more wait, not asked yet, and not turned away; a fifth is.
    let (q1, q2) = (node_peer(), node_peer());
    assert_eq!(a.on_connected(q1, inbound(), &stranger, 10), Vec::<Action>::new());
    assert_eq!(a.on_connected(q2, dialled(1), &stranger, 20), Vec::<Action>::new());
    let late = node_peer();
    assert_eq!(disconnects(&a.on_connected(late, inbound(), &stranger, 30)), vec![(Reason::TooManyUnverified, false)]);
    assert_eq!((a.sizes().unverified, a.sizes().queued), (2, 2));
    // A queued peer's requests are held, as while it is asked; one we dialled is shown ours.
    assert_eq!(a.on_request(q1, Ask::Sync, 40).0, Access::Hold);
    assert_eq!(a.on_request(q2, Ask::OwnCertificate, 40).0, Access::Serve);
    // A place frees (v1 is verified): the longest-queued is asked, and its time starts now.
    a.on_certificate_answer(v1, CertAnswer::Record(vec![1]), 1_000);
    let out = a.on_certificate_checked(
        v1,
        CertCheck::Valid,
        &|p: &PeerId, _: u64| {
            if *p == v1 { Standing::Member } else { Standing::Stranger }
        },
        1_000,
    );
    assert_eq!(out, vec![Action::Admit(v1), Action::AskCertificate(q1)]);
    // Another frees by disconnecting: the next is asked.
    assert_eq!(a.on_disconnected(&v2, 2_000), vec![Action::AskCertificate(q2)]);
    assert_eq!((a.sizes().unverified, a.sizes().queued), (2, 0));
    // q1's verification time runs from when it was asked, not from when it connected.
    assert!(disconnects(&a.on_tick(&stranger, TIMEOUT + 500)).is_empty());
    assert_eq!(disconnects(&a.on_tick(&stranger, 1_000 + TIMEOUT + 1)), vec![(Reason::NotAMember, true)]);
}

#[test]
fn a_queued_peer_the_roster_comes_to_know_is_admitted_and_one_queued_too_long_is_turned_away() {
    let limits = TableLimits { max_unverified: 1, max_queued: 2, ..TableLimits::default() };
    let mut a: Admission<()> = Admission::new(TIMEOUT, limits, []);
    let (busy, known, slow) = (node_peer(), node_peer(), node_peer());
    a.on_connected(busy, inbound(), &stranger, 0);
    a.on_connected(known, inbound(), &stranger, 0);
    a.on_connected(slow, inbound(), &stranger, 0);
    // The roster changes (e.g. a sync brought its certificate): it needs no turn.
    let out =
        a.on_roster_changed(&|p: &PeerId, _: u64| if *p == known { Standing::Member } else { Standing::Stranger }, 5);
    assert_eq!(out, vec![Action::Admit(known)]);
    // `busy` holds the one place past the time `slow` may wait: both go, `slow` without a ban.
    let out = a.on_tick(&stranger, TIMEOUT + 1);
    let mut got = disconnects(&out);
    got.sort();
    assert_eq!(got, vec![(Reason::NotAMember, true), (Reason::TooManyUnverified, false)]);
    assert_eq!(a.banned(&slow, TIMEOUT + 2), None);
}
