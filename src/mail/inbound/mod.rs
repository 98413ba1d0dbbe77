//! Where mail comes from: an IMAP mailbox (IDLE when offered, polling otherwise) or a
//! local Maildir. Both keep the same promise: a message is marked handled only when the
//! caller says its effects are committed, and `\Seen` is never that mark.

pub mod imap;
pub mod maildir;

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// A message as fetched, before anything acts on it.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// Where it is in the source: an IMAP UID or a Maildir file name.
    pub source_ref: String,
    pub bytes: Vec<u8>,
    /// When the server received it (IMAP INTERNALDATE, Maildir file time), if known.
    pub received_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("cannot reach the IMAP server {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("TLS with the IMAP server failed: {0}")]
    Tls(String),
    #[error("the IMAP server refused the login for {0}: {1}")]
    Login(String, String),
    #[error("IMAP error: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("cannot select the folder {0}: {1}")]
    Select(String, String),
    #[error("Maildir error at {0}: {1}")]
    Maildir(String, std::io::Error),
    #[error("the IMAP server did not answer in time")]
    Timeout,
}

impl InboundError {
    /// Whether trying again later may help (network, server restarts). A refused
    /// login, a folder that does not exist and a certificate that does not verify need
    /// a person: the daemon stops with the reason instead of retrying forever.
    pub fn is_transient(&self) -> bool {
        match self {
            InboundError::Login(..) => false,
            InboundError::Select(_, why) => {
                let w = why.to_ascii_lowercase();
                !(w.contains("nonexistent")
                    || w.contains("doesn't exist")
                    || w.contains("does not exist")
                    || w.contains("no such")
                    || w.contains("unknown mailbox"))
            }
            InboundError::Tls(why) => !why.to_ascii_lowercase().contains("certificate"),
            _ => true,
        }
    }
}

/// The concrete sources, chosen by the composition root.
pub enum MailSource {
    Imap(Box<imap::ImapSource>),
    Maildir(maildir::MaildirSource),
}

impl MailSource {
    /// Unhandled messages, up to `max` of them, oldest first.
    pub async fn fetch(&mut self, max: usize) -> Result<Vec<RawMessage>, InboundError> {
        self.fetch_skipping(max, &[]).await
    }

    /// Up to `max` messages not yet handled, leaving out those named in `skip` (a batch
    /// still being acted on: the next one is fetched meanwhile).
    pub async fn fetch_skipping(
        &mut self,
        max: usize,
        skip: &[String],
    ) -> Result<Vec<RawMessage>, InboundError> {
        match self {
            MailSource::Imap(s) => {
                let skip = skip.iter().filter_map(|r| r.parse().ok()).collect();
                s.fetch(max, &skip).await
            }
            MailSource::Maildir(s) => {
                let mut all = s.fetch(max.saturating_add(skip.len()))?;
                all.retain(|m| !skip.contains(&m.source_ref));
                all.truncate(max);
                Ok(all)
            }
        }
    }

    /// Marks messages handled: their effects are committed.
    pub async fn mark_handled(&mut self, refs: &[String]) -> Result<(), InboundError> {
        if refs.is_empty() {
            return Ok(());
        }
        match self {
            MailSource::Imap(s) => s.mark_handled(refs).await,
            MailSource::Maildir(s) => s.mark_handled(refs),
        }
    }

    /// Waits until new mail may have arrived, or `cancel` fires; at most `limit` when
    /// given (mail was left for another try).
    pub async fn wait(
        &mut self,
        cancel: &CancellationToken,
        limit: Option<std::time::Duration>,
    ) -> Result<(), InboundError> {
        match self {
            MailSource::Imap(s) => s.wait(cancel, limit).await,
            MailSource::Maildir(s) => {
                let pause = limit.map_or(s.poll_interval, |l| l.min(s.poll_interval));
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
                Ok(())
            }
        }
    }

    /// Ends the session cleanly (IMAP LOGOUT).
    pub async fn close(&mut self) {
        if let MailSource::Imap(s) = self {
            s.logout().await;
        }
    }

    pub fn describe(&self) -> String {
        match self {
            MailSource::Imap(s) => s.describe(),
            MailSource::Maildir(s) => format!("maildir {}", s.root.display()),
        }
    }
}

/// Capped, jittered exponential backoff for reconnecting.
pub fn backoff(attempt: u32) -> Duration {
    let base = 1u64 << attempt.min(6); // 1, 2, 4 … 64 s
    let capped = base.min(60) * 1000;
    let jitter = rand::random::<u64>() % (capped / 2 + 1);
    Duration::from_millis(capped / 2 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_needs_a_person_is_not_retried() {
        assert!(!InboundError::Login("u".into(), "NO".into()).is_transient());
        assert!(!InboundError::Select(
            "Innboks".into(),
            "NO Mailbox doesn't exist: Innboks".into()
        )
        .is_transient());
        assert!(
            !InboundError::Tls("invalid peer certificate: UnknownIssuer".into()).is_transient()
        );
        assert!(InboundError::Timeout.is_transient());
        assert!(InboundError::Tls("connection reset".into()).is_transient());
    }
}
