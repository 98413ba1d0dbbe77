//! The agenda workflow on a fixed clock, without a database.

use super::*;
use crate::domain::{Held, Language};
use crate::render::{Common, Renderer, LANGUAGES};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("a time")
}

fn meeting(id: i64, starts: &str) -> Meeting {
    Meeting {
        id,
        council_id: 1,
        council_name: "Utdanningsrådet".into(),
        starts_at: at(starts),
        tz: chrono_tz::Europe::Oslo,
        scheduled: true,
    }
}

fn item(id: i64, meeting_id: Option<i64>, title: &str, state: State) -> Item {
    Item {
        id,
        ref_key: format!("key{id}"),
        council_id: 1,
        meeting_id,
        fixed: false,
        title: title.into(),
        description: "Rådet bør drøfte saken.\nSe vedlegg.".into(),
        proposer_name: Some("Ola Nordmann".into()),
        proposer_email: Some("ola@hf.example".into()),
        state,
        late: false,
        number: None,
        decided_at: None,
    }
}

fn person(id: i64, name: &str, email: &str, lang: Language) -> Person {
    Person {
        id,
        name: name.into(),
        email: email.into(),
        lang,
    }
}

fn two_coordinators() -> Vec<Person> {
    vec![
        person(10, "Eldbjørg Koordinator", "koord@hf.example", Language::Nb),
        person(11, "Kim Koordinator", "kim@hf.example", Language::En),
    ]
}

fn keys() -> [String; 3] {
    ["f1".into(), "f2".into(), "f3".into()]
}

/// Every mail of a plan renders in every language, and its data names only what
/// its kind's example lists (render_kind checks that in tests).
fn renders(mails: &[Mail]) -> Vec<(Language, String, String)> {
    let r = Renderer::new().expect("templates");
    let common = Common {
        name: "Kari".into(),
        full_name: "Kari Nordmann".into(),
        secretariat: "RegUt HSØ".into(),
        ..Default::default()
    };
    let mut out = Vec::new();
    for m in mails {
        for lang in LANGUAGES {
            let t = r
                .render_kind(lang, m.template, &common, &m.data)
                .unwrap_or_else(|e| panic!("{} in {lang:?}: {e}", m.template));
            out.push((lang, t.subject, t.body));
        }
    }
    out
}

fn changes_of(plan: &Plan<Change>) -> Vec<String> {
    plan.changes.iter().map(|c| format!("{c:?}")).collect()
}

#[test]
fn closing_numbers_after_the_highest_in_approval_order() {
    let m = meeting(1, "2027-03-09T09:00:00Z");
    let mut first = item(3, Some(1), "Veileder for LIS1", State::Approved);
    first.decided_at = Some(at("2027-02-01T10:00:00Z"));
    let mut second = item(2, Some(1), "Turnus i sommer", State::Approved);
    second.decided_at = Some(at("2027-02-03T10:00:00Z"));
    second.late = true;
    let items = vec![
        second,
        first,
        item(4, Some(1), "Parkering", State::Rejected),
        item(5, Some(1), "Nasjonale kompetansemål", State::Proposed),
    ];
    let closed = close_agenda(&Closing {
        meeting: &m,
        items: &items,
        council_items: &items,
        highest: Some(7),
        next_meeting: Some(2),
        keys: keys(),
    })
    .expect("closes");
    let lines: Vec<(Slot, i32, i64, i64)> = closed
        .agenda
        .iter()
        .map(|p| (p.slot.clone(), p.year, p.number, p.position))
        .collect();
    let fixed = |item, key: &str| Slot::Fixed {
        item,
        ref_key: key.into(),
    };
    assert_eq!(
        lines,
        vec![
            (fixed(FixedItem::ApproveSummons, "f1"), 2027, 8, 1),
            (fixed(FixedItem::ApproveMinutes, "f2"), 2027, 9, 2),
            // Approved first, listed first; the late one is on the agenda too.
            (Slot::Item(3), 2027, 10, 3),
            (Slot::Item(2), 2027, 11, 4),
            (fixed(FixedItem::AnyOtherBusiness, "f3"), 2027, 12, 5),
        ]
    );
    // The undecided proposal moves to the next meeting; the rejected one stays off.
    assert!(closed.plan.changes.contains(&Change::Decide {
        id: 5,
        state: State::Proposed,
        by: "scheduler".into(),
        move_to: Some(Some(2)),
    }));
    assert!(!changes_of(&closed.plan).iter().any(|c| c.contains("id: 4")));
    let kinds: Vec<&str> = closed.plan.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec!["agenda_moved", "agenda"]);
    assert!(closed.plan.changes.contains(&Change::NewFixed {
        ref_key: "f3".into(),
        council_id: 1,
        meeting_id: 1,
        item: FixedItem::AnyOtherBusiness,
        position: 5,
        year: 2027,
        number: 12,
    }));
}

