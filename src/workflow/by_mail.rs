//! A coordinator's change to a meeting by mail, decided: which council and which
//! meeting the words mean, at what times (Europe/Oslo or the secretariat's zone), and
//! what is unclear. Nothing is guessed: no council named when the sender coordinates
//! several, no meeting that day or several, no time, no place — each is asked about.
//! Pure; the daemon loads the sender's councils and meetings, asks for a one-word
//! confirmation of what was understood, and on «bekreft» does what `meeting add`,
//! `meeting move` and `meeting cancel` do.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::{MeetingStatus, Place};
use crate::understand::command::{Command, Wanted};

/// A council the sender coordinates.
#[derive(Debug, Clone)]
pub struct Council {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

/// A meeting of one of those councils.
#[derive(Debug, Clone)]
pub struct Meeting {
    pub id: i64,
    pub council_id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: MeetingStatus,
}

/// What the words mean, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Add {
        council_id: i64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        place: Place,
    },
    Move {
        meeting_id: i64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
    Cancel {
        meeting_id: i64,
        reason: Option<String>,
    },
    /// A new room or link (or both); what is not given stays as it is.
    Place {
        meeting_id: i64,
        room: Option<String>,
        digital_link: Option<String>,
    },
}

/// What must be asked before anything is done; the `meeting_request` template says each
/// (`problem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unclear {
    /// The sender coordinates several councils and the text names none of them (or
    /// several).
    WhichCouncil,
    /// No day in the text.
    NoDay,
    /// A day that does not exist, or a weekday that does not fit the date.
    BadDay,
    /// No time of day for a new meeting.
    NoTime,
    /// Neither a place nor a link for a new meeting.
    NoPlace,
    /// No meeting of theirs that day.
    NoMeeting,
    /// Several meetings of theirs that day.
    SeveralMeetings,
    /// A move that names neither a new day nor a new time.
    NoNewTime,
    /// The end is not after the start.
    EndBeforeStart,
    /// The time has passed.
    Past,
}

/// The local day and time in `tz` as UTC (the earlier one in the autumn's repeated hour).
fn at(day: NaiveDate, t: NaiveTime, tz: Tz) -> Option<DateTime<Utc>> {
    day.and_time(t)
        .and_local_timezone(tz)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The council the line names: one whose name or short name it contains, or the
/// sender's only council.
fn council_of<'a>(w: &Wanted, councils: &'a [Council]) -> Result<&'a Council, Unclear> {
    let line = w.line.to_lowercase();
    let words: Vec<&str> = line
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .collect();
    let named: Vec<&Council> = councils
        .iter()
        .filter(|c| {
            line.contains(&c.name.to_lowercase()) || words.contains(&c.slug.to_lowercase().as_str())
        })
        .collect();
    match (named.as_slice(), councils) {
        ([one], _) => Ok(one),
        ([], [only]) => Ok(only),
        _ => Err(Unclear::WhichCouncil),
    }
}

/// The one meeting of the sender's (of the named council, if one is named) on `day`.
fn meeting_on<'a>(
    w: &Wanted,
    day: NaiveDate,
    councils: &[Council],
    meetings: &'a [Meeting],
    tz: Tz,
) -> Result<&'a Meeting, Unclear> {
    let council = council_of(w, councils).ok().map(|c| c.id);
    let that_day: Vec<&Meeting> = meetings
        .iter()
        .filter(|m| m.status == MeetingStatus::Scheduled)
        .filter(|m| council.is_none_or(|c| m.council_id == c))
        .filter(|m| councils.iter().any(|c| c.id == m.council_id))
        .filter(|m| m.starts_at.with_timezone(&tz).date_naive() == day)
        .collect();
    match that_day.as_slice() {
        [one] => Ok(one),
        [] => Err(Unclear::NoMeeting),
        _ => Err(Unclear::SeveralMeetings),
    }
}

