//! How mail leaves: one small trait, [`Transport`], with three adapters — SMTP
//! submission ([`smtp`], our own client: pipelined, connections kept open), a Maildir
//! folder on disk ([`maildir`]) and an in-memory stub with scripted replies for tests
//! ([`stub`]). The outbox in the database is the queue and the dispatcher
//! (`daemon/outbox.rs`) decides what goes when; a transport only sends one message
//! when asked and says, in a [`SendError`], what its failure means.

pub mod maildir;
pub mod smtp;
pub mod stub;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::config::OutboundConfig;

/// One message to send.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The envelope sender (`MAIL FROM`).
    pub from: &'a str,
    /// The envelope recipients (`RCPT TO`): the addressee first, then the witness.
    pub to: &'a [&'a str],
    /// The message, with CRLF line ends.
    pub raw: &'a [u8],
    /// A name for it where names matter (the Maildir file): the same outbox row always
    /// gets the same name, so a repeat after a crash overwrites rather than duplicates.
    pub name: &'a str,
}

/// How mail leaves. Implementations keep their own connections; the dispatcher runs
/// at most [`Transport::connections`] sends at once.
pub trait Transport: Send + Sync {
    /// Sends one message. For SMTP every recipient is in the same transaction, so the
    /// server takes the message for all of them or for none (the witness relies on it).
    fn send<'a>(&'a self, mail: Outgoing<'a>) -> BoxFuture<'a, Result<(), SendError>>;

    /// The start-up check: the server answers, TLS verifies, the login is taken; the
    /// folder can be written.
    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>>;

    /// How many sends may run at once.
    fn connections(&self) -> usize {
        1
    }

    /// Whether a copy to the mailbox's own `+sent` address in the same transaction
    /// confirms a send that a crash interrupted (SMTP with `copy_to_mailbox`).
    fn witnessed(&self) -> bool {
        false
    }

    /// For the log: where mail goes.
    fn describe(&self) -> String;

    /// Ends open connections politely (QUIT), at shutdown.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Opens the transport the configuration names.
pub fn open(cfg: &OutboundConfig) -> Result<Arc<dyn Transport>, TransportError> {
    Ok(match cfg {
        OutboundConfig::Maildir(p) => Arc::new(maildir::MaildirTransport::open(p)?),
        OutboundConfig::Smtp(s) => Arc::new(smtp::SmtpTransport::new(s)?),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot set up SMTP to {0}: {1}")]
    Smtp(String, String),
    #[error("cannot use the outbox folder {0}: {1}")]
    Maildir(PathBuf, std::io::Error),
}

/// Why the start-up check failed, and whether waiting can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CheckError {
    pub message: String,
    /// A refused login, a certificate that does not verify, a server without STARTTLS
    /// when it was asked for, a folder that cannot be made: a person must change
    /// something, so the daemon does not start. Otherwise (the server is down or busy)
    /// mail waits in the outbox.
    pub fatal: bool,
}

/// Where in the exchange a send failed. It decides whose problem a refusal is: the
/// server's (connecting, logging in, the sender), the recipient's (`RCPT`) or the
/// message's (its content).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Connecting, the greeting, EHLO, STARTTLS, AUTH; a folder that cannot be written.
    Connect,
    /// `MAIL FROM`.
    Mail,
    /// `RCPT TO` of the addressee.
    Rcpt,
    /// The `DATA` command.
    Data,
    /// The reply to the message's content (after the final dot).
    Content,
}

/// What a failed send means for the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The server, not the message: it is unreachable, busy or asks us to slow down
    /// (421, 432 4.3.2, 4.7.x, rate-limit texts, a refused connection). Every send
    /// waits, with a growing pause; the message keeps its place.
    Throttled,
    /// A sending quota is used up (554 5.2.0 at Microsoft 365, 550 5.4.5 at Google, a
    /// 5xx saying a quota or limit is exceeded). All sending pauses until it resets;
    /// the message keeps its place and its address is not marked failing.
    Quota,
    /// This message, for now (a 4xx about it, e.g. a busy mailbox, or the connection
    /// broke during it): it is tried again later, with backoff.
    Transient,
    /// This message will never be taken (a 5xx about it).
    Permanent,
    /// The connection broke after the whole message was written and before the server
    /// replied: it may have been taken. The witness copy, if any, settles it.
    Unknown,
}