#[test]
fn a_meeting_just_after_new_year_in_oslo_is_numbered_in_the_new_year() {
    // 23:30 UTC on 31 December is 00:30 on 1 January in Oslo.
    let m = meeting(1, "2027-12-31T23:30:00Z");
    assert_eq!(agenda_year(m.starts_at, m.tz), 2028);
    assert_eq!(agenda_year(at("2027-12-31T22:30:00Z"), m.tz), 2027);
    let closed = close_agenda(&Closing {
        meeting: &m,
        items: &[],
        council_items: &[],
        // What the store says for 2028: nothing numbered yet.
        highest: None,
        next_meeting: None,
        keys: keys(),
    })
    .expect("closes");
    let numbers: Vec<(i32, i64)> = closed.agenda.iter().map(|p| (p.year, p.number)).collect();
    assert_eq!(numbers, vec![(2028, 1), (2028, 2), (2028, 3)]);
}

#[test]
fn waiting_items_join_and_a_closed_agenda_stays_closed() {
    let m = meeting(1, "2027-03-09T09:00:00Z");
    let waiting = vec![
        item(8, None, "Ventet på et møte", State::Approved),
        item(9, None, "Ikke avgjort", State::Proposed),
        item(10, None, "Avvist før", State::Rejected),
        item(11, Some(2), "Til et annet møte", State::Approved),
    ];
    let closed = close_agenda(&Closing {
        meeting: &m,
        items: &[],
        council_items: &waiting,
        highest: None,
        next_meeting: Some(2),
        keys: keys(),
    })
    .expect("closes");
    let moved: Vec<&Change> = closed
        .plan
        .changes
        .iter()
        .filter(|c| matches!(c, Change::Move { .. }))
        .collect();
    assert_eq!(
        moved,
        vec![
            &Change::Move {
                id: 8,
                meeting_id: Some(1)
            },
            &Change::Move {
                id: 9,
                meeting_id: Some(1)
            },
        ]
    );
    assert!(closed.agenda.iter().any(|p| p.slot == Slot::Item(8)));
    assert_eq!(closed.agenda.len(), 4);
    let mut numbered = item(1, Some(1), "Godkjenning", State::Fixed);
    numbered.fixed = true;
    numbered.number = Some(1);
    assert!(close_agenda(&Closing {
        meeting: &m,
        items: &[numbered],
        council_items: &waiting,
        highest: Some(1),
        next_meeting: None,
        keys: keys(),
    })
    .is_none());
}

fn invitee(name: &str, response: Option<Response>) -> Invitee {
    Invitee {
        name: name.into(),
        email: format!("{}@hf.example", name.to_lowercase()),
        asked: true,
        response,
        attendance: None,
        substitute: None,
    }
}

