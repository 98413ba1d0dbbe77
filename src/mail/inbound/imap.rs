//! IMAP (async-imap): IDLE when the server offers it, polling otherwise; messages read
//! with `BODY.PEEK[]` so `\Seen` stays the reader's; "handled" is our own keyword, set
//! only after the caller has committed a message's effects; a UIDVALIDITY/last-UID
//! checkpoint to resume from.

use std::collections::BTreeSet;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::Session;
use chrono::Utc;
use futures::StreamExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::{InboundError, RawMessage};
use crate::config::{ImapConfig, Tls};

/// The keyword that marks a message handled. `\Seen` is never used for this: people
/// read the mailbox too.
pub const HANDLED_KEYWORD: &str = "$ReferentHandled";

/// IDLE is re-issued well inside the 29 minutes RFC 2177 allows, because real servers
/// and middleboxes drop idle connections sooner (~23 minutes seen).
const IDLE_RENEW: Duration = Duration::from_secs(9 * 60);
const IO_TIMEOUT: Duration = Duration::from_secs(120);

pub use crate::mail::net::Conn;

pub struct ImapSource {
    cfg: ImapConfig,
    session: Option<Session<Conn>>,
    supports_idle: bool,
    uid_validity: Option<u32>,
    last_uid: u32,
    /// UIDs fetched in this session and not yet marked handled.
    pending: BTreeSet<u32>,
    /// UIDs the last search found that no fetch has taken yet, oldest first. Batches
    /// are taken from here; the server is searched again when it is empty, after a
    /// wait and after a new connection (10,000 waiting messages are one search, not a
    /// hundred searches of thousands each).
    found: std::collections::VecDeque<u32>,
    checkpoint_dirty: bool,
}

