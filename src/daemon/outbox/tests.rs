//! The dispatch loop on the stub transport: order, pauses, retries, failures, pace.

use super::*;
use crate::clock::{Clock, ShiftedClock};
use crate::config::{SmtpConfig, Tls};
use crate::domain::Role;
use crate::mail::outbound::stub::StubTransport;
use crate::mail::outbound::Stage;
use crate::store::{NewMember, OutgoingMail, Store};

/// A clock the test moves.
struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn advance(&self, d: chrono::Duration) {
        *self.0.lock().unwrap() += d;
    }
}

const WITNESS: &str = "referent+sent@localhost.localdomain";

fn t0() -> DateTime<Utc> {
    "2027-03-01T09:00:00Z".parse().unwrap()
}

struct Setup {
    daemon: Daemon,
    stub: Arc<StubTransport>,
    clock: Arc<TestClock>,
    _dir: tempfile::TempDir,
}

async fn setup_with(
    stub: StubTransport,
    max_per_minute: Option<u32>,
    clock: Option<Arc<dyn Clock>>,
) -> (
    Daemon,
    Arc<StubTransport>,
    Arc<TestClock>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::embedded(dir.path());
    cfg.outbound = OutboundConfig::Smtp(SmtpConfig {
        host: "stub.invalid".into(),
        port: 25,
        tls: Tls::None,
        credentials: None,
        copy_to_mailbox: true,
        max_connections: stub.connections(),
        max_per_minute,
        quota_pause: Duration::from_secs(3600),
    });
    let store = Store::open(&cfg.database_url).await.unwrap();
    let test_clock = Arc::new(TestClock(Mutex::new(t0())));
    let clock = clock.unwrap_or_else(|| test_clock.clone());
    let stub = Arc::new(stub);
    let daemon = Daemon::with_transport(cfg, store, clock, stub.clone()).unwrap();
    (daemon, stub, test_clock, dir)
}

async fn setup(stub: StubTransport) -> Setup {
    let (daemon, stub, clock, dir) = setup_with(stub, None, None).await;
    Setup {
        daemon,
        stub,
        clock,
        _dir: dir,
    }
}

fn mail(key: &str, kind: &str, to: &str) -> OutgoingMail {
    OutgoingMail {
        effect_key: key.into(),
        message_id: format!("{key}@localhost.localdomain"),
        kind: kind.into(),
        recipient: to.into(),
        envelope_from: "referent@localhost.localdomain".into(),
        raw: format!("Subject: {key}\r\n\r\n.{kind}\r\n").into_bytes(),
        meeting_id: None,
        invitation_id: None,
        inbound_id: None,
        grant: None,
    }
}

impl Setup {
    async fn queue(&self, mails: &[OutgoingMail]) {
        let now = self.daemon.clock.now();
        self.daemon
            .store
            .commit(&[], mails, &[], now)
            .await
            .unwrap();
    }

    async fn dispatch(&self) -> Report {
        let mut report = Report::default();
        self.daemon.dispatch(&mut report).await.unwrap();
        report
    }

    /// The addressees of what the stub took, in order.
    fn taken(&self) -> Vec<String> {
        self.stub
            .taken()
            .into_iter()
            .map(|r| r.to.first().cloned().unwrap_or_default())
            .collect()
    }

    async fn row(&self, key: &str) -> OutboxRow {
        self.daemon
            .store
            .outbox()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.effect_key == key)
            .unwrap()
    }
}

fn throttle() -> SendError {
    SendError::reply(
        Stage::Mail,
        421,
        "4.7.0 Try again later, closing connection.",
    )
}

