//! A coordinator's year by mail through the real mail stack (Postfix with rspamd's
//! DKIM/DMARC verdicts, Dovecot, IMAP): a signed "status" gets the right table in the
//! coordinator's own mailbox; a signed "Nytt møte …" is asked back, confirmed by
//! «bekreft» and added; the same "nytt møte" forged does nothing but send the
//! confirmation request to the real coordinator. A member with a vara declines and the
//! vara gets the summons; a signed roster is shown as a diff and applied on «bekreft».

use std::time::{Duration, Instant};

use chrono::Datelike;
use serde_json::Value;

use crate::auth_support::auth_stack;
use crate::support::*;

fn json(config: &std::path::Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(config, args)).expect("json")
}

fn run_until(config: &std::path::Path, now: &str, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        ok(config, &["--now", now, "run", "--once"]);
        if check() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn outbox_to(config: &std::path::Path, kind: &str, to: &str) -> usize {
    json(config, &["outbox", "--json"])
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["kind"] == kind && r["recipient"] == to)
                .count()
        })
        .unwrap_or(0)
}

fn mail(from: &str, to: &str, subject: &str, text: &str) -> Vec<u8> {
    format!(
        "From: Eldbjørg Koordinator <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{:016x}@signed.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n",
        rand::random::<u64>()
    )
    .into_bytes()
}

