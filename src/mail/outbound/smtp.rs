//! SMTP submission: a small client of our own (RFC 5321) on tokio and rustls.
//!
//! Why not lettre's transport (lettre still builds the messages): lettre 0.11.23, the
//! newest release, writes the body and the final `CRLF.CRLF` in two writes on a socket
//! without `TCP_NODELAY`, so every message waits for the server's delayed ACK (~40 ms,
//! ≈22 messages a second); the fix (lettre PR #1159) is not released, and lettre has no
//! PIPELINING. Here:
//! - `TCP_NODELAY`, and every group of commands and every message is one write;
//! - PIPELINING (RFC 2920) when offered: `MAIL`, the `RCPT`s and `DATA` go in one
//!   write, so a message costs two round trips (the envelope, the content);
//! - connections stay open and are reused (no NOOP before each message); one that the
//!   server closed while idle is noticed on its first reply and the message is sent
//!   once more on a new connection;
//! - `RSET` only after a transaction that did not end (a refusal): after a completed
//!   `DATA` the server is ready for the next `MAIL` (RFC 5321 §4.1.1.4);
//! - STARTTLS or TLS from the start, AUTH PLAIN or LOGIN, `SIZE`, `8BITMIME`,
//!   `SMTPUTF8`;
//! - every reply read has a bounded length and a timeout.

use crate::mail::net::{client_tls, Conn as Stream};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::{CheckError, Outgoing, SendError, Stage, Transport, TransportError, Verdict};
use crate::config::{SmtpConfig, Tls};

/// Waiting for a reply to a command (RFC 5321 §4.5.3.2 allows 5 minutes; a submission
/// server that takes a minute is not coming back).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Waiting for the reply to the message's content: the server may scan it first
/// (RFC 5321 §4.5.3.2.6 asks for 10 minutes).
const CONTENT_TIMEOUT: Duration = Duration::from_secs(300);
/// A reply line longer than this is not SMTP (RFC 5321 §4.5.3.1.5 says 512).
const MAX_LINE: usize = 4096;
/// Lines in one reply, at most (an EHLO reply has a dozen).
const MAX_LINES: usize = 256;

/// The SMTP transport: a pool of up to `max_connections` open connections.
pub struct SmtpTransport {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<(String, String)>,
    witnessed: bool,
    connections: usize,
    tls_config: Arc<rustls::ClientConfig>,
    /// Connections ready for the next message, the most recently used last.
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection that may be open.
    slots: Semaphore,
    /// Connections open now, and opened in all.
    live: AtomicUsize,
    opened: AtomicU64,
}

impl SmtpTransport {
    pub fn new(cfg: &SmtpConfig) -> Result<Self, TransportError> {
        let tls_config = client_tls(&[])
            .map_err(|e| TransportError::Smtp(format!("{}:{}", cfg.host, cfg.port), e))?;
        let connections = cfg.max_connections.max(1);
        Ok(SmtpTransport {
            host: cfg.host.clone(),
            port: cfg.port,
            tls: cfg.tls,
            credentials: cfg.credentials.clone(),
            witnessed: cfg.copy_to_mailbox,
            connections,
            tls_config,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(connections),
            live: AtomicUsize::new(0),
            opened: AtomicU64::new(0),
        })
    }

    /// Also trusts this certificate (tests with a certificate of their own).
    #[doc(hidden)]
    pub fn trusting(
        mut self,
        cert: rustls::pki_types::CertificateDer<'static>,
    ) -> Result<Self, TransportError> {
        self.tls_config =
            client_tls(&[cert]).map_err(|e| TransportError::Smtp(self.server(), e))?;
        Ok(self)
    }

    fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Connections opened since the start (for tests and the log).
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    fn drop_connection(&self, conn: Connection) {
        drop(conn);
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    fn take_idle(&self) -> Option<Connection> {
        self.idle.lock().ok().and_then(|mut v| v.pop())
    }

    fn put_back(&self, conn: Connection) {
        if let Ok(mut v) = self.idle.lock() {
            v.push(conn);
        }
    }

    /// Opens, greets, secures and logs in. The flag says whether the failure needs a
    /// person (see [`CheckError::fatal`]). Counted in `live` from the first moment, so
    /// a refusal of another connection meanwhile is known to be one too many.
    async fn connect(&self) -> Result<Connection, (SendError, bool)> {
        self.live.fetch_add(1, Ordering::Relaxed);
        let r = self.open_connection().await;
        match &r {
            Ok(_) => {
                self.opened.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.live.fetch_sub(1, Ordering::Relaxed);
            }
        }
        r
    }

    async fn open_connection(&self) -> Result<Connection, (SendError, bool)> {
        let server = self.server();
        let refused = |e: String| {
            (
                SendError::local(Stage::Connect, Verdict::Throttled, e),
                false,
            )
        };
        let tcp = tokio::time::timeout(
            COMMAND_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| refused(format!("cannot connect to {server}: timed out")))?
        .map_err(|e| refused(format!("cannot connect to {server}: {e}")))?;
        // Each command group and each message is written whole and then waited on;
        // with Nagle the short last write (the final dot) would wait for the ACK of
        // the one before, ~40 ms with delayed ACKs.
        tcp.set_nodelay(true)
            .map_err(|e| refused(format!("cannot set up the connection to {server}: {e}")))?;
        let hello = hello_name(tcp.local_addr().ok());
        let stream = match self.tls {
            Tls::Tls => self.handshake(tcp).await?,
            Tls::None | Tls::Starttls => Stream::Plain(tcp),
        };
        let mut conn = Connection::new(stream);
        let greeting = conn
            .read_reply(COMMAND_TIMEOUT)
            .await
            .map_err(|e| refused(format!("no greeting from {server}: {e}")))?;
        if greeting.code != 220 {
            return Err((greeting.error(Stage::Connect), false));
        }
        conn.ehlo(&hello).await?;
        if self.tls == Tls::Starttls {
            if !conn.caps.starttls {
                return Err((
                    SendError::local(
                        Stage::Connect,
                        Verdict::Throttled,
                        format!("{server} does not offer STARTTLS, and [smtp] tls = \"starttls\" asks for it"),
                    ),
                    true,
                ));
            }
            let r = conn
                .command("STARTTLS\r\n")
                .await
                .map_err(|e| refused(e.to_string()))?;
            if r.code != 220 {
                return Err((r.error(Stage::Connect), true));
            }
            // Anything the server sent after its 220 came before TLS and could be an
            // attacker's (CVE-2011-0411): refuse rather than read it as encrypted.
            if !conn.io.buffer().is_empty() {
                return Err((
                    SendError::local(
                        Stage::Connect,
                        Verdict::Throttled,
                        format!("{server} sent data after agreeing to STARTTLS"),
                    ),
                    true,
                ));
            }
            let Stream::Plain(tcp) = conn.io.into_inner() else {
                return Err(refused("STARTTLS on a TLS connection".into()));
            };
            conn = Connection::new(self.handshake(tcp).await?);
            conn.ehlo(&hello).await?;
        }
        if let Some((user, password)) = &self.credentials {
            conn.login(user, password, &server).await?;
        }
        Ok(conn)
    }

    async fn handshake(&self, tcp: TcpStream) -> Result<Stream, (SendError, bool)> {
        let name = rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| {
            (
                SendError::local(
                    Stage::Connect,
                    Verdict::Throttled,
                    format!("{} is not a host name for TLS: {e}", self.host),
                ),
                true,
            )
        })?;
        let tls = tokio::time::timeout(
            COMMAND_TIMEOUT,
            tokio_rustls::TlsConnector::from(self.tls_config.clone()).connect(name, tcp),
        )
        .await
        .map_err(|_| {
            (
                SendError::local(
                    Stage::Connect,
                    Verdict::Throttled,
                    "TLS handshake timed out",
                ),
                false,
            )
        })?
        .map_err(|e| {
            let text = format!("TLS with {} failed: {e}", self.server());
            // A certificate that does not verify will not verify tomorrow either.
            let fatal = text.to_ascii_lowercase().contains("certificate");
            (
                SendError::local(Stage::Connect, Verdict::Throttled, text),
                fatal,
            )
        })?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    async fn send_on(&self, mail: &Outgoing<'_>) -> Result<(), SendError> {
        if let Some(mut conn) = self.take_idle() {
            match conn.send(mail).await {
                Ok(()) => {
                    self.put_back(conn);
                    return Ok(());
                }
                Err(f) if f.before_any_reply => {
                    // The server closed the connection while it was idle (its timeout,
                    // a restart): nothing of this message was taken. Once more, new.
                    tracing::debug!(error = %f.error, "a kept SMTP connection was closed; reconnecting");
                    self.drop_connection(conn);
                }
                Err(f) => {
                    if f.keep {
                        self.put_back(conn);
                    } else {
                        self.drop_connection(conn);
                    }
                    return Err(f.error);
                }
            }
        }
        let mut conn = self.connect().await.map_err(|(e, _)| e)?;
        match conn.send(mail).await {
            Ok(()) => {
                self.put_back(conn);
                Ok(())
            }
            Err(f) => {
                if f.keep {
                    self.put_back(conn);
                } else {
                    self.drop_connection(conn);
                }
                Err(f.error)
            }
        }
    }
}

impl Transport for SmtpTransport {
    fn send<'a>(&'a self, mail: Outgoing<'a>) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            loop {
                let slot = self.slots.acquire().await.map_err(|_| {
                    SendError::local(
                        Stage::Connect,
                        Verdict::Throttled,
                        "the SMTP transport is closed",
                    )
                })?;
                match self.send_on(&mail).await {
                    // The server refused one connection more than it allows (Microsoft
                    // 365: `432 4.3.2` for a 4th) while others are open: from now on one
                    // fewer, and this message waits for one of those.
                    Err(e)
                        if over_connection_limit(&e) && self.live.load(Ordering::Relaxed) > 0 =>
                    {
                        slot.forget();
                        tracing::warn!(
                            server = %self.server(),
                            error = %e,
                            "the server refused one more connection; using one fewer (lower [smtp] max_connections to match)"
                        );
                    }
                    r => return r,
                }
            }
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>> {
        Box::pin(async move {
            let _slot = self.slots.acquire().await.map_err(|_| CheckError {
                message: "the SMTP transport is closed".into(),
                fatal: false,
            })?;
            match self.connect().await {
                Ok(conn) => {
                    // The first message uses it.
                    self.put_back(conn);
                    Ok(())
                }
                Err((e, fatal)) => Err(CheckError {
                    message: if fatal {
                        format!("the SMTP server {}: {}", self.server(), e.reply_text())
                    } else {
                        format!("the SMTP server {}: {e}", self.server())
                    },
                    fatal,
                }),
            }
        })
    }