#[test]
fn the_attendance_list_counts_and_goes_to_each_coordinator_in_their_language() {
    let m = meeting(1, "2027-03-09T09:00:00Z");
    let mut digital = invitee("Kari", Some(Response::Accepted));
    digital.attendance = Some(Attendance::Digital);
    let mut sub = invitee("Lene", Some(Response::Declined));
    sub.substitute = Some("Per Vara".into());
    let mut observer = invitee("Hdir", None);
    observer.asked = false;
    let invitees = vec![
        digital,
        sub,
        invitee("Bjørn", Some(Response::Declined)),
        invitee("Siri", Some(Response::Tentative)),
        invitee("Ola", None),
        observer,
    ];
    let coordinators = two_coordinators();
    let plan = attendance_list(
        &m,
        &invitees,
        &["Per Hansen".into()],
        &coordinators,
        at("2027-03-07T09:00:00Z"),
    );
    assert_eq!(plan.outcome, "attendance list to 2 coordinator(s)");
    assert_eq!(plan.mails.len(), 2);
    assert_eq!(plan.mails[1].to.lang, Language::En);
    assert_eq!(plan.mails[1].effect_key, "attendance:1:11");
    let data = &plan.mails[0].data;
    assert_eq!(
        (
            &data["attending"],
            &data["absent"],
            &data["unanswered"],
            &data["unsure"],
            &data["substitutes"]
        ),
        (&json!(1), &json!(2), &json!(1), &json!(1), &json!(1))
    );
    assert_eq!(data["members"].as_array().map(Vec::len), Some(5));
    let texts = renders(&plan.mails[..1]);
    let (_, subject, nb) = &texts[0];
    assert_eq!(
        subject,
        "Deltakerliste: Utdanningsrådet tirsdag 9. mars 2027"
    );
    assert!(
        nb.contains(
            "1 kommer, 2 har meldt forfall, 1 har ikke svart. 1 vet ikke ennå. 1 vara møter."
        ),
        "{nb}"
    );
    assert!(
        nb.contains("  Kari <kari@hf.example>: kommer (digitalt)\n"),
        "{nb}"
    );
    assert!(
        nb.contains("  Lene <lene@hf.example>: forfall, vara: Per Vara\n"),
        "{nb}"
    );
    assert!(nb.contains("  Per Hansen: bisitter\n"), "{nb}");
    assert!(!nb.contains("Hdir"), "observers are not listed: {nb}");
    let (_, _, nn) = &texts[1];
    assert!(
        nn.contains("1 kjem, 2 har meldt forfall, 1 har ikkje svart."),
        "{nn}"
    );
    // Too late, or cancelled: nothing goes out.
    assert!(
        attendance_list(&m, &invitees, &[], &coordinators, m.starts_at)
            .mails
            .is_empty()
    );
    let cancelled = Meeting {
        scheduled: false,
        ..m.clone()
    };
    assert!(attendance_list(
        &cancelled,
        &invitees,
        &[],
        &coordinators,
        at("2027-03-07T09:00:00Z")
    )
    .mails
    .is_empty());
}

fn deciding<'a>(
    it: &'a Item,
    coordinators: &'a [Person],
    decision: Decision,
    by: &'a str,
) -> Deciding<'a> {
    Deciding {
        item: it,
        council_name: "Utdanningsrådet",
        decision,
        by,
        inbound_id: Some(42),
        next_meeting: Some(2),
        agenda_closed: false,
        next_open: Some(3),
        proposer_lang: Language::Nn,
        coordinators,
        reason: None,
    }
}

#[test]
fn decisions_move_the_item_where_they_should() {
    let coordinators = two_coordinators();
    let it = item(5, Some(1), "Veileder for LIS1", State::Proposed);
    let move_of = |d: Deciding<'_>| match decide(&d).0.changes.first() {
        Some(Change::Decide { move_to, state, .. }) => (*state, *move_to),
        other => panic!("{other:?}"),
    };
    let by = "koord@hf.example";
    assert_eq!(
        move_of(deciding(&it, &coordinators, Decision::Approve, by)),
        (State::Approved, None)
    );
    // Approved after the agenda closed: on the next open agenda.
    let mut late = deciding(&it, &coordinators, Decision::Approve, by);
    late.agenda_closed = true;
    assert_eq!(move_of(late), (State::Approved, Some(Some(3))));
    assert_eq!(
        move_of(deciding(&it, &coordinators, Decision::Defer, by)),
        (State::Deferred, Some(Some(2)))
    );
    // Rejected: it stays where it is, off the agenda.
    assert_eq!(
        move_of(deciding(&it, &coordinators, Decision::Reject, by)),
        (State::Rejected, None)
    );
    let mut numbered = it.clone();
    numbered.number = Some(3);
    let (held, told) = decide(&deciding(&numbered, &coordinators, Decision::Reject, by));
    assert!(held.is_held() && held.changes.is_empty() && held.mails.is_empty());
    assert!(told.is_none());
}

