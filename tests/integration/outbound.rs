//! Outbound through real servers: several connections to the real Postfix deliver every
//! message once with its witness copy; and a small scripted SMTP server on loopback,
//! for the replies a real provider gives when it is busy or its quota is used up.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use referent::clock::{Clock, SystemClock};
use referent::config::{Config, OutboundConfig, SmtpConfig, Tls};
use referent::daemon::{Daemon, Report};
use referent::domain::{Place, Role};
use referent::mail::outbound::smtp::SmtpTransport;
use referent::store::{NewMeeting, NewMember, OutgoingMail, Store};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

#[test]
#[ignore = "needs the servers scripts/test starts (it runs the ignored tests)"]
fn several_connections_deliver_every_message_once_with_its_witness() {
    let Some(s) = servers() else { return };
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = domain();
    let secretariat = format!("referent@{d}");
    let path = write_config(dir.path(), &s, &secretariat, "");
    // Three connections at once.
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replacen("\n[secretariat]", "max_connections = 3\n\n[secretariat]", 1),
    )
    .expect("write");
    let n = 40;
    rt.block_on(async {
        let cfg = Config::load(&path).expect("config");
        let OutboundConfig::Smtp(smtp) = &cfg.outbound else {
            panic!("smtp")
        };
        assert_eq!(smtp.max_connections, 3);
        let transport = Arc::new(SmtpTransport::new(smtp).expect("transport"));
        let store = Store::open(&cfg.database_url).await.expect("store");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let now = clock.now();
        let c = store
            .add_council("ur", "Utdanningsrådet", now)
            .await
            .expect("council");
        let members: Vec<NewMember> = (0..n)
            .map(|i| NewMember {
                name: format!("Medlem {i}"),
                email: format!("m{i}@{d}"),
                organisation: None,
                role: Role::Member,
                doctor: false,
                language: None,
                vara: None,
            })
            .collect();
        store.add_members(c, &members, now).await.expect("members");
        let starts = now + chrono::Duration::days(10);
        store
            .add_meeting(
                &NewMeeting {
                    council_id: c,
                    title: "Møte".into(),
                    starts_at: starts,
                    ends_at: starts + chrono::Duration::hours(2),
                    time_zone: "Europe/Oslo".into(),
                    place: Place {
                        room: Some("Ullevål".into()),
                        digital_link: None,
                    },
                    uid: format!("{}@{d}", rand::random::<u64>()),
                },
                &referent::schedule::jobs_for(starts, cfg.offsets("ur"), cfg.secretariat.time_zone),
                now,
            )
            .await
            .expect("meeting");
        let daemon =
            Daemon::with_transport(cfg, store.clone(), clock, transport.clone()).expect("daemon");
        let r = daemon.run_once().await.expect("pass");
        assert_eq!((r.sent, r.failed, r.retried), (n, 0, 0), "{r:?}");
        assert!(
            transport.connections_opened() >= 2,
            "several connections: {}",
            transport.connections_opened()
        );
        let rows = store.outbox().await.expect("outbox");
        assert!(rows
            .iter()
            .all(|r| r.state.as_str() == "sent" && r.attempts == 1));
        let sent: BTreeSet<String> = rows.iter().map(|r| r.message_id.clone()).collect();
        assert_eq!(sent.len(), n);

        // Every member gets one summons; the mailbox gets one copy of each.
        wait_for("the copies", Duration::from_secs(60), || async {
            count_all(s.imap_port, &secretariat).await >= n
        })
        .await;
        for i in 0..n {
            let member = format!("m{i}@{d}");
            wait_for("a member's summons", Duration::from_secs(30), || async {
                count_all(s.imap_port, &member).await >= 1
            })
            .await;
        }
        // Anything twice would have arrived by now.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mid = |m: &[u8]| {
            header(m, "Message-ID")
                .map(|v| v.trim().trim_matches(['<', '>']).to_string())
                .unwrap_or_default()
        };
        let copies: Vec<String> = inbox(s.imap_port, &secretariat)
            .await
            .iter()
            .map(|m| mid(m))
            .collect();
        assert_eq!(copies.len(), n, "one copy each");
        assert_eq!(
            copies.iter().cloned().collect::<BTreeSet<_>>(),
            sent,
            "the copies are of what was sent"
        );
        for i in 0..n {
            let member = format!("m{i}@{d}");
            let got = inbox(s.imap_port, &member).await;
            assert_eq!(got.len(), 1, "{member} got one summons");
            let row = rows
                .iter()
                .find(|r| r.recipient == member)
                .expect("its row");
            assert_eq!(mid(&got[0]), row.message_id);
        }
        store.close().await;
    });
}

