//! The loop: fetch → store raw → understand → decide → commit (state + outbox in one
//! transaction) → mark handled; the scheduler tick; the outbox dispatcher; shutdown.
//! This is the composition root: the only place that names concrete adapters.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{Config, MailboxConfig};
use crate::domain::{address_detail, base_address, Held, HeldReason, Token};
use crate::mail::compose::{self, token_in_message_id, Draft};
use crate::mail::inbound::{
    self, imap::ImapSource, maildir::MaildirSource, MailSource, RawMessage,
};
use crate::mail::outbound::{self, Transport};
use crate::render::{self, MeetingText, Renderer};
use crate::schedule;
use crate::store::{
    InboundOutcome, InboundState, Invitation, Meeting, Member, NewAnswer, NewEvent, NewInbound,
    NewInvitation, OutgoingMail, Store,
};
use crate::understand::{self, Limits, Understanding};
use crate::workflow::{self, InboundContext};

mod agenda;
mod approvals;
mod batch;
mod by_mail;
mod calendar;
#[doc(hidden)]
pub mod fuzzing;
mod held;
mod jobs;
mod lease;
mod meeting;
mod minutes;
pub mod outbox;
pub mod people;
mod receiving;
mod replies;
mod report;
mod retention;
mod roster;
mod status;
mod trusted;
mod year;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Inbound(#[from] inbound::InboundError),
    #[error(transparent)]
    Transport(#[from] crate::mail::outbound::TransportError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error(transparent)]
    Compose(#[from] compose::ComposeError),
    #[error("the meeting's time zone {0:?} is unknown")]
    TimeZone(String),
    #[error("a background task failed: {0}")]
    Task(String),
}

pub type Result<T> = std::result::Result<T, DaemonError>;

/// Tries at acting on one inbound message before it is quarantined.
const MAX_TRIES: i64 = 3;
/// Inbound messages taken per pass.
const BATCH: usize = 100;
/// How soon a pass that left mail for another try (a message whose acting failed)
/// is followed by the next, new mail or not.
const RETRY_LEFT: Duration = Duration::from_secs(30);

/// Why mail to an address does not arrive, for the coordinators' notice.
pub(crate) enum Failure {
    /// A delivery failure report came back, with its status code if it had one.
    Bounce { status: Option<String> },
    /// The submission server refused the mail for good, with this reply.
    Refused { reply: String },
}

/// What one pass did, for `run --once` and the logs.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Report {
    pub received: usize,
    pub answers: usize,
    pub held: usize,
    pub ignored: usize,
    pub jobs: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Who a message is acted on for, when the message alone does not prove it: the
/// person it claims to be confirmed it, or a coordinator applied it on the command line.
#[derive(Debug, Clone)]
pub struct Acting {
    pub trust: crate::trust::Trust,
    /// Act on the message as this person's mail (`inbox apply --as`).
    pub as_address: Option<String>,
}

pub struct Daemon {
    pub cfg: Config,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub renderer: Renderer,
    /// How mail leaves, and at what pace (`daemon/outbox.rs`).
    pub outbox: outbox::Outbox,
    pub limits: Limits,
    /// Cancelled when the daemon stops: batch loops look at it between messages, so a
    /// stop finishes the message in flight and leaves the rest for the next start.
    pub stopping: CancellationToken,
    /// Members a job that writes to the whole council takes per transaction
    /// (`jobs::CHUNK`; smaller in tests).
    pub(crate) chunk: usize,
}

/// The inbound dedup key: Message-ID plus a hash of the body. The body, not the whole
/// message: the same message delivered twice differs in its Received: lines.
pub fn dedup_key(raw: &[u8], message_id: Option<&str>) -> (String, String) {
    let body_start = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2));
    let hash = match (message_id, body_start) {
        (Some(_), Some(start)) => hex::encode(Sha256::digest(raw.get(start..).unwrap_or(raw))),
        _ => hex::encode(Sha256::digest(raw)),
    };
    let key = match message_id {
        Some(id) => format!("{id}|{hash}"),
        None => format!("|{hash}"),
    };
    (key, hash)
}

impl Daemon {
    /// Opens the adapters and checks what can be checked before the loop starts.
    pub async fn new(cfg: Config, store: Store, clock: Arc<dyn Clock>) -> Result<Daemon> {
        let transport = outbound::open(&cfg.outbound)?;
        Self::with_transport(cfg, store, clock, transport)
    }

