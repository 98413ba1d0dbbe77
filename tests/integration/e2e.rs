//! The whole loop through the real servers: summons out through Postfix, answers in
//! from Dovecot, receipts out, the daemon killed with SIGKILL twice along the way.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// A member's reply as a mail client writes it: `SV:`/`Re:` subject, `In-Reply-To` and
/// `References`, the summons quoted below the answer.
fn reply(
    member: &str,
    name: &str,
    summons: &[u8],
    prefix: &str,
    extra: &str,
    body: &str,
    gmail: bool,
) -> (String, Vec<u8>) {
    let message_id = header(summons, "Message-ID").expect("summons has a Message-ID");
    let to = address_in(&header(summons, "Reply-To").expect("summons has a Reply-To"));
    let (subject, text) = subject_and_text(summons);
    let quoted = if gmail {
        format!(
            "Den man. 4. jan. 2027 kl. 09:00 skrev RegUt HSØ <{to}>:\r\n{}",
            text.lines()
                .map(|l| format!("> {l}"))
                .collect::<Vec<_>>()
                .join("\r\n")
        )
    } else {
        format!(
            "________________________________\r\nFra: RegUt HSØ <{to}>\r\nSendt: mandag 4. januar 2027 09:00\r\nTil: {name} <{member}>\r\nEmne: {subject}\r\n\r\n{}",
            text.replace('\n', "\r\n")
        )
    };
    let raw = format!(
        "From: {name} <{member}>\r\nTo: RegUt HSØ <{to}>\r\nSubject: {prefix}{subject}\r\nDate: Mon, 04 Jan 2027 10:00:00 +0100\r\nMessage-ID: <{}.{member}>\r\nIn-Reply-To: {message_id}\r\nReferences: {message_id}\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n\r\n{quoted}\r\n",
        rand::random::<u64>()
    );
    (to, raw.into_bytes())
}

fn show(config: &std::path::Path) -> Value {
    serde_json::from_str(&ok(config, &["meeting", "show", "1", "--json"]))
        .expect("meeting show --json")
}

fn invitation<'a>(v: &'a Value, email: &str) -> &'a Value {
    v["invitations"]
        .as_array()
        .expect("invitations")
        .iter()
        .find(|i| i["email"] == email)
        .unwrap_or_else(|| panic!("no invitation for {email}: {v:#}"))
}