/// Why a message did not leave. Keeps the server's reply code and enhanced status code
/// (RFC 3463) when there was a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// The SMTP reply code: 421, 432, 450, 554 …; `None` when no reply came.
    pub code: Option<u16>,
    /// The enhanced status code, e.g. `5.2.0`, when the server gave one.
    pub enhanced: Option<String>,
    /// The server's text (without code and enhanced code), or our own reason.
    pub text: String,
    pub stage: Stage,
    pub verdict: Verdict,
}

impl SendError {
    /// A server's reply, classified.
    pub fn reply(stage: Stage, code: u16, text: &str) -> SendError {
        let (enhanced, text) = split_enhanced(text);
        let verdict = classify(stage, code, enhanced.as_deref(), &text);
        SendError {
            code: Some(code),
            enhanced,
            text,
            stage,
            verdict,
        }
    }

    /// A failure without a reply (a connection refused or broken, a timeout, a folder
    /// that cannot be written).
    pub fn local(stage: Stage, verdict: Verdict, text: impl Into<String>) -> SendError {
        SendError {
            code: None,
            enhanced: None,
            text: text.into(),
            stage,
            verdict,
        }
    }

    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        self.verdict != Verdict::Permanent
    }

    pub fn is_permanent(&self) -> bool {
        self.verdict == Verdict::Permanent
    }

    /// A pause for every send, not a retry of this one.
    pub fn pauses_sending(&self) -> bool {
        matches!(self.verdict, Verdict::Throttled | Verdict::Quota)
    }

    /// The recipient or the message was refused for good: the address is marked failing
    /// and the coordinators are told. A refusal of the sender or of the login is the
    /// server's setting, not the member's address.
    pub fn refuses_recipient(&self) -> bool {
        self.verdict == Verdict::Permanent && matches!(self.stage, Stage::Rcpt | Stage::Content)
    }
}

impl SendError {
    /// The reply as the server gave it (code, enhanced code, text), or our reason.
    pub fn reply_text(&self) -> String {
        let mut s = String::new();
        if let Some(code) = self.code {
            s.push_str(&format!("{code} "));
        }
        if let Some(e) = &self.enhanced {
            s.push_str(&format!("{e} "));
        }
        s.push_str(&self.text);
        s
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.verdict {
            Verdict::Throttled => "transient: the server asks to wait",
            Verdict::Quota => "transient: sending quota reached",
            Verdict::Transient => "transient",
            Verdict::Permanent => "permanent",
            Verdict::Unknown => "transient: unknown whether the server took it",
        };
        write!(f, "{} ({what})", self.reply_text())
    }
}

impl std::error::Error for SendError {}

/// Splits an RFC 3463 enhanced status code (`class.subject.detail`, class 2, 4 or 5)
/// off the front of a reply text.
fn split_enhanced(text: &str) -> (Option<String>, String) {
    let text = text.trim();
    let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
    let mut parts = first.split('.');
    let ok = matches!(parts.next(), Some("2" | "4" | "5"))
        && parts
            .next()
            .is_some_and(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_none();
    if ok {
        (Some(first.to_string()), rest.trim().to_string())
    } else {
        (None, text.to_string())
    }
}

/// What a reply means for the queue. Throttling and quotas are told apart from a refusal
/// of the message by code, enhanced code and, since providers differ, the words used:
/// - Microsoft 365: `432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded` for a
///   connection over the limit of 3, `554 5.2.0 STOREDRV.Submission.Exception:
///   SubmissionQuotaExceededException` when the daily recipients are used up.
/// - Google: `421 4.7.0 Try again later`, `450 4.2.1 Peak SMTP relay limit exceeded`,
///   `550 5.4.5 Daily user sending quota exceeded`.
fn classify(stage: Stage, code: u16, enhanced: Option<&str>, text: &str) -> Verdict {
    let t = text.to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|w| t.contains(w));
    let enhanced = enhanced.unwrap_or("");
    // A full mailbox or a message too large is about the recipient or the message,
    // whatever the words ("quota exceeded" is also how a full mailbox is reported).
    let about_mailbox = ["5.2.2", "4.2.2", "5.2.3", "5.3.4"].contains(&enhanced)
        || enhanced.starts_with("5.1.")
        || code == 552;
    let quota = !about_mailbox
        && ((code == 554 && enhanced == "5.2.0")
            || enhanced == "5.4.5"
            || says(&[
                "quota",
                "limit exceeded",
                "limit reached",
                "limit has been reached",
                "exceeded the limit",
                "exceeded its limit",
                "submissionquotaexceeded",
            ]));
    let slow_down = says(&[
        "rate limit",
        "rate-limit",
        "ratelimit",
        "rate exceeded",
        "sending rate",
        "too many",
        "throttl",
        "slow down",
        "concurrent",
        "thread limit",
        "limit exceeded",
    ]);
    match code {
        200..=399 => Verdict::Transient,
        421 => Verdict::Throttled,
        _ if enhanced == "4.3.2" => Verdict::Throttled,
        _ if code >= 500 && quota => Verdict::Quota,
        // Before any message is named, a refusal is the server's (login, policy):
        // mail waits for it, it is never a member's address that failed.
        _ if stage == Stage::Connect => Verdict::Throttled,
        400..=499 if enhanced.starts_with("4.7.") => Verdict::Throttled,
        400..=499 if !about_mailbox && slow_down => Verdict::Throttled,
        400..=499 => Verdict::Transient,
        _ if enhanced.starts_with("5.7.") && slow_down => Verdict::Throttled,
        // The sender refused (not the size): the server's setting, the same for every
        // message. Waiting keeps the queue instead of failing all of it.
        _ if stage == Stage::Mail && !about_mailbox => Verdict::Throttled,
        _ => Verdict::Permanent,
    }
}