    /// Like [`Daemon::new`], with a transport of the caller's (a stub in tests).
    pub fn with_transport(
        cfg: Config,
        store: Store,
        clock: Arc<dyn Clock>,
        transport: Arc<dyn Transport>,
    ) -> Result<Daemon> {
        let renderer = Renderer::with_overrides(cfg.templates_dir.as_deref())?;
        let outbox = outbox::Outbox::new(transport, outbox::Pacing::from_config(&cfg));
        let limits = Limits {
            max_bytes: cfg.max_message_bytes,
            ..Limits::default()
        };
        Ok(Daemon {
            cfg,
            store,
            clock,
            renderer,
            outbox,
            limits,
            stopping: CancellationToken::new(),
            chunk: jobs::CHUNK,
        })
    }

    pub async fn open_source(&self) -> Result<MailSource> {
        Ok(match &self.cfg.mailbox {
            MailboxConfig::Maildir(p) => {
                MailSource::Maildir(MaildirSource::open(p, Duration::from_secs(2))?)
            }
            MailboxConfig::Imap(i) => {
                let cp = self
                    .store
                    .checkpoint(&ImapSource::checkpoint_name(i))
                    .await?;
                MailSource::Imap(Box::new(ImapSource::new(i.clone(), cp)))
            }
        })
    }

    fn tz(&self, m: &Meeting) -> Result<Tz> {
        m.time_zone
            .parse()
            .map_err(|_| DaemonError::TimeZone(m.time_zone.clone()))
    }

    /// A mail the submission server refused for good (5xx): the address is marked
    /// failing and the coordinators of its councils are told, in one transaction.
    async fn submission_refused(&self, row: &crate::store::OutboxRow, reason: &str) -> Result<()> {
        let now = self.clock.now();
        let failing = format!("the mail server refused it: {reason}");
        let n = self
            .store
            .mark_failing(&row.recipient, &failing, now)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let failure = Failure::Refused {
            reply: reason.to_string(),
        };
        let mails = self
            .bounce_notices(&row.recipient, &failure, &format!("outbox{}", row.id), None)
            .await?;
        let ev = NewEvent::new(
            "mail system",
            "refused",
            row.meeting_id,
            None,
            format!(
                "{}: {failing} ({n} membership(s) marked failing)",
                row.recipient
            ),
        );
        self.store.commit(&[], &mails, &[ev], now).await?;
        Ok(())
    }

    /// One full pass: inbound, scheduled jobs, outbox. What `run --once` does.
    pub async fn run_once(&self) -> Result<Report> {
        let mut report = Report::default();
        // The mailbox is read by one process at a time: while a daemon holds it, a
        // single pass leaves it alone and only runs the schedule and the outbox.
        if self.take_mailbox().await? {
            let r = match self.open_source().await {
                Ok(mut src) => {
                    let r = self.inbound_pass(&mut src, &mut report).await.map(|_| ());
                    src.close().await;
                    r
                }
                Err(e) => Err(e),
            };
            self.release_mailbox().await;
            r?;
        } else {
            tracing::warn!("another referent reads this mailbox now; this pass leaves it to it");
        }
        self.reschedule_pending().await?;
        self.tick(&mut report).await?;
        self.dispatch(&mut report).await?;
        Ok(report)
    }

    /// Runs until `cancel` fires: three named tasks (inbound, scheduler, dispatcher),
    /// each joined on shutdown.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) -> Result<()> {
        // The way out is checked first: a refused login or a certificate that does
        // not verify needs a person; a server that is down only delays the mail.
        // A server that does not answer at all does not hold up the mailbox for long.
        let transport = &self.outbox.transport;
        match tokio::time::timeout(Duration::from_secs(20), transport.check()).await {
            Ok(Ok(())) => tracing::info!(transport = %transport.describe(), "outgoing mail ready"),
            Ok(Err(e)) if e.fatal => {
                return Err(DaemonError::Refused(format!("cannot send mail: {e}")));
            }
            Ok(Err(e)) => tracing::warn!(
                "the outgoing mail server does not answer yet ({e}); mail waits in the outbox"
            ),
            Err(_) => tracing::warn!(
                transport = %transport.describe(),
                "the outgoing mail server does not answer yet; mail waits in the outbox"
            ),
        }
        // Jobs stored before the calendar rules or the offsets changed follow them.
        if let Err(e) = self.reschedule_pending().await {
            tracing::error!(error = %e, "cannot move pending jobs to the current calendar rules; they keep their times");
        }
        let wake = Arc::new(Notify::new());
        {
            let (c, s) = (cancel.clone(), self.stopping.clone());
            tokio::spawn(async move {
                c.cancelled().await;
                s.cancel();
            });
        }
        let mut tasks: Vec<(&str, JoinHandle<Result<()>>)> = Vec::new();

