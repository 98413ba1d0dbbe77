//! The storage suite, run against SQLite and against PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use referent::domain::{Answer, Attendance, Place, Response, Role};
use referent::domain::{ItemKind, ItemState, JobKind};
use referent::store::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

fn mail(key: &str, id: &str) -> OutgoingMail {
    OutgoingMail {
        effect_key: key.into(),
        message_id: id.into(),
        kind: "receipt".into(),
        recipient: "ola@example.no".into(),
        envelope_from: "referent@council.no".into(),
        raw: b"Subject: x\r\n\r\nbody".to_vec(),
        meeting_id: None,
        invitation_id: None,
        inbound_id: None,
        grant: None,
    }
}

async fn suite(store: Store) {
    let now = t("2027-01-01T10:00:00Z");
    let c = store
        .add_council("ur", "Utdanningsrådet", now)
        .await
        .expect("council");
    assert!(
        store.add_council("ur", "again", now).await.is_err(),
        "slugs are unique"
    );
    let member = |name: &str, email: &str, role| NewMember {
        name: name.into(),
        email: email.into(),
        organisation: Some("OUS".into()),
        role,
        doctor: true,
        language: None,
        vara: None,
    };
    let ids = store
        .add_members(
            c,
            &[
                member("Ola", "ola@example.no", Role::Leader),
                member("Kari", "kari@example.no", Role::Member),
            ],
            now,
        )
        .await
        .expect("members");
    assert_eq!(ids.len(), 2);
    // All or nothing: a duplicate in a batch adds none of it.
    let r = store
        .add_members(
            c,
            &[
                member("Per", "per@example.no", Role::Member),
                member("Ola", "ola@example.no", Role::Member),
            ],
            now,
        )
        .await;
    assert!(r.is_err());
    assert_eq!(store.members(c).await.expect("members").len(), 2);

    let starts = t("2027-01-12T09:00:00Z");
    let m = store
        .add_meeting(
            &NewMeeting {
                council_id: c,
                title: "Møte".into(),
                starts_at: starts,
                ends_at: starts + Duration::hours(2),
                time_zone: "Europe/Oslo".into(),
                place: Place {
                    room: Some("Ullevål".into()),
                    digital_link: None,
                },
                uid: format!("{}@council.no", rand::random::<u64>()),
            },
            &[
                (JobKind::Summons, starts - Duration::days(14)),
                (JobKind::Reminder, starts - Duration::days(5)),
            ],
            now,
        )
        .await
        .expect("meeting");
    let due = store.due_jobs(now).await.expect("due");
    assert_eq!(due.len(), 1, "only the summons is due");

    // A job completes once: the second completion does nothing.
    let inv = NewInvitation {
        meeting_id: m,
        member_id: ids[0],
        token: "a".repeat(32),
    };
    let done = store
        .complete_job(
            Some(due[0].id),
            &[(inv.clone(), mail("summons:1", "s1@council.no"))],
            &[],
            &[],
            &[],
            now,
        )
        .await
        .expect("complete");
    assert!(done);
    let again = store
        .complete_job(
            Some(due[0].id),
            &[(inv, mail("summons:1b", "s1b@council.no"))],
            &[],
            &[],
            &[],
            now,
        )
        .await
        .expect("complete again");
    assert!(!again, "a job never runs twice");
    assert_eq!(store.outbox().await.expect("outbox").len(), 1);
    let invs = store.invitations(m).await.expect("invitations");
    assert_eq!(invs.len(), 1);
    let by_msg = store
        .invitation_by_sent_message("s1@council.no")
        .await
        .expect("lookup");
    assert_eq!(by_msg.map(|i| i.id), Some(invs[0].id));

    // Inbound: stored once, however often it arrives.
    let raw = b"Message-ID: <r1@x>\r\n\r\nJa".to_vec();
    let new = NewInbound {
        dedup_key: "r1@x|h".into(),
        message_id: Some("r1@x".into()),
        content_hash: "h".into(),
        raw: &raw,
        source: "test".into(),
        received_at: now,
    };
    let (id1, st1) = store.store_inbound(&new).await.expect("store");
    let (id2, st2) = store.store_inbound(&new).await.expect("store again");
    assert_eq!((id1, st1), (id2, st2));
    assert_eq!(st1, InboundState::New);
    assert_eq!(
        store.inbound_raw(id1).await.expect("raw"),
        raw,
        "raw bytes kept exactly"
    );

    // The latest answer wins; the history keeps both; outbox rows are unique per effect.
    let answer = |r, at: &str| NewAnswer {
        invitation_id: invs[0].id,
        answer: Answer {
            response: r,
            attendance: Some(Attendance::Digital),
            substitute: None,
        },
        source: "reply".into(),
        sender: "ola@example.no".into(),
        received_at: t(at),
    };
    let outcome = InboundOutcome {
        state: InboundState::Processed,
        kind: "rsvp".into(),
        sender: Some("ola@example.no".into()),
        subject: "SV".into(),
        outcome: "ok".into(),
        problems: vec![],
        invitation_id: Some(invs[0].id),
    };
    store
        .finish_inbound(
            id1,
            &outcome,
            Some(&answer(Response::Accepted, "2027-01-02T10:00:00Z")),
            &[mail("receipt:1", "r1@council.no")],
            &[],
            &[],
            now,
        )
        .await
        .expect("finish");
    let new2 = NewInbound {
        dedup_key: "r2@x|h".into(),
        message_id: Some("r2@x".into()),
        ..new.clone()
    };
    let (id3, _) = store.store_inbound(&new2).await.expect("store 2");
    store
        .finish_inbound(
            id3,
            &outcome,
            Some(&answer(Response::Declined, "2027-01-03T10:00:00Z")),
            &[mail("receipt:1", "dup@council.no")],
            &[],
            &[],
            now,
        )
        .await
        .expect("finish 2");
    let inv = &store.invitations(m).await.expect("invitations")[0];
    assert_eq!(inv.response, Some(Response::Declined));
    assert_eq!(store.answers(m).await.expect("answers").len(), 2);
    assert_eq!(
        store.outbox().await.expect("outbox").len(),
        2,
        "receipt:1 written once"
    );
    // The summons above was written with kind "receipt" too: two in the last hour.
    assert_eq!(
        store
            .count_recent("ola@example.no", "receipt", now - Duration::hours(1))
            .await
            .expect("count"),
        2
    );

    // Outbox state changes.
    let due = store.due_outbox(now, 10).await.expect("due outbox");
    assert_eq!(due.len(), 2);
    store
        .mark_retry(due[0].id, "451 try later", now + Duration::minutes(5))
        .await
        .expect("retry");
    store
        .mark_failed(due[1].id, "550 no such user", now)
        .await
        .expect("failed");
    assert!(store.due_outbox(now, 10).await.expect("due").is_empty());
    assert_eq!(
        store
            .due_outbox(now + Duration::minutes(6), 10)
            .await
            .expect("due")
            .len(),
        1
    );

    // Checkpoints.
    assert_eq!(store.checkpoint("imap://x").await.expect("cp"), None);
    store
        .set_checkpoint("imap://x", 7, 42, now)
        .await
        .expect("set");
    store
        .set_checkpoint("imap://x", 7, 43, now)
        .await
        .expect("set");
    assert_eq!(
        store.checkpoint("imap://x").await.expect("cp"),
        Some((7, 43))
    );
    assert_eq!(
        store
            .mark_failing("kari@example.no", "5.1.1", now)
            .await
            .expect("failing"),
        1
    );
    keys(&store, now).await;
    queue(&store, now).await;
    year(&store, c, m, now).await;
    lease(&store, now).await;
    attendance(&store).await;
    chunks(&store, now).await;
    batch(&store, now).await;
}

