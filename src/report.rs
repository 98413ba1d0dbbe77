//! Attendance over a year, per member: the meetings they were invited to and how they
//! answered (in person, digitally, by a substitute, absent, not sure, no answer). What
//! `referent report attendance` prints and the coordinators get each January for the
//! year before. Pure: the store gives the rows, the caller the clock.
//!
//! referent knows the answers, not a roll call: "in person" means the member's last
//! answer before the meeting said they would come in person.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::records::{Invitation, Meeting, Member};
use crate::domain::{Attendance, MeetingStatus, Response};

/// One member's year.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemberAttendance {
    pub member_id: i64,
    pub name: String,
    pub email: String,
    pub organisation: Option<String>,
    /// Meetings of the year they were invited to.
    pub invited: u32,
    pub in_person: u32,
    pub digital: u32,
    /// Declined and sent a substitute (vara) in their place.
    pub substitute: u32,
    /// Declined, with nobody in their place.
    pub absent: u32,
    /// Answered "maybe" and no more.
    pub tentative: u32,
    /// Never answered.
    pub no_answer: u32,
}

/// A council's year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttendanceReport {
    pub council: String,
    pub year: i32,
    /// Meetings held that year (started by `now`, not cancelled).
    pub meetings: u32,
    /// By name: everyone asked to answer (members, leader, deputy) who is on the
    /// council or was invited that year.
    pub members: Vec<MemberAttendance>,
}

/// The first and last instant of `year` in `tz` (`[from, to)`), for the store's query.
pub fn year_bounds(year: i32, tz: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let midnight = chrono::NaiveTime::MIN;
    let from = NaiveDate::from_ymd_opt(year, 1, 1)?;
    let to = NaiveDate::from_ymd_opt(year + 1, 1, 1)?;
    Some((
        crate::schedule::workdays::at_local(from, midnight, tz),
        crate::schedule::workdays::at_local(to, midnight, tz),
    ))
}

/// Counts one council's `year` in `tz` from its `meetings`, their `invitations` and
/// the current `roster`. Meetings cancelled, in another year or not started by `now`
/// do not count; observers and coordinators are not asked to answer and are left out.
pub fn attendance(
    council: &str,
    year: i32,
    tz: Tz,
    now: DateTime<Utc>,
    roster: &[Member],
    meetings: &[Meeting],
    invitations: &[Invitation],
) -> AttendanceReport {
    let held: Vec<i64> = meetings
        .iter()
        .filter(|m| {
            m.status != MeetingStatus::Cancelled
                && m.starts_at <= now
                && m.starts_at.with_timezone(&tz).year() == year
        })
        .map(|m| m.id)
        .collect();
    let mut rows: std::collections::BTreeMap<i64, MemberAttendance> = roster
        .iter()
        .filter(|m| m.role.is_asked_to_answer())
        .map(|m| {
            (
                m.id,
                MemberAttendance {
                    member_id: m.id,
                    name: m.name.clone(),
                    email: m.email.clone(),
                    organisation: m.organisation.clone(),
                    ..MemberAttendance::default()
                },
            )
        })
        .collect();
    for i in invitations
        .iter()
        .filter(|i| held.contains(&i.meeting_id) && i.role.is_asked_to_answer())
    {
        let row = rows.entry(i.member_id).or_insert_with(|| MemberAttendance {
            member_id: i.member_id,
            name: i.member_name.clone(),
            email: i.member_email.clone(),
            ..MemberAttendance::default()
        });
        row.invited += 1;
        let count = match (&i.substitute, i.response, i.attendance) {
            (Some(_), _, _) => &mut row.substitute,
            (None, Some(Response::Accepted), Some(Attendance::Digital)) => &mut row.digital,
            (None, Some(Response::Accepted), _) => &mut row.in_person,
            (None, Some(Response::Declined), _) => &mut row.absent,
            (None, Some(Response::Tentative), _) => &mut row.tentative,
            (None, None, _) => &mut row.no_answer,
        };
        *count += 1;
    }
    let mut members: Vec<MemberAttendance> = rows.into_values().collect();
    members.sort_by(|a, b| a.name.cmp(&b.name).then(a.member_id.cmp(&b.member_id)));
    AttendanceReport {
        council: council.to_string(),
        year,
        meetings: u32::try_from(held.len()).unwrap_or(u32::MAX),
        members,
    }
}