fn count_kind(msgs: &[Vec<u8>], kind: &str) -> usize {
    msgs.iter()
        .filter(|m| header(m, "X-Referent").as_deref() == Some(kind))
        .count()
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn summons_answers_receipts_through_real_servers_with_crashes() {
    let Some(s) = servers() else { return };
    let w = World::new(&s);
    let (rt, d, secretariat, config) = (
        &w.rt,
        w.domain.clone(),
        w.secretariat.clone(),
        w.config.clone(),
    );
    let members: Vec<(String, String)> = [
        "Kari Nordmann",
        "Ola Hansen",
        "Ingrid Berg",
        "Sigrid Lie",
        "Per Olsen",
    ]
    .iter()
    .enumerate()
    .map(|(i, n)| (n.to_string(), format!("m{}@{d}", i + 1)))
    .collect();

    ok(
        &config,
        &[
            "council",
            "add",
            "--slug",
            "utdanningsradet",
            "--name",
            "Utdanningsrådet",
        ],
    );
    for (name, email) in &members {
        ok(
            &config,
            &[
                "member",
                "add",
                "--council",
                "utdanningsradet",
                "--name",
                name,
                "--email",
                email,
                "--doctor",
            ],
        );
    }
    w.meeting_in_days(
        "utdanningsradet",
        10,
        &["--digital-link", "https://teams.example/x"],
    );

    let started = std::time::Instant::now();
    let log = w.dir.path().join("daemon.log");
    let mut daemon = DaemonProcess::start(&config, &log);

    // Kill the daemon as soon as the first summons is delivered: the rest must still go
    // out, and nobody may get a second one.
    rt.block_on(wait_for(
        "a first summons",
        Duration::from_secs(60),
        || async {
            !inbox(s.imap_port, &members[0].1).await.is_empty()
                || !inbox(s.imap_port, &members[4].1).await.is_empty()
        },
    ));
    daemon.kill();
    let mut daemon = DaemonProcess::start(&config, &log);
    rt.block_on(wait_for(
        "every summons",
        Duration::from_secs(60),
        || async {
            for (_, m) in &members {
                if inbox(s.imap_port, m).await.is_empty() {
                    return false;
                }
            }
            true
        },
    ));

    // The members answer like mail clients would.
    let summons_of = |m: &str| {
        let msgs = rt.block_on(inbox(s.imap_port, m));
        msgs.into_iter()
            .find(|x| header(x, "X-Referent").as_deref() == Some("summons"))
            .expect("summons")
    };
    let sends = [
        (0, "SV: ", "", "Ja, jeg kommer.\r\n\r\nMvh\r\nKari", true),
        (
            1,
            "SV: ",
            "",
            "Må dessverre melde forfall denne gangen.\r\n\r\nVennlig hilsen\r\nOla Hansen",
            false,
        ),
        (
            2,
            "Re: ",
            "",
            "Jeg deltar digitalt.\r\n\r\nSendt fra min iPhone",
            true,
        ),
        (
            3,
            "Automatisk svar: ",
            "Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n",
            "Jeg er på ferie og kommer ikke på møtet. Tilbake 10. januar.",
            false,
        ),
    ];
    for (i, prefix, extra, body, gmail) in sends {
        let (name, member) = &members[i];
        let summons = summons_of(member);
        let (to, raw) = reply(member, name, &summons, prefix, extra, body, gmail);
        rt.block_on(send(s.smtp_port, member, &to, &raw));
    }
    // Kill it again while the answers are being read.
    std::thread::sleep(Duration::from_millis(300));
    daemon.kill();
    let mut daemon = DaemonProcess::start(&config, &log);

    rt.block_on(wait_for(
        "three receipts",
        Duration::from_secs(90),
        || async {
            for (_, m) in &members[..3] {
                if count_kind(&inbox(s.imap_port, m).await, "receipt") == 0 {
                    return false;
                }
            }
            true
        },
    ));
    let v = show(&config);
    let elapsed = started.elapsed();

    // meeting show --json says exactly what was answered.
    let kari = invitation(&v, &members[0].1);
    assert_eq!(kari["response"], "accepted", "{v:#}");
    let ola = invitation(&v, &members[1].1);
    assert_eq!(ola["response"], "declined");
    let ingrid = invitation(&v, &members[2].1);
    assert_eq!(ingrid["response"], "accepted");
    assert_eq!(ingrid["attendance"], "digital");
    for i in [3, 4] {
        let inv = invitation(&v, &members[i].1);
        assert!(
            inv["response"].is_null(),
            "{} must have no answer: {inv:#}",
            members[i].1
        );
    }
    for (_, email) in &members[..3] {
        let inv = invitation(&v, email);
        assert_eq!(
            inv["history"].as_array().map(Vec::len),
            Some(1),
            "one answer each, counted once: {inv:#}"
        );
        assert!(
            inv["message_id"].as_str().is_some(),
            "the answer names its message"
        );
    }

    // Exactly one summons each; receipts to the three who answered; nothing to the
    // autoresponder.
    for (i, (_, m)) in members.iter().enumerate() {
        let msgs = rt.block_on(inbox(s.imap_port, m));
        assert_eq!(
            count_kind(&msgs, "summons"),
            1,
            "{m} got exactly one summons"
        );
        let receipts = count_kind(&msgs, "receipt");
        assert_eq!(receipts, usize::from(i < 3), "{m} receipts");
        for msg in &msgs {
            assert!(
                header(msg, "Auto-Submitted").is_some(),
                "automatic mail says so (RFC 3834)"
            );
        }
    }
    let receipt = rt
        .block_on(inbox(s.imap_port, &members[2].1))
        .into_iter()
        .find(|x| header(x, "X-Referent").as_deref() == Some("receipt"))
        .expect("receipt");
    assert_eq!(
        header(&receipt, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(subject_and_text(&receipt).1.contains("Du deltar digitalt."));

    // Every message in the secretariat's mailbox is marked handled: the four replies
    // and our own copies of the five summons and three receipts.
    rt.block_on(wait_for(
        "every message marked handled",
        Duration::from_secs(30),
        || async { rt_handled(s.imap_port, &secretariat).await },
    ));
    assert_eq!(rt.block_on(count_all(s.imap_port, &secretariat)), 4 + 5 + 3);

    // The auto-reply is kept and marked, not answered.
    let inbox_json: Value =
        serde_json::from_str(&ok(&config, &["inbox", "--json"])).expect("inbox json");
    let rows = inbox_json.as_array().expect("rows");
    let from_members: Vec<&Value> = rows
        .iter()
        .filter(|r| r["sender"] != secretariat.as_str())
        .collect();
    assert_eq!(from_members.len(), 4, "{inbox_json:#}");
    assert_eq!(
        from_members
            .iter()
            .filter(|r| r["state"] == "processed")
            .count(),
        3,
        "{inbox_json:#}"
    );
    let auto = from_members
        .iter()
        .find(|r| r["kind"] == "auto_reply")
        .expect("the auto-reply is kept");
    assert_eq!(auto["state"], "ignored");
    assert!(rows
        .iter()
        .filter(|r| r["sender"] == secretariat.as_str())
        .all(|r| r["state"] == "ignored"));

    // SIGTERM stops it cleanly.
    let peak = daemon.peak_memory_kib();
    assert!(
        daemon.terminate(Duration::from_secs(15)),
        "clean exit on SIGTERM:\n{}",
        daemon.log_text()
    );
    eprintln!(
        "e2e figures: {} members; {} messages through Postfix and Dovecot (5 summons, 4 replies, 3 receipts, 8 copies); \
         {:.1} s from first start to the last receipt, two SIGKILLs included; peak memory of the last daemon {} KiB",
        members.len(),
        5 + 4 + 3 + 8,
        elapsed.as_secs_f64(),
        peak.map(|p| p.to_string()).unwrap_or_else(|| "?".into())
    );
}

async fn rt_handled(port: u16, user: &str) -> bool {
    let all = count_all(port, user).await;
    all > 0 && with_keyword(port, user, "$ReferentHandled").await == all
}
