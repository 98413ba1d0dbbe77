//! Personal data kept only as long as needed: the daily purge of old bodies, and one
//! person's export and erasure. Run by the storage suite on SQLite and PostgreSQL
//! (`store.rs`), and through the command line on the embedded default.

use chrono::{DateTime, Duration, Utc};
use referent::domain::{Answer, Attendance, Place, Response, Role};
use referent::store::*;

use crate::support::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

fn mail(key: &str, to: &str, inv: Option<i64>) -> OutgoingMail {
    OutgoingMail {
        effect_key: key.into(),
        message_id: format!("{key}@council.no"),
        kind: "receipt".into(),
        recipient: to.into(),
        envelope_from: "referent@council.no".into(),
        raw: format!("To: {to}\r\nSubject: x\r\n\r\nHei").into_bytes(),
        meeting_id: None,
        invitation_id: inv,
        inbound_id: None,
        grant: None,
    }
}

async fn inbound(
    store: &Store,
    id: &str,
    from: &str,
    state: InboundState,
    at: DateTime<Utc>,
    (answer, mails, events): (Option<NewAnswer>, &[OutgoingMail], &[NewEvent]),
) -> i64 {
    let raw = format!("Message-ID: <{id}>\r\nFrom: {from}\r\n\r\nJeg kommer").into_bytes();
    let (n, _) = store
        .store_inbound(&NewInbound {
            dedup_key: format!("{id}|h"),
            message_id: Some(id.into()),
            content_hash: "h".into(),
            raw: &raw,
            source: "test".into(),
            received_at: at,
        })
        .await
        .expect("store inbound");
    let outcome = InboundOutcome {
        state,
        kind: "rsvp".into(),
        sender: Some(from.into()),
        subject: "SV: Innkalling".into(),
        outcome: format!("answer from {from}"),
        problems: vec![],
        invitation_id: answer.as_ref().map(|a| a.invitation_id),
    };
    store
        .finish_inbound(n, &outcome, answer.as_ref(), mails, events, &[], at)
        .await
        .expect("finish");
    n
}