#[test]
fn a_decision_tells_the_proposer_and_the_other_coordinator() {
    let coordinators = two_coordinators();
    let it = item(5, Some(1), "Veileder for LIS1", State::Proposed);
    let plan = decide_item(&deciding(
        &it,
        &coordinators,
        Decision::Reject,
        "KOORD@hf.example",
    ));
    assert_eq!(
        plan.outcome,
        "agenda item \"Veileder for LIS1\" rejected by KOORD@hf.example"
    );
    let to: Vec<(&str, Language, &str)> = plan
        .mails
        .iter()
        .map(|m| (m.to.email.as_str(), m.to.lang, m.effect_key.as_str()))
        .collect();
    assert_eq!(
        to,
        vec![
            ("ola@hf.example", Language::Nn, "decision:5:rejected:42"),
            (
                "kim@hf.example",
                Language::En,
                "decision-told:5=rejected:42:11"
            ),
        ]
    );
    let texts = renders(&plan.mails);
    let (_, subject, nn) = &texts[1];
    assert_eq!(subject, "Forslag til sak: Veileder for LIS1");
    assert!(nn.contains("er ikkje teke med på sakslista"), "{nn}");
    let (_, subject, en) = &texts[5];
    assert_eq!(subject, "Decided: Veileder for LIS1");
    assert!(
        en.contains("Eldbjørg Koordinator has decided on a proposal for Utdanningsrådet:\n\n  \"Veileder for LIS1\" (Ola Nordmann): rejected\n"),
        "{en}"
    );
    // From the command line both coordinators hear of it.
    let cli = decide_item(&Deciding {
        inbound_id: None,
        ..deciding(&it, &coordinators, Decision::Approve, "command line (kari)")
    });
    assert_eq!(cli.mails.len(), 3);
    assert!(cli
        .mails
        .iter()
        .all(|m| m.effect_key.ends_with(":cli") || m.effect_key.contains(":cli:")));
}

#[test]
fn one_message_deciding_several_is_one_mail_to_each_other_coordinator() {
    let coordinators = two_coordinators();
    let mut own = item(6, Some(1), "Kims eget forslag", State::Proposed);
    own.proposer_email = Some("kim@hf.example".into());
    own.proposer_name = Some("Kim Koordinator".into());
    let told: Vec<Told> = [
        (
            item(5, Some(1), "Veileder", State::Proposed),
            Decision::Approve,
        ),
        (own, Decision::Defer),
        (
            item(7, Some(1), "Parkering", State::Proposed),
            Decision::Reject,
        ),
    ]
    .iter()
    .filter_map(|(it, d)| decide(&deciding(it, &coordinators, *d, "koord@hf.example")).1)
    .collect();
    let mails = tell_coordinators(
        "Utdanningsrådet",
        "koord@hf.example",
        &coordinators,
        &told,
        Some(42),
    );
    assert_eq!(mails.len(), 1);
    // Kim's own proposal is left out: Kim heard of it as its proposer.
    assert_eq!(mails[0].data["items"].as_array().map(Vec::len), Some(2));
    let texts = renders(&mails);
    let (_, subject, nb) = &texts[0];
    assert_eq!(subject, "Avgjort: 2 forslag til sak i Utdanningsrådet");
    assert!(
        nb.contains(
            "  «Veileder» (Ola Nordmann): godkjent\n  «Parkering» (Ola Nordmann): avvist\n"
        ),
        "{nb}"
    );
}

#[test]
fn a_reply_to_an_approval_request() {
    use ApprovalReply::*;
    let d = Some(Decision::Approve);
    assert!(matches!(
        reply_to_approval("T", "x@y", false, true, d),
        Held(HeldReason::NotCoordinator, _)
    ));
    assert_eq!(
        reply_to_approval("T", "x@y", true, false, d),
        Confirm(Decision::Approve)
    );
    assert_eq!(
        reply_to_approval("T", "x@y", true, true, d),
        Decide(Decision::Approve)
    );
    assert!(matches!(
        reply_to_approval("T", "x@y", true, true, None),
        Held(HeldReason::NoDecision, _)
    ));
}

#[test]
fn the_approval_digest_numbers_the_proposals_and_waits_an_hour() {
    let coordinators = two_coordinators();
    let now = at("2027-02-01T10:00:00Z");
    let mut late = item(8, Some(1), "Turnus i sommer", State::Proposed);
    late.late = true;
    let pending = vec![
        Pending {
            item: item(7, Some(1), "Veileder for LIS1", State::Proposed),
            unverified: false,
        },
        Pending {
            item: late,
            unverified: true,
        },
    ];
    assert!(approval_digest("Utdanningsrådet", &pending, &coordinators, 1, now).is_none());
    let plan =
        approval_digest("Utdanningsrådet", &pending, &coordinators, 0, now).expect("a digest");
    assert_eq!(plan.mails.len(), 2);
    assert_eq!(plan.mails[0].reference.as_deref(), Some("7,8"));
    assert_eq!(
        plan.mails[0].expires_at,
        Some(now + Duration::days(DIGEST_DAYS))
    );
    assert_eq!(
        plan.changes,
        vec![Change::MarkRequested {
            ref_keys: vec!["key7".into(), "key8".into()]
        }]
    );
    let texts = renders(&plan.mails[..1]);
    let (_, subject, nb) = &texts[0];
    assert_eq!(subject, "Godkjenning: 2 forslag til sak i Utdanningsrådet");
    assert!(
        nb.contains("1. «Veileder for LIS1» – Ola Nordmann <ola@hf.example>\n"),
        "{nb}"
    );
    assert!(nb.contains("   NB: ikke autentisert"), "{nb}");
    assert!(nb.contains("   Kom etter fristen.\n"), "{nb}");
    let one =
        approval_digest("Utdanningsrådet", &pending[..1], &coordinators, 0, now).expect("a digest");
    let (_, _, nb) = &renders(&one.mails[..1])[0];
    assert!(nb.contains("1 nytt forslag til sak"), "{nb}");
}