/// Inbound in batches: a fetched batch stored with one insert (a repeat inside it and
/// one stored before keep their row), what the batch needs looked up by `IN` lists, and
/// the outcomes of several answers committed with statements of many rows: the latest
/// answer wins, held mail about an answered invitation is settled, a mail already
/// written is not written again and neither is its key, and every outcome is recorded.
async fn batch(store: &Store, now: DateTime<Utc>) {
    let c = store
        .add_council("parti", "Et råd i partier", now)
        .await
        .expect("council");
    let who = |n: &str, role| NewMember {
        name: n.into(),
        email: format!("{}@parti.no", n.to_lowercase()),
        organisation: None,
        role,
        doctor: false,
        language: None,
        vara: None,
    };
    let ids = store
        .add_members(
            c,
            &[
                who("Anne", Role::Member),
                who("Bjørn", Role::Member),
                who("Cecilie", Role::Coordinator),
            ],
            now,
        )
        .await
        .expect("members");
    let starts = t("2027-02-12T09:00:00Z");
    let m = store
        .add_meeting(
            &NewMeeting {
                council_id: c,
                title: "Partimøte".into(),
                starts_at: starts,
                ends_at: starts + Duration::hours(2),
                time_zone: "Europe/Oslo".into(),
                place: Place {
                    room: None,
                    digital_link: None,
                },
                uid: format!("{}@parti.no", rand::random::<u64>()),
            },
            &[],
            now,
        )
        .await
        .expect("meeting");
    let summons = |k: usize| {
        let mut s = mail(&format!("batch-summons:{k}"), &format!("bs{k}@parti.no"));
        s.kind = "summons".into();
        s.recipient = format!("{}@parti.no", ["anne", "bjørn"][k]);
        (
            NewInvitation {
                meeting_id: m,
                member_id: ids[k],
                token: format!("parti{k}").repeat(6),
            },
            s,
        )
    };
    store
        .complete_job(None, &[summons(0), summons(1)], &[], &[], &[], now)
        .await
        .expect("summons");
    let invs = store.invitations(m).await.expect("invitations");
    let (anne, bjorn) = (&invs[0], &invs[1]);

    // Stored: three rows for four messages, one of them stored before.
    let raw = |n: &str| format!("Message-ID: <{n}@parti.no>\r\n\r\nJa").into_bytes();
    let (ra, rb, rc) = (raw("a"), raw("b"), raw("c"));
    let new = |n: &str, raw: &[u8]| NewInbound {
        dedup_key: format!("{n}@parti.no|h"),
        message_id: Some(format!("{n}@parti.no")),
        content_hash: "h".into(),
        raw: raw.to_vec().leak(),
        source: "batch".into(),
        received_at: now,
    };
    let (held, _) = store.store_inbound(&new("c", &rc)).await.expect("store c");
    let stored = store
        .store_inbound_many(&[new("a", &ra), new("b", &rb), new("a", &ra), new("c", &rc)])
        .await
        .expect("store many");
    assert_eq!(stored.len(), 4);
    assert_eq!(stored[0], stored[2], "a repeat in the batch is one row");
    assert_eq!(stored[3].0, held, "a message stored before keeps its row");
    assert!(stored.iter().all(|(_, s)| *s == InboundState::New));
    assert_eq!(store.inbound_raw(stored[1].0).await.expect("raw"), rb);
    let (ia, ib) = (stored[0].0, stored[1].0);

    // Held mail about Anne's invitation, from before her answer.
    let held_outcome = InboundOutcome {
        state: InboundState::Held,
        kind: "rsvp".into(),
        sender: Some("anne@parti.no".into()),
        subject: "SV".into(),
        outcome: "unsure".into(),
        problems: vec!["unsure".into()],
        invitation_id: Some(anne.id),
    };
    store
        .finish_inbound(held, &held_outcome, None, &[], &[], &[], now)
        .await
        .expect("held");

    // What the batch needs.
    let sent = store
        .sent_messages(&["bs0@parti.no", "bs1@parti.no", "nobody@parti.no"])
        .await
        .expect("sent");
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent.get("bs1@parti.no"),
        Some(&(Some(bjorn.id), "bjørn@parti.no".to_string()))
    );
    let found = store
        .invitations_by(&[anne.id], &[bjorn.token.as_str(), anne.token.as_str()])
        .await
        .expect("invitations by");
    let mut found_ids: Vec<i64> = found.iter().map(|i| i.id).collect();
    found_ids.sort_unstable();
    assert_eq!(found_ids, vec![anne.id, bjorn.id], "each invitation once");
    assert_eq!(
        store
            .meetings_by_ids(&[m, m, -1])
            .await
            .expect("meetings")
            .len(),
        1
    );
    let coordinators = store
        .coordinators_by_emails(&["cecilie@parti.no", "anne@parti.no", "x@parti.no"])
        .await
        .expect("coordinators by");
    assert_eq!(coordinators.len(), 1, "Anne is a member: {coordinators:?}");
    assert_eq!(coordinators["cecilie@parti.no"][0].council_id, c);

    // Both answers, committed together.
    let answer = |inv: &Invitation, r, at: &str| NewAnswer {
        invitation_id: inv.id,
        answer: Answer {
            response: r,
            attendance: Some(Attendance::InPerson),
            substitute: None,
        },
        source: "reply".into(),
        sender: inv.member_email.clone(),
        received_at: t(at),
    };
    let done = |inv: &Invitation| InboundOutcome {
        state: InboundState::Processed,
        kind: "rsvp".into(),
        sender: Some(inv.member_email.clone()),
        subject: "SV: Partimøte".into(),
        outcome: format!("answer from {}", inv.member_email),
        problems: vec![],
        invitation_id: Some(inv.id),
    };
    let (aa, ab) = (
        answer(anne, Response::Accepted, "2027-01-02T10:00:00Z"),
        answer(bjorn, Response::Declined, "2027-01-02T11:00:00Z"),
    );
    let (oa, ob) = (done(anne), done(bjorn));
    let mut receipt_a = mail("batch-receipt:a", "ra@parti.no");
    receipt_a.recipient = "anne@parti.no".into();
    receipt_a.grant = Some(KeyGrant {
        key: "k".repeat(32),
        address: "anne@parti.no".into(),
        purpose: "confirm".into(),
        reference: "a".into(),
        expires_at: Some(now + Duration::days(3)),
    });
    // Bjørn's receipt repeats an effect written before: neither it nor its key again.
    let mut receipt_b = mail("batch-summons:1", "rb@parti.no");
    receipt_b.grant = Some(KeyGrant {
        key: "j".repeat(32),
        ..receipt_a.grant.clone().expect("grant")
    });
    let mails_a = [receipt_a];
    let mails_b = [receipt_b];
    let events_a = [NewEvent {
        actor: "anne@parti.no".into(),
        kind: "answer".into(),
        meeting_id: Some(m),
        invitation_id: Some(anne.id),
        inbound_id: Some(ia),
        detail: "accepted".into(),
    }];
    let changes_a = [Change::SettleHeld {
        invitation_id: anne.id,
        by_inbound: ia,
    }];
    let outbox_before = store.outbox().await.expect("outbox").len();
    store
        .finish_inbound_many(
            &[
                Finish {
                    inbound_id: ia,
                    outcome: &oa,
                    answer: Some(&aa),
                    mails: &mails_a,
                    events: &events_a,
                    changes: &changes_a,
                },
                Finish {
                    inbound_id: ib,
                    outcome: &ob,
                    answer: Some(&ab),
                    mails: &mails_b,
                    events: &[],
                    changes: &[],
                },
            ],
            now,
        )
        .await
        .expect("finish many");
    let invs = store.invitations(m).await.expect("invitations");
    assert_eq!(invs[0].response, Some(Response::Accepted));
    assert_eq!(invs[0].attendance, Some(Attendance::InPerson));
    assert_eq!(invs[1].response, Some(Response::Declined));
    assert!(invs.iter().all(|i| i.answer_id.is_some()));
    assert_eq!(store.answers(m).await.expect("answers").len(), 2);
    assert_eq!(
        store.outbox().await.expect("outbox").len(),
        outbox_before + 1,
        "Anne's receipt written, Bjørn's repeat not"
    );
    let k = "k".repeat(32);
    let j = "j".repeat(32);
    let keys = store
        .keys_present(&[k.as_str(), j.as_str()])
        .await
        .expect("keys");
    assert_eq!(keys.len(), 1, "only the written mail's key: {keys:?}");
    assert!(keys.contains(&k));
    assert_eq!(
        store
            .counts_recent(
                &["anne@parti.no", "bjørn@parti.no"],
                "receipt",
                now - Duration::hours(1)
            )
            .await
            .expect("counts")
            .get("anne@parti.no"),
        Some(&1)
    );
    let events = store.events(Some(m)).await.expect("events");
    assert!(events
        .iter()
        .any(|e| e.kind == "answer" && e.inbound_id == Some(ia)));
    for (id, inv) in [(ia, anne), (ib, bjorn)] {
        let row = store.inbound(id).await.expect("inbound");
        assert_eq!(row.state, InboundState::Processed);
        assert_eq!(row.invitation_id, Some(inv.id));
        assert_eq!(row.subject.as_deref(), Some("SV: Partimøte"));
    }
    let settled = store.inbound(held).await.expect("held row");
    assert_eq!(
        settled.state,
        InboundState::Processed,
        "settled by the answer"
    );

    // An older answer committed later does not replace the newer; both are history.
    let old = answer(anne, Response::Declined, "2027-01-01T09:00:00Z");
    let (io, _) = store
        .store_inbound(&new("old", &raw("old")))
        .await
        .expect("store old");
    store
        .finish_inbound_many(
            &[Finish {
                inbound_id: io,
                outcome: &done(anne),
                answer: Some(&old),
                mails: &[],
                events: &[],
                changes: &[],
            }],
            now,
        )
        .await
        .expect("finish old");
    let invs = store.invitations(m).await.expect("invitations");
    assert_eq!(
        invs[0].response,
        Some(Response::Accepted),
        "the latest wins"
    );
    assert_eq!(store.answers(m).await.expect("answers").len(), 3);

    // Two answers to one invitation in one call are written in turn: the later wins.
    let (i1, _) = store
        .store_inbound(&new("t1", &raw("t1")))
        .await
        .expect("t1");
    let (i2, _) = store
        .store_inbound(&new("t2", &raw("t2")))
        .await
        .expect("t2");
    let (first, second) = (
        answer(bjorn, Response::Accepted, "2027-01-04T10:00:00Z"),
        answer(bjorn, Response::Tentative, "2027-01-04T11:00:00Z"),
    );
    let ob = done(bjorn);
    store
        .finish_inbound_many(
            &[
                Finish {
                    inbound_id: i1,
                    outcome: &ob,
                    answer: Some(&first),
                    mails: &[],
                    events: &[],
                    changes: &[],
                },
                Finish {
                    inbound_id: i2,
                    outcome: &ob,
                    answer: Some(&second),
                    mails: &[],
                    events: &[],
                    changes: &[],
                },
            ],
            now,
        )
        .await
        .expect("finish two");
    let invs = store.invitations(m).await.expect("invitations");
    assert_eq!(invs[1].response, Some(Response::Tentative));
}

