//! Helpers: the servers `scripts/test` started, a mail client (IMAP read, SMTP send),
//! and running the `referent` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::net::TcpStream;

pub const PASSWORD: &str = "secret";

/// Ports of the servers `scripts/test` runs.
#[derive(Debug, Clone)]
pub struct Servers {
    pub imap_port: u16,
    pub smtp_port: u16,
    pub pg_url: String,
}

/// The servers, or `None` when the tests run without `scripts/test` (then the test
/// says so and does nothing). Under `scripts/test` a missing variable is an error.
pub fn servers() -> Option<Servers> {
    let get = |k: &str| std::env::var(k).ok();
    match (
        get("REFERENT_TEST_IMAP_PORT"),
        get("REFERENT_TEST_SMTP_PORT"),
        get("REFERENT_TEST_PG_URL"),
    ) {
        (Some(i), Some(s), Some(p)) => Some(Servers {
            imap_port: i.parse().expect("REFERENT_TEST_IMAP_PORT"),
            smtp_port: s.parse().expect("REFERENT_TEST_SMTP_PORT"),
            pg_url: p,
        }),
        _ => {
            assert!(
                std::env::var("REFERENT_TEST_SERVERS").is_err(),
                "scripts/test must set REFERENT_TEST_IMAP_PORT, _SMTP_PORT and _PG_URL"
            );
            eprintln!("SKIPPED: no test servers; run scripts/test");
            None
        }
    }
}

/// A fresh domain, so parallel tests never see each other's mail.
pub fn domain() -> String {
    format!("t{:016x}.test", rand::random::<u64>())
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_referent"))
}

/// Runs `referent --config CONFIG args…` and returns its output.
pub fn referent(config: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env("REFERENT_LOG", "warn")
        .output()
        .expect("run referent")
}