#[test]
fn the_leader_decides_on_an_extra_attendee_else_the_coordinators() {
    let coordinator = person(10, "Eldbjørg", "koord@hf.example", Language::Nb);
    let leader = person(12, "Lene Leder", "lene@hf.example", Language::Nb);
    let member = person(13, "Ola", "ola@hf.example", Language::Nb);
    let mut members = vec![
        (Role::Coordinator, coordinator.clone()),
        (Role::Member, member.clone()),
    ];
    assert_eq!(extra_deciders(&members), vec![coordinator]);
    members.push((Role::Leader, leader.clone()));
    assert_eq!(extra_deciders(&members), vec![leader.clone()]);
    let m = meeting(1, "2027-03-09T09:00:00Z");
    let extra = Substitute {
        name: "Per Hansen".into(),
        email: Some("per@hf.example".into()),
    };
    let (change, mails) = announce_extra(
        &m,
        4,
        "Ola",
        &extra,
        42,
        std::slice::from_ref(&leader),
        "xkey",
    );
    assert!(matches!(
        change,
        Change::NewExtra {
            invitation_id: 4,
            ..
        }
    ));
    assert_eq!(mails[0].reference.as_deref(), Some("xkey"));
    let (_, subject, nb) = &renders(&mails)[0];
    assert_eq!(subject, "Bisitter: Per Hansen (tirsdag 9. mars 2027)");
    assert!(
        nb.contains("Ola ønsker å ta med Per Hansen <per@hf.example> som bisitter"),
        "{nb}"
    );

    let x = Extra {
        id: 3,
        name: "Per Hansen".into(),
        email: Some("per@hf.example".into()),
        approved: None,
    };
    let deciders = [leader];
    let reply = |from: &'static str, authenticated, decision, x: &Extra| {
        reply_about_extra(&ExtraReplying {
            extra: x,
            meeting: &m,
            member: &member,
            from,
            deciders: &deciders,
            authenticated,
            decision,
            inbound_id: 43,
            now: at("2027-03-01T09:00:00Z"),
        })
    };
    let approve = Some(Decision::Approve);
    assert!(matches!(
        reply("ola@hf.example", true, approve, &x),
        ExtraReply::Plan { plan, .. } if plan.is_held()
    ));
    assert_eq!(
        reply("lene@hf.example", false, approve, &x),
        ExtraReply::Confirm
    );
    assert!(matches!(
        reply("lene@hf.example", true, Some(Decision::Defer), &x),
        ExtraReply::Plan { plan, .. } if plan.is_held()
    ));
    let ExtraReply::Plan { plan, summons } = reply("lene@hf.example", true, approve, &x) else {
        panic!("a plan");
    };
    assert!(summons && !plan.is_held());
    assert_eq!(
        plan.changes,
        vec![Change::DecideExtra {
            id: 3,
            approved: true,
            by: "lene@hf.example".into()
        }]
    );
    let (_, _, nb) = &renders(&plan.mails)[0];
    assert!(
        nb.contains(
            "Per Hansen er godkjent som bisitter på møtet i Utdanningsrådet tirsdag 9. mars 2027."
        ),
        "{nb}"
    );
    let already = Extra {
        approved: Some(true),
        ..x.clone()
    };
    let ExtraReply::Plan { plan, summons } = reply("lene@hf.example", true, approve, &already)
    else {
        panic!("a plan");
    };
    assert!(!summons && plan.changes.is_empty() && plan.mails.is_empty());

    // Without a leader the coordinators decide: the one who did not hears of it.
    let other = person(11, "Kim", "kim@hf.example", Language::En);
    let coordinators = [
        person(10, "Eldbjørg Koordinator", "koord@hf.example", Language::Nb),
        other,
    ];
    let ExtraReply::Plan { plan, .. } = reply_about_extra(&ExtraReplying {
        extra: &x,
        meeting: &m,
        member: &member,
        from: "koord@hf.example",
        deciders: &coordinators,
        authenticated: true,
        decision: Some(Decision::Reject),
        inbound_id: 44,
        now: at("2027-03-01T09:00:00Z"),
    }) else {
        panic!("a plan");
    };
    let to: Vec<(&str, &str)> = plan
        .mails
        .iter()
        .map(|m| (m.to.email.as_str(), m.effect_key.as_str()))
        .collect();
    assert_eq!(
        to,
        vec![
            ("ola@hf.example", "extra-decision:3:rejected"),
            ("kim@hf.example", "extra-decision-told:3:rejected:11"),
        ]
    );
    let texts = renders(&plan.mails);
    let (_, _, member_nb) = &texts[0];
    assert!(
        member_nb.contains("Per Hansen er ikke godkjent som bisitter"),
        "{member_nb}"
    );
    let (_, subject, told_en) = &texts[5];
    assert_eq!(subject, "Extra attendee: Per Hansen");
    assert!(
        told_en.contains("Eldbjørg Koordinator has rejected Per Hansen as an extra attendee for Ola at the meeting of Utdanningsrådet on Tuesday 9 March 2027. This is for your information"),
        "{told_en}"
    );
    let (_, _, told_nn) = &texts[4];
    assert!(
        told_nn.contains("har avvist Per Hansen som bisittar for Ola"),
        "{told_nn}"
    );
}

