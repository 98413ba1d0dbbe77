//! Councils, members, meetings, invitations and answers: types and rules, no I/O.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

mod held;
pub mod records;
pub mod roster;
mod state;
mod token;

pub use held::{Held, HeldReason};
pub use state::{
    ExtraState, InboundState, ItemKind, ItemState, JobKind, JobState, MeetingStatus, MinutesState,
    OutboxState,
};
pub use token::Token;

/// A member's role in a council.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Leader,
    Deputy,
    /// Receives the summons and the agenda, is never asked to answer (e.g. the
    /// Directorate of Health).
    Observer,
    Coordinator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Leader => "leader",
            Role::Deputy => "deputy",
            Role::Observer => "observer",
            Role::Coordinator => "coordinator",
        }
    }

    /// Whether a summons to this role asks for an answer (and so gets reminders).
    pub fn is_asked_to_answer(self) -> bool {
        matches!(self, Role::Member | Role::Leader | Role::Deputy)
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Norwegian words are accepted too: a coordinator's spreadsheet is in Norwegian.
        match s.trim().to_lowercase().as_str() {
            "" | "member" | "medlem" | "representant" => Ok(Role::Member),
            "leader" | "leder" | "leiar" => Ok(Role::Leader),
            "deputy" | "nestleder" | "nestleiar" => Ok(Role::Deputy),
            "observer" | "observatør" => Ok(Role::Observer),
            "coordinator" | "koordinator" => Ok(Role::Coordinator),
            other => Err(DomainError::UnknownRole(other.to_string())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an invitee answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Accepted,
    Declined,
    Tentative,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Accepted => "accepted",
            Response::Declined => "declined",
            Response::Tentative => "tentative",
        }
    }
}

impl FromStr for Response {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "accepted" => Ok(Response::Accepted),
            "declined" => Ok(Response::Declined),
            "tentative" => Ok(Response::Tentative),
            other => Err(DomainError::Corrupt(format!("unknown response {other:?}"))),
        }
    }
}

/// How an invitee attends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attendance {
    InPerson,
    Digital,
}

impl Attendance {
    pub fn as_str(self) -> &'static str {
        match self {
            Attendance::InPerson => "in_person",
            Attendance::Digital => "digital",
        }
    }
}

impl FromStr for Attendance {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "in_person" => Ok(Attendance::InPerson),
            "digital" => Ok(Attendance::Digital),
            other => Err(DomainError::Corrupt(format!(
                "unknown attendance {other:?}"
            ))),
        }
    }
}

/// Someone who attends in a member's place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Substitute {
    pub name: String,
    pub email: Option<String>,
}

/// One answer to an invitation, as understood from a message (or a calendar reply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub response: Response,
    pub attendance: Option<Attendance>,
    pub substitute: Option<Substitute>,
}

/// Where a meeting is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// A room, e.g. "Ullevål sykehus, bygg 1, møterom 3".
    pub room: Option<String>,
    /// A video link (Teams, Zoom, …).
    pub digital_link: Option<String>,
}

impl Place {
    /// The attendance implied when an answer does not say: a meeting held only in a
    /// room is attended in person, one held only on a link digitally.
    pub fn implied_attendance(&self) -> Option<Attendance> {
        match (&self.room, &self.digital_link) {
            (Some(_), None) => Some(Attendance::InPerson),
            (None, Some(_)) => Some(Attendance::Digital),
            _ => None,
        }
    }
}

/// Languages that `referent` writes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Nb,
    /// Nynorsk: read by the parser, written by the `templates/nn/` templates.
    Nn,
    En,
}

impl Language {
    /// `nb`, `nn` or `en` (also `no`, `bokmål`, `nynorsk`, `english`).
    pub fn parse(s: &str) -> Option<Language> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nb" | "no" | "bokmål" | "bokmal" | "nob" => Some(Language::Nb),
            "nn" | "nynorsk" | "nno" => Some(Language::Nn),
            "en" | "english" | "engelsk" | "eng" => Some(Language::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Nb => "nb",
            Language::Nn => "nn",
            Language::En => "en",
        }
    }
}