/// Like `referent`, but the command must succeed; returns stdout.
pub fn ok(config: &Path, args: &[&str]) -> String {
    let out = referent(config, args);
    assert!(
        out.status.success(),
        "referent {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `council add`, then `member add` for each (name, email, role).
pub fn council_with(config: &Path, slug: &str, name: &str, members: &[(&str, &str, &str)]) {
    ok(config, &["council", "add", "--slug", slug, "--name", name]);
    for (member, email, role) in members {
        ok(
            config,
            &[
                "member",
                "add",
                "--council",
                slug,
                "--name",
                member,
                "--email",
                email,
                "--role",
                role,
            ],
        );
    }
}

/// A configuration for the embedded default (SQLite and Maildir folders) in `dir`.
pub fn embedded_config(dir: &Path) -> PathBuf {
    let path = dir.join("referent.toml");
    std::fs::write(
        &path,
        "data_dir = \".\"\n[secretariat]\nname = \"RegUt HSØ\"\naddress = \"referent@regut.example\"\n",
    )
    .expect("write");
    path
}

/// A running `referent run`, its log in a file.
pub struct DaemonProcess {
    pub child: Child,
    pub log: PathBuf,
}

impl DaemonProcess {
    pub fn start(config: &Path, log: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(bin())
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("REFERENT_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start referent run");
        DaemonProcess {
            child,
            log: log.to_path_buf(),
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit; returns whether it exited with success.
    pub fn terminate(&mut self, within: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        false
    }

    /// The process's peak resident memory (VmHWM), in KiB.
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// Writes a configuration for a test: SQLite in `dir`, the mailbox on Dovecot, SMTP on
/// Postfix, a scheduler tick every second.
pub fn write_config(dir: &Path, s: &Servers, address: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"data_dir = "{dir}"
[mailbox.imap]
host = "127.0.0.1"
port = {imap}
user = "{address}"
password = "{PASSWORD}"
tls = "none"
idle = true
poll_interval_secs = 2

[smtp]
host = "127.0.0.1"
port = {smtp}
tls = "none"

[secretariat]
name = "RegUt HSØ"
address = "{address}"
language = "nb"

[daemon]
tick = "* * * * * *"
send_confirm_secs = 10
{extra}
"#,
        dir = dir.display(),
        imap = s.imap_port,
        smtp = s.smtp_port,
    );
    let path = dir.join("referent.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

type Session = async_imap::Session<TcpStream>;

async fn login(port: u16, user: &str) -> Session {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to imap");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    client
        .login(user, PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .expect("imap login")
}

/// Every message in a user's INBOX (read with BODY.PEEK), oldest first.
pub async fn inbox(port: u16, user: &str) -> Vec<Vec<u8>> {
    let mut s = login(port, user).await;
    let mb = s.select("INBOX").await.expect("select");
    let mut out = Vec::new();
    if mb.exists > 0 {
        let mut stream = s.fetch("1:*", "(UID BODY.PEEK[])").await.expect("fetch");
        let mut items = Vec::new();
        while let Some(f) = stream.next().await {
            let f = f.expect("fetch item");
            items.push((
                f.uid.unwrap_or(0),
                f.body().map(<[u8]>::to_vec).unwrap_or_default(),
            ));
        }
        drop(stream);
        items.sort();
        out = items.into_iter().map(|(_, b)| b).collect();
    }
    let _ = s.logout().await;
    out
}

/// UIDs in the INBOX that carry a keyword.
pub async fn with_keyword(port: u16, user: &str, keyword: &str) -> usize {
    let mut s = login(port, user).await;
    s.select("INBOX").await.expect("select");
    let n = s
        .uid_search(format!("KEYWORD {keyword}"))
        .await
        .expect("search")
        .len();
    let _ = s.logout().await;
    n
}

/// Removes a keyword from every message in the INBOX (a restored mailbox whose
/// keywords were lost).
pub async fn drop_keyword(port: u16, user: &str, keyword: &str) {
    let mut s = login(port, user).await;
    s.select("INBOX").await.expect("select");
    {
        let mut stream = s
            .store("1:*", format!("-FLAGS.SILENT ({keyword})"))
            .await
            .expect("store");
        while let Some(item) = stream.next().await {
            item.expect("store item");
        }
    }
    let _ = s.logout().await;
}

/// How many messages the INBOX holds.
pub async fn count_all(port: u16, user: &str) -> usize {
    let mut s = login(port, user).await;
    let mb = s.select("INBOX").await.expect("select");
    let _ = s.logout().await;
    mb.exists as usize
}

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends raw bytes over SMTP like a mail client submitting a message.
pub async fn send(port: u16, from: &str, to: &str, raw: &[u8]) {
    use lettre::{address::Envelope, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    let env = Envelope::new(
        Some(from.parse().expect("from")),
        vec![to.parse().expect("to")],
    )
    .expect("envelope");
    t.send_raw(&env, raw).await.expect("smtp send");
}

/// A header's value in raw message bytes (first occurrence, unfolded).
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n')).peekable();
    let prefix = format!("{}:", name.to_ascii_lowercase());
    while let Some(line) = lines.next() {
        if line.is_empty() {
            return None;
        }
        if line.to_ascii_lowercase().starts_with(&prefix) {
            let mut v = line[prefix.len()..].trim().to_string();
            while let Some(n) = lines.peek() {
                if n.starts_with(' ') || n.starts_with('\t') {
                    v.push(' ');
                    v.push_str(n.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            return Some(v);
        }
    }
    None
}

/// The decoded subject and text of a message.
pub fn subject_and_text(raw: &[u8]) -> (String, String) {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("parse");
    (
        m.subject().unwrap_or("").to_string(),
        m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
    )
}

/// The address inside a header value like `"Name" <a@b>`.
pub fn address_in(value: &str) -> String {
    match (value.rfind('<'), value.rfind('>')) {
        (Some(a), Some(b)) if b > a => value[a + 1..b].to_string(),
        _ => value.trim().to_string(),
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// What every mail test starts with: a runtime, a folder, a fresh domain, the
/// secretariat's address there, and a configuration pointing at the test servers.
pub struct World {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub domain: String,
    pub secretariat: String,
    pub config: PathBuf,
}

impl World {
    pub fn new(s: &Servers) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let domain = domain();
        let secretariat = format!("referent@{domain}");
        let config = write_config(dir.path(), s, &secretariat, "");
        World {
            rt: runtime(),
            dir,
            domain,
            secretariat,
            config,
        }
    }

    /// An address in this world's domain.
    pub fn addr(&self, local: &str) -> String {
        format!("{local}@{}", self.domain)
    }

    /// Adds a meeting of council `slug` `days` from now at 10:00 Oslo time, held at
    /// Ullevål (plus any extra `meeting add` arguments); returns its start, UTC.
    pub fn meeting_in_days(
        &self,
        slug: &str,
        days: i64,
        extra: &[&str],
    ) -> chrono::DateTime<chrono::Utc> {
        let day = referent::clock::Clock::now(&referent::clock::SystemClock)
            + chrono::Duration::days(days);
        let starts = day
            .with_timezone(&chrono_tz::Europe::Oslo)
            .format("%Y-%m-%dT10:00")
            .to_string();
        let mut args = vec![
            "meeting",
            "add",
            "--council",
            slug,
            "--starts",
            &starts,
            "--place",
            "Ullevål",
        ];
        args.extend_from_slice(extra);
        ok(&self.config, &args);
        referent::domain::parse_local_time(&starts, chrono_tz::Europe::Oslo).expect("start")
    }
}

/// A plain reply to a summons as a mail client writes it: to the summons' Reply-To,
/// `In-Reply-To` its Message-ID. Returns where to send it and the bytes.
pub fn answer_summons(summons: &[u8], name: &str, from: &str, body: &str) -> (String, Vec<u8>) {
    let to = address_in(&header(summons, "Reply-To").expect("the summons has a Reply-To"));
    let mid = header(summons, "Message-ID").expect("the summons has a Message-ID");
    let raw = format!(
        "From: {name} <{from}>\r\nTo: {to}\r\nSubject: SV: Innkalling\r\nIn-Reply-To: {mid}\r\nMessage-ID: <{}.{from}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        rand::random::<u64>()
    );
    (to, raw.into_bytes())
}

/// The UID of the event in a summons' calendar entry (personal to its recipient).
pub fn event_uid(summons: &[u8]) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(summons)
        .expect("parse");
    let ics = msg
        .parts
        .iter()
        .filter_map(|p| p.text_contents())
        .find(|t| t.contains("BEGIN:VCALENDAR"))
        .expect("a calendar part")
        .replace("\r\n ", "");
    ics.lines()
        .find_map(|l| l.strip_prefix("UID:"))
        .expect("UID")
        .trim()
        .to_string()
}

/// Every mail in an embedded default's Maildir outbox under `data_dir`, in the order
/// written.
pub fn embedded_outbox(data_dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join("outbox/new"))
        .expect("outbox")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// The mails of one kind (our `X-Referent` header) in an embedded default's outbox.
pub fn embedded_sent(data_dir: &Path, kind: &str) -> Vec<Vec<u8>> {
    embedded_outbox(data_dir)
        .into_iter()
        .filter(|m| header(m, "X-Referent").as_deref() == Some(kind))
        .collect()
}
