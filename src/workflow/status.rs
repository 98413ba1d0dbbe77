//! A coordinator's status of their councils, decided: for each council the next
//! meetings with who comes (in person, digitally, by substitute, absent, not answered,
//! and the date an automatic reply says the person is back), the proposals waiting for
//! a decision, the addresses that fail; and the mail held for a coordinator. Pure over
//! a snapshot the daemon loads in one set of queries; `referent status` prints it and
//! the `status` template says it by mail.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::records::Invitation;
use crate::domain::{Attendance, MeetingStatus, Place, Response};

/// How many of a council's next meetings are shown.
pub const NEXT_MEETINGS: usize = 3;
/// How many held messages are listed (the rest are counted).
pub const HELD_LINES: usize = 10;
/// An automatic reply older than this says nothing about a meeting now.
pub const AWAY_DAYS: i64 = 60;

/// What the status is made from.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub councils: Vec<Council>,
    /// Messages held for a coordinator, oldest first.
    pub held: Vec<Held>,
    /// Automatic replies, as the store keeps them (the sender, when it came, the
    /// return date it gave).
    pub away: Vec<Away>,
    pub time_zone: Tz,
}

#[derive(Debug, Clone)]
pub struct Council {
    pub slug: String,
    pub name: String,
    pub meetings: Vec<Meeting>,
    pub proposals: Vec<Proposal>,
    /// Members whose address fails: name, address, since, why.
    pub failing: Vec<(String, String, DateTime<Utc>, Option<String>)>,
}

#[derive(Debug, Clone)]
pub struct Meeting {
    pub id: i64,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: Tz,
    pub status: MeetingStatus,
    pub place: Place,
    pub invitations: Vec<Invitation>,
}

#[derive(Debug, Clone)]
pub struct Proposal {
    pub title: String,
    pub proposer: Option<String>,
    pub created_at: DateTime<Utc>,
    pub state: crate::domain::ItemState,
}