/// A job written in chunks (the summons to a large council): each chunk commits while
/// the job is pending; the last completes it; the agenda is closed once; the members
/// still to invite are those without an invitation.
async fn chunks(store: &Store, now: DateTime<Utc>) {
    let c = store
        .add_council("stor", "Et stort råd", now)
        .await
        .expect("council");
    let people: Vec<NewMember> = (0..5)
        .map(|i| NewMember {
            name: format!("Medlem {i}"),
            email: format!("m{i}@stor.no"),
            organisation: None,
            role: Role::Member,
            doctor: false,
            language: None,
            vara: None,
        })
        .collect();
    let ids = store.add_members(c, &people, now).await.expect("members");
    let starts = t("2027-01-12T09:00:00Z");
    let m = store
        .add_meeting(
            &NewMeeting {
                council_id: c,
                title: "Møte".into(),
                starts_at: starts,
                ends_at: starts + Duration::hours(2),
                time_zone: "Europe/Oslo".into(),
                place: Place {
                    room: None,
                    digital_link: None,
                },
                uid: format!("{}@council.no", rand::random::<u64>()),
            },
            &[(JobKind::Summons, starts - Duration::days(14))],
            now,
        )
        .await
        .expect("meeting");
    let job = store.jobs(m).await.expect("jobs")[0].id;
    let page = store.members_page(c, 0, 2).await.expect("page");
    assert_eq!(page.iter().map(|mb| mb.id).collect::<Vec<_>>(), ids[..2]);
    let rest = store.members_page(c, ids[1], 10).await.expect("page");
    assert_eq!(rest.len(), 3);
    let invite = |i: usize| {
        let mut mail = mail(&format!("summons:{m}:{}", ids[i]), &format!("s{i}@stor.no"));
        mail.kind = "summons".into();
        (
            NewInvitation {
                meeting_id: m,
                member_id: ids[i],
                token: format!("{i}").repeat(32),
            },
            mail,
        )
    };
    let closing = || {
        vec![Change::NewAgendaItem(item(
            "stor1",
            c,
            m,
            "Godkjenning",
            Some(1),
        ))]
    };
    let first = JobChunk {
        job_id: Some(job),
        last: false,
        meeting_id: m,
        invitations: vec![invite(0), invite(1)],
        changes: closing(),
        ..JobChunk::default()
    };
    assert!(store.commit_chunk(first, now).await.expect("first chunk"));
    assert_eq!(
        store
            .due_jobs(now)
            .await
            .expect("due")
            .iter()
            .filter(|j| j.id == job)
            .count(),
        1,
        "pending until the last chunk"
    );
    assert_eq!(store.invitation_count(m).await.expect("count"), 2);
    let uninvited = store.uninvited_members(m, c, 10).await.expect("uninvited");
    assert_eq!(
        uninvited.iter().map(|mb| mb.id).collect::<Vec<_>>(),
        ids[2..]
    );
    // A second closing of the agenda (another run) writes nothing.
    let again = JobChunk {
        job_id: Some(job),
        last: false,
        meeting_id: m,
        invitations: vec![invite(2)],
        changes: closing(),
        ..JobChunk::default()
    };
    assert!(!store.commit_chunk(again, now).await.expect("closed twice"));
    assert_eq!(store.invitation_count(m).await.expect("count"), 2);
    // The last chunk; a member invited meanwhile keeps the invitation they have.
    let last = JobChunk {
        job_id: Some(job),
        last: true,
        meeting_id: m,
        invitations: vec![invite(1), invite(2), invite(3), invite(4)],
        events: vec![NewEvent::new(
            "scheduler",
            "summons",
            Some(m),
            None,
            "summons to 5 member(s)",
        )],
        ..JobChunk::default()
    };
    assert!(store.commit_chunk(last, now).await.expect("last chunk"));
    assert_eq!(store.invitation_count(m).await.expect("count"), 5);
    assert!(store
        .uninvited_members(m, c, 10)
        .await
        .expect("uninvited")
        .is_empty());
    let summonses = store
        .outbox()
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| o.meeting_id.is_none() && o.effect_key.starts_with(&format!("summons:{m}:")))
        .count();
    assert_eq!(summonses, 5, "one summons per member");
    let done = JobChunk {
        job_id: Some(job),
        last: true,
        meeting_id: m,
        ..JobChunk::default()
    };
    assert!(
        !store.commit_chunk(done, now).await.expect("done twice"),
        "a job completes once"
    );
    let page = store.invitations_page(m, 0, 3).await.expect("invitations");
    assert_eq!(page.len(), 3);
    let after = store
        .invitations_page(m, page[2].id, 3)
        .await
        .expect("invitations");
    assert_eq!(after.len(), 2);
    store
        .mark_failing("m4@stor.no", "5.1.1", now)
        .await
        .expect("failing");
    let failing = store.failing_members(c).await.expect("failing");
    assert_eq!(failing.iter().map(|mb| mb.id).collect::<Vec<_>>(), ids[4..]);
}