/// Errors of the domain rules.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("unknown role {0:?} (member, leader, deputy, observer or coordinator)")]
    UnknownRole(String),
    #[error("cannot read {0:?} as a local time: use YYYY-MM-DDTHH:MM, e.g. 2027-01-12T10:00")]
    BadLocalTime(String),
    #[error("{0} does not exist in {1}: the clocks skip that hour (daylight saving)")]
    NonexistentLocalTime(String, Tz),
    #[error("{0} happens twice in {1} (daylight saving ends): choose another time")]
    AmbiguousLocalTime(String, Tz),
    #[error("cannot read {0:?} as an email address")]
    BadAddress(String),
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
}

/// Reads a local wall-clock time such as `2027-01-12T10:00` in the given zone.
pub fn parse_local_time(text: &str, tz: Tz) -> Result<DateTime<Utc>, DomainError> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .map_err(|_| DomainError::BadLocalTime(text.to_string()))?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        chrono::LocalResult::None => Err(DomainError::NonexistentLocalTime(text.into(), tz)),
        chrono::LocalResult::Ambiguous(_, _) => {
            Err(DomainError::AmbiguousLocalTime(text.into(), tz))
        }
    }
}

/// Normalises an email address for comparison and storage: trimmed, lower-case. The
/// local part is lower-cased too: every mail system these councils use treats it
/// case-insensitively, and a reply from `Ola.Nordmann@…` must match `ola.nordmann@…`.
/// ASCII only: Unicode case folding turns U+212A KELVIN SIGN into `k`, so a look-alike
/// address would match a member's.
pub fn normalize_address(address: &str) -> Result<String, DomainError> {
    let mut a = address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase();
    // `x@regut.example.` is `x@regut.example` (a fully qualified name): one address,
    // one spelling, so no comparison can be dodged with a dot.
    if a.ends_with('.') {
        a.pop();
    }
    let valid = match a.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
                && !a.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || matches!(c, ',' | ';' | '<' | '>')
                })
        }
        None => false,
    };
    if valid {
        Ok(a)
    } else {
        Err(DomainError::BadAddress(address.to_string()))
    }
}

/// The address with its plus-detail removed: `referent+abc@x.no` → `referent@x.no`.
pub fn base_address(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local);
            format!("{local}@{domain}")
        }
        None => address.to_string(),
    }
}

/// The plus-detail of an address, if any: `referent+abc@x.no` → `abc`.
pub fn address_detail(address: &str) -> Option<&str> {
    let (local, _) = address.split_once('@')?;
    let (_, detail) = local.split_once('+')?;
    Some(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_respects_daylight_saving() {
        let tz: Tz = chrono_tz::Europe::Oslo;
        let winter = parse_local_time("2027-01-12T10:00", tz).unwrap();
        assert_eq!(winter.to_rfc3339(), "2027-01-12T09:00:00+00:00");
        let summer = parse_local_time("2027-06-15T10:00", tz).unwrap();
        assert_eq!(summer.to_rfc3339(), "2027-06-15T08:00:00+00:00");
        assert!(matches!(
            parse_local_time("2027-03-28T02:30", tz),
            Err(DomainError::NonexistentLocalTime(..))
        ));
        assert!(matches!(
            parse_local_time("2027-10-31T02:30", tz),
            Err(DomainError::AmbiguousLocalTime(..))
        ));
        assert!(parse_local_time("12.01.2027", tz).is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            normalize_address(" <Ola@Example.NO> ").unwrap(),
            "ola@example.no"
        );
        assert!(normalize_address("ola").is_err());
        assert!(normalize_address("a@b@c.no").is_err());
        assert_eq!(
            normalize_address("Referent@RegUt.example.").unwrap(),
            "referent@regut.example"
        );
        assert!(normalize_address("a@.c.no").is_err());
        assert!(normalize_address("a@c..no").is_err());
        assert_eq!(base_address("referent+abc@x.no"), "referent@x.no");
        assert_eq!(address_detail("referent+abc@x.no"), Some("abc"));
        assert_eq!(address_detail("referent@x.no"), None);
    }

    #[test]
    fn roles_in_norwegian() {
        assert_eq!("Nestleder".parse::<Role>().unwrap(), Role::Deputy);
        assert_eq!("".parse::<Role>().unwrap(), Role::Member);
        assert!("boss".parse::<Role>().is_err());
    }
}