/// What a command means for the sender's `councils` and their `meetings`, at `now`.
/// `None` for a command that is not a change (status).
pub fn resolve(
    cmd: &Command,
    councils: &[Council],
    meetings: &[Meeting],
    now: DateTime<Utc>,
    tz: Tz,
) -> Option<Result<Change, Unclear>> {
    let today = now.with_timezone(&tz).date_naive();
    let first_day = |w: &Wanted| -> Result<NaiveDate, Unclear> {
        let d = w.days.first().ok_or(Unclear::NoDay)?;
        d.resolve(today).ok_or(Unclear::BadDay)
    };
    Some(match cmd {
        Command::Status { .. } | Command::Roster { .. } => return None,
        Command::Add(w) => (|| {
            let council = council_of(w, councils)?;
            let day = first_day(w)?;
            let times = w.times.ok_or(Unclear::NoTime)?;
            let starts_at = at(day, times.start, tz).ok_or(Unclear::BadDay)?;
            // As `meeting add`: two hours when no end is given (the confirmation shows it).
            let ends_at = match times.end {
                Some(e) => at(day, e, tz).ok_or(Unclear::BadDay)?,
                None => starts_at + Duration::hours(2),
            };
            if ends_at <= starts_at {
                return Err(Unclear::EndBeforeStart);
            }
            if starts_at <= now {
                return Err(Unclear::Past);
            }
            if w.place.is_none() && w.link.is_none() {
                return Err(Unclear::NoPlace);
            }
            Ok(Change::Add {
                council_id: council.id,
                starts_at,
                ends_at,
                place: Place {
                    room: w.place.clone(),
                    digital_link: w.link.clone(),
                },
            })
        })(),
        Command::Move(w) => (|| {
            let day = first_day(w)?;
            let m = meeting_on(w, day, councils, meetings, tz)?;
            let to_day = match w.days.get(1) {
                Some(d) => d.resolve(today).ok_or(Unclear::BadDay)?,
                None => day,
            };
            if w.days.len() < 2 && w.times.is_none() {
                return Err(Unclear::NoNewTime);
            }
            let local = |t: DateTime<Utc>| t.with_timezone(&tz).time();
            let length = m.ends_at - m.starts_at;
            let (starts_at, ends_at) = match w.times {
                Some(t) => {
                    let s = at(to_day, t.start, tz).ok_or(Unclear::BadDay)?;
                    let e = match t.end {
                        Some(e) => at(to_day, e, tz).ok_or(Unclear::BadDay)?,
                        None => s + length,
                    };
                    (s, e)
                }
                None => {
                    let s = at(to_day, local(m.starts_at), tz).ok_or(Unclear::BadDay)?;
                    (s, s + length)
                }
            };
            if ends_at <= starts_at {
                return Err(Unclear::EndBeforeStart);
            }
            if starts_at <= now {
                return Err(Unclear::Past);
            }
            Ok(Change::Move {
                meeting_id: m.id,
                starts_at,
                ends_at,
            })
        })(),
        Command::Place(w) => (|| {
            let day = first_day(w)?;
            let m = meeting_on(w, day, councils, meetings, tz)?;
            if m.ends_at <= now {
                return Err(Unclear::Past);
            }
            if w.place.is_none() && w.link.is_none() {
                return Err(Unclear::NoPlace);
            }
            Ok(Change::Place {
                meeting_id: m.id,
                room: w.place.clone(),
                digital_link: w.link.clone(),
            })
        })(),
        Command::Cancel(w) => (|| {
            let day = first_day(w)?;
            let m = meeting_on(w, day, councils, meetings, tz)?;
            if m.ends_at <= now {
                return Err(Unclear::Past);
            }
            Ok(Change::Cancel {
                meeting_id: m.id,
                reason: w.reason.clone(),
            })
        })(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understand::command::read_line;
    use chrono::TimeZone;

    const OSLO: Tz = chrono_tz::Europe::Oslo;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    fn oslo(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        OSLO.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn councils() -> Vec<Council> {
        vec![
            Council {
                id: 1,
                slug: "ur".into(),
                name: "Utdanningsrådet".into(),
            },
            Council {
                id: 2,
                slug: "anestesi".into(),
                name: "RegRåd anestesi".into(),
            },
        ]
    }

    fn meetings() -> Vec<Meeting> {
        let m = |id, council_id, start: DateTime<Utc>| Meeting {
            id,
            council_id,
            starts_at: start,
            ends_at: start + Duration::hours(2),
            status: MeetingStatus::Scheduled,
        };
        vec![
            m(10, 1, oslo(2027, 1, 12, 10, 0)),
            m(11, 2, oslo(2027, 1, 19, 9, 0)),
            m(12, 1, oslo(2027, 1, 19, 13, 0)),
        ]
    }

    fn go(line: &str, councils: &[Council]) -> Result<Change, Unclear> {
        let cmd = read_line(line).unwrap();
        resolve(&cmd, councils, &meetings(), now(), OSLO).unwrap()
    }

    #[test]
    fn a_new_meeting_in_oslo_time() {
        assert_eq!(
            go(
                "Nytt møte i Utdanningsrådet 12. januar kl. 10–12 på Ullevål, bygg 1",
                &councils()
            ),
            Ok(Change::Add {
                council_id: 1,
                starts_at: oslo(2027, 1, 12, 10, 0),
                ends_at: oslo(2027, 1, 12, 12, 0),
                place: Place {
                    room: Some("Ullevål, bygg 1".into()),
                    digital_link: None
                }
            })
        );
        // Summer time: 10:00 in June is 08:00 UTC.
        let Ok(Change::Add { starts_at, .. }) = go(
            "New meeting of Utdanningsrådet on 8 June at 10:00-12:00 https://teams.example/x",
            &councils(),
        ) else {
            panic!()
        };
        assert_eq!(
            starts_at,
            Utc.with_ymd_and_hms(2027, 6, 8, 8, 0, 0).unwrap()
        );
        // No end: two hours, as `meeting add`.
        let Ok(Change::Add { ends_at, .. }) =
            go("Nytt møte i ur 12. januar kl. 14 på Ullevål", &councils())
        else {
            panic!()
        };
        assert_eq!(ends_at, oslo(2027, 1, 12, 16, 0));
    }

    #[test]
    fn what_is_unclear_is_asked() {
        let c = councils();
        assert_eq!(
            go("Nytt møte 12. januar kl. 10–12 på Ullevål", &c),
            Err(Unclear::WhichCouncil)
        );
        assert_eq!(
            go("Nytt møte i Utdanningsrådet kl. 10–12 på Ullevål", &c),
            Err(Unclear::NoDay)
        );
        assert_eq!(
            go("Nytt møte i Utdanningsrådet 12. januar på Ullevål", &c),
            Err(Unclear::NoTime)
        );
        assert_eq!(
            go("Nytt møte i Utdanningsrådet 12. januar kl. 10–12", &c),
            Err(Unclear::NoPlace)
        );
        assert_eq!(
            go(
                "Nytt møte i Utdanningsrådet onsdag 12. januar kl. 10–12 på Ullevål",
                &c
            ),
            Err(Unclear::BadDay)
        );
        assert_eq!(
            go(
                "Nytt møte i Utdanningsrådet 12. januar kl. 12–10 på Ullevål",
                &c
            ),
            Err(Unclear::EndBeforeStart)
        );
        assert_eq!(
            go(
                "Nytt møte i Utdanningsrådet 23.11.2026 kl. 8–9 på Ullevål",
                &c
            ),
            Err(Unclear::Past)
        );
        // Two meetings that day (in two councils): which one?
        assert_eq!(
            go("Avlys møtet 19. januar", &c),
            Err(Unclear::SeveralMeetings)
        );
        assert_eq!(go("Avlys møtet 13. januar", &c), Err(Unclear::NoMeeting));
        assert_eq!(go("Flytt møtet 12. januar", &c), Err(Unclear::NoNewTime));
    }

    #[test]
    fn the_only_council_needs_no_name() {
        let only = &councils()[..1];
        assert!(matches!(
            go("Nytt møte 12. januar kl. 10–12 på Ullevål", only),
            Ok(Change::Add { council_id: 1, .. })
        ));
    }

    #[test]
    fn moves_and_cancellations_find_their_meeting() {
        let c = councils();
        assert_eq!(
            go("Flytt møtet 12. januar til 19. januar kl. 12–14", &c),
            Ok(Change::Move {
                meeting_id: 10,
                starts_at: oslo(2027, 1, 19, 12, 0),
                ends_at: oslo(2027, 1, 19, 14, 0),
            })
        );
        // A new day only: the same hours.
        assert_eq!(
            go("Flytt møtet 12. januar til 26. januar", &c),
            Ok(Change::Move {
                meeting_id: 10,
                starts_at: oslo(2027, 1, 26, 10, 0),
                ends_at: oslo(2027, 1, 26, 12, 0),
            })
        );
        // A new time only, as long as before.
        assert_eq!(
            go("Flytt møtet 12. januar til kl. 13", &c),
            Ok(Change::Move {
                meeting_id: 10,
                starts_at: oslo(2027, 1, 12, 13, 0),
                ends_at: oslo(2027, 1, 12, 15, 0),
            })
        );
        // The council named picks one of two meetings that day.
        assert_eq!(
            go(
                "Avlys møtet i RegRåd anestesi 19. januar: for få påmeldte",
                &c
            ),
            Ok(Change::Cancel {
                meeting_id: 11,
                reason: Some("for få påmeldte".into())
            })
        );
        assert_eq!(
            go(
                "Nytt sted for møtet i Utdanningsrådet 19. januar: Ullevål, bygg 2",
                &c
            ),
            Ok(Change::Place {
                meeting_id: 12,
                room: Some("Ullevål, bygg 2".into()),
                digital_link: None
            })
        );
        assert_eq!(
            go("Nytt sted for møtet 12. januar:", &c),
            Err(Unclear::NoPlace)
        );
        assert_eq!(
            go("Cancel the meeting of ur on 19 January", &c),
            Ok(Change::Cancel {
                meeting_id: 12,
                reason: None
            })
        );
    }
}