const MONTHS: [&str; 12] = [
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
];

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn status_and_a_new_meeting_by_mail_signed_and_forged() {
    let Some(s) = servers() else { return };
    let Some(stack) = auth_stack() else { return };
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = domain();
    let sec = format!("referent@{d}");
    let tag = format!("{:08x}", rand::random::<u32>());
    let koord = format!("koord-{tag}@signed.test");
    let ola = format!("ola-{tag}@nodmarc.test");
    let config = write_config(
        dir.path(),
        &s,
        &sec,
        &format!(
            "\n[mailbox]\ntrusted_authserv_id = \"{}\"\n",
            stack.authserv_id
        ),
    );
    ok(&config, &["init"]);
    council_with(
        &config,
        "ur",
        "Utdanningsrådet",
        &[
            ("Eldbjørg Koordinator", &koord, "coordinator"),
            ("Ola Nordmann", &ola, "member"),
        ],
    );
    let now = referent::clock::Clock::now(&referent::clock::SystemClock);
    let starts = now + chrono::Duration::days(3);
    let starts_local = starts
        .with_timezone(&chrono_tz::Europe::Oslo)
        .format("%Y-%m-%dT10:00")
        .to_string();
    ok(
        &config,
        &[
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            &starts_local,
            "--place",
            "Ullevål",
        ],
    );
    let t0 = (now + chrono::Duration::minutes(1)).to_rfc3339();
    run_until(&config, &t0, "the summons", || {
        rt.block_on(inbox(s.imap_port, &ola))
            .iter()
            .any(|m| header(m, "X-Referent").as_deref() == Some("summons"))
    });
    let summons = rt
        .block_on(inbox(s.imap_port, &ola))
        .into_iter()
        .find(|m| header(m, "X-Referent").as_deref() == Some("summons"))
        .expect("summons");
    let (to, yes) = answer_summons(&summons, "Ola Nordmann", &ola, "Ja, jeg deltar digitalt.");
    rt.block_on(send(s.smtp_port, &ola, &to, &yes));
    run_until(&config, &t0, "Ola's answer", || {
        json(&config, &["meeting", "show", "1", "--json"])["invitations"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["response"] == "accepted"))
    });

    // 1. A signed "status": the table, in her own mailbox.
    rt.block_on(send(
        stack.signing_port,
        &koord,
        &sec,
        &mail(&koord, &sec, "status", ""),
    ));
    run_until(&config, &t0, "the status", || {
        rt.block_on(inbox(s.imap_port, &koord))
            .iter()
            .any(|m| header(m, "X-Referent").as_deref() == Some("status"))
    });
    let status = rt
        .block_on(inbox(s.imap_port, &koord))
        .into_iter()
        .find(|m| header(m, "X-Referent").as_deref() == Some("status"))
        .expect("status");
    let (_, text) = subject_and_text(&status);
    assert!(text.contains("== Utdanningsrådet =="), "{text}");
    assert!(
        text.contains("0 møter fysisk, 1 digitalt, 0 med vara, 0 forfall, 0 har ikke svart"),
        "{text}"
    );
    assert!(text.contains("Ola Nordmann: deltar digitalt"), "{text}");

    // 2. A signed "Nytt møte": what was understood, to confirm.
    let day = (starts + chrono::Duration::days(14)).with_timezone(&chrono_tz::Europe::Oslo);
    let written = format!(
        "{}. {} {}",
        day.day(),
        MONTHS[day.month0() as usize],
        day.year()
    );
    let line = format!("Nytt møte i Utdanningsrådet {written} kl. 10–12 på Ullevål, bygg 1");
    rt.block_on(send(
        stack.signing_port,
        &koord,
        &sec,
        &mail(&koord, &sec, "Nytt møte", &line),
    ));
    run_until(&config, &t0, "the confirmation request", || {
        rt.block_on(inbox(s.imap_port, &koord))
            .iter()
            .any(|m| header(m, "X-Referent").as_deref() == Some("confirm"))
    });
    assert_eq!(
        json(&config, &["meeting", "list", "--json"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let ask = rt
        .block_on(inbox(s.imap_port, &koord))
        .into_iter()
        .find(|m| header(m, "X-Referent").as_deref() == Some("confirm"))
        .expect("confirm");
    let (_, text) = subject_and_text(&ask);
    assert!(text.contains("kl. 10:00–12:00, Ullevål, bygg 1"), "{text}");
    assert!(text.contains("Svar «bekreft»"), "{text}");
    let (to, bekreft) = answer_summons(&ask, "Eldbjørg", &koord, "Bekreft");
    rt.block_on(send(stack.signing_port, &koord, &to, &bekreft));
    run_until(&config, &t0, "the new meeting", || {
        json(&config, &["meeting", "list", "--json"])
            .as_array()
            .is_some_and(|a| a.len() == 2)
    });
    run_until(&config, &t0, "word that it is done", || {
        outbox_to(&config, "meeting_request", &koord) == 1
    });

    // 3. The same forged (unsigned: dmarc=fail): only a confirmation request to her.
    let forged_line =
        format!("Nytt møte i Utdanningsrådet {written} kl. 13–15 på https://evil.example/m");
    rt.block_on(send(
        s.smtp_port,
        &koord,
        &sec,
        &mail(&koord, &sec, "Nytt møte", &forged_line),
    ));
    run_until(&config, &t0, "the second confirmation request", || {
        outbox_to(&config, "confirm", &koord) == 2
    });
    assert_eq!(
        json(&config, &["meeting", "list", "--json"])
            .as_array()
            .map(Vec::len),
        Some(2),
        "no forged meeting"
    );
    assert_eq!(outbox_to(&config, "meeting_request", &koord), 1);
    let held = json(&config, &["inbox", "--state", "held", "--json"]);
    assert!(
        held.as_array()
            .is_some_and(|a| a.iter().any(|m| m["outcome"]
                .as_str()
                .is_some_and(|o| o.contains("dmarc=fail")))),
        "{held:#}"
    );
}

/// A signed mail with a CSV attached.
fn roster_mail(from: &str, to: &str, subject: &str, csv: &str) -> Vec<u8> {
    format!(
        "From: Eldbjørg Koordinator <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{:016x}@signed.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Her er den nye lista.\r\n\
         --b1\r\nContent-Type: text/csv; charset=utf-8; name=\"medlemmer.csv\"\r\n\
         Content-Disposition: attachment; filename=\"medlemmer.csv\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         {csv}\r\n--b1--\r\n",
        rand::random::<u64>()
    )
    .into_bytes()
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn a_vara_is_summoned_on_a_decline_and_a_signed_roster_is_applied_on_bekreft() {
    let Some(s) = servers() else { return };
    let Some(stack) = auth_stack() else { return };
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = domain();
    let sec = format!("referent@{d}");
    let tag = format!("{:08x}", rand::random::<u32>());
    let koord = format!("koord-{tag}@signed.test");
    let ola = format!("ola-{tag}@nodmarc.test");
    let per = format!("per-{tag}@nodmarc.test");
    let kari = format!("kari-{tag}@nodmarc.test");
    let lene = format!("lene-{tag}@nodmarc.test");
    let config = write_config(
        dir.path(),
        &s,
        &sec,
        &format!(
            "\n[mailbox]\ntrusted_authserv_id = \"{}\"\n",
            stack.authserv_id
        ),
    );
    ok(&config, &["init"]);
    council_with(
        &config,
        "ur",
        "Utdanningsrådet",
        &[
            ("Eldbjørg Koordinator", &koord, "coordinator"),
            ("Kari Hansen", &kari, "member"),
            ("Lene Leder", &lene, "member"),
        ],
    );
    ok(
        &config,
        &[
            "member",
            "add",
            "--council",
            "ur",
            "--name",
            "Ola Nordmann",
            "--email",
            &ola,
            "--role",
            "member",
            "--vara",
            &per,
        ],
    );
    let now = referent::clock::Clock::now(&referent::clock::SystemClock);
    let starts_local = (now + chrono::Duration::days(3))
        .with_timezone(&chrono_tz::Europe::Oslo)
        .format("%Y-%m-%dT10:00")
        .to_string();
    ok(
        &config,
        &[
            "meeting",
            "add",
            "--council",
            "ur",
            "--starts",
            &starts_local,
            "--place",
            "Ullevål",
        ],
    );
    let t0 = (now + chrono::Duration::minutes(1)).to_rfc3339();
    let kind_in = |who: &str, kind: &str| {
        rt.block_on(inbox(s.imap_port, who))
            .into_iter()
            .find(|m| header(m, "X-Referent").as_deref() == Some(kind))
    };
    run_until(&config, &t0, "Ola's summons", || {
        kind_in(&ola, "summons").is_some()
    });

    // 1. Ola declines without naming anyone: his vara gets the summons, as a participant.
    let summons = kind_in(&ola, "summons").expect("summons");
    let (to, no) = answer_summons(
        &summons,
        "Ola Nordmann",
        &ola,
        "Jeg kan dessverre ikke komme.",
    );
    rt.block_on(send(s.smtp_port, &ola, &to, &no));
    run_until(&config, &t0, "the vara's summons", || {
        kind_in(&per, "summons").is_some()
    });
    let vara = kind_in(&per, "summons").expect("the vara's summons");
    let (_, text) = subject_and_text(&vara);
    assert!(text.contains("Ola Nordmann"), "says for whom: {text}");
    assert_ne!(
        event_uid(&vara),
        event_uid(&summons),
        "an entry of his own, not Ola's"
    );

    // 2. A signed roster: Kari becomes deputy, Nina is new, Lene is not in it.
    let csv = format!(
        "name,email,role\r\nOla Nordmann,{ola},member\r\nKari Hansen,{kari},deputy\r\nNina Ny,nina-{tag}@nodmarc.test,member\r\n"
    );
    rt.block_on(send(
        stack.signing_port,
        &koord,
        &sec,
        &roster_mail(&koord, &sec, "Ny medlemsliste", &csv),
    ));
    run_until(&config, &t0, "the diff to confirm", || {
        kind_in(&koord, "confirm").is_some()
    });
    let ask = kind_in(&koord, "confirm").expect("confirm");
    let (_, text) = subject_and_text(&ask);
    for line in ["Nye (1):", "Endret (1):", "Går ut (1)", "Svar «bekreft»"] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }
    let members = || ok(&config, &["member", "list", "--council", "ur", "--json"]);
    assert!(!members().contains("nina-"), "nothing before «bekreft»");
    let (to, bekreft) = answer_summons(&ask, "Eldbjørg", &koord, "bekreft");
    rt.block_on(send(stack.signing_port, &koord, &to, &bekreft));
    run_until(&config, &t0, "the roster applied", || {
        members().contains("nina-")
    });
    let list = members();
    assert!(!list.contains(&lene), "Lene has left: {list}");
    assert!(list.contains("deputy"), "{list}");
    run_until(&config, &t0, "Lene's withdrawal", || {
        kind_in(&lene, "withdrawn").is_some()
    });
}