#[tokio::test]
async fn one_person_mail_goes_before_bulk_each_with_its_witness() {
    let s = setup(StubTransport::new().with_witness()).await;
    s.queue(&[
        mail("s0", "summons", "s0@x.no"),
        mail("s1", "summons", "s1@x.no"),
        mail("r0", "receipt", "r0@x.no"),
        mail("m0", "reminder", "m0@x.no"),
        mail("q0", "question", "q0@x.no"),
        mail("c0", "confirm", "c0@x.no"),
    ])
    .await;
    let report = s.dispatch().await;
    assert_eq!((report.sent, report.failed, report.retried), (6, 0, 0));
    assert_eq!(
        s.taken(),
        ["r0@x.no", "q0@x.no", "c0@x.no", "s0@x.no", "s1@x.no", "m0@x.no"]
    );
    for r in s.stub.taken() {
        assert_eq!(r.to.get(1).map(String::as_str), Some(WITNESS), "{r:?}");
        assert_eq!(r.from, "referent@localhost.localdomain");
    }
    let rows = s.daemon.store.outbox().await.unwrap();
    assert!(rows
        .iter()
        .all(|r| r.state.as_str() == "sent" && r.attempts == 1));
    // Nothing is sent twice.
    assert_eq!(s.dispatch().await.sent, 0);
    assert_eq!(s.stub.received().len(), 6);
}

#[tokio::test]
async fn a_throttling_reply_pauses_every_send_longer_each_time_and_keeps_the_order() {
    let s = setup(StubTransport::new().with_witness()).await;
    let keys = ["a", "b", "c", "d", "e"];
    let mails: Vec<_> = keys
        .iter()
        .map(|k| mail(k, "summons", &format!("{k}@x.no")))
        .collect();
    s.queue(&mails).await;
    s.stub.script([Ok(()), Err(throttle())]);
    let report = s.dispatch().await;
    assert_eq!((report.sent, report.retried, report.failed), (1, 1, 0));
    assert_eq!(
        s.stub.received().len(),
        2,
        "the batch stops at the throttle"
    );
    let b = s.row("b").await;
    assert_eq!((b.state.as_str(), b.attempts), ("pending", 0), "not a try");
    assert!(
        b.last_error
            .as_deref()
            .unwrap_or("")
            .starts_with("421 4.7.0"),
        "{b:?}"
    );
    for k in ["c", "d", "e"] {
        let r = s.row(k).await;
        assert_eq!((r.state.as_str(), r.last_error), ("pending", None));
    }
    // Paused: nothing goes for 15 seconds.
    s.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(s.dispatch().await.sent, 0);
    assert_eq!(s.stub.received().len(), 2);
    // Then b first; throttled again, the pause doubles.
    s.clock.advance(chrono::Duration::seconds(6));
    s.stub.script([Err(throttle())]);
    assert_eq!(s.dispatch().await.retried, 1);
    s.clock.advance(chrono::Duration::seconds(16));
    assert_eq!(s.dispatch().await.sent, 0, "the second pause is 30 s");
    s.clock.advance(chrono::Duration::seconds(15));
    assert_eq!(s.dispatch().await.sent, 4);
    assert_eq!(
        s.taken(),
        ["a@x.no", "b@x.no", "c@x.no", "d@x.no", "e@x.no"]
    );
    let tried: Vec<String> = s.stub.received().iter().map(|r| r.to[0].clone()).collect();
    assert_eq!(
        tried,
        ["a@x.no", "b@x.no", "b@x.no", "b@x.no", "c@x.no", "d@x.no", "e@x.no"]
    );
}

#[test]
fn the_throttling_pause_grows_and_is_capped() {
    let outbox = Outbox::new(
        Arc::new(StubTransport::new()),
        Pacing {
            max_per_minute: None,
            quota_pause: Duration::from_secs(3600),
        },
    );
    let now = t0();
    let waits: Vec<i64> = (0..10)
        .map(|_| (outbox.throttled(now) - now).num_seconds())
        .collect();
    assert_eq!(waits, [15, 30, 60, 120, 240, 480, 900, 900, 900, 900]);
    outbox.went();
    assert_eq!(
        (outbox.throttled(now) - now).num_seconds(),
        15,
        "reset by a send"
    );
    assert!(matches!(outbox.paused(now), Some(Pause::Throttled(_))));
    assert_eq!(outbox.paused(now + chrono::Duration::minutes(16)), None);
}