/// What the scripted server says and what it got.
#[derive(Default)]
struct Script {
    /// Replies to the next `MAIL FROM`s (then 250).
    mail: VecDeque<String>,
    /// Replies to the next messages' final dot (then 250).
    data_end: VecDeque<String>,
    /// Connections taken at once; one more gets Microsoft 365's 432 4.3.2.
    max_connections: Option<usize>,
    /// AUTH mechanisms offered, and the one password taken.
    auth: Vec<&'static str>,
    password: String,
    open: usize,
    connections: usize,
    refused_connections: usize,
    /// Logins: user, password, over TLS.
    logins: Vec<(String, String, bool)>,
    /// Messages taken: (envelope recipients, content).
    taken: Vec<(Vec<String>, Vec<u8>)>,
    /// Whether each was taken over TLS.
    taken_tls: Vec<bool>,
}

/// How the scripted server speaks TLS.
#[derive(Clone)]
enum Mode {
    Plain,
    Starttls(Arc<rustls::ServerConfig>),
    Implicit(Arc<rustls::ServerConfig>),
}

/// A small SMTP server on loopback that answers from a script, with PIPELINING.
async fn scripted_server() -> (u16, Arc<Mutex<Script>>) {
    scripted_server_with(Mode::Plain).await
}

async fn scripted_server_with(mode: Mode) -> (u16, Arc<Mutex<Script>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let script = Arc::new(Mutex::new(Script::default()));
    let sc = script.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (sc, mode) = (sc.clone(), mode.clone());
            tokio::spawn(async move {
                let _ = session(tcp, sc.clone(), mode).await;
                sc.lock().unwrap().open -= 1;
            });
        }
    });
    (port, script)
}

async fn session(mut tcp: TcpStream, sc: Arc<Mutex<Script>>, mode: Mode) -> std::io::Result<()> {
    let refuse = {
        let mut s = sc.lock().unwrap();
        s.open += 1;
        s.connections += 1;
        let over = s.max_connections.is_some_and(|m| s.open > m);
        if over {
            s.refused_connections += 1;
        }
        over
    };
    if refuse {
        tcp.write_all(b"432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded\r\n")
            .await?;
        return Ok(());
    }
    match mode {
        Mode::Plain => {
            speak(tcp, &sc, true, false, false).await?;
        }
        Mode::Implicit(cfg) => {
            let tls = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await?;
            speak(tls, &sc, true, true, false).await?;
        }
        Mode::Starttls(cfg) => {
            if let Some(tcp) = speak(tcp, &sc, true, false, true).await? {
                let tls = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await?;
                speak(tls, &sc, false, true, false).await?;
            }
        }
    }
    Ok(())
}