async fn tls_connect(host: &str, tcp: TcpStream) -> Result<Conn, InboundError> {
    let config = crate::mail::net::client_tls(&[]).map_err(InboundError::Tls)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| InboundError::Tls(format!("{host}: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| InboundError::Tls(e.to_string()))?;
    Ok(Conn::Tls(Box::new(stream)))
}

impl ImapSource {
    /// A source that resumes from a stored checkpoint (UIDVALIDITY, last handled UID).
    pub fn new(cfg: ImapConfig, checkpoint: Option<(u32, u32)>) -> Self {
        ImapSource {
            cfg,
            session: None,
            supports_idle: false,
            uid_validity: checkpoint.map(|c| c.0),
            last_uid: checkpoint.map(|c| c.1).unwrap_or(0),
            pending: BTreeSet::new(),
            found: std::collections::VecDeque::new(),
            checkpoint_dirty: false,
        }
    }

    /// The name the checkpoint is stored under.
    pub fn checkpoint_name(cfg: &ImapConfig) -> String {
        format!(
            "imap://{}@{}:{}/{}",
            cfg.user, cfg.host, cfg.port, cfg.folder
        )
    }

    /// The checkpoint to store, when it moved since the last call.
    pub fn take_checkpoint(&mut self) -> Option<(u32, u32)> {
        if self.checkpoint_dirty {
            self.checkpoint_dirty = false;
            self.uid_validity.map(|v| (v, self.last_uid))
        } else {
            None
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "imap {}@{}:{}/{}",
            self.cfg.user, self.cfg.host, self.cfg.port, self.cfg.folder
        )
    }

    async fn connect(&mut self) -> Result<(), InboundError> {
        let addr = format!("{}:{}", self.cfg.host, self.cfg.port);
        let tcp = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| InboundError::Timeout)?
            .map_err(|e| InboundError::Connect(addr.clone(), e))?;
        tcp.set_nodelay(true).ok();
        let client = match self.cfg.tls {
            Tls::Tls => {
                let mut c = async_imap::Client::new(tls_connect(&self.cfg.host, tcp).await?);
                c.read_response()
                    .await
                    .map_err(|e| InboundError::Connect(addr.clone(), e))?;
                c
            }
            Tls::None => {
                let mut c = async_imap::Client::new(Conn::Plain(tcp));
                c.read_response()
                    .await
                    .map_err(|e| InboundError::Connect(addr.clone(), e))?;
                c
            }
            Tls::Starttls => {
                let mut c = async_imap::Client::new(Conn::Plain(tcp));
                c.read_response()
                    .await
                    .map_err(|e| InboundError::Connect(addr.clone(), e))?;
                c.run_command_and_check_ok("STARTTLS", None).await?;
                let Conn::Plain(tcp) = c.into_inner() else {
                    return Err(InboundError::Tls("STARTTLS on a TLS connection".into()));
                };
                async_imap::Client::new(tls_connect(&self.cfg.host, tcp).await?)
            }
        };
        let mut session = client
            .login(&self.cfg.user, &self.cfg.password)
            .await
            .map_err(|(e, _)| InboundError::Login(self.cfg.user.clone(), e.to_string()))?;
        let caps = session.capabilities().await?;
        self.supports_idle = caps.has_str("IDLE");
        let mailbox = session
            .select(&self.cfg.folder)
            .await
            .map_err(|e| InboundError::Select(self.cfg.folder.clone(), e.to_string()))?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        if let Some(old) = self.uid_validity {
            if old != validity {
                // A restored or recreated mailbox: UIDs mean something else now. Start
                // from the first UID; the handled keyword and the database's
                // Message-ID + content-hash check keep anything from being done twice.
                tracing::warn!(
                    old,
                    new = validity,
                    "UIDVALIDITY changed: rescanning the folder"
                );
                self.last_uid = 0;
                self.checkpoint_dirty = true;
            }
        } else {
            self.checkpoint_dirty = true;
        }
        self.uid_validity = Some(validity);
        self.pending.clear();
        tracing::info!(
            folder = %self.cfg.folder,
            idle = self.supports_idle && self.cfg.idle,
            uid_validity = validity,
            last_uid = self.last_uid,
            "IMAP session open"
        );
        self.session = Some(session);
        Ok(())
    }

    async fn session(&mut self) -> Result<&mut Session<Conn>, InboundError> {
        if self.session.is_none() {
            self.connect().await?;
        }
        self.session
            .as_mut()
            .ok_or_else(|| InboundError::Select(self.cfg.folder.clone(), "no session".into()))
    }

    /// Drops the connection after an error, so the next call reconnects (and searches
    /// again).
    pub fn reset(&mut self) {
        self.session = None;
        self.found.clear();
    }

    /// Up to `max` messages not yet handled, leaving out `skip` (the batch being acted
    /// on while the next is fetched). A fetch that skips nothing starts a pass: it
    /// searches the mailbox afresh; the pass's next batches come from that search.
    pub async fn fetch(
        &mut self,
        max: usize,
        skip: &BTreeSet<u32>,
    ) -> Result<Vec<RawMessage>, InboundError> {
        if skip.is_empty() {
            self.found.clear();
        }
        let r = tokio::time::timeout(IO_TIMEOUT, self.fetch_inner(max, skip)).await;
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.reset();
                Err(e)
            }
            Err(_) => {
                self.reset();
                Err(InboundError::Timeout)
            }
        }
    }

    async fn fetch_inner(
        &mut self,
        max: usize,
        skip: &BTreeSet<u32>,
    ) -> Result<Vec<RawMessage>, InboundError> {
        // Connect first: a new session may find UIDVALIDITY changed and reset the
        // checkpoint, and the search must start from the reset one, or messages
        // renumbered below the old checkpoint would never be read.
        if self.session.is_none() {
            self.connect().await?;
        }
        let last = self.last_uid;
        if self.found.is_empty() {
            let session = self.session().await?;
            while session.unsolicited_responses.try_recv().is_ok() {}
            let query = format!(
                "UID {}:* UNKEYWORD {HANDLED_KEYWORD}",
                last.saturating_add(1)
            );
            let sw = crate::clock::Stopwatch::start();
            let found = session.uid_search(&query).await?;
            // "UID n:*" always matches the last message, even when n is past it.
            let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > last).collect();
            uids.sort_unstable();
            tracing::debug!(count = uids.len(), ms = sw.ms(), "searched the mailbox");
            self.found = uids.into();
        }
        let mut uids = Vec::with_capacity(max);
        while uids.len() < max {
            let Some(uid) = self.found.pop_front() else {
                break;
            };
            // A batch still being acted on is not fetched again; nor is what a newer
            // checkpoint has passed.
            if uid > last && !skip.contains(&uid) {
                uids.push(uid);
            }
        }
        let session = self.session().await?;
        let mut out = Vec::with_capacity(uids.len());
        if !uids.is_empty() {
            let set = uids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let mut stream = session
                .uid_fetch(&set, "(UID INTERNALDATE BODY.PEEK[])")
                .await?;
            while let Some(item) = stream.next().await {
                let fetch = item?;
                let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                    continue;
                };
                out.push(RawMessage {
                    source_ref: uid.to_string(),
                    bytes: body.to_vec(),
                    received_at: fetch.internal_date().map(|d| d.with_timezone(&Utc)),
                });
            }
        }
        out.sort_by_key(|m| m.source_ref.parse::<u32>().unwrap_or(0));
        for m in &out {
            if let Ok(uid) = m.source_ref.parse() {
                self.pending.insert(uid);
            }
        }
        Ok(out)
    }

    pub async fn mark_handled(&mut self, refs: &[String]) -> Result<(), InboundError> {
        let uids: Vec<u32> = refs.iter().filter_map(|r| r.parse().ok()).collect();
        if uids.is_empty() {
            return Ok(());
        }
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let result = tokio::time::timeout(IO_TIMEOUT, async {
            let session = self.session().await?;
            let mut stream = session
                .uid_store(&set, format!("+FLAGS.SILENT ({HANDLED_KEYWORD})"))
                .await?;
            while let Some(item) = stream.next().await {
                item?;
            }
            Ok::<(), InboundError>(())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.reset();
                return Err(e);
            }
            Err(_) => {
                self.reset();
                return Err(InboundError::Timeout);
            }
        }
        let max_marked = uids.iter().copied().max().unwrap_or(0);
        for u in &uids {
            self.pending.remove(u);
        }
        // The checkpoint only moves past UIDs that are all handled.
        let new_last = match self.pending.iter().next() {
            Some(first_pending) => first_pending
                .saturating_sub(1)
                .max(self.last_uid)
                .min(max_marked),
            None => max_marked.max(self.last_uid),
        };
        if new_last != self.last_uid {
            self.last_uid = new_last;
            self.checkpoint_dirty = true;
        }
        Ok(())
    }

    /// Waits for new mail: IDLE when offered, else the poll interval; at most `limit`
    /// when given (mail left for another try), and IDLE is renewed every 9 minutes
    /// either way. Cancelling ends IDLE with DONE before returning.
    pub async fn wait(
        &mut self,
        cancel: &CancellationToken,
        limit: Option<Duration>,
    ) -> Result<(), InboundError> {
        if !(self.cfg.idle && self.supports_idle) || self.session.is_none() {
            let pause = limit.map_or(self.cfg.poll_interval, |l| l.min(self.cfg.poll_interval));
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
            }
            return Ok(());
        }
        // Mail that arrived while the last pass fetched and marked is announced in an
        // unsolicited EXISTS/RECENT the server does not repeat once IDLE starts: look
        // first, and go straight back to fetching if there was one.
        if let Some(session) = self.session.as_mut() {
            let mut news = false;
            while let Ok(r) = session.unsolicited_responses.try_recv() {
                news |= matches!(
                    r,
                    async_imap::types::UnsolicitedResponse::Exists(_)
                        | async_imap::types::UnsolicitedResponse::Recent(_)
                );
            }
            if news {
                tracing::debug!("new mail announced during the last pass");
                return Ok(());
            }
        }
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let mut idle = session.idle();
        if let Err(e) = idle.init().await {
            return Err(e.into());
        }
        let outcome = {
            // The renewal is timed here: the library's own timeout restarts at every
            // keepalive the server sends ("* OK Still here" every two minutes on
            // Dovecot), so it would never fire.
            let renew = limit.map_or(IDLE_RENEW, |l| l.min(IDLE_RENEW));
            let (wait, interrupt) = idle.wait();
            tokio::pin!(wait);
            tokio::select! {
                r = &mut wait => r,
                _ = cancel.cancelled() => {
                    drop(interrupt);
                    wait.await
                }
                _ = tokio::time::sleep(renew) => {
                    drop(interrupt);
                    wait.await.map(|_| IdleResponse::Timeout)
                }
            }
        };
        match outcome {
            Ok(IdleResponse::NewData(_)) => tracing::debug!("IDLE: the server reports a change"),
            Ok(IdleResponse::Timeout) => tracing::debug!("IDLE renewed"),
            Ok(IdleResponse::ManualInterrupt) => {}
            Err(e) => return Err(e.into()),
        }
        let session = tokio::time::timeout(IO_TIMEOUT, idle.done())
            .await
            .map_err(|_| InboundError::Timeout)??;
        self.session = Some(session);
        Ok(())
    }

    pub async fn logout(&mut self) {
        if let Some(mut s) = self.session.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
        }
    }
}