/// The purge, the export and the erasure on one backend.
pub async fn suite(store: &Store) {
    let t0 = t("2026-01-20T09:00:00Z");
    let c = store
        .add_council("pv", "Personvernrådet", t0)
        .await
        .expect("council");
    let member = |name: &str, email: &str| NewMember {
        name: name.into(),
        email: email.into(),
        organisation: Some("OUS".into()),
        role: Role::Member,
        doctor: false,
        language: None,
        vara: None,
    };
    let ids = store
        .add_members(
            c,
            &[
                member("Lise Forlot", "lise@pv.example"),
                member("Ola Blir", "ola@pv.example"),
            ],
            t0,
        )
        .await
        .expect("members");
    let starts = t("2026-02-10T09:00:00Z");
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
            &[],
            t0,
        )
        .await
        .expect("meeting");
    let inv = |member_id: i64, token: char| NewInvitation {
        meeting_id: m,
        member_id,
        token: token.to_string().repeat(32),
    };
    store
        .complete_job(
            None,
            &[
                (
                    inv(ids[0], 'l'),
                    mail("pv-summons-l", "lise@pv.example", None),
                ),
                (
                    inv(ids[1], 'o'),
                    mail("pv-summons-o", "ola@pv.example", None),
                ),
            ],
            &[],
            &[],
            &[],
            t0,
        )
        .await
        .expect("summons");
    let invs = store.invitations(m).await.expect("invitations");
    let lise_inv = invs
        .iter()
        .find(|i| i.member_id == ids[0])
        .expect("lise's invitation")
        .id;
    let answer = |invitation_id: i64, sender: &str| NewAnswer {
        invitation_id,
        answer: Answer {
            response: Response::Accepted,
            attendance: Some(Attendance::InPerson),
            substitute: None,
        },
        source: "reply".into(),
        sender: sender.into(),
        received_at: t0 + Duration::days(1),
    };
    let event = NewEvent::new(
        "lise@pv.example",
        "answer",
        Some(m),
        None,
        "Lise Forlot <lise@pv.example> accepted",
    );
    let lise_msg = inbound(
        store,
        "pv-lise-1@x",
        "lise@pv.example",
        InboundState::Processed,
        t0 + Duration::days(1),
        (
            Some(answer(lise_inv, "lise@pv.example")),
            &[mail("pv-receipt-l", "lise@pv.example", Some(lise_inv))],
            std::slice::from_ref(&event),
        ),
    )
    .await;
    let held = inbound(
        store,
        "pv-lise-2@x",
        "lise@pv.example",
        InboundState::Held,
        t0 + Duration::days(2),
        (None, &[], &[]),
    )
    .await;
    let ola_msg = inbound(
        store,
        "pv-ola-1@x",
        "ola@pv.example",
        InboundState::Processed,
        t0 + Duration::days(40),
        (None, &[], &[]),
    )
    .await;
    for row in store.outbox().await.expect("outbox") {
        if row.recipient.ends_with("@pv.example") {
            store.mark_sent(row.id, t0).await.expect("sent");
        }
    }

    // The purge: bodies before the cut-off go (the held one waits for a coordinator),
    // once a day; the rows stay.
    let before = t0 + Duration::days(10);
    let now = t0 + Duration::days(400);
    let purged = store
        .purge_raw_daily(before, now)
        .await
        .expect("purge")
        .expect("first purge of the day runs");
    assert_eq!(purged.inbound, 1, "{purged:?}");
    assert!(purged.outbox >= 3, "{purged:?}");
    assert!(store.inbound_raw(lise_msg).await.expect("raw").is_empty());
    assert!(!store.inbound_raw(held).await.expect("raw").is_empty());
    assert!(
        !store.inbound_raw(ola_msg).await.expect("raw").is_empty(),
        "newer than the cut-off"
    );
    assert_eq!(
        store
            .purge_raw_daily(before, now + Duration::hours(3))
            .await
            .expect("purge again"),
        None,
        "once a day"
    );
    assert_eq!(
        store
            .purge_raw_daily(before, now + Duration::days(1))
            .await
            .expect("purge next day"),
        Some(Purged::default()),
        "nothing twice"
    );
    assert_eq!(store.answers(m).await.expect("answers").len(), 1);

    // The export: everything about Lise, nothing about Ola.
    let v = store
        .export_person("lise@pv.example", now)
        .await
        .expect("export");
    let len = |k: &str| v[k].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(len("memberships"), 1, "{v:#}");
    assert_eq!(v["memberships"][0]["council"], "pv");
    assert_eq!(len("invitations"), 1);
    assert_eq!(len("answers"), 1);
    assert_eq!(len("messages_received"), 2);
    assert!(
        v["messages_received"][0]["message"].is_null(),
        "purged body"
    );
    assert!(v["messages_received"][1]["message"]
        .as_str()
        .is_some_and(|b| b.contains("Jeg kommer")));
    assert_eq!(len("messages_sent"), 2);
    assert!(len("events") >= 1);
    assert!(!v.to_string().contains("ola@pv.example"), "{v:#}");

    // The erasure: Lise becomes a placeholder everywhere; counts stay.
    assert!(store
        .is_member_anywhere("lise@pv.example")
        .await
        .expect("member"));
    let placeholder = format!("erased-{:016x}@{ERASED_DOMAIN}", rand::random::<u64>());
    let e = store
        .erase_person("lise@pv.example", &placeholder, "test", now)
        .await
        .expect("erase");
    let changed = |what: &str| {
        e.changed
            .iter()
            .find(|(w, _)| w == what)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(changed("members.email"), 1, "{e:?}");
    assert_eq!(changed("inbound.sender"), 2, "{e:?}");
    assert_eq!(
        changed("inbound.raw"),
        1,
        "the held body; the other was gone"
    );
    assert_eq!(changed("outbox.recipient"), 2, "{e:?}");
    assert_eq!(changed("answers.sender"), 1, "{e:?}");
    assert!(changed("events.detail") >= 1, "{e:?}");
    assert!(store.inbound_raw(held).await.expect("raw").is_empty());
    let roster = store.members(c).await.expect("members");
    assert_eq!(roster.len(), 2, "the seat stays");
    assert!(roster
        .iter()
        .any(|r| r.email == placeholder && r.name == ERASED_NAME && r.failing_since.is_some()));
    assert!(roster.iter().any(|r| r.email == "ola@pv.example"));
    assert_eq!(store.invitations(m).await.expect("invitations").len(), 2);
    assert_eq!(store.answers(m).await.expect("answers").len(), 1);
    let after = store
        .export_person("lise@pv.example", now)
        .await
        .expect("export after");
    for k in [
        "memberships",
        "invitations",
        "answers",
        "messages_received",
        "messages_sent",
        "events",
    ] {
        assert_eq!(after[k].as_array().map(Vec::len), Some(0), "{k}: {after:#}");
    }
    let log = store.events(None).await.expect("events");
    let text = serde_json::to_string(&log).expect("json");
    assert!(
        !text.contains("lise@pv.example") && !text.contains("Lise Forlot"),
        "{text}"
    );
    assert!(log.iter().any(|e| e.kind == "erase"));
    // Nothing left to change the second time.
    let again = store
        .erase_person("lise@pv.example", &placeholder, "test", now)
        .await
        .expect("erase again");
    assert_eq!(again.total(), 0, "{again:?}");
}