fn membership(council_id: i64, role: Role, name: &str) -> Membership {
    Membership {
        council_id,
        role,
        name: name.into(),
        lang: Language::Nb,
    }
}

#[test]
fn who_files_a_proposal() {
    let mut u = Understanding {
        from_name: Some("Ola N.".into()),
        subject: "VS: Veileder".into(),
        ..Understanding::default()
    };
    let ola = [membership(1, Role::Member, "Ola Nordmann")];
    let koord = [membership(1, Role::Coordinator, "Eldbjørg")];
    let filing = |u: &Understanding, sender, proposer, authenticated, today| {
        file_proposal(&Filing {
            u,
            from: if u.on_behalf_of.is_some() {
                "koord@hf.example"
            } else {
                "ola@hf.example"
            },
            call_council: None,
            sender,
            proposer,
            authenticated,
            proposals_today: today,
            proposals_per_day: 5,
            lang: Language::Nb,
        })
    };
    let Filed::Proposer(p) = filing(&u, &ola, &ola, false, 0) else {
        panic!("filed");
    };
    assert_eq!(
        (p.email.as_str(), p.name.as_str(), p.council_id),
        ("ola@hf.example", "Ola Nordmann", 1)
    );
    assert!(
        matches!(filing(&u, &ola, &ola, true, 5), Filed::Held(HeldReason::TooManyProposals, w) if w.contains("at most 5 a day"))
    );
    assert!(
        matches!(filing(&u, &[], &[], true, 0), Filed::Held(HeldReason::NotMember, w) if w.contains("not a member of any council"))
    );
    let two = [
        membership(1, Role::Member, "Ola"),
        membership(2, Role::Member, "Ola"),
    ];
    assert!(
        matches!(filing(&u, &two, &two, true, 0), Filed::Held(HeldReason::SeveralCouncils, w) if w.contains("several councils"))
    );
    // Forwarded by a coordinator: credited to the original sender, once authenticated.
    u.on_behalf_of = Some("ola@hf.example".into());
    assert_eq!(
        filing(&u, &koord, &ola, false, 9),
        Filed::Confirm {
            coordinator: "koord@hf.example".into(),
            proposer: "ola@hf.example".into(),
            title: "Veileder".into()
        }
    );
    let Filed::Proposer(p) = filing(&u, &koord, &ola, true, 9) else {
        panic!("filed");
    };
    assert_eq!(p.forwarded_by.as_deref(), Some("koord@hf.example"));
    // … and held when the forwarder is no coordinator.
    assert!(
        matches!(filing(&u, &ola, &ola, true, 0), Filed::Held(HeldReason::NotCoordinator, w) if w.contains("not a coordinator"))
    );
}

