//! What a pure decision hands back for the daemon to commit in one transaction: the
//! changes, the mail (a template and its data, not text), the audit lines and the
//! outcome. Nothing here does I/O; the daemon renders the mail and writes it all.

use chrono::{DateTime, Utc};

use crate::domain::Language;

/// One mail to send: a kind of mail, its template with data, one recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// What the mail is (the outbox's kind, `X-Referent`, the Message-ID's prefix):
    /// what threading finds a reply by.
    pub kind: &'static str,
    /// `templates/LANG/TEMPLATE.hbs`, and the data it is rendered with.
    pub template: &'static str,
    pub data: serde_json::Value,
    /// The recipient's own language; `None`: the secretariat's.
    pub lang: Option<Language>,
    /// Doing the same thing twice writes the mail once.
    pub effect_key: String,
    pub to_name: String,
    pub to_address: String,
    /// What a reply must find (an object's key, a list of ids): the mail then carries
    /// a personal key for it, valid from this recipient's address only.
    pub reference: Option<String>,
    /// When that personal key stops being accepted.
    pub expires_at: Option<DateTime<Utc>>,
    /// The message this one answers.
    pub in_reply_to: Option<String>,
    pub meeting_id: Option<i64>,
    pub inbound_id: Option<i64>,
    /// `auto-replied` for an answer to someone's mail, else `auto-generated`.
    pub auto_submitted: &'static str,
}

impl Mail {
    /// A mail of `kind` written with `template`, to one person, about nothing a reply
    /// must find.
    pub fn new(
        kind: &'static str,
        template: &'static str,
        effect_key: String,
        to: &Person,
        data: serde_json::Value,
    ) -> Mail {
        Mail {
            kind,
            template,
            data,
            lang: to.lang,
            effect_key,
            to_name: to.name.clone(),
            to_address: to.email.clone(),
            reference: None,
            expires_at: None,
            in_reply_to: None,
            meeting_id: None,
            inbound_id: None,
            auto_submitted: "auto-generated",
        }
    }
}

/// Someone mail goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The member's row (0 for someone who is not a member).
    pub id: i64,
    pub name: String,
    pub email: String,
    /// Their own language; `None`: the secretariat's.
    pub lang: Option<Language>,
}

/// An audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub actor: String,
    pub kind: &'static str,
    pub meeting_id: Option<i64>,
    pub inbound_id: Option<i64>,
    pub detail: String,
}

/// What a message, a job or a command leads to; `C` is the kind of change its
/// workflow makes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<C> {
    /// Kept for a person: nothing is changed, and the outcome says why.
    pub held: bool,
    /// A sentence for the log.
    pub outcome: String,
    pub changes: Vec<C>,
    pub mails: Vec<Mail>,
    pub events: Vec<Event>,
}

impl<C> Plan<C> {
    pub fn done(outcome: impl Into<String>) -> Plan<C> {
        Plan {
            held: false,
            outcome: outcome.into(),
            changes: Vec::new(),
            mails: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn held(outcome: impl Into<String>) -> Plan<C> {
        Plan {
            held: true,
            ..Plan::done(outcome)
        }
    }

    /// Adds what another plan does (its outcome is the caller's to tell).
    pub fn extend(&mut self, other: Plan<C>) {
        self.changes.extend(other.changes);
        self.mails.extend(other.mails);
        self.events.extend(other.events);
    }
}