/// Where the Maildir transport puts messages, for telling a person where to look.
pub fn maildir_new(root: &Path) -> PathBuf {
    root.join("new")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(stage: Stage, code: u16, text: &str) -> Verdict {
        SendError::reply(stage, code, text).verdict
    }

    #[test]
    fn replies_keep_their_codes() {
        let e = SendError::reply(
            Stage::Content,
            554,
            "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
        );
        assert_eq!(e.code, Some(554));
        assert_eq!(e.enhanced.as_deref(), Some("5.2.0"));
        assert_eq!(e.verdict, Verdict::Quota);
        assert!(e.is_transient());
        assert_eq!(
            e.to_string(),
            "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException (transient: sending quota reached)"
        );
        let e = SendError::reply(Stage::Rcpt, 550, "5.1.1 No such user here");
        assert!(e.is_permanent() && e.refuses_recipient());
        assert!(e.to_string().ends_with("No such user here (permanent)"));
        let e = SendError::reply(Stage::Rcpt, 550, "No such user");
        assert_eq!((e.enhanced, e.text.as_str()), (None, "No such user"));
    }

    #[test]
    fn throttling_quota_and_refusals_are_told_apart() {
        use Stage::*;
        use Verdict::*;
        // Microsoft 365.
        assert_eq!(
            verdict(
                Connect,
                432,
                "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"
            ),
            Throttled
        );
        assert_eq!(verdict(Content, 554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception"), Quota);
        // Google.
        assert_eq!(
            verdict(Mail, 421, "4.7.0 Try again later, closing connection."),
            Throttled
        );
        assert_eq!(
            verdict(
                Rcpt,
                450,
                "4.2.1 Peak SMTP relay limit exceeded for customer"
            ),
            Throttled
        );
        assert_eq!(
            verdict(Mail, 550, "5.4.5 Daily user sending quota exceeded."),
            Quota
        );
        assert_eq!(
            verdict(
                Rcpt,
                550,
                "5.7.1 Daily SMTP relay limit exceeded for customer"
            ),
            Quota
        );
        // Rate limits worded as policy.
        assert_eq!(verdict(Content, 451, "4.7.1 Please slow down"), Throttled);
        assert_eq!(
            verdict(Content, 550, "5.7.1 Message rate limit, try later"),
            Throttled
        );
        // About one message or one address.
        assert_eq!(
            verdict(Rcpt, 450, "4.2.1 Mailbox busy, try again later"),
            Transient
        );
        assert_eq!(verdict(Rcpt, 452, "4.2.2 Mailbox full"), Transient);
        assert_eq!(
            verdict(Rcpt, 552, "5.2.2 Mailbox full, quota exceeded"),
            Permanent
        );
        assert_eq!(verdict(Rcpt, 550, "5.1.1 No such user here"), Permanent);
        assert_eq!(
            verdict(Content, 554, "5.6.0 Message rejected as spam"),
            Permanent
        );
        assert_eq!(
            verdict(Mail, 552, "5.3.4 Message size exceeds fixed limit"),
            Permanent
        );
        // The server's own setting, before any recipient: never a member's fault.
        assert_eq!(
            verdict(Connect, 535, "5.7.8 Authentication credentials invalid"),
            Throttled
        );
        assert_eq!(
            verdict(
                Mail,
                550,
                "5.7.60 Client does not have permissions to send as this sender"
            ),
            Throttled
        );
        assert!(!SendError::reply(Mail, 550, "5.7.60 no").refuses_recipient());
    }
}