#[test]
fn a_proposal_is_filed_receipted_and_sent_for_approval() {
    let coordinators = two_coordinators();
    let m = meeting(1, "2027-03-09T09:00:00Z");
    let who = Proposer {
        email: "ola@hf.example".into(),
        name: "Ola Nordmann".into(),
        lang: Language::En,
        forwarded_by: None,
        council_id: 1,
    };
    let u = Understanding {
        message_id: Some("<p1@hf.example>".into()),
        subject: "SV: Forslag til saker".into(),
        reply_text: "Veileder for LIS1\nRådet bør drøfte den nye veilederen.".into(),
        ..Understanding::default()
    };
    let deadline = at("2027-02-16T22:59:00Z");
    let proposing = |now, receipts_recent, asked| Proposing {
        u: &u,
        inbound_id: 42,
        proposer: &who,
        council_name: "Utdanningsrådet",
        target: Some(&m),
        deadline: Some(deadline),
        call_reply: true,
        authenticated: false,
        receipts_recent,
        receipts_per_hour: 6,
        coordinators: &coordinators,
        approval_mails_last_hour: asked,
        key: "pkey",
        now,
    };
    let plan = propose(&proposing(at("2027-02-10T09:00:00Z"), 0, 0));
    assert_eq!(
        plan.outcome,
        "agenda proposal \"Veileder for LIS1\" from ola@hf.example (unverified) for the meeting of 2027-03-09"
    );
    let Some(Change::NewProposal {
        title,
        description,
        late,
        meeting_id,
        ..
    }) = plan.changes.first()
    else {
        panic!("{:?}", plan.changes);
    };
    assert_eq!(
        (title.as_str(), description.as_str(), *late, *meeting_id),
        (
            "Veileder for LIS1",
            "Rådet bør drøfte den nye veilederen.",
            false,
            Some(1)
        )
    );
    let kinds: Vec<(&str, &str)> = plan
        .mails
        .iter()
        .map(|m| (m.kind, m.to.email.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("receipt", "ola@hf.example"),
            ("approval", "koord@hf.example"),
            ("approval", "kim@hf.example")
        ]
    );
    assert_eq!(
        plan.mails[0].in_reply_to.as_deref(),
        Some("<p1@hf.example>")
    );
    assert_eq!(plan.mails[1].reference.as_deref(), Some("pkey"));
    let texts = renders(&plan.mails);
    let (_, subject, en) = &texts[2];
    assert_eq!(subject, "Agenda proposal received: Veileder for LIS1");
    assert!(
        en.contains("for Utdanningsrådet (Tuesday 9 March 2027)."),
        "{en}"
    );
    let (_, _, nb) = &texts[3];
    assert!(
        nb.contains("NB: Vi kan ikke bekrefte at forslaget kommer fra avsenderen"),
        "{nb}"
    );

    // After the deadline: late; receipts capped; the coordinators asked in the digest.
    let plan = propose(&proposing(at("2027-02-17T09:00:00Z"), 6, AT_ONCE_PER_HOUR));
    assert!(plan.outcome.ends_with("(late); no receipt (too many to this address this hour); the coordinators are asked in the next approval digest"), "{}", plan.outcome);
    assert!(plan.mails.is_empty());
    assert!(!plan
        .changes
        .iter()
        .any(|c| matches!(c, Change::MarkRequested { .. })));
}

#[test]
fn a_proposal_without_a_title_is_named_by_its_document_or_held() {
    let coordinators = two_coordinators();
    let who = Proposer {
        email: "ola@hf.example".into(),
        name: "Ola".into(),
        lang: Language::Nb,
        forwarded_by: None,
        council_id: 1,
    };
    let empty = Understanding::default();
    let mut u = Understanding::default();
    u.attachments.push(crate::understand::FileInfo {
        name: "notat.pdf".into(),
        content_type: "application/pdf".into(),
        size: 10,
        text: None,
    });
    let proposing = |u| Proposing {
        u,
        inbound_id: 42,
        proposer: &who,
        council_name: "Utdanningsrådet",
        target: None,
        deadline: None,
        call_reply: false,
        authenticated: true,
        receipts_recent: 0,
        receipts_per_hour: 6,
        coordinators: &coordinators,
        approval_mails_last_hour: 0,
        key: "pkey",
        now: at("2027-02-10T09:00:00Z"),
    };
    assert_eq!(
        propose(&proposing(&empty)).held,
        Some(Held::because(HeldReason::NoTitle))
    );
    let plan = propose(&proposing(&u));
    assert!(
        plan.outcome.starts_with("agenda proposal \"notat.pdf\""),
        "{}",
        plan.outcome
    );
    // For no meeting yet: "the next meeting".
    let (_, _, nb) = &renders(&plan.mails[..1])[0];
    assert!(nb.contains("til Utdanningsrådet (neste møte)."), "{nb}");
}