    fn connections(&self) -> usize {
        self.connections
    }

    fn witnessed(&self) -> bool {
        self.witnessed
    }

    fn describe(&self) -> String {
        format!(
            "smtp {} ({} connection(s))",
            self.server(),
            self.connections
        )
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            while let Some(mut conn) = self.take_idle() {
                conn.quit().await;
                self.live.fetch_sub(1, Ordering::Relaxed);
            }
        })
    }
}

/// A refusal of one connection more than the server allows, rather than of all.
fn over_connection_limit(e: &SendError) -> bool {
    let t = e.text.to_ascii_lowercase();
    e.stage == Stage::Connect
        && e.code.is_some_and(|c| (400..500).contains(&c))
        && (e.code == Some(432)
            || e.enhanced.as_deref() == Some("4.3.2")
            || [
                "too many connections",
                "concurrent connections",
                "connection limit",
                "thread limit",
            ]
            .iter()
            .any(|w| t.contains(w)))
}

/// The name we give in EHLO: the host's name when it is a domain, else our address
/// as a literal (RFC 5321 §4.1.4).
fn hello_name(local: Option<SocketAddr>) -> String {
    let name = hostname::get()
        .ok()
        .and_then(|n| n.into_string().ok())
        .unwrap_or_default();
    let is_domain = name.contains('.')
        && !name.starts_with('.')
        && !name.ends_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if is_domain {
        return name;
    }
    match local {
        Some(SocketAddr::V4(a)) => format!("[{}]", a.ip()),
        Some(SocketAddr::V6(a)) => format!("[IPv6:{}]", a.ip()),
        None => "localhost".into(),
    }
}

