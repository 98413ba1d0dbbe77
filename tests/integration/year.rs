//! A council's whole meeting cycle through the real Dovecot and Postfix, with time moved
//! by `--now` (never by sleeping for days): the yearly calendar, the call for agenda
//! items, a direct and a forwarded proposal, a coordinator's approval and rejection by
//! reply, the summons with the numbered agenda and a calendar entry, an iTIP accept, a
//! substitute, an observer who is never reminded, reminders only to the silent, the
//! attendance list, draft minutes from a coordinator, a free-text and an inline
//! correction, the digest, approval by reply, and the final minutes to everyone.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use mail_parser::MimeHeaders;
use serde_json::Value;

use crate::support::*;

fn json(config: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(config, args)).expect("json output")
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// `run --once` at `now` until `check` holds (mail takes a moment through Postfix).
fn run_until(config: &Path, now: DateTime<Utc>, what: &str, check: impl FnMut() -> bool) {
    run_at_until(config, Some(now), what, check)
}

/// `run --once` (at `now`, or on the real clock) until `check` holds.
fn run_at_until(
    config: &Path,
    now: Option<DateTime<Utc>>,
    what: &str,
    mut check: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match now {
            Some(t) => ok(config, &["--now", &at(t), "run", "--once"]),
            None => ok(config, &["run", "--once"]),
        };
        if check() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The messages of one kind (our `X-Referent` header) in a user's INBOX.
fn of_kind(rt: &tokio::runtime::Runtime, port: u16, user: &str, kind: &str) -> Vec<Vec<u8>> {
    rt.block_on(inbox(port, user))
        .into_iter()
        .filter(|m| header(m, "X-Referent").as_deref() == Some(kind))
        .collect()
}

/// The `text/calendar` part of a message, decoded.
fn calendar_part(raw: &[u8]) -> Option<String> {
    let m = mail_parser::MessageParser::default().parse(raw)?;
    m.parts.iter().find_map(|p| {
        let ct = p.content_type()?;
        (ct.ctype() == "text" && ct.subtype() == Some("calendar"))
            .then(|| p.text_contents().map(|t| t.replace("\r\n ", "")))
            .flatten()
    })
}

/// A reply as a mail client writes it: to the message's sender (or Reply-To),
/// `In-Reply-To` its Message-ID, the text on top and the original quoted below.
fn reply_to(original: &[u8], name: &str, from: &str, text: &str, quote: &str) -> (String, Vec<u8>) {
    let to = address_in(
        &header(original, "Reply-To")
            .or_else(|| header(original, "From"))
            .expect("a sender"),
    );
    let mid = header(original, "Message-ID").expect("a Message-ID");
    let (subject, _) = subject_and_text(original);
    let raw = format!(
        "From: {name} <{from}>\r\nTo: {to}\r\nSubject: SV: {subject}\r\nIn-Reply-To: {mid}\r\nReferences: {mid}\r\n\
         Message-ID: <{}.{from}>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         {text}\r\n\r\n{quote}\r\n",
        rand::random::<u64>()
    );
    (to, raw.into_bytes())
}

fn new_mail(from_name: &str, from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from_name} <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}.{from}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        rand::random::<u64>()
    )
    .into_bytes()
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn a_full_meeting_cycle_by_email() {
    let Some(s) = servers() else { return };
    let w = World::new(&s);
    let (rt, config, sec) = (&w.rt, w.config.clone(), w.secretariat.clone());
    let port = s.imap_port;
    let [koord, leder, anna, bjorn, stille, hdir] =
        ["koord", "leder", "anna", "bjorn", "stille", "hdir"].map(|l| w.addr(l));
    let kari = w.addr("kari");
    let per = w.addr("per");

    ok(
        &config,
        &[
            "council",
            "add",
            "--slug",
            "ur",
            "--name",
            "Utdanningsrådet",
        ],
    );
    for (name, email, role, org, doctor) in [
        (
            "Eldbjørg Koordinator",
            &koord,
            "coordinator",
            "RegUt",
            false,
        ),
        ("Lene Leder", &leder, "leader", "OUS", true),
        ("Anna Ahus", &anna, "member", "Ahus", true),
        ("Bjørn Berg", &bjorn, "member", "OUS", false),
        (
            "Stig Stille",
            &stille,
            "member",
            "Sykehuset Innlandet",
            false,
        ),
        (
            "Helsedirektoratet",
            &hdir,
            "observer",
            "Helsedirektoratet",
            false,
        ),
    ] {
        let mut args = vec![
            "member",
            "add",
            "--council",
            "ur",
            "--name",
            name,
            "--email",
            email,
            "--role",
            role,
            "--org",
            org,
        ];
        if doctor {
            args.push("--doctor");
        }
        ok(&config, &args);
    }

    // The yearly calendar: six Tuesdays, no holidays, nothing in July.
    let generate = [
        "calendar",
        "generate",
        "--council",
        "ur",
        "--year",
        "2027",
        "--count",
        "6",
        "--rule",
        "Tuesday 10:00-12:00",
        "--json",
    ];
    let proposal = json(&config, &generate);
    assert_eq!(proposal["dates"].as_array().map(Vec::len), Some(6));
    assert!(json(&config, &["meeting", "list", "--json"])
        .as_array()
        .is_some_and(Vec::is_empty));
    // Whatever the real date, the meetings lie ahead of this `--now`.
    let apply = [
        "--place",
        "Ullevål sykehus, bygg 1",
        "--apply",
        "--now",
        "2026-12-01T09:00:00Z",
    ];
    json(&config, &[&generate[..], &apply[..]].concat());
    let meetings = json(&config, &["meeting", "list", "--json"]);
    assert_eq!(meetings.as_array().map(Vec::len), Some(6));
    let first = &meetings[0];
    let starts: DateTime<Utc> = first["starts_at"]
        .as_str()
        .expect("start")
        .parse()
        .expect("time");
    let ends: DateTime<Utc> = first["ends_at"]
        .as_str()
        .expect("end")
        .parse()
        .expect("time");
    let uid = first["uid"].as_str().expect("uid").to_string();
    assert_eq!(
        starts.to_rfc3339(),
        "2027-01-26T09:00:00+00:00",
        "the first Tuesday picked"
    );
    let days = |d: i64| chrono::Duration::days(d);
    let hour = chrono::Duration::hours(1);

    // 1. The call for agenda items, 28 days before.
    let t_call = starts - days(28) + hour;
    run_until(&config, t_call, "the call for items", || {
        of_kind(rt, port, &anna, "call").len() == 1
    });
    assert_eq!(
        of_kind(rt, port, &hdir, "call").len(),
        0,
        "the call is for members, not observers"
    );

    // 2. Anna proposes directly; Bjørn's proposal is forwarded by the coordinator.
    let t_prop = t_call + days(1);
    rt.block_on(send(
        s.smtp_port,
        &anna,
        &sec,
        format!(
            "From: Anna Ahus <{anna}>\r\nTo: {sec}\r\nSubject: Forslag til sak: Ny veileder for LIS1\r\n\
             Message-ID: <prop.{}@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             Vi foreslår at rådet drøfter den nye veilederen for LIS1.\r\n\r\nHilsen Anna\r\n\
             --b\r\nContent-Type: application/pdf; name=\"veileder.pdf\"\r\nContent-Disposition: attachment; filename=\"veileder.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKdGVzdAo=\r\n--b--\r\n",
            rand::random::<u64>()
        )
        .as_bytes(),
    ));
    let forward = format!(
        "Til behandling.\r\n\r\n________________________________\r\nFra: Bjørn Berg <{bjorn}>\r\n\
         Sendt: mandag 4. januar 2027 09:12\r\nTil: Eldbjørg Koordinator <{koord}>\r\n\
         Emne: Forslag til sak: Parkering ved Ullevål\r\n\r\nLIS1 får ikke parkere ved Ullevål. Kan rådet ta det opp?"
    );
    rt.block_on(send(
        s.smtp_port,
        &koord,
        &sec,
        &new_mail(
            "Eldbjørg Koordinator",
            &koord,
            &sec,
            "VS: Forslag til sak: Parkering ved Ullevål",
            &forward,
        ),
    ));
    // The observer is not called for items, but may still propose: a new mail.
    rt.block_on(send(
        s.smtp_port,
        &hdir,
        &sec,
        &new_mail(
            "Helsedirektoratet",
            &hdir,
            &sec,
            "Forslag til sak: Nasjonale kompetansemål",
            "Forslag til sak: Nasjonale kompetansemål\r\nDirektoratet vil orientere om de nye målene.",
        ),
    ));
    // Nothing authenticates the coordinator's forward (the test server writes no
    // Authentication-Results): she is asked to confirm it, and does.
    run_until(
        &config,
        t_prop,
        "the confirmation request for the forward",
        || of_kind(rt, port, &koord, "confirm").len() == 1,
    );
    let ask = of_kind(rt, port, &koord, "confirm").pop().expect("confirm");
    let (to, raw) = reply_to(&ask, "Eldbjørg Koordinator", &koord, "Bekreft", "");
    rt.block_on(send(s.smtp_port, &koord, &to, &raw));
    run_until(
        &config,
        t_prop,
        "three proposals and the approval requests",
        || {
            json(&config, &["agenda", "list", "--council", "ur", "--json"])
                .as_array()
                .is_some_and(|a| a.len() == 3)
                && of_kind(rt, port, &koord, "approval").len() == 3
        },
    );
    let items = json(&config, &["agenda", "list", "--council", "ur", "--json"]);
    let item = |title: &str| {
        items
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["title"] == title)
            .cloned()
            .unwrap_or_else(|| panic!("no item {title}: {items:#}"))
    };
    let parking = item("Parkering ved Ullevål");
    assert_eq!(
        parking["proposer_email"],
        bjorn.as_str(),
        "credited to the original sender"
    );
    assert_eq!(parking["forwarded_by"], koord.as_str());
    assert_eq!(
        item("Ny veileder for LIS1")["proposer_email"],
        anna.as_str()
    );
    let goals = item("Nasjonale kompetansemål");
    assert_eq!(goals["proposer_email"], hdir.as_str());
    assert_eq!(
        goals["description"],
        "Direktoratet vil orientere om de nye målene."
    );
    assert_eq!(
        of_kind(rt, port, &anna, "receipt").len(),
        1,
        "the proposer's receipt"
    );
    assert_eq!(
        of_kind(rt, port, &bjorn, "receipt").len(),
        1,
        "the original sender's receipt"
    );

    // 3. The coordinator approves one and rejects the other, by a one-word reply.
    for request in of_kind(rt, port, &koord, "approval") {
        let (subject, _) = subject_and_text(&request);
        let word = if subject.contains("veileder") {
            "Godkjent."
        } else if subject.contains("Parkering") {
            // The reason goes to the proposer.
            "Avvist – parkering er en sak for helseforetaket"
        } else {
            // Left undecided: it moves to the next meeting with the summons.
            continue;
        };
        let (to, raw) = reply_to(&request, "Eldbjørg Koordinator", &koord, word, "");
        rt.block_on(send(s.smtp_port, &koord, &to, &raw));
    }
    run_until(&config, t_prop + hour, "the decisions", || {
        let items = json(&config, &["agenda", "list", "--council", "ur", "--json"]);
        items.as_array().is_some_and(|a| {
            a.iter().any(|i| i["state"] == "approved") && a.iter().any(|i| i["state"] == "rejected")
        })
    });
    let items = json(&config, &["agenda", "list", "--council", "ur", "--json"]);
    for i in items
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["title"] != "Nasjonale kompetansemål")
    {
        let expected = if i["title"] == "Ny veileder for LIS1" {
            "approved"
        } else {
            "rejected"
        };
        assert_eq!(i["state"], expected, "{i:#}");
        assert_eq!(i["decided_by"], koord.as_str());
    }
    // The proposer hears why.
    run_until(&config, t_prop + hour, "the proposer told why", || {
        of_kind(rt, port, &bjorn, "notice").iter().any(|raw| {
            let (_, text) = subject_and_text(raw);
            text.contains("ikke tatt med på sakslisten")
                && text.contains("Begrunnelse: parkering er en sak for helseforetaket")
        })
    });

    // What goes out when, as the coordinator sees it.
    let sched = json(
        &config,
        &["--now", &at(t_prop + hour), "schedule", "--json"],
    );
    let summons_job = sched["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["kind"] == "summons" && j["meeting"] == first["id"])
        .cloned()
        .expect("a pending summons");
    assert_eq!(summons_job["recipients"].as_array().map(Vec::len), Some(6));
    assert_eq!(summons_job["by_now"], false);

    // A proposal after the deadline is late; undecided, it goes to the next meeting.
    let t_late = starts - days(21) + days(1);
    rt.block_on(send(
        s.smtp_port,
        &stille,
        &sec,
        &new_mail(
            "Stig Stille",
            &stille,
            &sec,
            "Forslag til sak: Turnus i sommer",
            "Kan vi ta opp turnus?",
        ),
    ));
    run_until(&config, t_late, "the late proposal", || {
        json(&config, &["agenda", "list", "--council", "ur", "--json"])
            .as_array()
            .is_some_and(|a| a.len() == 4)
    });

    // 4. The summons, 14 days before: the numbered agenda and a calendar entry.
    let t_summons = starts - days(14) + hour;
    run_until(&config, t_summons, "the summons", || {
        of_kind(rt, port, &stille, "summons").len() == 1
            && of_kind(rt, port, &hdir, "summons").len() == 1
    });
    let summons = of_kind(rt, port, &leder, "summons").pop().expect("summons");
    let (_, text) = subject_and_text(&summons);
    assert!(
        text.contains("Sak 1/27 Godkjenning av innkalling og saksliste"),
        "{text}"
    );
    assert!(
        text.contains("Sak 3/27 Ny veileder for LIS1 (Anna Ahus)"),
        "{text}"
    );
    assert!(text.contains("Sak 4/27 Eventuelt"), "{text}");
    assert!(
        !text.contains("Parkering"),
        "the rejected item is not on the agenda: {text}"
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&summons[..])
        .expect("parse");
    let files: Vec<&str> = parsed
        .attachments()
        .filter_map(|a| a.attachment_name())
        .collect();
    assert!(
        files.contains(&"veileder.pdf"),
        "the proposal's document goes along: {files:?}"
    );
    assert!(files.contains(&"invite.ics"), "{files:?}");
    let late = json(&config, &["agenda", "list", "--council", "ur", "--json"])
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["title"] == "Turnus i sommer")
        .cloned()
        .expect("the late item");
    assert_eq!(late["late"], true);
    assert_eq!(
        late["meeting_id"], meetings[1]["id"],
        "moved to the next meeting: {late:#}"
    );
    let undecided = json(&config, &["agenda", "list", "--council", "ur", "--json"])
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["title"] == "Nasjonale kompetansemål")
        .cloned()
        .expect("the undecided item");
    assert_eq!(undecided["meeting_id"], meetings[1]["id"], "{undecided:#}");
    assert_eq!(undecided["late"], false);
    // A coordinator approves the late one from the command line, for the next meeting.
    let late_id = late["id"].as_i64().expect("id").to_string();
    let approved = ok(
        &config,
        &["--now", &at(t_summons), "agenda", "approve", &late_id],
    );
    assert!(approved.contains("approved"), "{approved}");
    let late = json(
        &config,
        &[
            "agenda",
            "list",
            "--meeting",
            &meetings[1]["id"].to_string(),
            "--json",
        ],
    )
    .as_array()
    .expect("items")
    .iter()
    .find(|i| i["title"] == "Turnus i sommer")
    .cloned()
    .expect("still on the next meeting");
    assert_eq!(late["state"], "approved");
    assert!(late["decided_by"]
        .as_str()
        .is_some_and(|b| b.starts_with("command line")));
    let ics = calendar_part(&summons).expect("a text/calendar part");
    assert!(ics.contains("METHOD:REQUEST"), "{ics}");
    // Each recipient's calendar entry has a UID of its own: their token and the
    // meeting's UID.
    let leder_uid = event_uid(&summons);
    assert!(leder_uid.ends_with(&uid) && leder_uid != uid, "{leder_uid}");
    assert!(ics.contains(&format!("RSVP=TRUE:mailto:{leder}")), "{ics}");
    assert!(ics.contains("BEGIN:VTIMEZONE"), "{ics}");
    let observer_ics = calendar_part(&of_kind(rt, port, &hdir, "summons")[0]).expect("calendar");
    assert!(
        observer_ics.contains("RSVP=FALSE"),
        "observers are not asked: {observer_ics}"
    );
    let (_, observer_text) = subject_and_text(&of_kind(rt, port, &hdir, "summons")[0]);
    assert!(
        observer_text.contains("trenger ikke å svare"),
        "{observer_text}"
    );

    // 5. Answers: an iTIP accept, a plain yes, a substitute; Stig stays silent.
    let accept = format!(
        "From: Lene Leder <{leder}>\r\nTo: {sec}\r\nSubject: Godtatt: Innkalling\r\nMessage-ID: <itip.{}@x>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/calendar; charset=utf-8; method=REPLY\r\n\r\n\
         BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{leder}\r\n\
         UID:{leder_uid}\r\nSEQUENCE:0\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        rand::random::<u64>()
    );
    rt.block_on(send(s.smtp_port, &leder, &sec, accept.as_bytes()));
    let anna_summons = of_kind(rt, port, &anna, "summons").pop().expect("summons");
    let (to, raw) = answer_summons(
        &anna_summons,
        "Anna Ahus",
        &anna,
        &format!("Ja, jeg kommer. Jeg tar med bisitter Per Hansen <{per}>."),
    );
    rt.block_on(send(s.smtp_port, &anna, &to, &raw));
    let bjorn_summons = of_kind(rt, port, &bjorn, "summons").pop().expect("summons");
    let (to, raw) = answer_summons(
        &bjorn_summons,
        "Bjørn Berg",
        &bjorn,
        &format!("Jeg får ikke kommet. Kari Nordmann <{kari}> møter for meg."),
    );
    rt.block_on(send(s.smtp_port, &bjorn, &to, &raw));
    let t_answers = t_summons + days(1);
    run_until(&config, t_answers, "three answers", || {
        let v = json(&config, &["meeting", "show", "1", "--json"]);
        v["invitations"]
            .as_array()
            .map(|a| a.iter().filter(|i| !i["response"].is_null()).count())
            == Some(3)
    });
    run_until(&config, t_answers, "the substitute's summons", || {
        of_kind(rt, port, &kari, "summons").len() == 1
    });
    // Anna's extra attendee is held until the leader approves it by reply.
    run_until(
        &config,
        t_answers,
        "the leader is asked about the extra attendee",
        || of_kind(rt, port, &leder, "extra_request").len() == 1,
    );
    assert!(
        of_kind(rt, port, &per, "summons").is_empty(),
        "held until approved"
    );
    let v = json(&config, &["meeting", "show", "1", "--json"]);
    assert_eq!(v["extra_attendees"][0]["state"], "pending", "{v:#}");
    let request = of_kind(rt, port, &leder, "extra_request")
        .pop()
        .expect("request");
    let (to, raw) = reply_to(&request, "Lene Leder", &leder, "Godkjent", "");
    rt.block_on(send(s.smtp_port, &leder, &to, &raw));
    run_until(&config, t_answers, "the extra attendee's summons", || {
        of_kind(rt, port, &per, "summons").len() == 1
    });
    let v = json(&config, &["meeting", "show", "1", "--json"]);
    assert_eq!(v["extra_attendees"][0]["state"], "approved");
    assert_eq!(v["extra_attendees"][0]["decided_by"], leder.as_str());
    let kari_ics = calendar_part(&of_kind(rt, port, &kari, "summons")[0]).expect("calendar");
    assert!(kari_ics.contains("METHOD:REQUEST"));
    let v = json(&config, &["meeting", "show", "1", "--json"]);
    let inv = |email: &str| {
        v["invitations"]
            .as_array()
            .expect("invitations")
            .iter()
            .find(|i| i["email"] == email)
            .cloned()
            .expect("invitation")
    };
    assert_eq!(inv(&leder)["response"], "accepted");
    assert_eq!(inv(&leder)["history"][0]["source"], "calendar");
    assert_eq!(inv(&anna)["response"], "accepted");
    assert_eq!(inv(&bjorn)["response"], "declined");
    assert_eq!(inv(&bjorn)["substitute"]["email"], kari.as_str());
    assert!(inv(&stille)["response"].is_null());
    assert_eq!(
        v["agenda"]
            .as_array()
            .map(|a| a.iter().filter(|i| !i["number"].is_null()).count()),
        Some(4),
        "{v:#}"
    );

    // 6. The reminder, 5 days before, only to the silent member.
    let t_reminder = starts - days(5) + hour;
    run_until(&config, t_reminder, "the reminder", || {
        of_kind(rt, port, &stille, "reminder").len() == 1
    });
    for quiet in [&hdir, &anna, &leder, &bjorn, &koord] {
        assert!(
            of_kind(rt, port, quiet, "reminder").is_empty(),
            "no reminder to {quiet}"
        );
    }

    // 7. The attendance list to the coordinators, 2 days before.
    let t_attendance = starts - days(2) + hour;
    run_until(&config, t_attendance, "the attendance list", || {
        of_kind(rt, port, &koord, "attendance").len() == 1
    });
    let (_, list) = subject_and_text(&of_kind(rt, port, &koord, "attendance")[0]);
    assert!(
        list.contains("2 kommer, 1 har meldt forfall, 1 har ikke svart"),
        "{list}"
    );
    assert!(list.contains("Kari Nordmann"), "{list}");
    assert!(list.contains("Per Hansen: bisitter"), "{list}");

    // 8. After the meeting the coordinator sends the draft minutes.
    let minutes_text = "Sak 3/27 Ny veileder for LIS1\r\nRådet drøftet veilederen.\r\nRådet vedtok å sende veilederen på høring.\r\n\r\nSak 4/27 Eventuelt\r\nIngen saker.";
    rt.block_on(send(
        s.smtp_port,
        &koord,
        &sec,
        &new_mail(
            "Eldbjørg Koordinator",
            &koord,
            &sec,
            "Utkast til referat: Utdanningsrådet 26. januar 2027",
            minutes_text,
        ),
    ));
    let t_minutes = ends + days(1);
    // Draft minutes reach everyone who attended: the coordinator confirms them first.
    let minutes_ask = || {
        of_kind(rt, port, &koord, "confirm")
            .into_iter()
            .find(|m| subject_and_text(m).1.contains("utkast til referat"))
    };
    run_until(
        &config,
        t_minutes,
        "the confirmation request for the minutes",
        || minutes_ask().is_some(),
    );
    let ask = minutes_ask().expect("confirm");
    let (to, raw) = reply_to(&ask, "Eldbjørg Koordinator", &koord, "Bekreft", "");
    rt.block_on(send(s.smtp_port, &koord, &to, &raw));
    run_until(&config, t_minutes, "the draft minutes", || {
        of_kind(rt, port, &anna, "minutes").len() == 1
            && of_kind(rt, port, &leder, "minutes").len() == 1
    });
    assert!(
        of_kind(rt, port, &stille, "minutes").is_empty(),
        "the draft goes to those who attended"
    );
    assert!(of_kind(rt, port, &hdir, "minutes").is_empty());

    // 9. A free-text correction and an inline one.
    let draft = of_kind(rt, port, &anna, "minutes").pop().expect("draft");
    let (to, raw) = reply_to(
        &draft,
        "Anna Ahus",
        &anna,
        "Under sak 3/27 skal det stå at høringen går til alle helseforetak.",
        "",
    );
    rt.block_on(send(s.smtp_port, &anna, &to, &raw));
    let draft = of_kind(rt, port, &leder, "minutes").pop().expect("draft");
    let quote = "Den 27. jan. 2027 kl. 10:00 skrev RegUt HSØ:\r\n> Sak 3/27 Ny veileder for LIS1\r\n> Rådet drøftet veilederen.\r\n> Rådet vedtok å sende veilederen på høring.\r\nRådet vedtok å sende veilederen på høring til alle HF.\r\n>\r\n> Sak 4/27 Eventuelt";
    let (to, raw) = reply_to(
        &draft,
        "Lene Leder",
        &leder,
        "Se rettelse i teksten.",
        quote,
    );
    rt.block_on(send(s.smtp_port, &leder, &to, &raw));
    run_until(&config, t_minutes + hour, "two corrections", || {
        let m = json(&config, &["minutes", "show", "1", "--json"]);
        m["versions"][0]["corrections"].as_array().map(Vec::len) == Some(2)
    });
    let m = json(&config, &["minutes", "show", "1", "--json"]);
    let corrections = m["versions"][0]["corrections"]
        .as_array()
        .expect("corrections");
    let free = corrections
        .iter()
        .find(|c| c["author"] == anna.as_str())
        .expect("Anna's");
    assert_eq!(free["item"], "3/27");
    let inline = corrections
        .iter()
        .find(|c| c["author"] == leder.as_str())
        .expect("Lene's");
    assert_eq!(
        inline["before"],
        "Rådet vedtok å sende veilederen på høring."
    );
    assert_eq!(
        inline["after"],
        "Rådet vedtok å sende veilederen på høring til alle HF."
    );
    assert_eq!(inline["item"], "3/27");

    // Approval before the deadline is refused.
    let early = referent(
        &config,
        &["--now", &at(t_minutes + hour), "minutes", "approve", "1"],
    );
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("deadline"));

    // 10. The deadline: the digest; the coordinator answers "godkjent"; final minutes to all.
    // The correction period ends with the seventh day (the working day before when it
    // is not one), at midnight Oslo time.
    let oslo = chrono_tz::Europe::Oslo;
    let t_deadline = referent::schedule::workdays::correction_deadline(t_minutes, 7, oslo) + hour;
    run_until(&config, t_deadline, "the corrections digest", || {
        of_kind(rt, port, &koord, "digest").len() == 1
    });
    let digest = of_kind(rt, port, &koord, "digest").pop().expect("digest");
    let (_, digest_text) = subject_and_text(&digest);
    assert!(digest_text.contains("til alle HF"), "{digest_text}");
    // A corrected version goes round again, submitted from the command line.
    let v2 = w.dir.path().join("referat-v2.md");
    std::fs::write(&v2, "Sak 3/27 Ny veileder for LIS1\nRådet drøftet veilederen.\nRådet vedtok å sende veilederen på høring til alle HF.\n").expect("write");
    let submitted = ok(
        &config,
        &[
            "--now",
            &at(t_deadline),
            "minutes",
            "submit",
            "1",
            v2.to_str().expect("path"),
        ],
    );
    assert!(submitted.contains("version 2"), "{submitted}");
    let t_v2 = referent::schedule::workdays::correction_deadline(t_deadline, 7, oslo) + hour;
    run_until(&config, t_v2, "the second digest", || {
        of_kind(rt, port, &anna, "minutes").len() == 2
            && of_kind(rt, port, &koord, "digest").len() == 2
    });
    let digest = of_kind(rt, port, &koord, "digest").pop().expect("digest");
    let (subject, _) = subject_and_text(&digest);
    assert!(subject.contains("versjon 2"), "{subject}");
    let (to, raw) = reply_to(&digest, "Eldbjørg Koordinator", &koord, "Godkjent", "");
    rt.block_on(send(s.smtp_port, &koord, &to, &raw));
    run_until(&config, t_v2 + hour, "the final minutes", || {
        of_kind(rt, port, &hdir, "minutes_final").len() == 1
    });
    let (_, final_text) = subject_and_text(&of_kind(rt, port, &hdir, "minutes_final")[0]);
    assert!(
        final_text.contains("til alle HF"),
        "the corrected version: {final_text}"
    );
    for everyone in [&koord, &leder, &anna, &bjorn, &stille, &hdir] {
        assert_eq!(
            of_kind(rt, port, everyone, "minutes_final").len(),
            1,
            "final minutes to {everyone}"
        );
    }
    let m = json(&config, &["minutes", "show", "1", "--json"]);
    assert_eq!(m["versions"][0]["minutes"]["state"], "superseded");
    assert_eq!(m["versions"][1]["minutes"]["state"], "approved");
    assert_eq!(m["versions"][1]["minutes"]["approved_by"], koord.as_str());

    let outbox = json(&config, &["outbox", "--json"]);
    let all = outbox.as_array().expect("outbox");
    assert!(
        all.iter().all(|r| r["state"] == "sent"),
        "everything went out"
    );
    eprintln!("the year's cycle sent {} mails", all.len());

    // Time never runs backwards.
    let back = referent(&config, &["--now", &at(t_call), "schedule"]);
    assert!(!back.status.success());
    assert!(String::from_utf8_lossy(&back.stderr).contains("never runs backwards"));

    // The audit log names who did what, from which message.
    let log = json(&config, &["log", "--meeting", "1", "--json"]);
    let kinds: Vec<&str> = log
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for k in [
        "call",
        "proposal",
        "agenda_decision",
        "summons",
        "answer",
        "reminder",
        "attendance",
        "minutes",
        "correction",
        "digest",
        "minutes_approved",
    ] {
        assert!(kinds.contains(&k), "no {k} in the log: {kinds:?}");
    }
    assert!(log
        .as_array()
        .expect("log")
        .iter()
        .any(|e| e["kind"] == "agenda_decision"
            && e["actor"] == koord.as_str()
            && !e["inbound_id"].is_null()));
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn a_moved_and_a_cancelled_meeting_update_every_calendar() {
    let Some(s) = servers() else { return };
    let w = World::new(&s);
    let (rt, config) = (&w.rt, w.config.clone());
    let port = s.imap_port;
    let (ola, hdir) = (w.addr("ola"), w.addr("hdir"));
    ok(
        &config,
        &["council", "add", "--slug", "rr", "--name", "Regionalt råd"],
    );
    ok(
        &config,
        &[
            "member",
            "add",
            "--council",
            "rr",
            "--name",
            "Ola",
            "--email",
            &ola,
        ],
    );
    ok(
        &config,
        &[
            "member",
            "add",
            "--council",
            "rr",
            "--name",
            "Hdir",
            "--email",
            &hdir,
            "--role",
            "observer",
        ],
    );
    w.meeting_in_days("rr", 10, &[]);
    w.meeting_in_days("rr", 11, &[]);
    let now = referent::clock::Clock::now(&referent::clock::SystemClock);
    run_at_until(&config, None, "two summons each", || {
        of_kind(rt, port, &ola, "summons").len() == 2
    });
    let uid1 = json(&config, &["meeting", "show", "1", "--json"])["meeting"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();

    let new_start = (now + chrono::Duration::days(12))
        .with_timezone(&chrono_tz::Europe::Oslo)
        .format("%Y-%m-%dT13:00")
        .to_string();
    let moved = ok(&config, &["meeting", "move", "1", "--starts", &new_start]);
    assert!(moved.contains("2 update(s)"), "{moved}");
    let cancelled = ok(&config, &["meeting", "cancel", "2"]);
    assert!(cancelled.contains("2 cancellation(s)"), "{cancelled}");
    run_at_until(&config, None, "the update and the cancellation", || {
        of_kind(rt, port, &ola, "update").len() == 1 && of_kind(rt, port, &ola, "cancel").len() == 1
    });
    let update = calendar_part(&of_kind(rt, port, &ola, "update")[0]).expect("calendar");
    assert!(update.contains("METHOD:REQUEST"));
    let ola_uid = event_uid(&of_kind(rt, port, &ola, "update")[0]);
    assert!(ola_uid.ends_with(&uid1) && ola_uid != uid1, "{ola_uid}");
    assert_eq!(
        ola_uid,
        event_uid(&of_kind(rt, port, &ola, "summons")[0]),
        "the update keeps the entry's UID"
    );
    assert!(update.contains("SEQUENCE:1"), "{update}");
    assert!(update.contains("T130000"), "the new time: {update}");
    let cancel = calendar_part(&of_kind(rt, port, &hdir, "cancel")[0]).expect("calendar");
    assert!(cancel.contains("METHOD:CANCEL"));
    assert!(cancel.contains("STATUS:CANCELLED"));
    let m2 = json(&config, &["meeting", "show", "2", "--json"]);
    assert_eq!(m2["meeting"]["status"], "cancelled");
    assert!(m2["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .all(|j| j["state"] != "pending"));
    // A cancelled meeting cannot be moved.
    let again = referent(&config, &["meeting", "move", "2", "--starts", &new_start]);
    assert!(!again.status.success());

    // Roster rules: a second leader is warned about.
    ok(
        &config,
        &[
            "member",
            "add",
            "--council",
            "rr",
            "--name",
            "L1",
            "--email",
            &w.addr("l1"),
            "--role",
            "leader",
        ],
    );
    let out = referent(
        &config,
        &[
            "member",
            "add",
            "--council",
            "rr",
            "--name",
            "L2",
            "--email",
            &w.addr("l2"),
            "--role",
            "leader",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 leaders"));
    let show = json(&config, &["council", "show", "rr", "--json"]);
    assert_eq!(
        show["warnings"].as_array().map(Vec::len),
        Some(1),
        "{show:#}"
    );
}

/// Draft minutes as a PDF, on the embedded default (SQLite and Maildir): the document
/// goes to those who attended and, once approved, to everyone.
#[test]
fn minutes_as_a_document_on_the_embedded_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = embedded_config(dir.path());
    ok(&config, &["init"]);
    council_with(
        &config,
        "ur",
        "Utdanningsrådet",
        &[
            ("Eldbjørg", "koord@hf.example", "coordinator"),
            ("Ola", "ola@hf.example", "member"),
            ("Hdir", "hdir@hdir.example", "observer"),
        ],
    );
    let t0 = "2027-03-01T09:00:00Z";
    ok(
        &config,
        &[
            "--now",
            t0,
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            "2027-03-09T10:00",
            "--place",
            "Ullevål",
        ],
    );
    ok(&config, &["--now", t0, "run", "--once"]);
    let sent = |kind: &str| embedded_sent(dir.path(), kind);
    let summons = sent("summons")
        .into_iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("ola@")))
        .expect("Ola's summons");
    let (to, answer) = answer_summons(&summons, "Ola", "ola@hf.example", "Ja, jeg kommer.");
    assert!(to.starts_with("referent+"));
    std::fs::write(dir.path().join("inbox/new/1.answer"), answer).expect("drop");
    ok(&config, &["--now", "2027-03-02T09:00:00Z", "run", "--once"]);

    // After the meeting the coordinator mails the minutes as a PDF.
    let minutes = "From: Eldbjørg <koord@hf.example>\r\nTo: referent@regut.example\r\n\
        Subject: Referat fra møtet 9. mars\r\nMessage-ID: <min.1@hf.example>\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
        Referatet ligger ved.\r\n--b\r\nContent-Type: application/pdf; name=\"referat.pdf\"\r\n\
        Content-Disposition: attachment; filename=\"referat.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        JVBERi0xLjQKcmVmZXJhdAo=\r\n--b--\r\n";
    std::fs::write(dir.path().join("inbox/new/2.minutes"), minutes).expect("drop");
    ok(&config, &["--now", "2027-03-10T09:00:00Z", "run", "--once"]);
    // Nothing authenticates a new mail on the embedded default: the coordinator it
    // claims to come from is asked, and nothing goes out before she confirms.
    assert!(
        sent("minutes").is_empty(),
        "no draft before the confirmation"
    );
    let asks = sent("confirm");
    assert_eq!(asks.len(), 1, "one confirmation request");
    assert!(header(&asks[0], "To").is_some_and(|t| t.contains("koord@")));
    let (_, text) = subject_and_text(&asks[0]);
    assert!(text.contains("2 mottakere"), "{text}");
    let (_, yes) = answer_summons(&asks[0], "Eldbjørg", "koord@hf.example", "Bekreft");
    std::fs::write(dir.path().join("inbox/new/3.confirm"), yes).expect("drop");
    ok(&config, &["--now", "2027-03-10T09:05:00Z", "run", "--once"]);
    let drafts = sent("minutes");
    let recipients: Vec<String> = drafts.iter().filter_map(|m| header(m, "To")).collect();
    assert_eq!(
        drafts.len(),
        2,
        "Ola (attended) and the coordinator: {recipients:?}"
    );
    assert!(!recipients.iter().any(|r| r.contains("hdir@")));
    let parsed = mail_parser::MessageParser::default()
        .parse(&drafts[0][..])
        .expect("parse");
    let pdf = parsed
        .attachments()
        .find(|a| a.attachment_name() == Some("referat.pdf"))
        .expect("the document goes along");
    assert_eq!(pdf.contents(), b"%PDF-1.4\nreferat\n");

    // Approval waits for the deadline; then the final minutes go to everyone.
    let early = referent(
        &config,
        &["--now", "2027-03-11T09:00:00Z", "minutes", "approve", "1"],
    );
    assert!(!early.status.success());
    ok(&config, &["--now", "2027-03-18T09:00:00Z", "run", "--once"]);
    assert_eq!(sent("digest").len(), 1, "the coordinators' digest");
    ok(
        &config,
        &["--now", "2027-03-18T10:00:00Z", "minutes", "approve", "1"],
    );
    ok(&config, &["--now", "2027-03-18T10:00:00Z", "run", "--once"]);
    let finals = sent("minutes_final");
    assert_eq!(finals.len(), 3, "every member and observer");
    for f in &finals {
        let p = mail_parser::MessageParser::default()
            .parse(&f[..])
            .expect("parse");
        assert!(p
            .attachments()
            .any(|a| a.attachment_name() == Some("referat.pdf")));
    }
}