/// The report as CSV, one member a line, for a spreadsheet.
pub fn to_csv(r: &AttendanceReport) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "name",
        "email",
        "organisation",
        "invited",
        "in_person",
        "digital",
        "substitute",
        "absent",
        "tentative",
        "no_answer",
    ])?;
    for m in &r.members {
        w.write_record([
            m.name.clone(),
            m.email.clone(),
            m.organisation.clone().unwrap_or_default(),
            m.invited.to_string(),
            m.in_person.to_string(),
            m.digital.to_string(),
            m.substitute.to_string(),
            m.absent.to_string(),
            m.tentative.to_string(),
            m.no_answer.to_string(),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Place, Role, Substitute};

    const OSLO: Tz = chrono_tz::Europe::Oslo;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn member(id: i64, name: &str, role: Role) -> Member {
        Member {
            id,
            council_id: 1,
            name: name.into(),
            email: format!("{}@hf.example", name.to_lowercase().replace(' ', ".")),
            organisation: Some("OUS HF".into()),
            role,
            doctor: false,
            failing_since: None,
            failing_reason: None,
            language: None,
            vara: None,
        }
    }

    fn meeting(id: i64, starts: &str, status: MeetingStatus) -> Meeting {
        Meeting {
            id,
            council_id: 1,
            council_slug: "ur".into(),
            council_name: "Utdanningsrådet".into(),
            title: String::new(),
            starts_at: t(starts),
            ends_at: t(starts) + chrono::Duration::hours(2),
            time_zone: "Europe/Oslo".into(),
            place: Place {
                room: None,
                digital_link: None,
            },
            status,
            uid: format!("m{id}"),
            sequence: 0,
        }
    }

    fn invitation(
        meeting_id: i64,
        m: &Member,
        response: Option<Response>,
        attendance: Option<Attendance>,
        substitute: bool,
    ) -> Invitation {
        Invitation {
            id: meeting_id * 100 + m.id,
            meeting_id,
            member_id: m.id,
            member_name: m.name.clone(),
            member_email: m.email.clone(),
            role: m.role,
            token: String::new(),
            response,
            attendance,
            substitute: substitute.then(|| Substitute {
                name: "Per Vara".into(),
                email: Some("per@hf.example".into()),
            }),
            answered_at: None,
            answer_id: None,
            member_language: None,
            vara: None,
        }
    }

    #[test]
    fn a_year_counted_per_member() {
        use Attendance::*;
        use Response::*;
        let kari = member(1, "Kari Hansen", Role::Leader);
        let ola = member(2, "Ola Nordmann", Role::Member);
        let hdir = member(3, "Helsedirektoratet", Role::Observer);
        let koord = member(4, "Eldbjørg Koordinator", Role::Coordinator);
        let new = member(5, "Nina Ny", Role::Member);
        let roster = [kari.clone(), ola.clone(), hdir.clone(), koord, new];
        let meetings = [
            // 1 January 00:30 Oslo time is still 2026 in UTC: it counts for 2027.
            meeting(1, "2026-12-31T23:30:00Z", MeetingStatus::Scheduled),
            meeting(2, "2027-03-09T09:00:00Z", MeetingStatus::Scheduled),
            meeting(3, "2027-05-11T08:00:00Z", MeetingStatus::Cancelled),
            meeting(4, "2027-09-14T08:00:00Z", MeetingStatus::Scheduled),
            // 31 December 23:30 Oslo time is 2027; one the next year does not count.
            meeting(5, "2027-12-31T22:30:00Z", MeetingStatus::Scheduled),
            meeting(6, "2028-01-11T09:00:00Z", MeetingStatus::Scheduled),
        ];
        let invitations = [
            invitation(1, &kari, Some(Accepted), Some(InPerson), false),
            invitation(2, &kari, Some(Accepted), Some(Digital), false),
            invitation(3, &kari, Some(Declined), None, false),
            invitation(4, &kari, Some(Declined), None, true),
            invitation(5, &kari, Some(Accepted), None, false),
            invitation(6, &kari, Some(Declined), None, false),
            invitation(1, &ola, None, None, false),
            invitation(2, &ola, Some(Tentative), None, false),
            invitation(4, &ola, Some(Declined), None, false),
            // The last answer is a substitute's acceptance: still "by substitute".
            invitation(5, &ola, Some(Accepted), Some(InPerson), true),
            invitation(2, &hdir, None, None, false),
        ];
        let r = attendance(
            "Utdanningsrådet",
            2027,
            OSLO,
            t("2028-01-04T07:00:00Z"),
            &roster,
            &meetings,
            &invitations,
        );
        assert_eq!(r.meetings, 4);
        let names: Vec<&str> = r.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["Kari Hansen", "Nina Ny", "Ola Nordmann"]);
        let counts = |m: &MemberAttendance| {
            [
                m.invited,
                m.in_person,
                m.digital,
                m.substitute,
                m.absent,
                m.tentative,
                m.no_answer,
            ]
        };
        assert_eq!(counts(&r.members[0]), [4, 2, 1, 1, 0, 0, 0]);
        assert_eq!(counts(&r.members[1]), [0; 7]);
        assert_eq!(counts(&r.members[2]), [4, 0, 0, 1, 1, 1, 1]);
        // During the year, meetings not yet held do not count.
        let r = attendance(
            "Utdanningsrådet",
            2027,
            OSLO,
            t("2027-06-01T00:00:00Z"),
            &roster,
            &meetings,
            &invitations,
        );
        assert_eq!(r.meetings, 2);
        assert_eq!(counts(&r.members[0]), [2, 1, 1, 0, 0, 0, 0]);
        let csv = to_csv(&r).unwrap();
        assert_eq!(
            csv.lines().next(),
            Some("name,email,organisation,invited,in_person,digital,substitute,absent,tentative,no_answer")
        );
        assert_eq!(
            csv.lines().nth(1),
            Some("Kari Hansen,kari.hansen@hf.example,OUS HF,2,1,1,0,0,0,0")
        );
    }

    #[test]
    fn a_member_who_left_the_roster_still_counts() {
        let gone = member(9, "Gunnar Gått", Role::Member);
        let meetings = [meeting(1, "2027-03-09T09:00:00Z", MeetingStatus::Scheduled)];
        let invitations = [invitation(
            1,
            &gone,
            Some(Response::Accepted),
            Some(Attendance::InPerson),
            false,
        )];
        let r = attendance(
            "U",
            2027,
            OSLO,
            t("2028-01-04T07:00:00Z"),
            &[],
            &meetings,
            &invitations,
        );
        assert_eq!(r.members.len(), 1);
        assert_eq!(r.members[0].in_person, 1);
        assert_eq!(r.members[0].organisation, None);
        let (from, to) = year_bounds(2027, OSLO).unwrap();
        assert_eq!(from, t("2026-12-31T23:00:00Z"));
        assert_eq!(to, t("2027-12-31T23:00:00Z"));
    }
}