/// A server's reply: its code and its lines' text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    fn text(&self) -> String {
        self.lines.join(" ")
    }

    fn error(&self, stage: Stage) -> SendError {
        SendError::reply(stage, self.code, &self.text())
    }
}

/// What the server offered in its EHLO reply.
#[derive(Debug, Default, Clone)]
struct Caps {
    pipelining: bool,
    starttls: bool,
    eight_bit: bool,
    smtputf8: bool,
    size: bool,
    auth: Vec<String>,
}

impl Caps {
    fn parse(lines: &[String]) -> Caps {
        let mut caps = Caps::default();
        // The first line is the server's name and greeting.
        for line in lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "STARTTLS" => caps.starttls = true,
                "8BITMIME" => caps.eight_bit = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "SIZE" => caps.size = true,
                "AUTH" => caps.auth.extend(words.map(|w| w.to_ascii_uppercase())),
                // Old servers wrote `AUTH=LOGIN PLAIN`.
                k if k.starts_with("AUTH=") => {
                    caps.auth.extend(
                        k.trim_start_matches("AUTH=")
                            .split_whitespace()
                            .chain(words)
                            .map(|w| w.to_ascii_uppercase()),
                    );
                }
                _ => {}
            }
        }
        caps
    }
}

/// The commands of one transaction's envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Reset,
    Mail,
    Addressee,
    Copy,
    Data,
}

/// Why a send on one connection failed, and what the connection is good for now.
struct Failure {
    error: SendError,
    /// The connection can take the next message.
    keep: bool,
    /// Nothing of this message got a reply: on a kept connection this is the server
    /// having closed it while idle, and the message can go on a new one.
    before_any_reply: bool,
}

impl Failure {
    fn io(stage: Stage, e: io::Error, before_any_reply: bool) -> Failure {
        Failure {
            error: SendError::local(stage, Verdict::Transient, format!("connection lost: {e}")),
            keep: false,
            before_any_reply,
        }
    }
}

/// One open SMTP connection, between transactions.
struct Connection {
    io: BufReader<Stream>,
    caps: Caps,
    /// A transaction was begun and not ended: `RSET` before the next.
    dirty: bool,
    /// Reused for every command group and message.
    out: Vec<u8>,
    line: Vec<u8>,
}

impl Connection {
    fn new(stream: Stream) -> Connection {
        Connection {
            io: BufReader::with_capacity(16 * 1024, stream),
            caps: Caps::default(),
            dirty: false,
            out: Vec::with_capacity(16 * 1024),
            line: Vec::with_capacity(512),
        }
    }

    async fn write_out(&mut self) -> io::Result<()> {
        self.write_out_within(COMMAND_TIMEOUT).await
    }

    async fn write_out_within(&mut self, timeout: Duration) -> io::Result<()> {
        let out = std::mem::take(&mut self.out);
        let r = tokio::time::timeout(timeout, async {
            self.io.write_all(&out).await?;
            self.io.flush().await
        })
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")));
        self.out = out;
        self.out.clear();
        r
    }