/// The attendance report reads one council's year, and is recorded as sent once.
async fn attendance(store: &Store) {
    let now = t("2028-01-04T07:00:00Z");
    let oslo = chrono_tz::Europe::Oslo;
    let c = store
        .add_council("rapport", "Rådet for rapporter", now)
        .await
        .expect("council");
    let member = |name: &str, email: &str, role| NewMember {
        name: name.into(),
        email: email.into(),
        organisation: Some("Ahus".into()),
        role,
        doctor: false,
        language: None,
        vara: None,
    };
    let ids = store
        .add_members(
            c,
            &[
                member("Anna", "anna@rapport.example", Role::Member),
                member("Hdir", "post@rapport.example", Role::Observer),
            ],
            now,
        )
        .await
        .expect("members");
    // 1 January 2027 00:30 Oslo time is 2026 in UTC, and counts for 2027; 11 January
    // 2028 does not.
    let mut meetings = Vec::new();
    for starts in ["2026-12-31T23:30:00Z", "2028-01-11T09:00:00Z"] {
        let starts = t(starts);
        let m = store
            .add_meeting(
                &NewMeeting {
                    council_id: c,
                    title: "Møte".into(),
                    starts_at: starts,
                    ends_at: starts + Duration::hours(2),
                    time_zone: "Europe/Oslo".into(),
                    place: Place {
                        room: None,
                        digital_link: None,
                    },
                    uid: format!("{}@council.no", rand::random::<u64>()),
                },
                &[(JobKind::Summons, starts - Duration::days(14))],
                now,
            )
            .await
            .expect("meeting");
        let job = store.jobs(m).await.expect("jobs")[0].id;
        let invitations: Vec<(NewInvitation, OutgoingMail)> = ids
            .iter()
            .map(|id| {
                (
                    NewInvitation {
                        meeting_id: m,
                        member_id: *id,
                        token: format!("{:032x}", rand::random::<u128>()),
                    },
                    mail(
                        &format!("summons:{m}:{id}"),
                        &format!("s{m}.{id}@council.no"),
                    ),
                )
            })
            .collect();
        assert!(store
            .complete_job(Some(job), &invitations, &[], &[], &[], now)
            .await
            .expect("summons"));
        meetings.push(m);
    }
    let (from, to) = referent::report::year_bounds(2027, oslo).expect("bounds");
    let in_2027 = store.meetings_between(c, from, to).await.expect("meetings");
    assert_eq!(
        in_2027.iter().map(|m| m.id).collect::<Vec<_>>(),
        [meetings[0]]
    );
    let invs = store
        .invitations_between(c, from, to)
        .await
        .expect("invitations");
    assert_eq!(invs.len(), 2);
    assert!(invs.iter().all(|i| i.meeting_id == meetings[0]));
    let council = store.council(c).await.expect("council");
    let r = store
        .attendance_report(&council, 2027, oslo, now)
        .await
        .expect("report");
    assert_eq!(r.meetings, 1);
    assert_eq!(r.members.len(), 1, "observers are not counted");
    assert_eq!(
        (
            r.members[0].name.as_str(),
            r.members[0].invited,
            r.members[0].no_answer
        ),
        ("Anna", 1, 1)
    );
    // Once per council and year, however often it is tried.
    let due = store
        .councils_due_report("attendance_report", 2027, from, to)
        .await
        .expect("due");
    assert!(due.contains(&c));
    let event = NewEvent::new("scheduler", "attendance_report", None, None, "test");
    let report_mail = OutgoingMail {
        kind: "attendance_report".into(),
        ..mail(&format!("attendance_report:{c}:2027:1"), "ar1@council.no")
    };
    let sent = store
        .record_report(
            c,
            "attendance_report",
            2027,
            std::slice::from_ref(&report_mail),
            &event,
            now,
        )
        .await
        .expect("record");
    assert!(sent);
    let again = store
        .record_report(c, "attendance_report", 2027, &[report_mail], &event, now)
        .await
        .expect("record again");
    assert!(!again);
    assert!(!store
        .councils_due_report("attendance_report", 2027, from, to)
        .await
        .expect("due")
        .contains(&c));
    let rows = store.outbox().await.expect("outbox");
    assert_eq!(
        rows.iter()
            .filter(|r| r.kind == "attendance_report")
            .count(),
        1
    );
}