        let (d, c, w) = (self.clone(), cancel.clone(), wake.clone());
        tasks.push((
            "inbound",
            tokio::spawn(async move { d.inbound_task(c, w).await }),
        ));
        let (d, c, w) = (self.clone(), cancel.clone(), wake.clone());
        tasks.push((
            "scheduler",
            tokio::spawn(async move { d.scheduler_task(c, w).await }),
        ));
        let (d, c, w) = (self.clone(), cancel.clone(), wake.clone());
        tasks.push((
            "dispatcher",
            tokio::spawn(async move { d.dispatcher_task(c, w).await }),
        ));

        let mut failure = None;
        for (name, handle) in tasks {
            match handle.await {
                Ok(Ok(())) => tracing::info!(task = name, "stopped"),
                Ok(Err(e)) => {
                    tracing::error!(task = name, error = %e, "stopped with an error");
                    cancel.cancel();
                    failure.get_or_insert(DaemonError::Task(format!("{name}: {e}")));
                }
                Err(e) => {
                    tracing::error!(task = name, error = %e, "ended abnormally");
                    cancel.cancel();
                    failure.get_or_insert(DaemonError::Task(format!("{name}: {e}")));
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Watches the mailbox until `cancel`: a pass, then IDLE (or a poll), again.
    pub(crate) async fn watch_mailbox(
        &self,
        cancel: CancellationToken,
        wake: Arc<Notify>,
    ) -> Result<()> {
        let mut src = self.open_source().await?;
        tracing::info!(source = %src.describe(), "watching the mailbox");
        let mut failures = 0u32;
        while !cancel.is_cancelled() {
            let mut report = Report::default();
            let mut limit = None;
            match self.inbound_pass(&mut src, &mut report).await {
                Ok(left) => {
                    failures = 0;
                    if left {
                        // A message whose acting failed is tried again soon, and the
                        // mail after it is read then, whether or not new mail comes.
                        tracing::info!(retry_in = ?RETRY_LEFT, "mail left for another try");
                        limit = Some(RETRY_LEFT);
                    }
                    if report.received > 0 {
                        wake.notify_one();
                    }
                }
                Err(DaemonError::Inbound(e)) if e.is_transient() => {
                    let delay = inbound::backoff(failures);
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, retry_in = ?delay, "mailbox unavailable");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
                Err(DaemonError::Store(e)) => {
                    // The database is down: nothing was acknowledged; try again later.
                    let delay = inbound::backoff(failures);
                    failures = failures.saturating_add(1);
                    tracing::error!(error = %e, retry_in = ?delay, "database unavailable");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
                Err(e) => {
                    src.close().await;
                    return Err(e);
                }
            }
            if let Err(e) = src.wait(&cancel, limit).await {
                tracing::warn!(error = %e, "waiting for mail failed; reconnecting");
                if let MailSource::Imap(s) = &mut src {
                    s.reset();
                }
            }
        }
        src.close().await;
        Ok(())
    }

    async fn scheduler_task(&self, cancel: CancellationToken, wake: Arc<Notify>) -> Result<()> {
        loop {
            // Jobs that fell due while the daemon was down run at once.
            let mut report = Report::default();
            match self.tick(&mut report).await {
                Ok(()) => {
                    if report.jobs > 0 {
                        wake.notify_one();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "scheduler tick failed; trying again at the next tick")
                }
            }
            let now = self.clock.now();
            let next = schedule::next_tick(&self.cfg.tick, now)
                .unwrap_or(now + chrono::Duration::minutes(1));
            let wait = (next - now).to_std().unwrap_or(Duration::from_secs(1));
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::receiving::quick_message_id;
    use super::*;

    #[test]
    fn dedup_ignores_trace_headers() {
        let a = b"Received: from a\r\nMessage-ID: <x@y>\r\n\r\nJa\r\n";
        let b = b"Received: from b\r\nMessage-ID: <x@y>\r\n\r\nJa\r\n";
        assert_eq!(dedup_key(a, Some("x@y")).0, dedup_key(b, Some("x@y")).0);
        assert_eq!(quick_message_id(a).as_deref(), Some("x@y"));
        assert_eq!(
            quick_message_id(b"Message-Id:\r\n <folded@y>\r\n\r\n").as_deref(),
            Some("folded@y")
        );
        assert_eq!(
            quick_message_id(b"Subject: x\r\n\r\nMessage-ID: <no@y>"),
            None
        );
        assert_eq!(
            quick_message_id("Subject: Møtet\r\nMessage-ID: <a@b>\r\n\r\n".as_bytes()).as_deref(),
            Some("a@b")
        );
    }
}
