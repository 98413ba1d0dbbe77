//! The rows the store reads and writes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{get_role, opt_ts, parse_ts, Result};
pub use crate::domain::records::{Invitation, Meeting, Member};
use crate::domain::{Attendance, JobKind, JobState, Language, Place, Response, Role, Substitute};

#[derive(Debug, Clone, Serialize)]
pub struct Council {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

impl Council {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Council {
            id: r.try_get(0)?,
            slug: r.try_get(1)?,
            name: r.try_get(2)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewMember {
    pub name: String,
    pub email: String,
    pub organisation: Option<String>,
    pub role: Role,
    pub doctor: bool,
    /// The member's own language; `None`: the secretariat's.
    pub language: Option<Language>,
    /// The member's personal substitute (vara), by address.
    pub vara: Option<String>,
}

pub(super) const MEMBER_SELECT: &str =
    "SELECT id, council_id, name, email, organisation, role, doctor, failing_since, failing_reason, language, vara_email
     FROM members WHERE removed_at IS NULL";

impl Member {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Member {
            id: r.try_get(0)?,
            council_id: r.try_get(1)?,
            name: r.try_get(2)?,
            email: r.try_get(3)?,
            organisation: r.try_get(4)?,
            role: get_role(r, 5)?,
            doctor: r.try_get::<i64, _>(6)? != 0,
            failing_since: opt_ts(r.try_get(7)?)?,
            failing_reason: r.try_get(8)?,
            language: get_language(r, 9)?,
            vara: r.try_get(10)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewMeeting {
    pub council_id: i64,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: String,
    pub place: Place,
    /// The calendar UID: stable for the meeting's life.
    pub uid: String,
}

pub(super) const MEETING_SELECT: &str =
    "SELECT m.id, m.council_id, c.slug, c.name, m.title, m.starts_at, m.ends_at, m.time_zone, m.room, m.digital_link,
            m.status, m.uid, m.sequence
     FROM meetings m JOIN councils c ON c.id = m.council_id";

impl Meeting {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Meeting {
            id: r.try_get(0)?,
            council_id: r.try_get(1)?,
            council_slug: r.try_get(2)?,
            council_name: r.try_get(3)?,
            title: r.try_get(4)?,
            starts_at: parse_ts(&r.try_get::<String, _>(5)?)?,
            ends_at: parse_ts(&r.try_get::<String, _>(6)?)?,
            time_zone: r.try_get(7)?,
            place: Place {
                room: r.try_get(8)?,
                digital_link: r.try_get(9)?,
            },
            status: r.try_get::<String, _>(10)?.parse()?,
            uid: r.try_get(11)?,
            sequence: r.try_get(12)?,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub meeting_id: i64,
    pub kind: JobKind,
    pub due_at: DateTime<Utc>,
    pub state: JobState,
}

impl Job {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Job {
            id: r.try_get(0)?,
            meeting_id: r.try_get(1)?,
            kind: r.try_get::<String, _>(2)?.parse()?,
            due_at: parse_ts(&r.try_get::<String, _>(3)?)?,
            state: r.try_get::<String, _>(4)?.parse()?,
        })
    }
}

pub(super) const INVITATION_SELECT: &str =
    "SELECT i.id, i.meeting_id, i.member_id, mb.name, mb.email, mb.role, i.token, i.response, i.attendance,
            i.substitute_name, i.substitute_email, i.answered_at, i.answer_id, mb.language,
            CASE WHEN c.auto_vara <> 0 THEN mb.vara_email END,
            (SELECT v.name FROM members v WHERE v.council_id = mb.council_id AND v.email = mb.vara_email AND v.removed_at IS NULL)
     FROM invitations i JOIN members mb ON mb.id = i.member_id JOIN councils c ON c.id = mb.council_id";

/// A member's language column: NULL, or `nb`, `nn`, `en`.
fn get_language(r: &AnyRow, i: usize) -> Result<Option<Language>> {
    match r.try_get::<Option<String>, _>(i)? {
        None => Ok(None),
        Some(l) => Language::parse(&l)
            .map(Some)
            .ok_or_else(|| super::StoreError::Corrupt(format!("member language {l:?}"))),
    }
}

impl Invitation {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        let response: Option<String> = r.try_get(7)?;
        let attendance: Option<String> = r.try_get(8)?;
        let sub_name: Option<String> = r.try_get(9)?;
        Ok(Invitation {
            id: r.try_get(0)?,
            meeting_id: r.try_get(1)?,
            member_id: r.try_get(2)?,
            member_name: r.try_get(3)?,
            member_email: r.try_get(4)?,
            role: get_role(r, 5)?,
            token: r.try_get(6)?,
            response: response.as_deref().map(str::parse).transpose()?,
            attendance: attendance.as_deref().map(str::parse).transpose()?,
            substitute: sub_name.map(|name| Substitute {
                name,
                email: r.try_get(10).ok().flatten(),
            }),
            answered_at: opt_ts(r.try_get(11)?)?,
            answer_id: r.try_get(12)?,
            member_language: get_language(r, 13)?,
            vara: match r.try_get::<Option<String>, _>(14)? {
                Some(email) => Some(Box::new(Substitute {
                    name: r
                        .try_get::<Option<String>, _>(15)?
                        .unwrap_or_else(|| email.clone()),
                    email: Some(email),
                })),
                None => None,
            },
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswerRecord {
    pub id: i64,
    pub invitation_id: i64,
    pub response: Response,
    pub attendance: Option<Attendance>,
    pub substitute: Option<Substitute>,
    pub inbound_id: Option<i64>,
    pub source: String,
    pub sender: String,
    pub received_at: DateTime<Utc>,
    pub message_id: Option<String>,
}

impl AnswerRecord {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        let response: String = r.try_get(2)?;
        let attendance: Option<String> = r.try_get(3)?;
        let sub_name: Option<String> = r.try_get(4)?;
        Ok(AnswerRecord {
            id: r.try_get(0)?,
            invitation_id: r.try_get(1)?,
            response: response.parse()?,
            attendance: attendance.as_deref().map(str::parse).transpose()?,
            substitute: sub_name.map(|name| Substitute {
                name,
                email: r.try_get(5).ok().flatten(),
            }),
            inbound_id: r.try_get(6)?,
            source: r.try_get(7)?,
            sender: r.try_get(8)?,
            received_at: parse_ts(&r.try_get::<String, _>(9)?)?,
            message_id: r.try_get(10)?,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InboundSummary {
    pub id: i64,
    pub message_id: Option<String>,
    pub size: i64,
    pub received_at: DateTime<Utc>,
    pub state: crate::domain::InboundState,
    pub kind: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub outcome: Option<String>,
    pub problems: Vec<String>,
    pub invitation_id: Option<i64>,
}

impl InboundSummary {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        let problems: Option<String> = r.try_get(9)?;
        Ok(InboundSummary {
            id: r.try_get(0)?,
            message_id: r.try_get(1)?,
            size: r.try_get(2)?,
            received_at: parse_ts(&r.try_get::<String, _>(3)?)?,
            state: r.try_get::<String, _>(4)?.parse()?,
            kind: r.try_get(5)?,
            sender: r.try_get(6)?,
            subject: r.try_get(7)?,
            outcome: r.try_get(8)?,
            problems: problems
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default(),
            invitation_id: r.try_get(10)?,
        })
    }
}

/// An audit record: who caused what, and from which message.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub actor: String,
    pub kind: String,
    pub meeting_id: Option<i64>,
    pub invitation_id: Option<i64>,
    pub inbound_id: Option<i64>,
    pub detail: String,
}

impl NewEvent {
    /// An event about a meeting (or none), caused by a message (or none).
    pub fn new(
        actor: &str,
        kind: &str,
        meeting_id: Option<i64>,
        inbound_id: Option<i64>,
        detail: impl Into<String>,
    ) -> NewEvent {
        NewEvent {
            actor: actor.to_string(),
            kind: kind.to_string(),
            meeting_id,
            invitation_id: None,
            inbound_id,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub meeting_id: Option<i64>,
    pub invitation_id: Option<i64>,
    pub inbound_id: Option<i64>,
    pub detail: String,
}

impl Event {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(Event {
            id: r.try_get(0)?,
            at: parse_ts(&r.try_get::<String, _>(1)?)?,
            actor: r.try_get(2)?,
            kind: r.try_get(3)?,
            meeting_id: r.try_get(4)?,
            invitation_id: r.try_get(5)?,
            inbound_id: r.try_get(6)?,
            detail: r.try_get(7)?,
        })
    }
}
