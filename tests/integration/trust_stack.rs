//! The trust model through the real mail stack: Postfix stamps real
//! `Authentication-Results` (rspamd verifying DKIM and DMARC against keys in a loopback
//! DNS), Dovecot delivers, referent reads over IMAP. A coordinator whose domain signs
//! is believed at once; the same message forged is not; a member whose domain has no
//! DMARC is still understood when replying to their own summons.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::auth_support::auth_stack;
use crate::support::*;

fn json(config: &std::path::Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(config, args)).expect("json")
}

/// Runs passes at `now` until `check` holds (mail travels through the servers between
/// them), or fails after a minute.
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

fn minutes_mail(from: &str, to: &str, text: &str) -> Vec<u8> {
    format!(
        "From: Eldbjørg Koordinator <{from}>\r\nTo: {to}\r\nSubject: Utkast til referat fra møtet\r\n\
         Message-ID: <{:016x}@signed.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n",
        rand::random::<u64>()
    )
    .into_bytes()
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn signed_coordinator_believed_forged_one_asked_member_without_dmarc_understood() {
    let Some(s) = servers() else { return };
    let Some(stack) = auth_stack() else { return };
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = domain();
    let sec = format!("referent@{d}");
    let tag = format!("{:08x}", rand::random::<u32>());
    // The coordinator's domain signs and publishes p=reject; the member's has neither.
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

    // 1. Ola answers his own summons from a domain without DMARC: the key is enough.
    let summons = rt
        .block_on(inbox(s.imap_port, &ola))
        .into_iter()
        .find(|m| header(m, "X-Referent").as_deref() == Some("summons"))
        .expect("summons");
    let (to, yes) = answer_summons(&summons, "Ola Nordmann", &ola, "Ja, jeg kommer.");
    rt.block_on(send(s.smtp_port, &ola, &to, &yes));
    run_until(&config, &t0, "Ola's answer", || {
        json(&config, &["meeting", "show", "1", "--json"])["invitations"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .any(|i| i["email"] == ola.as_str() && i["response"] == "accepted")
            })
    });

    // 2. After the meeting, forged minutes in the coordinator's name: unsigned, so the
    //    receiving server says dmarc=fail, and nothing goes out but her confirmation
    //    request.
    let after = (starts + chrono::Duration::days(1)).to_rfc3339();
    rt.block_on(send(
        s.smtp_port,
        &koord,
        &sec,
        &minutes_mail(&koord, &sec, "Sak 1: Se https://evil.example/referat"),
    ));
    run_until(&config, &after, "the confirmation request", || {
        outbox_to(&config, "confirm", &koord) == 1
    });
    assert_eq!(
        outbox_to(&config, "minutes", &ola),
        0,
        "no forged draft reaches Ola"
    );
    let held = json(&config, &["inbox", "--state", "held", "--json"]);
    assert!(
        held.as_array()
            .is_some_and(|a| a.iter().any(|m| m["outcome"]
                .as_str()
                .is_some_and(|o| o.contains("dmarc=fail")))),
        "{held:#}"
    );

    // 3. The real coordinator's minutes, signed by her domain: believed at once.
    rt.block_on(send(
        stack.signing_port,
        &koord,
        &sec,
        &minutes_mail(&koord, &sec, "Sak 1: Rådet drøftet veilederen."),
    ));
    run_until(&config, &after, "the signed draft", || {
        outbox_to(&config, "minutes", &ola) == 1
    });
    assert_eq!(
        outbox_to(&config, "confirm", &koord),
        1,
        "no second confirmation"
    );
}