#[test]
fn export_and_erase_on_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = embedded_config(dir.path());
    council_with(
        &config,
        "ur",
        "Utdanningsrådet",
        &[("Kari Nordmann", "kari@ous.example", "member")],
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(&config, &["export", "--person", "Kari@OUS.example"]))
            .expect("json");
    assert_eq!(v["address"], "kari@ous.example");
    assert_eq!(v["memberships"][0]["name"], "Kari Nordmann");

    // A current member is refused without --force, and nothing changes.
    let out = referent(&config, &["erase", "--person", "kari@ous.example"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = ok(&config, &["member", "list", "--council", "ur", "--json"]);
    assert!(list.contains("kari@ous.example"));

    let text = ok(
        &config,
        &["erase", "--person", "kari@ous.example", "--force"],
    );
    assert!(text.contains("members.email"), "{text}");
    assert!(text.contains("@erased.invalid"), "{text}");
    let list = ok(&config, &["member", "list", "--council", "ur", "--json"]);
    assert!(
        !list.contains("kari@ous.example") && !list.contains("Kari Nordmann"),
        "{list}"
    );
    let text = ok(&config, &["erase", "--person", "kari@ous.example"]);
    assert!(text.contains("nothing changed"), "{text}");
}

#[test]
fn the_daemon_deletes_bodies_past_the_retention_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("referent.toml");
    std::fs::write(
        &config,
        "data_dir = \".\"\n[secretariat]\nname = \"RegUt HSØ\"\naddress = \"referent@regut.example\"\n\
         [retention]\nraw_months = 6\n",
    )
    .expect("config");
    ok(&config, &["init"]);
    council_with(
        &config,
        "ur",
        "Utdanningsrådet",
        &[("Kari Nordmann", "kari@ous.example", "member")],
    );
    // An out-of-office reply: ignored, so nothing will read it again.
    std::fs::write(
        dir.path().join("inbox/new/001.mail"),
        "From: Kari Nordmann <kari@ous.example>\r\nTo: referent@regut.example\r\n\
         Subject: Automatisk svar: hei\r\nMessage-ID: <ooo-1@ous.example>\r\n\
         Auto-Submitted: auto-replied\r\nDate: Mon, 1 Feb 2027 09:00:00 +0100\r\n\r\n\
         Jeg er borte til 4. februar.\r\n",
    )
    .expect("drop");
    // A Maildir message arrived when its file was written.
    std::fs::File::options()
        .write(true)
        .open(dir.path().join("inbox/new/001.mail"))
        .and_then(|f| f.set_modified(t("2027-02-01T08:00:00Z").into()))
        .expect("mtime");
    ok(&config, &["--now", "2027-02-01T10:00", "run", "--once"]);
    let body = |v: &serde_json::Value| v["messages_received"][0]["message"].clone();
    let export = || -> serde_json::Value {
        serde_json::from_str(&ok(&config, &["export", "--person", "kari@ous.example"]))
            .expect("json")
    };
    let before = export();
    assert!(
        body(&before)
            .as_str()
            .is_some_and(|b| b.contains("borte til 4. februar")),
        "{before:#}"
    );
    // Five months on it is kept; seven months on the tick deletes it, keeping the row.
    ok(&config, &["--now", "2027-07-01T10:00", "run", "--once"]);
    let mid = export();
    assert!(body(&mid).is_string(), "{mid:#}");
    ok(&config, &["--now", "2027-09-01T10:00", "run", "--once"]);
    let after = export();
    assert!(body(&after).is_null(), "{after:#}");
    assert_eq!(after["messages_received"][0]["state"], "ignored");
    assert!(after["messages_received"][0]["body_deleted_at"].is_string());
    let log = ok(&config, &["log"]);
    assert!(log.contains("bodies older than"), "{log}");
}
