//! Recovery paths, made to happen on purpose against the real servers: a send
//! interrupted after the server took it, one interrupted before, and a mailbox whose
//! UIDVALIDITY changed.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use referent::clock::{Clock, SystemClock};
use referent::config::{Config, MailboxConfig};
use referent::daemon::Daemon;
use referent::domain::{Place, Role};
use referent::mail::inbound::imap::ImapSource;
use referent::store::{NewMeeting, NewMember, Store};

use crate::support::*;

async fn set_outbox_state(url: &str, state: &str, next: chrono::DateTime<Utc>) {
    let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
    sqlx::query("UPDATE outbox SET state = ?1, sent_at = NULL, next_attempt_at = ?2")
        .bind(state)
        .bind(referent::store::ts(next))
        .execute(&pool)
        .await
        .expect("update");
    pool.close().await;
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn interrupted_sends_and_a_changed_uidvalidity_lose_nothing_and_repeat_nothing() {
    let Some(s) = servers() else { return };
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = domain();
    let secretariat = format!("referent@{d}");
    let member = format!("ola@{d}");
    let path = write_config(dir.path(), &s, &secretariat, "");
    rt.block_on(async {
        let cfg = Config::load(&path).expect("config");
        let url = cfg.database_url.clone();
        let store = Store::open(&url).await.expect("store");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let now = clock.now();
        let c = store.add_council("ur", "Utdanningsrådet", now).await.expect("council");
        store
            .add_members(c, &[NewMember { name: "Ola".into(), email: member.clone(), organisation: None, role: Role::Member, doctor: true, language: None, vara: None }], now)
            .await
            .expect("member");
        let starts = now + chrono::Duration::days(10);
        store
            .add_meeting(
                &NewMeeting {
                    council_id: c,
                    title: "Møte".into(),
                    starts_at: starts,
                    ends_at: starts + chrono::Duration::hours(2),
                    time_zone: "Europe/Oslo".into(),
                    place: Place { room: Some("Ullevål".into()), digital_link: None },
                    uid: format!("{}@{d}", rand::random::<u64>()),
                },
                &referent::schedule::jobs_for(starts, cfg.offsets("ur"), cfg.secretariat.time_zone),
                now,
            )
            .await
            .expect("meeting");
        let daemon = Daemon::new(cfg.clone(), store.clone(), clock.clone()).await.expect("daemon");

        let r = daemon.run_once().await.expect("first pass");
        assert_eq!(r.sent, 1);
        wait_for("the summons and its copy", Duration::from_secs(30), || async {
            count_all(s.imap_port, &member).await == 1 && count_all(s.imap_port, &secretariat).await == 1
        })
        .await;

        // 1. A crash after the server took the message, before we recorded it: the row
        //    is still `sending`. The copy in the mailbox confirms it; nothing is resent.
        set_outbox_state(&url, "sending", clock.now() + chrono::Duration::seconds(30)).await;
        daemon.run_once().await.expect("second pass");
        let rows = store.outbox().await.expect("outbox");
        assert_eq!(rows[0].state.as_str(), "sent", "confirmed by its copy");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(count_all(s.imap_port, &member).await, 1, "no second summons");

        // 2. A crash before the server took it: no copy comes back, and once the grace
        //    period is over the message is sent again — nothing is lost.
        set_outbox_state(&url, "sending", clock.now() - chrono::Duration::seconds(1)).await;
        let r = daemon.run_once().await.expect("third pass");
        assert_eq!(r.sent, 1, "resent after the grace period");
        wait_for("the resent summons", Duration::from_secs(30), || async {
            count_all(s.imap_port, &member).await == 2
        })
        .await;

        // 3. UIDVALIDITY changes (a restored mailbox, its keywords lost): the folder is
        //    scanned again from the start — a message numbered below the old
        //    checkpoint is read — and nothing already handled is acted on twice.
        daemon.run_once().await.expect("pass");
        let before = store.inbound_list(None).await.expect("inbound").len();
        let MailboxConfig::Imap(imap) = &cfg.mailbox else { panic!("imap") };
        let name = ImapSource::checkpoint_name(imap);
        let (validity, last) = store.checkpoint(&name).await.expect("checkpoint").expect("a checkpoint is stored");
        assert!(last >= 2, "the checkpoint moved past handled mail");
        // The old numbering went far higher than the new one does.
        store.set_checkpoint(&name, validity.wrapping_add(1), last + 1000, clock.now()).await.expect("set");
        let outbox_before = store.outbox().await.expect("outbox").len();
        let raw = format!("From: Eve <eve@{d}>\r\nTo: {secretariat}\r\nSubject: Hei\r\nMessage-ID: <new@{d}>\r\n\r\nHei\r\n");
        send(s.smtp_port, &format!("eve@{d}"), &secretariat, raw.as_bytes()).await;
        wait_for("the new message", Duration::from_secs(30), || async {
            count_all(s.imap_port, &secretariat).await == 3
        })
        .await;
        drop_keyword(s.imap_port, &secretariat, "$ReferentHandled").await;
        let r = daemon.run_once().await.expect("pass after the change");
        assert_eq!(r.received, 3, "every message is read again: {r:?}");
        assert_eq!(
            store.inbound_list(None).await.expect("inbound").len(),
            before + 1,
            "only the new message is new"
        );
        assert_eq!(
            store.outbox().await.expect("outbox").len(),
            outbox_before,
            "nothing is answered twice"
        );
        assert_eq!(with_keyword(s.imap_port, &secretariat, "$ReferentHandled").await, 3);
        let (v2, _) = store.checkpoint(&name).await.expect("cp").expect("cp");
        assert_eq!(v2, validity, "the server's UIDVALIDITY is stored again");
        store.close().await;
    });
}

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn a_5xx_fails_the_row_a_4xx_is_retried_and_reminders_go_only_to_the_silent() {
    let Some(s) = servers() else { return };
    let w = World::new(&s);
    let (rt, d, secretariat, config) = (
        &w.rt,
        w.domain.clone(),
        w.secretariat.clone(),
        w.config.clone(),
    );
    let addresses: Vec<(&str, String, &str)> = [
        ("Gone", "refuse-permanently", "member"),
        ("Busy", "refuse-for-now", "member"),
        ("Ola", "ola", "member"),
        ("Kari", "kari", "member"),
        ("Direktoratet", "observer", "observer"),
        ("Koord", "koord", "coordinator"),
    ]
    .into_iter()
    .map(|(name, local, role)| (name, format!("{local}@{d}"), role))
    .collect();
    let members: Vec<(&str, &str, &str)> = addresses
        .iter()
        .map(|(n, e, r)| (*n, e.as_str(), *r))
        .collect();
    council_with(&config, "ur", "Utdanningsrådet", &members);
    let start = w.meeting_in_days("ur", 10, &[]);
    let report: serde_json::Value =
        serde_json::from_str(&ok(&config, &["run", "--once"])).expect("report");
    // Four summons (the coordinator's too) and the coordinator's notice that the
    // server refused one for good.
    assert_eq!(report["sent"], 5, "{report}");
    assert_eq!(report["failed"], 1, "{report}");
    assert_eq!(report["retried"], 1, "{report}");

    let rows: serde_json::Value =
        serde_json::from_str(&ok(&config, &["outbox", "--json"])).expect("outbox");
    let row = |local: &str| {
        rows.as_array()
            .expect("rows")
            .iter()
            .find(|r| r["recipient"] == format!("{local}@{d}"))
            .cloned()
            .expect("row")
    };
    let gone = row("refuse-permanently");
    assert_eq!(gone["state"], "failed");
    assert!(
        gone["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("No such user"),
        "{gone:#}"
    );
    let notice = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["kind"] == "notice" && r["recipient"] == format!("koord@{d}"))
        .cloned();
    assert!(notice.is_some(), "the coordinator is told: {rows:#}");
    let show = ok(&config, &["meeting", "show", "1"]);
    assert!(
        show.contains(&format!("mail to refuse-permanently@{d} fails")),
        "{show}"
    );
    let busy = row("refuse-for-now");
    assert_eq!(busy["state"], "pending");
    assert_eq!(busy["attempts"], 1);
    assert!(
        busy["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("try again later"),
        "{busy:#}"
    );
    assert!(
        busy["next_attempt_at"].as_str() > Some(""),
        "retried later, not at once"
    );

    // Ola answers; four days before the meeting the reminder goes to Kari only: not to
    // Ola (answered), not to the observer, not to the failing address.
    rt.block_on(async {
        let summons = inbox(s.imap_port, &format!("ola@{d}"))
            .await
            .pop()
            .expect("summons");
        let (to, raw) = answer_summons(&summons, "Ola", &format!("ola@{d}"), "Jeg kommer.");
        send(s.smtp_port, &format!("ola@{d}"), &to, &raw).await;
        wait_for("Ola's answer", Duration::from_secs(30), || async {
            count_all(s.imap_port, &secretariat).await >= 6
        })
        .await;
    });
    ok(&config, &["run", "--once"]);
    let four_days_before = (start - chrono::Duration::days(4)).to_rfc3339();
    ok(&config, &["--now", &four_days_before, "run", "--once"]);
    rt.block_on(async {
        let reminders = |local: &'static str| {
            let addr = format!("{local}@{d}");
            async move {
                inbox(s.imap_port, &addr)
                    .await
                    .iter()
                    .filter(|m| header(m, "X-Referent").as_deref() == Some("reminder"))
                    .count()
            }
        };
        wait_for("Kari's reminder", Duration::from_secs(30), || async {
            reminders("kari").await == 1
        })
        .await;
        assert_eq!(reminders("ola").await, 0, "answered: no reminder");
        assert_eq!(
            reminders("observer").await,
            0,
            "observers are never reminded"
        );
    });
    // The reminder job ran once: a second pass sends nothing more.
    let again: serde_json::Value =
        serde_json::from_str(&ok(&config, &["--now", &four_days_before, "run", "--once"]))
            .expect("report");
    assert_eq!(again["jobs"], 0, "{again}");
}

/// A folder that does not exist needs a person: the daemon stops and says why, instead
/// of retrying for ever.
#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn a_wrong_folder_stops_the_daemon_with_the_reason() {
    let Some(s) = servers() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = domain();
    let config = write_config(dir.path(), &s, &format!("referent@{d}"), "");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replacen("idle = true", "idle = true\nfolder = \"Finnes-ikke\"", 1),
    )
    .expect("write");
    ok(&config, &["init"]);
    let log = dir.path().join("daemon.log");
    let mut daemon = DaemonProcess::start(&config, &log);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = daemon.log_text();
    let status = status.unwrap_or_else(|| panic!("still running:\n{text}"));
    assert!(!status.success(), "{text}");
    assert!(
        text.contains("cannot select the folder Finnes-ikke"),
        "the reason names the folder:\n{text}"
    );
}
