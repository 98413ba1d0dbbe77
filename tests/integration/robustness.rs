//! Hostile and huge mail through the real servers: kept, marked, and the daemon goes on.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn malformed_and_huge_messages_are_kept_and_do_not_stop_the_daemon() {
    let Some(s) = servers() else { return };
    let w = World::new(&s);
    let (rt, d, secretariat, config) = (
        &w.rt,
        w.domain.clone(),
        w.secretariat.clone(),
        w.config.clone(),
    );
    ok(&config, &["init"]);
    let mut daemon = DaemonProcess::start(&config, &w.dir.path().join("daemon.log"));

    // A From: of 99,999 colons, a multipart whose boundary never closes, a charset
    // nobody knows, and a part nested in itself.
    let mut malformed = String::from("From: ");
    malformed.push_str(&":".repeat(99_999));
    malformed.push_str("\r\nTo: referent@");
    malformed.push_str(&d);
    malformed.push_str("\r\nSubject: =?x-unknown?Q?broken?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n");
    for _ in 0..200 {
        malformed.push_str("--b1\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n");
    }
    malformed.push_str("--b1\r\nContent-Type: text/plain; charset=x-klingon\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n");
    rt.block_on(send(
        s.smtp_port,
        &format!("broken@{d}"),
        &secretariat,
        malformed.as_bytes(),
    ));

    // 20 MB: a report with a large attachment.
    let mut huge = format!(
        "From: Kari <kari@{d}>\r\nTo: {secretariat}\r\nSubject: Stort vedlegg\r\nMessage-ID: <huge@{d}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"h\"\r\n\r\n--h\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSe vedlegg.\r\n--h\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"rapport.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    while huge.len() < 20 * 1024 * 1024 {
        huge.push_str(line);
    }
    huge.push_str("--h--\r\n");
    rt.block_on(send(
        s.smtp_port,
        &format!("kari@{d}"),
        &secretariat,
        huge.as_bytes(),
    ));

    // And an ordinary message after them, which must still be read.
    let plain = format!("From: Eve <eve@{d}>\r\nTo: {secretariat}\r\nSubject: Hei\r\nMessage-ID: <plain@{d}>\r\n\r\nJa, jeg kommer.\r\n");
    rt.block_on(send(
        s.smtp_port,
        &format!("eve@{d}"),
        &secretariat,
        plain.as_bytes(),
    ));

    rt.block_on(wait_for(
        "three messages stored and marked handled",
        Duration::from_secs(120),
        || async { with_keyword(s.imap_port, &secretariat, "$ReferentHandled").await == 3 },
    ));
    assert!(
        daemon.child.try_wait().expect("try_wait").is_none(),
        "the daemon is still running:\n{}",
        daemon.log_text()
    );

    let v: Value = serde_json::from_str(&ok(&config, &["inbox", "--json"])).expect("json");
    let rows = v.as_array().expect("rows");
    for r in rows {
        assert_eq!(r["state"], "held", "kept for a coordinator: {r:#}");
        assert!(!r["outcome"].as_str().unwrap_or("").is_empty());
    }
    let big = rows
        .iter()
        .find(|r| r["message_id"] == format!("huge@{d}"))
        .expect("the huge message is stored");
    assert!(big["size"].as_i64().unwrap_or(0) >= 20 * 1024 * 1024);
    let broken = rows
        .iter()
        .find(|r| r["sender"].is_null())
        .expect("the malformed message is stored");
    assert!(
        !broken["problems"].as_array().expect("problems").is_empty(),
        "{broken:#}"
    );

    // Nothing was answered.
    assert!(
        rt.block_on(inbox(s.imap_port, &format!("eve@{d}")))
            .is_empty(),
        "strangers get no reply"
    );
    assert!(
        daemon.terminate(Duration::from_secs(15)),
        "clean exit:\n{}",
        daemon.log_text()
    );
}
