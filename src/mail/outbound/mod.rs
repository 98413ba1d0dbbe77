//! How mail leaves: SMTP submission (lettre) or a Maildir folder on disk. The outbox in
//! the database is the queue; a transport only sends one message when asked and says
//! whether a failure is worth retrying.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls as LettreTls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{OutboundConfig, SmtpConfig, Tls};
use crate::mail::inbound::maildir;

/// Why a message did not leave, and whether trying again may help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    /// 4xx replies (421, 450, 451, 452, 454) and connection failures: retry later.
    /// 5xx replies: the server will never take it.
    pub transient: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot set up SMTP to {0}: {1}")]
    Smtp(String, lettre::transport::smtp::Error),
    #[error("cannot use the outbox folder {0}: {1}")]
    Maildir(PathBuf, std::io::Error),
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Maildir(PathBuf),
}

impl Transport {
    pub fn open(cfg: &OutboundConfig) -> Result<Transport, TransportError> {
        match cfg {
            OutboundConfig::Maildir(p) => {
                maildir::ensure_maildir(p).map_err(|e| TransportError::Maildir(p.clone(), e))?;
                Ok(Transport::Maildir(p.clone()))
            }
            OutboundConfig::Smtp(s) => Ok(Transport::Smtp(smtp(s)?)),
        }
    }

    /// Sends one message. `unique` names it where names matter (the Maildir file): the
    /// same outbox row always gets the same name, so a repeat after a crash overwrites
    /// rather than duplicates.
    ///
    /// `witness`, for SMTP: a second recipient in the same transaction (the mailbox's
    /// own plus-address). The server queues for both or for neither, so the copy's
    /// arrival proves the message was taken even if we crash before recording it.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        raw: &[u8],
        unique: &str,
        witness: Option<&str>,
    ) -> Result<(), SendError> {
        match self {
            Transport::Maildir(root) => {
                let root = root.clone();
                let raw = raw.to_vec();
                let unique = unique.to_string();
                tokio::task::spawn_blocking(move || maildir::deliver(&root, &unique, &raw))
                    .await
                    .map_err(|e| SendError {
                        message: format!("cannot write to the outbox folder: {e}"),
                        transient: true,
                    })?
                    .map_err(|e| SendError {
                        message: format!("cannot write to the outbox folder: {e}"),
                        transient: true,
                    })?;
                Ok(())
            }
            Transport::Smtp(t) => {
                let envelope = Envelope::new(
                    Some(from.parse().map_err(|e| SendError {
                        message: format!("bad sender address {from:?}: {e}"),
                        transient: false,
                    })?),
                    std::iter::once(to)
                        .chain(witness)
                        .map(|a| {
                            a.parse().map_err(|e| SendError {
                                message: format!("bad recipient address {a:?}: {e}"),
                                transient: false,
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
                .map_err(|e| SendError {
                    message: format!("bad envelope: {e}"),
                    transient: false,
                })?;
                t.send_raw(&envelope, raw)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError {
                        transient: !e.is_permanent(),
                        message: e.to_string(),
                    })
            }
        }
    }

    /// Whether sends through this transport can be confirmed by a copy to the mailbox.
    pub fn is_smtp(&self) -> bool {
        matches!(self, Transport::Smtp(_))
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp(_) => "smtp".into(),
            Transport::Maildir(p) => format!("maildir {}", p.display()),
        }
    }

    /// Checks that the SMTP server answers (start-up validation).
    pub async fn check(&self) -> Result<(), String> {
        match self {
            Transport::Smtp(t) => match t.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err("the SMTP server did not answer".into()),
                Err(e) => Err(e.to_string()),
            },
            Transport::Maildir(p) => maildir::ensure_maildir(p).map_err(|e| e.to_string()),
        }
    }
}

fn smtp(s: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, TransportError> {
    let err = |e| TransportError::Smtp(format!("{}:{}", s.host, s.port), e);
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host).port(s.port);
    match s.tls {
        Tls::None => {}
        Tls::Starttls => {
            b = b.tls(LettreTls::Required(
                TlsParameters::new(s.host.clone()).map_err(err)?,
            ));
        }
        Tls::Tls => {
            b = b.tls(LettreTls::Wrapper(
                TlsParameters::new(s.host.clone()).map_err(err)?,
            ));
        }
    }
    if let Some((u, p)) = &s.credentials {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(b.timeout(Some(Duration::from_secs(60))).build())
}

/// Where the Maildir transport puts messages, for telling a person where to look.
pub fn maildir_new(root: &Path) -> PathBuf {
    root.join("new")
}