/// One holder at a time; the holder renews; another takes over only after expiry.
async fn lease(store: &Store, now: DateTime<Utc>) {
    let s = chrono::Duration::seconds;
    let take = |who: &'static str, at: DateTime<Utc>| {
        let store = store.clone();
        async move {
            store
                .take_lease("mailbox:x", who, at, at + s(10))
                .await
                .expect("lease")
        }
    };
    assert!(take("a", now).await, "a free lease is taken");
    assert!(!take("b", now + s(5)).await, "held by a: b waits");
    assert!(take("a", now + s(5)).await, "a renews");
    assert!(!take("b", now + s(14)).await, "renewed until now+15");
    assert!(take("b", now + s(16)).await, "expired: b takes over");
    assert!(!take("a", now + s(17)).await, "and a has lost it");
    let (holder, until) = store
        .lease_holder("mailbox:x")
        .await
        .expect("holder")
        .expect("held");
    assert_eq!((holder.as_str(), until), ("b", now + s(26)));
    store
        .release_lease("mailbox:x", "a")
        .await
        .expect("release");
    assert!(!take("a", now + s(18)).await, "only the holder releases");
    store
        .release_lease("mailbox:x", "b")
        .await
        .expect("release");
    assert!(take("a", now + s(18)).await, "released: taken at once");
}