/// One SMTP conversation; returns the stream when the client asked for STARTTLS.
async fn speak<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    sc: &Arc<Mutex<Script>>,
    greet: bool,
    tls: bool,
    offer_starttls: bool,
) -> std::io::Result<Option<S>> {
    use base64::Engine as _;
    let b64 = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map(|v| String::from_utf8_lossy(&v).to_string())
            .unwrap_or_default()
    };
    let mut r = BufReader::new(io);
    if greet {
        r.write_all(b"220 scripted ESMTP\r\n").await?;
    }
    let mut rcpts = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") {
            let auth = sc.lock().unwrap().auth.join(" ");
            let mut ehlo = "250-scripted\r\n250-PIPELINING\r\n250-8BITMIME\r\n".to_string();
            if offer_starttls {
                ehlo.push_str("250-STARTTLS\r\n");
            }
            if !auth.is_empty() {
                ehlo.push_str(&format!("250-AUTH {auth}\r\n"));
            }
            ehlo.push_str("250 SIZE 10000000");
            ehlo
        } else if upper == "STARTTLS" && offer_starttls {
            r.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
            r.flush().await?;
            return Ok(Some(r.into_inner()));
        } else if upper.starts_with("AUTH ") {
            let (user, password) = if upper.starts_with("AUTH PLAIN ") {
                let plain = b64(&cmd[11..]);
                let mut parts = plain.split('\0').skip(1);
                (
                    parts.next().unwrap_or("").to_string(),
                    parts.next().unwrap_or("").to_string(),
                )
            } else {
                r.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                let mut u = String::new();
                r.read_line(&mut u).await?;
                r.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
                let mut p = String::new();
                r.read_line(&mut p).await?;
                (b64(&u), b64(&p))
            };
            let mut s = sc.lock().unwrap();
            let ok = password == s.password;
            s.logins.push((user, password, tls));
            if ok {
                "235 2.7.0 Authentication successful".into()
            } else {
                "535 5.7.8 Error: authentication failed".into()
            }
        } else if upper.starts_with("MAIL FROM:") {
            rcpts.clear();
            sc.lock()
                .unwrap()
                .mail
                .pop_front()
                .unwrap_or_else(|| "250 2.1.0 Ok".into())
        } else if upper.starts_with("RCPT TO:") {
            rcpts.push(cmd[8..].trim().trim_matches(['<', '>']).to_string());
            "250 2.1.5 Ok".into()
        } else if upper == "DATA" {
            r.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                if r.read_until(b'\n', &mut l).await? == 0 {
                    return Ok(None);
                }
                if l == b".\r\n" {
                    break;
                }
                data.extend_from_slice(&l);
            }
            let mut s = sc.lock().unwrap();
            match s.data_end.pop_front() {
                Some(reply) => reply,
                None => {
                    s.taken.push((rcpts.clone(), data));
                    s.taken_tls.push(tls);
                    "250 2.0.0 Ok: queued".into()
                }
            }
        } else if upper == "RSET" || upper == "NOOP" {
            "250 2.0.0 Ok".into()
        } else if upper == "QUIT" {
            r.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(None);
        } else {
            "502 5.5.2 Command not recognized".into()
        };
        r.write_all(format!("{reply}\r\n").as_bytes()).await?;
        r.flush().await?;
        if reply.starts_with("421") {
            return Ok(None);
        }
    }
}

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

struct Scripted {
    daemon: Daemon,
    clock: Arc<TestClock>,
    script: Arc<Mutex<Script>>,
    council: i64,
    _dir: tempfile::TempDir,
}

async fn scripted(connections: usize) -> Scripted {
    let (port, script) = scripted_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config::embedded(dir.path());
    cfg.outbound = OutboundConfig::Smtp(SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: Tls::None,
        credentials: None,
        copy_to_mailbox: true,
        max_connections: connections,
        max_per_minute: None,
        quota_pause: Duration::from_secs(3600),
    });
    let store = Store::open(&cfg.database_url).await.expect("store");
    let clock = Arc::new(TestClock(Mutex::new(
        "2027-03-01T09:00:00Z".parse().expect("time"),
    )));
    let now = clock.now();
    let council = store
        .add_council("ur", "Utdanningsrådet", now)
        .await
        .expect("council");
    let member = |name: &str, email: &str, role| NewMember {
        name: name.into(),
        email: email.into(),
        organisation: None,
        role,
        doctor: false,
        language: None,
        vara: None,
    };
    store
        .add_members(
            council,
            &[
                member("Kari", "kari@x.test", Role::Member),
                member("Koord", "koord@x.test", Role::Coordinator),
            ],
            now,
        )
        .await
        .expect("members");
    let daemon = Daemon::new(cfg, store, clock.clone())
        .await
        .expect("daemon");
    Scripted {
        daemon,
        clock,
        script,
        council,
        _dir: dir,
    }
}

