//! What a pure decision hands back for the daemon to commit in one transaction: the
//! changes to the council's state, the mail (a template and its data, for one person
//! in their language), the audit lines and a sentence for the log. Every flow of
//! `workflow` (the agenda, the minutes, the meeting) returns a [`Plan`]; nothing here
//! does I/O, and nothing here reads the clock, the database or a random source: `now`
//! and any new key are given. The daemon renders the mail and writes it all.

use chrono::{DateTime, Utc};

use crate::domain::{Held, HeldReason, Language};

/// Someone mail goes to, and the language it is written in: their own, or the
/// secretariat's when they have none (the daemon decides which when it loads the
/// snapshot, so a plan says exactly what is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The member's row (0 for someone who is not a member).
    pub id: i64,
    pub name: String,
    pub email: String,
    pub lang: Language,
}

/// A file a mail carries: name, content type, bytes.
pub type File = (String, String, Vec<u8>);

/// The calendar entry a mail carries. Its title and description come from
/// `template` (its subject line and body) in the recipient's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// `REQUEST` (new or moved) or `CANCEL`.
    pub method: &'static str,
    pub sequence: i64,
    pub template: &'static str,
    /// Whether the recipient is asked to answer.
    pub rsvp: bool,
    /// The invitation's token: the entry's UID is personal with it.
    pub token: Option<String>,
    /// When the meeting is, as the entry shows it.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// One mail to send: a kind of mail, its template with data, one recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// What the mail is (the outbox's kind, `X-Referent`, the Message-ID's prefix):
    /// what threading finds a reply by.
    pub kind: &'static str,
    /// `templates/LANG/TEMPLATE.hbs`, and the data it is rendered with.
    pub template: &'static str,
    pub data: serde_json::Value,
    /// Who it goes to, and in which language.
    pub to: Person,
    /// Doing the same thing twice writes the mail once.
    pub effect_key: String,
    /// The key of the object a reply should find (minutes, an agenda item): the mail
    /// carries a personal key that points to it, valid from this recipient only.
    pub key: Option<String>,
    /// What a reply must find when it is not an object with a key (a list of ids):
    /// the mail then carries a personal key for it, valid from this recipient only.
    pub reference: Option<String>,
    /// When that personal key stops being accepted.
    pub expires_at: Option<DateTime<Utc>>,
    /// The message this one answers.
    pub in_reply_to: Option<String>,
    /// The meeting it is about; `None` in a plan about one meeting: that meeting.
    pub meeting_id: Option<i64>,
    /// The message that caused it; `None`: whatever caused the plan.
    pub inbound_id: Option<i64>,
    /// The invitation it is sent under (a summons, a calendar entry).
    pub invitation_id: Option<i64>,
    /// `auto-replied` for an answer to someone's mail, else `auto-generated`.
    pub auto_submitted: &'static str,
    pub calendar: Option<Calendar>,
    pub attachments: Vec<File>,
}

impl Mail {
    /// A mail of `kind` written with `template`, to one person, about nothing a reply
    /// must find, with nothing attached.
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
            to: to.clone(),
            effect_key,
            key: None,
            reference: None,
            expires_at: None,
            in_reply_to: None,
            meeting_id: None,
            inbound_id: None,
            invitation_id: None,
            auto_submitted: "auto-generated",
            calendar: None,
            attachments: Vec::new(),
        }
    }
}

/// An audit line: who did what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub actor: String,
    pub kind: &'static str,
    /// The meeting it concerns; `None` in a plan about one meeting: that meeting.
    pub meeting_id: Option<i64>,
    /// The message that caused it; `None`: whatever caused the plan.
    pub inbound_id: Option<i64>,
    pub detail: String,
}

impl Event {
    /// An audit line of the plan's own meeting and cause.
    pub fn new(actor: impl Into<String>, kind: &'static str, detail: impl Into<String>) -> Event {
        Event {
            actor: actor.into(),
            kind,
            meeting_id: None,
            inbound_id: None,
            detail: detail.into(),
        }
    }
}

/// What a message, a job or a command leads to; `C` is the kind of change its
/// workflow makes (`agenda::Change`, `meeting::Change`).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<C> {
    /// Kept for a person (or, for a command, refused) for this reason: nothing is
    /// changed, and the outcome says why. The daemon stores the reason's code before
    /// the outcome (`Held::outcome`), so the held-mail digest can say it.
    pub held: Option<Held>,
    /// A sentence for the log (English), without the code.
    pub outcome: String,
    pub changes: Vec<C>,
    pub mails: Vec<Mail>,
    pub events: Vec<Event>,
}

impl<C> Plan<C> {
    pub fn done(outcome: impl Into<String>) -> Plan<C> {
        Plan {
            held: None,
            outcome: outcome.into(),
            changes: Vec::new(),
            mails: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Nothing is done, because of `reason`; `outcome` says so for the log.
    pub fn held(reason: HeldReason, outcome: impl Into<String>) -> Plan<C> {
        Plan {
            held: Some(Held::because(reason)),
            ..Plan::done(outcome)
        }
    }

    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    /// The outcome as it is stored: with the reason's code first when held.
    pub fn stored_outcome(&self) -> String {
        match &self.held {
            Some(h) => h.outcome(&self.outcome),
            None => self.outcome.clone(),
        }
    }

    /// Adds what another plan does (its outcome is the caller's to tell).
    pub fn extend(&mut self, other: Plan<C>) {
        self.changes.extend(other.changes);
        self.mails.extend(other.mails);
        self.events.extend(other.events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_plan_stores_its_reason_before_the_sentence() {
        let p: Plan<()> = Plan::held(HeldReason::NoTitle, "a proposal without a title");
        assert!(p.is_held());
        assert_eq!(p.outcome, "a proposal without a title");
        assert_eq!(
            Held::read(&p.stored_outcome()),
            (
                Some(Held::because(HeldReason::NoTitle)),
                "a proposal without a title"
            )
        );
        let done: Plan<()> = Plan::done("filed");
        assert_eq!(
            (done.is_held(), done.stored_outcome().as_str()),
            (false, "filed")
        );
    }
}