    /// Reads one line into `self.line` (with its CRLF), at most [`MAX_LINE`] bytes.
    async fn read_line(&mut self) -> io::Result<()> {
        self.line.clear();
        loop {
            let buf = self.io.fill_buf().await?;
            if buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            let (used, done) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            self.line.extend_from_slice(buf.get(..used).unwrap_or(buf));
            self.io.consume(used);
            if self.line.len() > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "reply line too long",
                ));
            }
            if done {
                return Ok(());
            }
        }
    }

    async fn read_reply(&mut self, timeout: Duration) -> io::Result<Reply> {
        tokio::time::timeout(timeout, self.read_reply_inner())
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no reply in time")))
    }

    async fn read_reply_inner(&mut self) -> io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            self.read_line().await?;
            let line = String::from_utf8_lossy(&self.line);
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("not an SMTP reply: {line:?}"),
                    )
                })?;
            let more = line.get(3..4) == Some("-");
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok(Reply { code, lines });
            }
            if lines.len() > MAX_LINES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "reply too long"));
            }
        }
    }

    async fn command(&mut self, line: &str) -> io::Result<Reply> {
        self.out.extend_from_slice(line.as_bytes());
        self.write_out().await?;
        self.read_reply(COMMAND_TIMEOUT).await
    }

    async fn ehlo(&mut self, hello: &str) -> Result<(), (SendError, bool)> {
        let lost = |e: io::Error| {
            (
                SendError::local(
                    Stage::Connect,
                    Verdict::Throttled,
                    format!("EHLO failed: {e}"),
                ),
                false,
            )
        };
        let r = self
            .command(&format!("EHLO {hello}\r\n"))
            .await
            .map_err(lost)?;
        if r.code == 250 {
            self.caps = Caps::parse(&r.lines);
            return Ok(());
        }
        // A server without ESMTP (RFC 5321 §3.2): HELO, and no extensions.
        let h = self
            .command(&format!("HELO {hello}\r\n"))
            .await
            .map_err(lost)?;
        if h.code != 250 {
            return Err((r.error(Stage::Connect), false));
        }
        self.caps = Caps::default();
        Ok(())
    }

    async fn login(
        &mut self,
        user: &str,
        password: &str,
        server: &str,
    ) -> Result<(), (SendError, bool)> {
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let lost = |e: io::Error| {
            (
                SendError::local(
                    Stage::Connect,
                    Verdict::Throttled,
                    format!("AUTH failed: {e}"),
                ),
                false,
            )
        };
        let refused = |r: &Reply| {
            // 5xx: the name or password is wrong; 4xx: try later.
            let fatal = r.code >= 500;
            let mut e = r.error(Stage::Connect);
            e.text = format!("{server} refused the login for {user}: {}", e.text);
            (e, fatal)
        };
        let offers = |m: &str| self.caps.auth.iter().any(|a| a == m);
        if offers("PLAIN") {
            // RFC 4616: authorization id (empty), user, password, NUL-separated.
            let token = b64(format!("\0{user}\0{password}").as_bytes());
            let r = self
                .command(&format!("AUTH PLAIN {token}\r\n"))
                .await
                .map_err(lost)?;
            return if r.code == 235 {
                Ok(())
            } else {
                Err(refused(&r))
            };
        }
        if offers("LOGIN") {
            let r = self.command("AUTH LOGIN\r\n").await.map_err(lost)?;
            if r.code != 334 {
                return Err(refused(&r));
            }
            let r = self
                .command(&format!("{}\r\n", b64(user.as_bytes())))
                .await
                .map_err(lost)?;
            if r.code != 334 {
                return Err(refused(&r));
            }
            let r = self
                .command(&format!("{}\r\n", b64(password.as_bytes())))
                .await
                .map_err(lost)?;
            return if r.code == 235 {
                Ok(())
            } else {
                Err(refused(&r))
            };
        }
        let offered = if self.caps.auth.is_empty() {
            "no AUTH at all (some servers offer it only after STARTTLS)".to_string()
        } else {
            self.caps.auth.join(" ")
        };
        Err((
            SendError::local(
                Stage::Connect,
                Verdict::Throttled,
                format!("{server} offers neither AUTH PLAIN nor AUTH LOGIN, but {offered}"),
            ),
            true,
        ))
    }

    /// One transaction: the envelope (pipelined when offered), then the content.
    async fn send(&mut self, mail: &Outgoing<'_>) -> Result<(), Failure> {
        let Some((addressee, copies)) = mail.to.split_first() else {
            return Err(Failure {
                error: SendError::local(Stage::Rcpt, Verdict::Permanent, "no recipient"),
                keep: true,
                before_any_reply: false,
            });
        };
        let utf8 = !mail.from.is_ascii() || mail.to.iter().any(|a| !a.is_ascii());
        for (stage, a) in std::iter::once((Stage::Mail, mail.from))
            .chain(mail.to.iter().map(|a| (Stage::Rcpt, *a)))
        {
            if let Some(why) = bad_address(a, utf8 && self.caps.smtputf8) {
                return Err(Failure {
                    error: SendError::local(
                        stage,
                        Verdict::Permanent,
                        format!("cannot send to or from {a:?}: {why}"),
                    ),
                    keep: true,
                    before_any_reply: false,
                });
            }
        }
        let mut mail_from = format!("MAIL FROM:<{}>", mail.from);
        if self.caps.size {
            mail_from.push_str(&format!(" SIZE={}", mail.raw.len()));
        }
        if self.caps.eight_bit && mail.raw.iter().any(|b| *b >= 0x80) {
            mail_from.push_str(" BODY=8BITMIME");
        }
        if utf8 {
            mail_from.push_str(" SMTPUTF8");
        }
        let mut commands: Vec<(Cmd, String)> = Vec::with_capacity(mail.to.len() + 3);
        if self.dirty {
            commands.push((Cmd::Reset, "RSET\r\n".into()));
        }
        commands.push((Cmd::Mail, format!("{mail_from}\r\n")));
        commands.push((Cmd::Addressee, format!("RCPT TO:<{addressee}>\r\n")));
        for copy in copies {
            commands.push((Cmd::Copy, format!("RCPT TO:<{copy}>\r\n")));
        }
        commands.push((Cmd::Data, "DATA\r\n".into()));

        let mut replies: Vec<(Cmd, Reply)> = Vec::with_capacity(commands.len());
        self.dirty = true;
        if self.caps.pipelining {
            // RFC 2920: the whole envelope in one write, then the replies in order.
            for (_, line) in &commands {
                self.out.extend_from_slice(line.as_bytes());
            }
            self.write_out()
                .await
                .map_err(|e| Failure::io(Stage::Mail, e, true))?;
            for (cmd, _) in &commands {
                let r = self
                    .read_reply(COMMAND_TIMEOUT)
                    .await
                    .map_err(|e| Failure::io(Stage::Mail, e, replies.is_empty()))?;
                // 421: the server closes the connection; no more replies come.
                let closing = r.code == 421;
                replies.push((*cmd, r));
                if closing {
                    break;
                }
            }
        } else {
            // One command, one reply; a refusal (other than of a copy) ends it.
            for (cmd, line) in &commands {
                self.out.extend_from_slice(line.as_bytes());
                let first = replies.is_empty();
                self.write_out()
                    .await
                    .map_err(|e| Failure::io(Stage::Mail, e, first))?;
                let r = self
                    .read_reply(COMMAND_TIMEOUT)
                    .await
                    .map_err(|e| Failure::io(Stage::Mail, e, first))?;
                let stop = !r.positive() && (*cmd != Cmd::Copy || r.code == 421);
                replies.push((*cmd, r));
                if stop {
                    break;
                }
            }
        }
        // A 421 first: the server had closed this connection (e.g. its idle timeout).
        if let Some((_, r)) = replies.first().filter(|(_, r)| r.code == 421) {
            return Err(Failure {
                error: r.error(Stage::Mail),
                keep: false,
                before_any_reply: true,
            });
        }
        let mut refusal: Option<(Reply, Stage)> = None;
        let mut data_accepted = false;
        for (cmd, r) in &replies {
            let stage = match cmd {
                Cmd::Reset | Cmd::Mail => Stage::Mail,
                Cmd::Addressee => Stage::Rcpt,
                Cmd::Data => Stage::Data,
                Cmd::Copy => {
                    if !r.positive() {
                        tracing::warn!(reply = %r.error(Stage::Rcpt), "the server refused the copy to the mailbox; the message goes without it");
                    }
                    continue;
                }
            };
            if *cmd == Cmd::Data && r.code == 354 {
                data_accepted = true;
            } else if !r.positive() && refusal.is_none() {
                refusal = Some((r.clone(), stage));
            }
        }
        if let Some((r, stage)) = refusal {
            if data_accepted {
                // RFC 2920 §3.1: DATA was taken though the addressee was not. The
                // witness alone must not get the message, and an empty one would reach
                // it: closing without the final dot abandons the transaction.
                return Err(Failure {
                    error: r.error(stage),
                    keep: false,
                    before_any_reply: false,
                });
            }
            return Err(self.closing(r, stage));
        }
        if !data_accepted {
            return Err(Failure::io(Stage::Data, eof(), false));
        }

        // The content, dot-stuffed, and the final dot: one write.
        self.out.reserve(mail.raw.len() + mail.raw.len() / 32 + 8);
        dot_stuff(mail.raw, &mut self.out);
        // A large message on a slow line: a minute, and a second per 16 KiB.
        let within = COMMAND_TIMEOUT + Duration::from_secs((self.out.len() / 16_384) as u64);
        if let Err(e) = self.write_out_within(within).await {
            return Err(Failure {
                error: SendError::local(
                    Stage::Content,
                    Verdict::Unknown,
                    format!("connection lost while sending the message: {e}"),
                ),
                keep: false,
                before_any_reply: false,
            });
        }
        let r = self
            .read_reply(CONTENT_TIMEOUT)
            .await
            .map_err(|e| Failure {
                error: SendError::local(
                    Stage::Content,
                    Verdict::Unknown,
                    format!("no reply after the message: {e}"),
                ),
                keep: false,
                before_any_reply: false,
            })?;
        // Either way the transaction is over (RFC 5321 §4.1.1.4).
        self.dirty = false;
        if r.positive() {
            Ok(())
        } else {
            Err(self.closing(r, Stage::Content))
        }
    }

    /// A refusal; after 421 the server closes the connection (RFC 5321 §3.8).
    fn closing(&mut self, r: Reply, stage: Stage) -> Failure {
        Failure {
            keep: r.code != 421,
            before_any_reply: false,
            error: r.error(stage),
        }
    }

    async fn quit(&mut self) {
        self.out.extend_from_slice(b"QUIT\r\n");
        if self.write_out().await.is_ok() {
            let _ = self.read_reply(Duration::from_secs(5)).await;
        }
        let _ = self.io.shutdown().await;
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server closed the connection",
    )
}