/// The sending order: one-person mail before bulk, oldest first within each; a claim
/// takes rows in that order, a release puts them back in their place, and a batch is
/// marked sent at once.
async fn queue(store: &Store, now: DateTime<Utc>) {
    // What the suite queued before stays out of the way, and is put back at the end.
    let until = now + Duration::minutes(10);
    let before: Vec<i64> = store
        .claim_outbox(now, until, 1000)
        .await
        .expect("claim")
        .iter()
        .map(|c| c.row.id)
        .collect();
    let kinds = ["summons", "summons", "receipt", "reminder", "question"];
    let mails: Vec<OutgoingMail> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| OutgoingMail {
            kind: (*kind).into(),
            ..mail(&format!("queue:{i}"), &format!("q{i}@council.no"))
        })
        .collect();
    store.commit(&[], &mails, &[], now).await.expect("queue");
    let order = |rows: &[OutboxRow]| -> Vec<String> {
        rows.iter()
            .filter(|r| r.effect_key.starts_with("queue:"))
            .map(|r| r.effect_key.clone())
            .collect()
    };
    let due = store.due_outbox(now, 100).await.expect("due");
    assert_eq!(
        order(&due),
        ["queue:2", "queue:4", "queue:0", "queue:1", "queue:3"],
        "receipts and questions first, then the summons and the reminder, each oldest first"
    );
    assert_eq!(
        due.iter().find(|r| r.kind == "summons").map(|r| r.priority),
        Some(1)
    );

    let first = store.claim_outbox(now, until, 3).await.expect("claim");
    let first_keys: Vec<String> = first.iter().map(|c| c.row.effect_key.clone()).collect();
    assert_eq!(first_keys, ["queue:2", "queue:4", "queue:0"]);
    assert!(first
        .iter()
        .all(|c| c.row.state.as_str() == "sending" && c.raw == b"Subject: x\r\n\r\nbody"));
    // Claimed rows are nobody else's.
    let rest = store
        .claim_outbox(now, until, 10)
        .await
        .expect("claim rest");
    assert_eq!(
        rest.iter()
            .map(|c| c.row.effect_key.as_str())
            .collect::<Vec<_>>(),
        ["queue:1", "queue:3"]
    );
    // The receipt goes; the question and the first summons are put back (a pause),
    // and with the rest they come out again in the same order.
    let ids = |c: &[Claimed]| c.iter().map(|c| c.row.id).collect::<Vec<_>>();
    store
        .mark_sent_many(&ids(&first[..1]), now)
        .await
        .expect("sent");
    store
        .release(&ids(&first[1..]), Some("421 4.7.0 slow down"), now)
        .await
        .expect("release");
    store
        .release(&ids(&rest), None, now)
        .await
        .expect("release");
    let again = store.due_outbox(now, 100).await.expect("due");
    assert_eq!(order(&again), ["queue:4", "queue:0", "queue:1", "queue:3"]);
    let q4 = again
        .iter()
        .find(|r| r.effect_key == "queue:4")
        .expect("q4");
    assert_eq!(
        (q4.attempts, q4.last_error.as_deref()),
        (0, Some("421 4.7.0 slow down"))
    );
    let sent = store
        .sent_message("q2@council.no")
        .await
        .expect("sent")
        .expect("row");
    assert_eq!(
        (sent.state.as_str(), sent.attempts, sent.sent_at),
        ("sent", 1, Some(now))
    );
    assert_eq!(store.last_sent_at().await.expect("last"), Some(now));
    assert!(store.count_sent_since(now).await.expect("count") >= 1);
    let counts = store.outbox_counts().await.expect("counts");
    let count = |kind: &str, state: &str| {
        counts
            .iter()
            .find(|c| c.kind == kind && c.state.as_str() == state)
            .map(|c| c.count)
    };
    assert_eq!(count("summons", "pending"), Some(2));
    assert_eq!(count("question", "pending"), Some(1));
    // Leave the queue as the rest of the suite expects it: empty of these.
    let all = store.claim_outbox(now, until, 100).await.expect("claim");
    assert_eq!(all.len(), 4);
    store.mark_sent_many(&ids(&all), now).await.expect("sent");
    store.release(&before, None, now).await.expect("put back");
}