impl Scripted {
    async fn queue(&self, to: &[&str]) {
        let mails: Vec<OutgoingMail> = to
            .iter()
            .map(|addr| {
                let key = format!("{addr}:{}", rand::random::<u64>());
                OutgoingMail {
                    effect_key: key.clone(),
                    message_id: format!("{key}@localhost.localdomain"),
                    kind: "summons".into(),
                    recipient: addr.to_string(),
                    envelope_from: "referent@localhost.localdomain".into(),
                    raw: format!("Subject: til {addr}\r\n\r\n.Hei\r\n").into_bytes(),
                    meeting_id: None,
                    invitation_id: None,
                    inbound_id: None,
                    grant: None,
                }
            })
            .collect();
        let now = self.clock.now();
        self.daemon
            .store
            .commit(&[], &mails, &[], now)
            .await
            .expect("queue");
    }

    async fn dispatch(&self) -> Report {
        let mut r = Report::default();
        self.daemon.dispatch(&mut r).await.expect("dispatch");
        r
    }

    /// The envelope recipients of what the server took, in order.
    fn taken(&self) -> Vec<Vec<String>> {
        self.script
            .lock()
            .unwrap()
            .taken
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }

    async fn row(&self, to: &str) -> referent::store::OutboxRow {
        self.daemon
            .store
            .outbox()
            .await
            .expect("outbox")
            .into_iter()
            .rfind(|r| r.recipient == to)
            .expect("row")
    }
}

const WITNESS: &str = "referent+sent@localhost.localdomain";

#[test]
fn a_throttling_reply_is_retried_and_a_quota_reply_pauses_without_failing_the_address() {
    runtime().block_on(async {
        let s = scripted(1).await;
        s.queue(&["a@x.test", "kari@x.test", "c@x.test"]).await;

        // Google's "421 4.7.0 Try again later": the first message is put back, nothing
        // else is tried, and it is not a try of the message.
        s.script
            .lock()
            .unwrap()
            .mail
            .push_back("421 4.7.0 Try again later, closing connection.".into());
        let r = s.dispatch().await;
        assert_eq!((r.sent, r.retried, r.failed), (0, 1, 0), "{r:?}");
        let a = s.row("a@x.test").await;
        assert_eq!((a.state.as_str(), a.attempts), ("pending", 0));
        assert!(
            a.last_error.as_deref().unwrap_or("").starts_with("421 4.7.0 Try again later"),
            "{a:?}"
        );
        let connections = s.script.lock().unwrap().connections;
        s.clock.advance(chrono::Duration::seconds(10));
        assert_eq!(s.dispatch().await.sent, 0, "paused");
        assert_eq!(s.script.lock().unwrap().connections, connections, "not even a connection");
        s.clock.advance(chrono::Duration::seconds(6));
        assert_eq!(s.dispatch().await.sent, 3);
        let w = WITNESS.to_string();
        assert_eq!(
            s.taken(),
            [
                vec!["a@x.test".to_string(), w.clone()],
                vec!["kari@x.test".to_string(), w.clone()],
                vec!["c@x.test".to_string(), w.clone()],
            ],
            "in their order, each with its witness"
        );
        let (_, content) = s.script.lock().unwrap().taken[0].clone();
        assert!(content.ends_with(b"\r\n..Hei\r\n"), "dot-stuffed");

        // Microsoft 365's quota reply after the message: all sending pauses for the
        // hour; Kari's address is not marked failing and nobody is told of a failure.
        s.queue(&["kari@x.test", "e@x.test"]).await;
        let outbox_before = s.daemon.store.outbox().await.expect("outbox").len();
        s.script.lock().unwrap().data_end.push_back(
            "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message [BeginDiagnosticData]".into(),
        );
        let r = s.dispatch().await;
        assert_eq!((r.sent, r.retried, r.failed), (0, 1, 0), "{r:?}");
        let k = s.row("kari@x.test").await;
        assert_eq!((k.state.as_str(), k.attempts), ("pending", 0));
        assert!(k.last_error.as_deref().unwrap_or("").starts_with("554 5.2.0 STOREDRV"));
        let members = s.daemon.store.members(s.council).await.expect("members");
        assert!(members.iter().all(|m| m.failing_since.is_none()));
        assert_eq!(s.daemon.store.outbox().await.expect("outbox").len(), outbox_before);
        s.clock.advance(chrono::Duration::minutes(59));
        assert_eq!(s.dispatch().await.sent, 0, "paused for the hour");
        assert_eq!(s.taken().len(), 3);
        s.clock.advance(chrono::Duration::minutes(2));
        assert_eq!(s.dispatch().await.sent, 2);
        let taken = s.taken();
        assert_eq!(taken[3][0], "kari@x.test");
        assert_eq!(taken[4][0], "e@x.test");
        assert_eq!(s.row("kari@x.test").await.state.as_str(), "sent");
    });
}

