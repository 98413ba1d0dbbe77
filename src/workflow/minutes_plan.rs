//! What a decision about minutes or a meeting leads to, before anything is written:
//! the changes to the council's state, the mail (a template and its data, for one
//! person in their language), the audit lines and a sentence for the log. The
//! daemon loads a snapshot, calls a pure function of `workflow::minutes` or
//! `workflow::meeting`, and commits the plan in one transaction.
//!
//! Nothing here reads the clock, the database or a random source: `now` and any new
//! key are given.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::Language;

/// Someone a mail goes to, and the language it is written in (their own, or the
/// secretariat's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: String,
    pub lang: Language,
}

/// A member of the council, as these decisions need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: i64,
    pub person: Person,
    pub coordinator: bool,
    /// Mail to them bounced permanently: nothing more is sent until it is fixed.
    pub failing: bool,
}

/// A meeting, as these decisions need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    pub id: i64,
    pub council_name: String,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: Tz,
    /// `scheduled`, `cancelled`.
    pub status: crate::domain::MeetingStatus,
    /// The calendar SEQUENCE of the entries sent so far.
    pub sequence: i64,
}

impl Meeting {
    /// A time as templates get it (RFC 3339 with the meeting's offset).
    pub fn local(&self, t: DateTime<Utc>) -> String {
        crate::render::local_time(t, self.time_zone)
    }

    /// A time for the log and the command line, which are English and not letters:
    /// `2027-03-09 10:00`.
    pub fn log_time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.time_zone)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// `2027-03-09 10:00–12:00`, for the log.
    pub fn log_span(&self, starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> String {
        format!(
            "{}–{}",
            self.log_time(starts_at),
            ends_at.with_timezone(&self.time_zone).format("%H:%M")
        )
    }
}

/// One invitation to a meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invited {
    pub invitation_id: i64,
    /// The invitation's key: replies to what we send carry it, and the calendar
    /// entry's UID is personal with it.
    pub token: String,
    pub member: Person,
    /// Observers are not asked to answer.
    pub asked: bool,
    pub accepted: bool,
    /// The substitute the member named: name and address (if given).
    pub substitute: Option<(String, Option<String>)>,
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

/// One mail to send: a template, its data and its recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// The kind of mail (the `X-Referent` header, the Message-ID's prefix).
    pub kind: &'static str,
    pub template: &'static str,
    pub data: serde_json::Value,
    pub to: Person,
    /// Doing the same thing twice writes the mail once.
    pub effect_key: String,
    /// The key of what a reply should find (minutes, an invitation).
    pub key: Option<String>,
    pub invitation_id: Option<i64>,
    pub calendar: Option<Calendar>,
    pub attachments: Vec<File>,
}

/// A change to the council's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    NewMinutes {
        ref_key: String,
        version: i64,
        body: String,
        attachment_name: Option<String>,
        submitted_by: String,
        deadline_at: DateTime<Utc>,
    },
    ApproveMinutes {
        id: i64,
        by: String,
    },
    NewCorrection {
        minutes_id: i64,
        author: String,
        item: Option<String>,
        before: Option<String>,
        after: Option<String>,
        text: String,
        no_remarks: bool,
    },
    /// The meeting at a new time, or cancelled; its calendar SEQUENCE goes up.
    UpdateMeeting {
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        status: crate::domain::MeetingStatus,
        sequence: i64,
    },
    /// A job of the meeting created, or made pending again at a new time.
    ScheduleJob {
        kind: crate::domain::JobKind,
        due_at: DateTime<Utc>,
    },
    /// Every pending job of the meeting is cancelled.
    CancelJobs,
    /// An agenda item leaves the meeting and waits for the next one whose agenda
    /// closes.
    DetachAgendaItem {
        id: i64,
    },
}

/// An audit line: who did what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub actor: String,
    pub kind: &'static str,
    pub detail: String,
}

/// What a message, a job or a command about minutes or a meeting leads to.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Nothing is done: the message is held for a coordinator, the command refused,
    /// with `outcome` as the reason.
    pub held: bool,
    /// A sentence for the log (English).
    pub outcome: String,
    pub changes: Vec<Change>,
    pub mails: Vec<Mail>,
    pub events: Vec<Event>,
}

impl Plan {
    pub fn held(outcome: impl Into<String>) -> Plan {
        Plan {
            held: true,
            outcome: outcome.into(),
            changes: Vec::new(),
            mails: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn done(outcome: impl Into<String>) -> Plan {
        Plan {
            held: false,
            ..Plan::held(outcome)
        }
    }
}