/// A key is written with its mail, once, and found by its text.
async fn keys(store: &Store, now: DateTime<Utc>) {
    let grant = |key: &str, address: &str| KeyGrant {
        key: key.into(),
        address: address.into(),
        purpose: "approval".into(),
        reference: "item-1".into(),
        expires_at: Some(t("2027-01-08T10:00:00Z")),
    };
    let mut first = mail("approval:1:1", "approval.k1@council.no");
    first.grant = Some(grant("k1", "kari@example.no"));
    store.commit(&[], &[first], &[], now).await.expect("commit");
    // The same effect asked for again gives no second key.
    let mut again = mail("approval:1:1", "approval.k2@council.no");
    again.grant = Some(grant("k2", "eve@example.no"));
    store.commit(&[], &[again], &[], now).await.expect("commit");
    let row = store.key("k1").await.expect("key").expect("found");
    assert_eq!(row.grant, grant("k1", "kari@example.no"));
    assert_eq!(row.used_at, None);
    assert!(store.key("k2").await.expect("key").is_none());
    store
        .commit(&[Change::UseKey { key: "k1".into() }], &[], &[], now)
        .await
        .expect("use");
    assert_eq!(
        store.key("k1").await.expect("key").expect("found").used_at,
        Some(now)
    );
}

fn item(key: &str, council: i64, meeting: i64, title: &str, number: Option<i64>) -> NewAgendaItem {
    NewAgendaItem {
        ref_key: key.into(),
        council_id: council,
        meeting_id: Some(meeting),
        kind: if number.is_some() {
            ItemKind::Fixed
        } else {
            ItemKind::Proposal
        },
        position: 0,
        title: title.into(),
        description: "Beskrivelse".into(),
        attachments: vec!["notat.pdf".into()],
        proposer_name: Some("Kari".into()),
        proposer_email: Some("kari@example.no".into()),
        forwarded_by: None,
        inbound_id: None,
        state: if number.is_some() {
            ItemState::Fixed
        } else {
            ItemState::Proposed
        },
        late: number.is_none(),
        year: number.map(|_| 2027),
        number,
    }
}