#[test]
fn a_connection_over_the_servers_limit_means_one_connection_fewer_not_a_pause() {
    runtime().block_on(async {
        // The server takes one connection at a time; referent is set to three.
        let s = scripted(3).await;
        s.script.lock().unwrap().max_connections = Some(1);
        let to: Vec<String> = (0..20).map(|i| format!("m{i}@x.test")).collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        s.queue(&to).await;
        let r = s.dispatch().await;
        assert_eq!((r.sent, r.retried, r.failed), (20, 0, 0), "{r:?}");
        let script = s.script.lock().unwrap();
        assert!(script.refused_connections >= 1, "the server said 432 4.3.2");
        assert_eq!(script.taken.len(), 20);
    });
}

/// A CA and a certificate for 127.0.0.1 made by openssl for this run: the CA to trust
/// and the server's configuration; `None` (the test says it is skipped) without openssl.
fn test_tls(
    dir: &std::path::Path,
) -> Option<(
    rustls::pki_types::CertificateDer<'static>,
    Arc<rustls::ServerConfig>,
)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    // A CA, and a certificate for 127.0.0.1 it signs (a self-signed CA certificate
    // is not taken as a server's).
    let p = |name: &str| dir.join(name).display().to_string();
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    let steps: [Vec<String>; 3] = [
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=referent test CA",
            "-keyout",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([p("ca.key"), "-out".into(), p("ca.pem")])
        .collect(),
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([p("key.pem"), "-out".into(), p("leaf.csr")])
        .collect(),
        ["x509", "-req", "-days", "1", "-set_serial", "7", "-in"]
            .iter()
            .map(|s| s.to_string())
            .chain([
                p("leaf.csr"),
                "-CA".into(),
                p("ca.pem"),
                "-CAkey".into(),
                p("ca.key"),
                "-extfile".into(),
                p("ext.cnf"),
                "-out".into(),
                p("cert.pem"),
            ])
            .collect(),
    ];
    for args in steps {
        let made = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .ok()
            .filter(|o| o.status.success());
        if made.is_none() {
            eprintln!("SKIPPED: no openssl to make a test certificate");
            return None;
        }
    }
    let (key, cert, ca) = (
        dir.join("key.pem"),
        dir.join("cert.pem"),
        dir.join("ca.pem"),
    );
    let ca = CertificateDer::from_pem_file(&ca).expect("ca");
    let cert = CertificateDer::from_pem_file(&cert).expect("cert");
    let key = PrivateKeyDer::from_pem_file(&key).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server config");
    Some((ca, Arc::new(config)))
}

fn smtp_config(port: u16, tls: Tls, password: &str) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls,
        credentials: Some(("referent".into(), password.into())),
        copy_to_mailbox: true,
        max_connections: 1,
        max_per_minute: None,
        quota_pause: Duration::from_secs(3600),
    }
}

async fn send_two(t: &SmtpTransport) {
    use referent::mail::outbound::{Outgoing, Transport};
    for i in 0..2 {
        let raw = format!("Subject: {i}\r\n\r\nHei på deg\r\n");
        t.send(Outgoing {
            from: "referent@localhost.localdomain",
            to: &[&format!("m{i}@x.test"), WITNESS],
            raw: raw.as_bytes(),
            name: "x",
        })
        .await
        .expect("sent");
    }
}

