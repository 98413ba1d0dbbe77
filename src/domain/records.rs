//! The council's people, meetings and invitations as the workflows read them; the
//! store maps its rows to them (`store::rows`), and nothing here knows of the store.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Attendance, Language, MeetingStatus, Place, Response, Role, Substitute};

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub id: i64,
    pub council_id: i64,
    pub name: String,
    pub email: String,
    pub organisation: Option<String>,
    pub role: Role,
    pub doctor: bool,
    pub failing_since: Option<DateTime<Utc>>,
    pub failing_reason: Option<String>,
    pub language: Option<Language>,
    /// The member's personal substitute (vara), by address.
    pub vara: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Meeting {
    pub id: i64,
    pub council_id: i64,
    pub council_slug: String,
    pub council_name: String,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: String,
    pub place: Place,
    pub status: MeetingStatus,
    pub uid: String,
    pub sequence: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    pub id: i64,
    pub meeting_id: i64,
    pub member_id: i64,
    pub member_name: String,
    pub member_email: String,
    pub role: Role,
    #[serde(skip)]
    pub token: String,
    pub response: Option<Response>,
    pub attendance: Option<Attendance>,
    pub substitute: Option<Substitute>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answer_id: Option<i64>,
    /// The member's own language; `None`: the secretariat's.
    pub member_language: Option<Language>,
    /// The member's personal substitute (vara), when their council invites the vara
    /// in their place by itself (`auto_vara`); named by their name on the council, or
    /// by the address when they are not on it. Boxed: an invitation is passed around
    /// by value in many places, and the vara is rare.
    pub vara: Option<Box<Substitute>>,
}