#[tokio::test]
async fn a_quota_reply_pauses_all_sending_and_fails_nothing() {
    let s = setup(StubTransport::new().with_witness()).await;
    let now = s.daemon.clock.now();
    let c = s
        .daemon
        .store
        .add_council("ur", "Utdanningsrådet", now)
        .await
        .unwrap();
    let member = |name: &str, email: &str, role| NewMember {
        name: name.into(),
        email: email.into(),
        organisation: None,
        role,
        doctor: false,
        language: None,
        vara: None,
    };
    s.daemon
        .store
        .add_members(
            c,
            &[
                member("Kari", "kari@x.no", Role::Member),
                member("Koord", "koord@x.no", Role::Coordinator),
            ],
            now,
        )
        .await
        .unwrap();
    s.queue(&[
        mail("k", "summons", "kari@x.no"),
        mail("o", "summons", "ola@x.no"),
    ])
    .await;
    s.stub.script([Err(SendError::reply(
        Stage::Content,
        554,
        "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message [BeginDiagnosticData]",
    ))]);
    let report = s.dispatch().await;
    assert_eq!((report.sent, report.retried, report.failed), (0, 1, 0));
    let k = s.row("k").await;
    assert_eq!((k.state.as_str(), k.attempts), ("pending", 0));
    assert!(
        k.last_error
            .as_deref()
            .unwrap_or("")
            .starts_with("554 5.2.0 STOREDRV"),
        "{k:?}"
    );
    let members = s.daemon.store.members(c).await.unwrap();
    assert!(
        members.iter().all(|m| m.failing_since.is_none()),
        "no address marked failing"
    );
    assert_eq!(
        s.daemon.store.outbox().await.unwrap().len(),
        2,
        "nobody is told of a failure"
    );
    let events = s.daemon.store.events(None).await.unwrap();
    assert!(events
        .iter()
        .any(|e| e.kind == "sending_paused" && e.detail.contains("554 5.2.0")));
    // Paused for the hour: nothing goes, however often it looks.
    s.clock.advance(chrono::Duration::minutes(59));
    assert_eq!(s.dispatch().await.sent, 0);
    assert_eq!(s.stub.received().len(), 1);
    s.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(s.dispatch().await.sent, 2);
    assert_eq!(s.taken(), ["kari@x.no", "ola@x.no"], "in their order");
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_row_marks_the_address_and_tells_the_coordinators() {
    let s = setup(StubTransport::new().with_witness()).await;
    let now = s.daemon.clock.now();
    let c = s
        .daemon
        .store
        .add_council("ur", "Utdanningsrådet", now)
        .await
        .unwrap();
    let member = |name: &str, email: &str, role| NewMember {
        name: name.into(),
        email: email.into(),
        organisation: None,
        role,
        doctor: false,
        language: None,
        vara: None,
    };
    s.daemon
        .store
        .add_members(
            c,
            &[
                member("Kari", "kari@x.no", Role::Member),
                member("Koord", "koord@x.no", Role::Coordinator),
            ],
            now,
        )
        .await
        .unwrap();
    s.queue(&[mail("k", "summons", "kari@x.no")]).await;
    s.stub.script([Err(SendError::reply(
        Stage::Rcpt,
        550,
        "5.1.1 No such user here",
    ))]);
    let report = s.dispatch().await;
    assert_eq!((report.failed, report.sent), (1, 1), "{report:?}");
    let k = s.row("k").await;
    assert_eq!(k.state.as_str(), "failed");
    assert_eq!(
        k.last_error.as_deref(),
        Some("550 5.1.1 No such user here (permanent)")
    );
    let members = s.daemon.store.members(c).await.unwrap();
    let kari = members.iter().find(|m| m.email == "kari@x.no").unwrap();
    assert!(kari.failing_since.is_some());
    assert!(kari
        .failing_reason
        .as_deref()
        .unwrap_or("")
        .contains("No such user"));
    // The coordinator's notice went out in the same pass.
    assert_eq!(s.taken(), ["koord@x.no"]);
}

#[tokio::test]
async fn a_busy_mailbox_is_retried_later_and_the_rest_go_meanwhile() {
    let s = setup(StubTransport::new().with_witness()).await;
    s.queue(&[
        mail("a", "summons", "a@x.no"),
        mail("b", "summons", "b@x.no"),
        mail("c", "summons", "c@x.no"),
    ])
    .await;
    s.stub.script([Err(SendError::reply(
        Stage::Rcpt,
        450,
        "4.2.1 Mailbox busy, try again later",
    ))]);
    let report = s.dispatch().await;
    assert_eq!((report.sent, report.retried), (2, 1));
    let a = s.row("a").await;
    assert_eq!((a.state.as_str(), a.attempts), ("pending", 1));
    assert!(a.next_attempt_at >= t0() + chrono::Duration::seconds(30));
    assert_eq!(s.taken(), ["b@x.no", "c@x.no"]);
    s.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(s.dispatch().await.sent, 1);
    assert_eq!(s.taken(), ["b@x.no", "c@x.no", "a@x.no"]);
}

#[tokio::test]
async fn a_reply_lost_after_the_message_waits_for_the_copy() {
    let s = setup(StubTransport::new().with_witness()).await;
    s.queue(&[mail("a", "receipt", "a@x.no")]).await;
    s.stub.script([Err(SendError::local(
        Stage::Content,
        Verdict::Unknown,
        "no reply after the message",
    ))]);
    assert_eq!(s.dispatch().await.retried, 1);
    assert_eq!(s.row("a").await.state.as_str(), "sending");
    s.clock.advance(chrono::Duration::minutes(5));
    assert_eq!(
        s.dispatch().await.sent,
        0,
        "not sent again while its copy may come"
    );
    assert!(s
        .daemon
        .store
        .confirm_sent("a@localhost.localdomain", s.daemon.clock.now())
        .await
        .unwrap());
    assert_eq!(s.row("a").await.state.as_str(), "sent");
    s.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(s.dispatch().await.sent, 0);
    assert_eq!(s.stub.received().len(), 1);
}

#[tokio::test]
async fn several_connections_send_every_message_once() {
    let s = setup(StubTransport::new().with_witness().with_connections(4)).await;
    let mails: Vec<_> = (0..250)
        .map(|i| mail(&format!("m{i}"), "summons", &format!("m{i}@x.no")))
        .collect();
    s.queue(&mails).await;
    s.stub.script((0..250).map(|i| {
        if i == 17 {
            Err(SendError::reply(Stage::Rcpt, 450, "4.2.1 Mailbox busy"))
        } else {
            Ok(())
        }
    }));
    let report = s.dispatch().await;
    assert_eq!((report.sent, report.retried), (249, 1));
    let mut taken = s.taken();
    taken.sort();
    taken.dedup();
    assert_eq!(taken.len(), 249, "each once");
    let rows = s.daemon.store.outbox().await.unwrap();
    assert_eq!(
        rows.iter().filter(|r| r.state.as_str() == "sent").count(),
        249
    );
}

#[tokio::test]
async fn the_pace_spaces_sends_evenly_and_one_person_mail_overtakes() {
    // 600 a minute: one every 100 ms, on a clock that runs.
    let clock: Arc<dyn Clock> = Arc::new(ShiftedClock::starting_at(t0()));
    let (daemon, stub, _, _dir) = setup_with(
        StubTransport::new().with_witness(),
        Some(600),
        Some(clock.clone()),
    )
    .await;
    let s = Setup {
        daemon,
        stub,
        clock: Arc::new(TestClock(Mutex::new(t0()))),
        _dir,
    };
    s.queue(&[
        mail("s0", "summons", "s0@x.no"),
        mail("s1", "summons", "s1@x.no"),
        mail("s2", "summons", "s2@x.no"),
    ])
    .await;
    let start = clock.now();
    assert_eq!(s.dispatch().await.sent, 3);
    let took = clock.now() - start;
    assert!(
        took >= chrono::Duration::milliseconds(190) && took < chrono::Duration::seconds(3),
        "{took:?}"
    );
    // A receipt queued after the summons goes before what is left of them.
    s.queue(&[
        mail("s3", "summons", "s3@x.no"),
        mail("s4", "summons", "s4@x.no"),
        mail("r0", "receipt", "r0@x.no"),
    ])
    .await;
    let start = clock.now();
    assert_eq!(s.dispatch().await.sent, 3);
    let took = clock.now() - start;
    // The next slot follows the last send of the pass before.
    assert!(took >= chrono::Duration::milliseconds(250), "{took:?}");
    assert_eq!(
        s.taken(),
        ["s0@x.no", "s1@x.no", "s2@x.no", "r0@x.no", "s3@x.no", "s4@x.no"]
    );
}

#[tokio::test]
async fn progress_counts_per_kind_and_finishes_at_the_pace() {
    // A summons to 400 members at Microsoft 365's 30 a minute: about 14 minutes.
    let s = setup(StubTransport::new().with_witness()).await;
    let mut mails: Vec<_> = (0..400)
        .map(|i| mail(&format!("s{i}"), "summons", &format!("m{i}@x.no")))
        .collect();
    mails.push(mail("r0", "receipt", "r0@x.no"));
    mails.push(mail("r1", "receipt", "r1@x.no"));
    s.queue(&mails).await;
    let now = t0();
    let pacing = Pacing {
        max_per_minute: Some(30),
        quota_pause: Duration::from_secs(3600),
    };
    let p = progress(&s.daemon.store, pacing, now).await.unwrap();
    assert_eq!((p.queued, p.sent, p.failed), (402, 0, 0));
    let kinds: Vec<(&str, i64)> = p
        .kinds
        .iter()
        .map(|k| (k.kind.as_str(), k.queued))
        .collect();
    assert_eq!(
        kinds,
        [("receipt", 2), ("summons", 400)],
        "in sending order"
    );
    assert_eq!(p.kinds[0].done_by, Some(now + chrono::Duration::seconds(4)));
    assert_eq!(p.done_by, Some(now + chrono::Duration::seconds(804)));
    assert!(p.done_by.unwrap() - now < chrono::Duration::minutes(14));

    // One goes (the first receipt), then the quota runs out; a look 3 s later sends
    // nothing, and the estimate starts when the pause ends.
    s.stub.script([
        Ok(()),
        Err(SendError::reply(
            Stage::Content,
            554,
            "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
        )),
    ]);
    s.dispatch().await;
    s.clock.advance(chrono::Duration::seconds(3));
    s.dispatch().await;
    let later = t0() + chrono::Duration::seconds(3);
    let p = progress(&s.daemon.store, pacing, later).await.unwrap();
    assert_eq!((p.queued, p.sent), (401, 1));
    let (until, why) = p.paused_until.clone().unwrap();
    assert_eq!(until, t0() + chrono::Duration::hours(1));
    assert!(why.starts_with("554 5.2.0"), "{why}");
    assert_eq!(p.done_by, Some(until + chrono::Duration::seconds(802)));
}

#[tokio::test]
async fn throttled_sends_of_one_batch_make_one_pause() {
    let s = setup(StubTransport::new().with_witness().with_connections(3)).await;
    let mails: Vec<_> = (0..6)
        .map(|i| mail(&format!("m{i}"), "summons", &format!("m{i}@x.no")))
        .collect();
    s.queue(&mails).await;
    s.stub
        .script([Err(throttle()), Err(throttle()), Err(throttle())]);
    let report = s.dispatch().await;
    assert_eq!((report.sent, report.retried), (0, 3));
    s.clock.advance(chrono::Duration::seconds(16));
    assert_eq!(s.dispatch().await.sent, 6, "15 s, not 15 + 30 + 60");
}
