//! The end-to-end run, continued: a coordinator forwards a member's answer, a calendar
//! client accepts, a member sends a substitute, and a summons bounces.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

fn itip_accept(member: &str, name: &str, to: &str, uid: &str) -> Vec<u8> {
    format!(
        "From: {name} <{member}>\r\nTo: {to}\r\nSubject: Godtatt: Innkalling\r\nDate: Mon, 04 Jan 2027 10:00:00 +0100\r\n\
         Message-ID: <itip.{}@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"c\"\r\n\r\n\
         --c\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n--c\r\nContent-Type: text/calendar; charset=utf-8; method=REPLY\r\n\r\n\
         BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n\
         ATTENDEE;PARTSTAT=ACCEPTED;CN={name}:mailto:{member}\r\nUID:{uid}\r\nSEQUENCE:0\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n--c--\r\n",
        rand::random::<u64>()
    )
    .into_bytes()
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn forwarded_answer_calendar_accept_substitute_and_bounce() {
    let Some(s) = servers() else { return };
    let w = World::new(&s);
    let (rt, d, secretariat, config) = (
        &w.rt,
        w.domain.clone(),
        w.secretariat.clone(),
        w.config.clone(),
    );
    let coordinator = format!("koordinator@{d}");
    let (cal, fwd, sub, gone) = (
        format!("cal@{d}"),
        format!("fwd@{d}"),
        format!("sub@{d}"),
        format!("bounce-me@{d}"),
    );
    council_with(
        &config,
        "ur",
        "Utdanningsrådet",
        &[
            ("Eldbjørg Koordinator", &coordinator, "coordinator"),
            ("Cal Kalender", &cal, "member"),
            ("Frida Forward", &fwd, "member"),
            ("Siri Substitutt", &sub, "member"),
            ("Borte Borte", &gone, "member"),
        ],
    );
    w.meeting_in_days("ur", 10, &[]);
    let mut daemon = DaemonProcess::start(&config, &w.dir.path().join("daemon.log"));
    rt.block_on(async {
        wait_for("the summons", Duration::from_secs(60), || async {
            count_all(s.imap_port, &cal).await == 1 && count_all(s.imap_port, &fwd).await == 1 && count_all(s.imap_port, &sub).await == 1
        })
        .await;
        // A calendar client's Accept, sent to the organizer, with the UID of Cal's own
        // calendar entry.
        let uid = event_uid(&inbox(s.imap_port, &cal).await.pop().expect("summons"));
        send(s.smtp_port, &cal, &secretariat, &itip_accept(&cal, "Cal Kalender", &secretariat, &uid)).await;
        // Frida answered the coordinator, who forwards it (Outlook, Norwegian).
        let forward = format!(
            "From: Eldbjørg Koordinator <{coordinator}>\r\nTo: {secretariat}\r\nSubject: VS: Forfall\r\nMessage-ID: <fw.{}@x>\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nTil registrering.\r\n\r\n\
             ________________________________\r\nFra: Frida Forward <{fwd}>\r\nSendt: mandag 4. januar 2027 09:12\r\n\
             Til: Eldbjørg Koordinator <{coordinator}>\r\nEmne: Forfall\r\n\r\nJeg må dessverre melde forfall til møtet.\r\n",
            rand::random::<u64>()
        );
        send(s.smtp_port, &coordinator, &secretariat, forward.as_bytes()).await;
        // Nothing authenticates the forward (the test server writes no
        // Authentication-Results): the coordinator confirms it with one word.
        wait_for("the confirmation request", Duration::from_secs(60), || async {
            inbox(s.imap_port, &coordinator)
                .await
                .iter()
                .any(|m| header(m, "X-Referent").as_deref() == Some("confirm"))
        })
        .await;
        let ask = inbox(s.imap_port, &coordinator)
            .await
            .into_iter()
            .find(|m| header(m, "X-Referent").as_deref() == Some("confirm"))
            .expect("confirm");
        let (to, yes) = answer_summons(&ask, "Eldbjørg Koordinator", &coordinator, "Bekreft");
        send(s.smtp_port, &coordinator, &to, &yes).await;
        // Siri sends a substitute, replying to her summons.
        let summons = inbox(s.imap_port, &sub).await.pop().expect("summons");
        let (to, answer) = answer_summons(&summons, "Siri Substitutt", &sub, &format!("Jeg har forfall. Kari Nordmann <kari@{d}> møter for meg."));
        send(s.smtp_port, &sub, &to, &answer).await;

        // The bounce of Borte's summons reaches the mailbox; the coordinator is told.
        wait_for("the coordinator's bounce notice", Duration::from_secs(60), || async {
            inbox(s.imap_port, &coordinator)
                .await
                .iter()
                .any(|m| {
                    header(m, "X-Referent").as_deref() == Some("notice")
                        && subject_and_text(m).0.contains("kommer ikke fram")
                })
        })
        .await;
        wait_for("three answers", Duration::from_secs(60), || async {
            let v: Value = serde_json::from_str(&ok(&config, &["meeting", "show", "1", "--json"])).unwrap_or(Value::Null);
            v["invitations"].as_array().map(|a| a.iter().filter(|i| !i["response"].is_null()).count()) == Some(3)
        })
        .await;
    });

    let v: Value =
        serde_json::from_str(&ok(&config, &["meeting", "show", "1", "--json"])).expect("json");
    let inv = |email: &str| {
        v["invitations"]
            .as_array()
            .expect("invitations")
            .iter()
            .find(|i| i["email"] == email)
            .cloned()
            .expect("invitation")
    };
    let c = inv(&cal);
    assert_eq!(c["response"], "accepted", "{v:#}");
    assert_eq!(c["history"][0]["source"], "calendar");
    let f = inv(&fwd);
    assert_eq!(f["response"], "declined", "{v:#}");
    assert_eq!(f["history"][0]["source"], "forward");
    assert_eq!(
        f["history"][0]["sender"],
        coordinator.as_str(),
        "noting who forwarded"
    );
    let s_ = inv(&sub);
    assert_eq!(s_["response"], "declined");
    assert_eq!(s_["substitute"]["name"], "Kari Nordmann");
    assert_eq!(s_["substitute"]["email"], format!("kari@{d}"));

    let members: Value = serde_json::from_str(&ok(
        &config,
        &["member", "list", "--council", "ur", "--json"],
    ))
    .expect("json");
    let borte = members
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["email"] == gone.as_str())
        .expect("member");
    assert!(
        borte["failing_since"].is_string(),
        "the bounced address is marked failing: {borte:#}"
    );
    assert!(
        borte["failing_reason"]
            .as_str()
            .unwrap_or("")
            .contains("5.1.1"),
        "{borte:#}"
    );
    assert!(
        daemon.terminate(Duration::from_secs(15)),
        "clean exit:\n{}",
        daemon.log_text()
    );
}