/// Agenda items, numbering, minutes, corrections, jobs and the monotonic clock.
async fn year(store: &Store, c: i64, m: i64, now: DateTime<Utc>) {
    store
        .commit(
            &[
                Change::NewAgendaItem(item("k1", c, m, "Godkjenning", Some(1))),
                Change::NewAgendaItem(item("k2", c, m, "Ny veileder", None)),
            ],
            &[mail("approval:1", "approval.k2@council.no")],
            &[],
            now,
        )
        .await
        .expect("items");
    let items = store.agenda_items(m).await.expect("items");
    assert_eq!(items.len(), 2);
    let proposal = store
        .agenda_item_by_key("k2")
        .await
        .expect("by key")
        .expect("found");
    assert!(proposal.late);
    assert_eq!(proposal.attachments, ["notat.pdf"]);
    assert_eq!(store.highest_number(c, 2027).await.expect("max"), Some(1));
    assert_eq!(store.highest_number(c, 2026).await.expect("max"), None);
    // A number is given once per council and year: the whole transaction fails.
    let clash = store
        .commit(
            &[
                Change::DecideAgendaItem {
                    id: proposal.id,
                    state: ItemState::Approved,
                    by: "koord@example.no".into(),
                    move_to: None,
                },
                Change::NumberAgendaItem {
                    id: proposal.id,
                    year: 2027,
                    number: 1,
                    position: 2,
                },
            ],
            &[],
            &[],
            now,
        )
        .await;
    assert!(clash.is_err());
    assert_eq!(
        store.agenda_item(proposal.id).await.expect("item").state,
        ItemState::Proposed,
        "nothing of a failed transaction stays"
    );
    store
        .commit(
            &[Change::NumberAgendaItem {
                id: proposal.id,
                year: 2027,
                number: 2,
                position: 2,
            }],
            &[],
            &[],
            now,
        )
        .await
        .expect("number");
    assert_eq!(
        store
            .agenda_item(proposal.id)
            .await
            .expect("item")
            .label()
            .as_deref(),
        Some("2/27")
    );
    assert_eq!(
        store
            .sent_message("approval.k2@council.no")
            .await
            .expect("sent")
            .map(|r| r.kind),
        Some("receipt".to_string())
    );

    // Minutes: a new version supersedes the draft before it.
    let minutes = |key: &str, version| {
        Change::NewMinutes(NewMinutes {
            ref_key: key.into(),
            meeting_id: m,
            version,
            body: "Sak 2/27 Ny veileder\nVedtatt.".into(),
            attachment_name: None,
            submitted_by: "koord@example.no".into(),
            inbound_id: None,
            deadline_at: now + Duration::days(7),
        })
    };
    store
        .commit(&[minutes("mk1", 1)], &[], &[], now)
        .await
        .expect("v1");
    let v1 = store.minutes_by_key("mk1").await.expect("key").expect("v1");
    store
        .commit(
            &[Change::NewCorrection(NewCorrection {
                minutes_id: v1.id,
                author: "kari@example.no".into(),
                item: Some("2/27".into()),
                before: Some("Vedtatt.".into()),
                after: Some("Vedtatt enstemmig.".into()),
                text: "Vedtatt enstemmig.".into(),
                no_remarks: false,
                inbound_id: None,
            })],
            &[],
            &[],
            now,
        )
        .await
        .expect("correction");
    assert_eq!(store.corrections(v1.id).await.expect("c").len(), 1);
    assert!(
        store
            .commit(&[minutes("mk1b", 1)], &[], &[], now)
            .await
            .is_err(),
        "one version 1"
    );
    store
        .commit(&[minutes("mk2", 2)], &[], &[], now)
        .await
        .expect("v2");
    let all = store.minutes(m).await.expect("minutes");
    assert_eq!(
        all.iter().map(|x| x.state.as_str()).collect::<Vec<_>>(),
        ["superseded", "draft"]
    );
    store
        .commit(
            &[Change::ApproveMinutes {
                id: all[1].id,
                by: "koord@example.no".into(),
            }],
            &[],
            &[],
            now,
        )
        .await
        .expect("approve");
    assert!(
        store
            .commit(
                &[Change::ApproveMinutes {
                    id: all[1].id,
                    by: "x".into()
                }],
                &[],
                &[],
                now
            )
            .await
            .is_err(),
        "approved once"
    );

    // Jobs: scheduled again at a new time, then cancelled with the meeting.
    store
        .commit(
            &[Change::ScheduleJob {
                meeting_id: m,
                kind: JobKind::MinutesDeadline,
                due_at: now + Duration::days(7),
            }],
            &[],
            &[],
            now,
        )
        .await
        .expect("job");
    store
        .commit(
            &[Change::ScheduleJob {
                meeting_id: m,
                kind: JobKind::MinutesDeadline,
                due_at: now + Duration::days(8),
            }],
            &[],
            &[],
            now,
        )
        .await
        .expect("job again");
    let pending = store.pending_jobs().await.expect("pending");
    let deadline = pending
        .iter()
        .find(|j| j.kind == JobKind::MinutesDeadline)
        .expect("job");
    assert_eq!(deadline.due_at, now + Duration::days(8));
    store
        .commit(&[Change::CancelJobs { meeting_id: m }], &[], &[], now)
        .await
        .expect("cancel");
    assert!(store
        .pending_jobs()
        .await
        .expect("pending")
        .iter()
        .all(|j| j.meeting_id != m));

    // The clock only moves forward.
    assert_eq!(store.last_now().await.expect("clock"), None);
    store
        .advance_clock(now + Duration::days(2))
        .await
        .expect("advance");
    store.advance_clock(now).await.expect("no-op");
    assert_eq!(
        store.last_now().await.expect("clock"),
        Some(now + Duration::days(2))
    );
}

#[test]
fn sqlite() {
    let rt = crate::support::runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = referent::config::sqlite_url(&dir.path().join("t.db"));
    rt.block_on(async {
        let store = Store::open(&url).await.expect("open sqlite");
        suite(store.clone()).await;
        store.close().await;
        // Reopening runs no migration twice and keeps the data (the suite's two councils).
        let again = Store::open(&url).await.expect("reopen");
        assert_eq!(
            again.councils().await.expect("councils").len(),
            4,
            "the suite adds four councils"
        );
        crate::privacy::suite(&again).await;
    });
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn postgres() {
    let Some(s) = crate::support::servers() else {
        return;
    };
    let rt = crate::support::runtime();
    rt.block_on(async {
        // A database of its own for this test.
        let name = format!("referent_{:x}", rand::random::<u64>());
        let admin = Store::open(&s.pg_url).await.expect("open postgres");
        admin.close().await;
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&s.pg_url)
            .await
            .expect("connect");
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create db");
        let url = match s.pg_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("bad url"),
        };
        let store = Store::open(&url).await.expect("open test db");
        suite(store.clone()).await;
        crate::privacy::suite(&store).await;
        store.close().await;
    });
}