/// Why an address cannot go into a command: it would end or change the command.
fn bad_address(a: &str, utf8_ok: bool) -> Option<&'static str> {
    if a.is_empty() || a.len() > 254 {
        return Some("empty or too long");
    }
    if a.bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'<' || b == b'>')
    {
        return Some("a space, a control character or an angle bracket in it");
    }
    if !a.is_ascii() && !utf8_ok {
        return Some("not ASCII, and the server does not offer SMTPUTF8");
    }
    None
}

/// Appends the message as DATA content: CRLF line ends (a bare CR or LF becomes CRLF,
/// so no other end-of-data reading is possible — "SMTP smuggling"), a dot at the
/// start of a line doubled (RFC 5321 §4.5.2), and the final `.CRLF`.
fn dot_stuff(raw: &[u8], out: &mut Vec<u8>) {
    let mut at_line_start = true;
    let mut bytes = raw.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' => {
                if bytes.peek() == Some(&b'\n') {
                    bytes.next();
                }
                out.extend_from_slice(b"\r\n");
                at_line_start = true;
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                at_line_start = true;
            }
            _ => {
                if at_line_start && b == b'.' {
                    out.push(b'.');
                }
                out.push(b);
                at_line_start = false;
            }
        }
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_and_line_ends() {
        let mut out = Vec::new();
        dot_stuff(
            b"Subject: x\r\n\r\n.hidden\r\n..two\nbare\rcr\r\n.",
            &mut out,
        );
        assert_eq!(
            out,
            b"Subject: x\r\n\r\n..hidden\r\n...two\r\nbare\r\ncr\r\n..\r\n.\r\n".to_vec()
        );
        let mut out = Vec::new();
        dot_stuff(b"a\r\n", &mut out);
        assert_eq!(out, b"a\r\n.\r\n".to_vec());
    }

    #[test]
    fn capabilities() {
        let lines: Vec<String> = [
            "mx.example.no Hello",
            "PIPELINING",
            "SIZE 10240000",
            "AUTH PLAIN login",
            "AUTH=LOGIN",
            "8BITMIME",
            "STARTTLS",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = Caps::parse(&lines);
        assert!(c.pipelining && c.size && c.eight_bit && c.starttls && !c.smtputf8);
        assert_eq!(c.auth, ["PLAIN", "LOGIN", "LOGIN"]);
    }

    #[test]
    fn addresses_that_would_break_a_command() {
        assert_eq!(bad_address("a@b.no", false), None);
        assert!(bad_address("a@b.no>\r\nRCPT TO:<x@y", false).is_some());
        assert!(bad_address("å@b.no", false).is_some());
        assert_eq!(bad_address("å@b.no", true), None);
    }
}