#[test]
fn the_first_line_is_the_title_of_a_reply_to_the_call() {
    let i =
        first_line_item("  Forslag til sak: Turnus\n\nKan vi ta opp turnus?\n").expect("an item");
    assert_eq!(
        (i.title.as_str(), i.description.as_str()),
        ("Turnus", "Kan vi ta opp turnus?")
    );
    assert!(first_line_item(" \n ").is_none());
}

#[test]
fn fixed_items_are_named_by_the_templates() {
    for f in [
        FixedItem::ApproveSummons,
        FixedItem::ApproveMinutes,
        FixedItem::AnyOtherBusiness,
    ] {
        assert_eq!(FixedItem::parse(f.code()), Some(f));
    }
    assert_eq!(FixedItem::parse("Eventuelt"), None);
    let r = Renderer::new().expect("templates");
    let common = Common {
        name: String::new(),
        full_name: String::new(),
        secretariat: String::new(),
        ..Default::default()
    };
    let data = json!({"items": [
        {"label": "12/27", "code": "any_other_business", "title": "any_other_business", "proposer": null, "attachments": []},
        {"label": "13/27", "code": null, "title": "Eventuelt", "proposer": null, "attachments": []},
    ]});
    let lines = |lang| {
        r.render_kind(lang, "agenda", &common, &data)
            .expect("renders")
            .body
    };
    assert_eq!(
        lines(Language::Nb),
        "Sak 12/27 Eventuelt\nSak 13/27 Eventuelt\n"
    );
    assert_eq!(
        lines(Language::En),
        "Item 12/27 Any other business\nItem 13/27 Eventuelt\n"
    );
}

#[test]
fn a_rejection_carries_the_coordinators_reason() {
    let coordinators = two_coordinators();
    let it = item(5, Some(1), "Veileder for LIS1", State::Proposed);
    let reason = "Dette er en sak for helseforetaket, ikke rådet.";
    let plan = decide_item(&Deciding {
        reason: Some(reason),
        ..deciding(&it, &coordinators, Decision::Reject, "koord@hf.example")
    });
    assert!(
        plan.outcome.ends_with(&format!(": {reason}")),
        "{}",
        plan.outcome
    );
    assert!(plan.events.iter().all(|e| e.detail.contains(reason)));
    let texts = renders(&plan.mails);
    // The proposer (nb, nn, en) and the other coordinator (nb, nn, en) all read it.
    let [(_, _, nb), (_, _, nn), (_, _, en), (_, _, told_nb), _, (_, _, told_en)] =
        texts.as_slice()
    else {
        panic!("{texts:?}");
    };
    assert!(
        nb.contains(&format!("sakslisten.\n\nBegrunnelse: {reason}\n")),
        "{nb}"
    );
    assert!(nn.contains(&format!("Grunngiving: {reason}")), "{nn}");
    assert!(en.contains(&format!("Reason: {reason}")), "{en}");
    assert!(told_nb.contains(&format!("avvist – {reason}")), "{told_nb}");
    assert!(
        told_en.contains(&format!("rejected – {reason}")),
        "{told_en}"
    );

    // An approval's words are not passed on; neither is a reason without words.
    let plan = decide_item(&Deciding {
        reason: Some("fint forslag"),
        ..deciding(&it, &coordinators, Decision::Approve, "koord@hf.example")
    });
    assert!(renders(&plan.mails)
        .iter()
        .all(|(_, _, b)| !b.contains("fint forslag")));
    let plan = decide_item(&Deciding {
        reason: Some("  "),
        ..deciding(&it, &coordinators, Decision::Reject, "koord@hf.example")
    });
    let texts = renders(&plan.mails);
    let (_, _, nb) = &texts[0];
    assert!(!nb.contains("Begrunnelse"), "{nb}");
    assert!(
        nb.contains("er ikke tatt med på sakslisten.\n\nDenne meldingen"),
        "{nb}"
    );
}