#[derive(Debug, Clone)]
pub struct Held {
    pub id: i64,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Away {
    pub email: String,
    pub received_at: DateTime<Utc>,
    pub until: Option<NaiveDate>,
}

/// The status, as printed (`--json`) and as the template gets it. Times are local
/// RFC 3339 strings for the template's date helpers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    pub councils: Vec<CouncilStatus>,
    pub held: Vec<HeldLine>,
    pub held_count: usize,
    pub held_more: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CouncilStatus {
    pub slug: String,
    pub name: String,
    pub meetings: Vec<MeetingLine>,
    pub proposals: Vec<ProposalLine>,
    pub failing: Vec<FailingLine>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Counts {
    pub in_person: usize,
    pub digital: usize,
    pub substitute: usize,
    pub absent: usize,
    pub tentative: usize,
    pub unanswered: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MeetingLine {
    pub id: i64,
    pub title: String,
    pub starts: String,
    pub ends: String,
    pub room: Option<String>,
    pub link: Option<String>,
    pub counts: Counts,
    pub people: Vec<PersonLine>,
}

/// One person invited, and their answer: `in_person`, `digital`, `substitute`,
/// `absent`, `tentative` or `none`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PersonLine {
    pub name: String,
    pub email: String,
    pub answer: &'static str,
    pub substitute: Option<String>,
    /// The day an automatic reply says they are back (local midnight, RFC 3339).
    pub away_until: Option<String>,
    /// An automatic reply that named no day: when it came.
    pub away_since: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProposalLine {
    pub title: String,
    pub proposer: Option<String>,
    pub received: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailingLine {
    pub name: String,
    pub email: String,
    pub since: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HeldLine {
    pub id: i64,
    pub sender: String,
    pub subject: String,
    pub received: String,
}

/// What an invitation's answer counts as.
pub fn answer_of(i: &Invitation) -> &'static str {
    if i.substitute.is_some() {
        return "substitute";
    }
    match (i.response, i.attendance) {
        (Some(Response::Accepted), Some(Attendance::Digital)) => "digital",
        (Some(Response::Accepted), _) => "in_person",
        (Some(Response::Declined), _) => "absent",
        (Some(Response::Tentative), _) => "tentative",
        (None, _) => "none",
    }
}

/// The status at `now`, of the councils in the snapshot (the daemon loads those the
/// asker coordinates, or the one asked for).
pub fn status(s: &Snapshot, now: DateTime<Utc>) -> Status {
    let local = |t: DateTime<Utc>, tz: Tz| crate::render::local_time(t, tz);
    let today = now.with_timezone(&s.time_zone).date_naive();
    let councils = s
        .councils
        .iter()
        .map(|c| {
            let mut upcoming: Vec<&Meeting> = c
                .meetings
                .iter()
                .filter(|m| m.status == MeetingStatus::Scheduled && m.ends_at > now)
                .collect();
            upcoming.sort_by_key(|m| m.starts_at);
            let meetings = upcoming
                .into_iter()
                .take(NEXT_MEETINGS)
                .map(|m| meeting_line(m, &s.away, now, today))
                .collect();
            let mut proposals: Vec<&Proposal> = c
                .proposals
                .iter()
                .filter(|p| p.state == crate::domain::ItemState::Proposed)
                .collect();
            proposals.sort_by_key(|p| p.created_at);
            CouncilStatus {
                slug: c.slug.clone(),
                name: c.name.clone(),
                meetings,
                proposals: proposals
                    .into_iter()
                    .map(|p| ProposalLine {
                        title: p.title.clone(),
                        proposer: p.proposer.clone(),
                        received: local(p.created_at, s.time_zone),
                    })
                    .collect(),
                failing: c
                    .failing
                    .iter()
                    .map(|(name, email, since, reason)| FailingLine {
                        name: name.clone(),
                        email: email.clone(),
                        since: local(*since, s.time_zone),
                        reason: reason.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let mut held: Vec<&Held> = s.held.iter().collect();
    held.sort_by_key(|h| (h.received_at, h.id));
    Status {
        councils,
        held_count: held.len(),
        held_more: held.len().saturating_sub(HELD_LINES),
        held: held
            .into_iter()
            .take(HELD_LINES)
            .map(|h| HeldLine {
                id: h.id,
                sender: h.sender.clone().unwrap_or_default(),
                subject: h.subject.clone().unwrap_or_default(),
                received: local(h.received_at, s.time_zone),
            })
            .collect(),
    }
}

fn meeting_line(m: &Meeting, away: &[Away], now: DateTime<Utc>, today: NaiveDate) -> MeetingLine {
    let mut counts = Counts::default();
    let mut people: Vec<PersonLine> = m
        .invitations
        .iter()
        .filter(|i| i.role.is_asked_to_answer())
        .map(|i| {
            let answer = answer_of(i);
            match answer {
                "in_person" => counts.in_person += 1,
                "digital" => counts.digital += 1,
                "substitute" => counts.substitute += 1,
                "absent" => counts.absent += 1,
                "tentative" => counts.tentative += 1,
                _ => counts.unanswered += 1,
            }
            // An automatic reply says nothing once the person has answered after it.
            let (away_until, away_since) = away_of(&i.member_email, away, now, today, m)
                .filter(|_| {
                    !i.answered_at.is_some_and(|answered| {
                        away.iter()
                            .filter(|a| crate::trust::same_address(&a.email, &i.member_email))
                            .all(|a| a.received_at < answered)
                    })
                })
                .unwrap_or((None, None));
            PersonLine {
                name: i.member_name.clone(),
                email: i.member_email.clone(),
                answer,
                substitute: i.substitute.as_ref().map(|s| s.name.clone()),
                away_until,
                away_since,
            }
        })
        .collect();
    people.sort_by(|a, b| a.name.cmp(&b.name));
    MeetingLine {
        id: m.id,
        title: m.title.clone(),
        starts: crate::render::local_time(m.starts_at, m.time_zone),
        ends: crate::render::local_time(m.ends_at, m.time_zone),
        room: m.place.room.clone(),
        link: m.place.digital_link.clone(),
        counts,
        people,
    }
}

/// The latest automatic reply from `email` that still says something: one with a
/// return date not yet past, or one without a date that came within the last days.
fn away_of(
    email: &str,
    away: &[Away],
    now: DateTime<Utc>,
    today: NaiveDate,
    m: &Meeting,
) -> Option<(Option<String>, Option<String>)> {
    let latest = away
        .iter()
        .filter(|a| crate::trust::same_address(&a.email, email))
        .filter(|a| a.received_at > now - chrono::Duration::days(AWAY_DAYS))
        .max_by_key(|a| a.received_at);
    let a = latest?;
    Some(match a.until {
        Some(d) if d >= today => {
            let midnight = d
                .and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(m.time_zone).earliest())
                .map(|t| t.fixed_offset().to_rfc3339());
            (midnight, None)
        }
        Some(_) => (None, None),
        None if a.received_at > now - chrono::Duration::days(14) => (
            None,
            Some(crate::render::local_time(a.received_at, m.time_zone)),
        ),
        None => (None, None),
    })
}

/// The return date in an automatic reply's stored outcome ("automatic reply from …
/// (away until 2027-01-04); never answered"), as `workflow::decide` writes it.
pub fn away_until_in(outcome: &str) -> Option<NaiveDate> {
    let (_, rest) = outcome.split_once("(away until ")?;
    let day = rest.get(..10)?;
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// The status as `referent status` prints it: plain lines, for a terminal.
pub fn text(s: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let short = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| t.format("%a %Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|_| t.to_string())
    };
    let day = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|_| t.to_string())
    };
    for c in &s.councils {
        let _ = writeln!(out, "{} ({})", c.name, c.slug);
        if c.meetings.is_empty() {
            let _ = writeln!(out, "  no meetings ahead");
        }
        for m in &c.meetings {
            let place = [m.room.as_deref(), m.link.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" / ");
            let _ = writeln!(
                out,
                "  meeting {} {}–{} {}",
                m.id,
                short(&m.starts),
                m.ends.get(11..16).unwrap_or(""),
                place
            );
            let k = &m.counts;
            let _ = writeln!(
                out,
                "    in person {}, digital {}, substitute {}, absent {}, tentative {}, not answered {}",
                k.in_person, k.digital, k.substitute, k.absent, k.tentative, k.unanswered
            );
            for p in &m.people {
                let mut line = format!("    {:<28} {}", p.name, p.answer.replace('_', " "));
                if let Some(sub) = &p.substitute {
                    let _ = write!(line, " ({sub})");
                }
                if let Some(u) = &p.away_until {
                    let _ = write!(line, "; away until {} (automatic reply)", day(u));
                } else if let Some(since) = &p.away_since {
                    let _ = write!(line, "; automatic reply {}", day(since));
                }
                let _ = writeln!(out, "{line}");
            }
        }
        if !c.proposals.is_empty() {
            let _ = writeln!(out, "  proposals waiting for a decision:");
            for p in &c.proposals {
                let by = p.proposer.as_deref().unwrap_or("?");
                let _ = writeln!(out, "    {} ({by}, {})", p.title, day(&p.received));
            }
        }
        if !c.failing.is_empty() {
            let _ = writeln!(out, "  failing addresses:");
            for f in &c.failing {
                let why = f.reason.as_deref().unwrap_or("");
                let _ = writeln!(
                    out,
                    "    {} <{}> since {} {why}",
                    f.name,
                    f.email,
                    day(&f.since)
                );
            }
        }
    }
    let _ = writeln!(out, "held mail: {}", s.held_count);
    for h in &s.held {
        let _ = writeln!(
            out,
            "  {} {} {} «{}»",
            h.id,
            day(&h.received),
            h.sender,
            h.subject
        );
    }
    if s.held_more > 0 {
        let _ = writeln!(out, "  … and {} more (`referent inbox`)", s.held_more);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, Substitute};
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
    }

    fn inv(id: i64, name: &str, r: Option<Response>, a: Option<Attendance>) -> Invitation {
        Invitation {
            id,
            meeting_id: 1,
            member_id: id,
            member_name: name.into(),
            member_email: format!("{}@hf.example", name.to_lowercase()),
            role: Role::Member,
            token: String::new(),
            response: r,
            attendance: a,
            substitute: None,
            answered_at: None,
            answer_id: None,
            member_language: None,
            vara: None,
        }
    }

    fn snapshot() -> Snapshot {
        let oslo = chrono_tz::Europe::Oslo;
        let mut sub = inv(3, "Lene", Some(Response::Declined), None);
        sub.substitute = Some(Substitute {
            name: "Per Vara".into(),
            email: Some("per@hf.example".into()),
        });
        let mut observer = inv(6, "Hdir", None, None);
        observer.role = Role::Observer;
        let meeting =
            |id: i64, day: u32, status: MeetingStatus, invitations: Vec<Invitation>| Meeting {
                id,
                title: format!("Møte {id}"),
                starts_at: at(2027, 1, day, 9),
                ends_at: at(2027, 1, day, 11),
                time_zone: oslo,
                status,
                place: Place {
                    room: Some("Ullevål, bygg 1".into()),
                    digital_link: None,
                },
                invitations,
            };
        Snapshot {
            councils: vec![Council {
                slug: "ur".into(),
                name: "Utdanningsrådet".into(),
                meetings: vec![
                    meeting(2, 19, MeetingStatus::Scheduled, vec![]),
                    meeting(
                        1,
                        12,
                        MeetingStatus::Scheduled,
                        vec![
                            inv(
                                1,
                                "Kari",
                                Some(Response::Accepted),
                                Some(Attendance::Digital),
                            ),
                            inv(2, "Anna", Some(Response::Accepted), None),
                            sub,
                            inv(4, "Bjørn", Some(Response::Declined), None),
                            inv(5, "Ola", None, None),
                            observer,
                        ],
                    ),
                    meeting(3, 5, MeetingStatus::Cancelled, vec![]),
                    meeting(4, 26, MeetingStatus::Scheduled, vec![]),
                    meeting(5, 30, MeetingStatus::Scheduled, vec![]),
                ],
                proposals: vec![
                    Proposal {
                        title: "Ny veileder".into(),
                        proposer: Some("Anna".into()),
                        created_at: at(2026, 12, 1, 9),
                        state: crate::domain::ItemState::Proposed,
                    },
                    Proposal {
                        title: "Godkjent sak".into(),
                        proposer: None,
                        created_at: at(2026, 12, 1, 9),
                        state: crate::domain::ItemState::Approved,
                    },
                ],
                failing: vec![(
                    "Siri".into(),
                    "siri@hf.example".into(),
                    at(2026, 12, 10, 9),
                    Some("5.1.1".into()),
                )],
            }],
            held: (1..=12)
                .map(|id| Held {
                    id,
                    sender: Some("x@spam.example".into()),
                    subject: Some(format!("Tilbud {id}")),
                    received_at: at(2026, 12, 20, 9),
                })
                .collect(),
            away: vec![
                Away {
                    email: "OLA@hf.example".into(),
                    received_at: at(2026, 12, 22, 9),
                    until: NaiveDate::from_ymd_opt(2027, 1, 4),
                },
                // An old reply, and one whose day is past, say nothing.
                Away {
                    email: "bjørn@hf.example".into(),
                    received_at: at(2026, 12, 22, 9),
                    until: NaiveDate::from_ymd_opt(2026, 12, 27),
                },
                Away {
                    email: "anna@hf.example".into(),
                    received_at: at(2026, 9, 1, 9),
                    until: NaiveDate::from_ymd_opt(2027, 9, 4),
                },
                Away {
                    email: "kari@hf.example".into(),
                    received_at: at(2026, 12, 27, 9),
                    until: None,
                },
            ],
            time_zone: oslo,
        }
    }

    #[test]
    fn who_comes_to_the_next_meetings() {
        let s = status(&snapshot(), at(2026, 12, 28, 12));
        let c = &s.councils[0];
        // Cancelled and past meetings left out; the next three, in order.
        assert_eq!(
            c.meetings.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![1, 2, 4]
        );
        let m = &c.meetings[0];
        assert_eq!(m.starts, "2027-01-12T10:00:00+01:00");
        assert_eq!(
            m.counts,
            Counts {
                in_person: 1,
                digital: 1,
                substitute: 1,
                absent: 1,
                tentative: 0,
                unanswered: 1
            }
        );
        // The observer is not asked to answer, and not counted.
        assert_eq!(m.people.len(), 5);
        let by = |n: &str| m.people.iter().find(|p| p.name == n).unwrap();
        assert_eq!(by("Kari").answer, "digital");
        assert_eq!(by("Anna").answer, "in_person");
        assert_eq!(by("Lene").answer, "substitute");
        assert_eq!(by("Lene").substitute.as_deref(), Some("Per Vara"));
        assert_eq!(by("Bjørn").answer, "absent");
        assert_eq!(by("Ola").answer, "none");
        assert_eq!(
            by("Ola").away_until.as_deref(),
            Some("2027-01-04T00:00:00+01:00")
        );
        assert_eq!(by("Bjørn").away_until, None);
        assert_eq!(by("Anna").away_until, None);
        // Once Ola answers after his automatic reply, it says nothing any more.
        let mut answered = snapshot();
        for m in answered
            .councils
            .iter_mut()
            .flat_map(|c| c.meetings.iter_mut())
        {
            for i in m.invitations.iter_mut().filter(|i| i.member_name == "Ola") {
                i.response = Some(Response::Accepted);
                i.answered_at = Some(at(2026, 12, 23, 9));
            }
        }
        let s2 = status(&answered, at(2026, 12, 28, 12));
        let ola = s2.councils[0].meetings[0]
            .people
            .iter()
            .find(|p| p.name == "Ola")
            .unwrap();
        assert_eq!(ola.away_until, None);
        assert_eq!(by("Kari").away_until, None);
        assert_eq!(
            by("Kari").away_since.as_deref(),
            Some("2026-12-27T10:00:00+01:00")
        );
    }

    #[test]
    fn proposals_failing_addresses_and_held_mail() {
        let s = status(&snapshot(), at(2026, 12, 28, 12));
        let c = &s.councils[0];
        assert_eq!(c.proposals.len(), 1);
        assert_eq!(c.proposals[0].title, "Ny veileder");
        assert_eq!(c.failing[0].email, "siri@hf.example");
        assert_eq!(s.held_count, 12);
        assert_eq!(s.held.len(), HELD_LINES);
        assert_eq!(s.held_more, 2);
        let text = text(&s);
        assert!(
            text.contains("away until 2027-01-04 (automatic reply)"),
            "{text}"
        );
        assert!(text.contains("… and 2 more"), "{text}");
    }

    #[test]
    fn the_return_date_is_read_from_the_stored_outcome() {
        assert_eq!(
            away_until_in(
                "automatic reply from ola@hf.example (away until 2027-01-04); never answered"
            ),
            NaiveDate::from_ymd_opt(2027, 1, 4)
        );
        assert_eq!(
            away_until_in("automatic reply from ola@hf.example; never answered"),
            None
        );
        assert_eq!(away_until_in("(away until 2027-1"), None);
    }

    #[test]
    fn after_the_return_date_nothing_is_said() {
        let s = status(&snapshot(), at(2027, 1, 5, 12));
        let m = &s.councils[0].meetings[0];
        assert!(m.people.iter().all(|p| p.away_until.is_none()));
    }
}