#[test]
fn starttls_and_tls_with_a_login_send_over_one_kept_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((cert, server_tls)) = test_tls(dir.path()) else {
        return;
    };
    runtime().block_on(async {
        use referent::mail::outbound::Transport;
        // STARTTLS on 587 with AUTH PLAIN, as Microsoft 365 and Google take it.
        let (port, script) = scripted_server_with(Mode::Starttls(server_tls.clone())).await;
        {
            let mut s = script.lock().unwrap();
            s.auth = vec!["PLAIN", "LOGIN"];
            s.password = "secret".into();
        }
        let t = SmtpTransport::new(&smtp_config(port, Tls::Starttls, "secret"))
            .expect("transport")
            .trusting(cert.clone())
            .expect("trust");
        t.check().await.expect("check");
        send_two(&t).await;
        {
            let s = script.lock().unwrap();
            assert_eq!(s.logins, [("referent".into(), "secret".into(), true)]);
            assert_eq!(s.taken_tls, [true, true]);
            assert_eq!(s.taken[1].0, ["m1@x.test", WITNESS]);
            assert_eq!(s.connections, 1, "the check's connection is used, and kept");
        }
        assert_eq!(t.connections_opened(), 1);
        t.close().await;

        // TLS from the start on 465, with a server that offers only AUTH LOGIN.
        let (port, script) = scripted_server_with(Mode::Implicit(server_tls)).await;
        {
            let mut s = script.lock().unwrap();
            s.auth = vec!["LOGIN"];
            s.password = "secret".into();
        }
        let t = SmtpTransport::new(&smtp_config(port, Tls::Tls, "secret"))
            .expect("transport")
            .trusting(cert)
            .expect("trust");
        send_two(&t).await;
        let s = script.lock().unwrap();
        assert_eq!(s.logins, [("referent".into(), "secret".into(), true)]);
        assert_eq!(s.taken_tls, [true, true]);
        assert_eq!(s.connections, 1);
    });
}

#[test]
fn the_start_up_check_stops_for_a_refused_login_or_an_untrusted_certificate_not_for_a_server_that_is_down(
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((cert, server_tls)) = test_tls(dir.path()) else {
        return;
    };
    runtime().block_on(async {
        use referent::mail::outbound::Transport;
        let (port, script) = scripted_server_with(Mode::Starttls(server_tls)).await;
        {
            let mut s = script.lock().unwrap();
            s.auth = vec!["PLAIN"];
            s.password = "secret".into();
        }
        // A wrong password: the daemon does not start, and says why.
        let wrong = SmtpTransport::new(&smtp_config(port, Tls::Starttls, "wrong"))
            .expect("transport")
            .trusting(cert)
            .expect("trust");
        let e = wrong.check().await.expect_err("refused");
        assert!(e.fatal, "{e}");
        assert!(
            e.message.contains("refused the login for referent") && e.message.contains("535 5.7.8"),
            "{e}"
        );
        let cfg_dir = tempfile::tempdir().expect("tempdir");
        let cfg = Config::embedded(cfg_dir.path());
        let store = Store::open(&cfg.database_url).await.expect("store");
        let daemon = Daemon::with_transport(cfg, store, Arc::new(SystemClock), Arc::new(wrong))
            .expect("daemon");
        let stopped = tokio::time::timeout(
            Duration::from_secs(30),
            Arc::new(daemon).run(tokio_util::sync::CancellationToken::new()),
        )
        .await
        .expect("it stops by itself");
        let e = stopped.expect_err("does not run").to_string();
        assert!(e.contains("cannot send mail") && e.contains("535"), "{e}");

        // A certificate nobody vouches for.
        let untrusted =
            SmtpTransport::new(&smtp_config(port, Tls::Starttls, "secret")).expect("transport");
        let e = untrusted.check().await.expect_err("untrusted");
        assert!(e.fatal && e.message.contains("certificate"), "{e}");

        // Nothing listening: mail waits, the daemon runs.
        let free = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = free.local_addr().expect("addr").port();
        drop(free);
        let down =
            SmtpTransport::new(&smtp_config(port, Tls::Starttls, "secret")).expect("transport");
        let e = down.check().await.expect_err("down");
        assert!(!e.fatal, "{e}");
        assert!(e.message.contains("cannot connect"), "{e}");
    });
}
