//! Whom the scheduled summons and reminder reach: pure decisions over the rows the
//! daemon loads, with the time passed in. The daemon renders and commits what these
//! return, in one transaction with the job.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::domain::records::{Invitation, Meeting, Member};
use crate::domain::{MeetingStatus, Response};

/// Why a job sends nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The meeting has started, or is cancelled: no summons, no reminder.
    NotUpcoming,
    /// Everyone is invited already (a late-member pass with nobody new).
    NobodyNew,
    /// The agenda deadline has passed (a meeting added late): no call for items.
    PastDeadline,
}

impl Skip {
    /// The audit line.
    pub fn detail(self) -> &'static str {
        match self {
            Skip::NotUpcoming => "the meeting has started or is not scheduled; nothing sent",
            Skip::NobodyNew => "every member is invited already",
            Skip::PastDeadline => "the agenda deadline has passed; no call for agenda items",
        }
    }
}

/// The call for agenda items: every member, leader and deputy of the council (or of a chunk of it: the
/// daemon pages through a large council) whose address works, while
/// the meeting is ahead and its agenda deadline too. A meeting added after its deadline
/// (an ad-hoc meeting) gets no call: its agenda is whatever is proposed before the
/// summons.
pub fn call(
    meeting: &Meeting,
    members: &[Member],
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, Skip> {
    if meeting.starts_at <= now || meeting.status != MeetingStatus::Scheduled {
        return Err(Skip::NotUpcoming);
    }
    if now >= deadline {
        return Err(Skip::PastDeadline);
    }
    // The call is for those who bring items: members, the leader and the deputy, not
    // observers or the coordinators who decide on the items.
    Ok(members
        .iter()
        .filter(|mb| mb.failing_since.is_none() && mb.role.is_asked_to_answer())
        .map(|mb| mb.id)
        .collect())
}

/// One member to summon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summon {
    pub member_id: i64,
    /// Asked to answer (members, leader, deputy); observers and coordinators get the
    /// summons "til orientering".
    pub asked: bool,
}

/// The summons: `uninvited`, members of the council without an invitation to the
/// meeting (the next chunk of them: the daemon reads and commits a summons to a large
/// council a few hundred members at a time). `scheduled` is the summons job itself
/// (which runs even when nobody is new, to close the agenda); otherwise this is the
/// pass for members added after it.
pub fn summons(
    meeting: &Meeting,
    uninvited: &[Member],
    scheduled: bool,
    now: DateTime<Utc>,
) -> Result<Vec<Summon>, Skip> {
    if meeting.starts_at <= now || meeting.status != crate::domain::MeetingStatus::Scheduled {
        return Err(Skip::NotUpcoming);
    }
    let to: Vec<Summon> = uninvited
        .iter()
        .map(|mb| Summon {
            member_id: mb.id,
            asked: mb.role.is_asked_to_answer(),
        })
        .collect();
    if to.is_empty() && !scheduled {
        return Err(Skip::NobodyNew);
    }
    Ok(to)
}

/// One invitation to remind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remind {
    pub invitation_id: i64,
    /// They said "maybe": the reminder asks for their final answer.
    pub tentative: bool,
}

/// The reminder: those asked to answer who have not, or said "maybe" (they promised to
/// come back); never an address that bounces. `invitations` may be a chunk of the
/// meeting's; `members` need hold only those whose address fails.
pub fn reminders(
    meeting: &Meeting,
    invitations: &[Invitation],
    members: &[Member],
    now: DateTime<Utc>,
) -> Result<Vec<Remind>, Skip> {
    if meeting.starts_at <= now || meeting.status != crate::domain::MeetingStatus::Scheduled {
        return Err(Skip::NotUpcoming);
    }
    let failing: HashSet<i64> = members
        .iter()
        .filter(|mb| mb.failing_since.is_some())
        .map(|mb| mb.id)
        .collect();
    Ok(invitations
        .iter()
        .filter(|inv| inv.role.is_asked_to_answer() && !failing.contains(&inv.member_id))
        .filter(|inv| matches!(inv.response, None | Some(Response::Tentative)))
        .map(|inv| Remind {
            invitation_id: inv.id,
            tentative: inv.response == Some(Response::Tentative),
        })
        .collect())
}

/// A scheduled job as stored: its id, kind and due time (pending ones only).
pub type PendingJob = (i64, crate::domain::JobKind, DateTime<Utc>);

/// The pending jobs of meeting `m` whose due time the current rules (the calendar
/// rules, the configured offsets) put elsewhere, with the new time: what a start of
/// the daemon applies to meetings set up before the rules changed. Only a meeting
/// still ahead and scheduled is touched, only its call, summons, reminder and
/// attendance list, and only to a time still ahead: a job the new rule would have sent
/// already keeps its time rather than going out at once (in Christmas week, say).
pub fn rescheduled(
    m: &Meeting,
    pending: &[PendingJob],
    offsets: crate::config::Offsets,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Vec<(i64, DateTime<Utc>)> {
    if m.status != MeetingStatus::Scheduled || m.starts_at <= now {
        return Vec::new();
    }
    let rules = crate::schedule::jobs_for(m.starts_at, offsets, tz);
    pending
        .iter()
        .filter_map(|(id, kind, due)| {
            let (_, new) = rules.iter().find(|(k, _)| k == kind)?;
            (new != due && *new > now).then_some((*id, *new))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Place, Role};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn meeting(status: &str) -> Meeting {
        Meeting {
            id: 7,
            council_id: 1,
            council_slug: "ur".into(),
            council_name: "Utdanningsrådet".into(),
            title: "Møte".into(),
            starts_at: at("2027-03-09T09:00:00Z"),
            ends_at: at("2027-03-09T11:00:00Z"),
            time_zone: "Europe/Oslo".into(),
            place: Place {
                room: None,
                digital_link: None,
            },
            status: status.parse().unwrap(),
            uid: "u".into(),
            sequence: 0,
        }
    }

    fn member(id: i64, role: Role, failing: bool) -> Member {
        Member {
            id,
            council_id: 1,
            name: format!("M{id}"),
            email: format!("m{id}@hf.example"),
            organisation: None,
            role,
            doctor: false,
            failing_since: failing.then(|| at("2027-02-01T00:00:00Z")),
            failing_reason: None,
            language: None,
            vara: None,
        }
    }

    fn invitation(id: i64, member_id: i64, role: Role, response: Option<Response>) -> Invitation {
        Invitation {
            id,
            meeting_id: 7,
            member_id,
            member_name: format!("M{member_id}"),
            member_email: format!("m{member_id}@hf.example"),
            role,
            token: "t".into(),
            response,
            attendance: None,
            substitute: None,
            answered_at: None,
            answer_id: None,
            member_language: None,
            vara: None,
        }
    }

    const BEFORE: &str = "2027-02-23T08:00:00Z";

    #[test]
    fn the_summons_goes_to_everyone_not_invited_and_asks_only_those_who_answer() {
        let uninvited = [
            member(1, Role::Member, false),
            member(2, Role::Observer, false),
            member(3, Role::Coordinator, false),
        ];
        let to = summons(&meeting("scheduled"), &uninvited, true, at(BEFORE)).unwrap();
        assert_eq!(
            to,
            vec![
                Summon {
                    member_id: 1,
                    asked: true
                },
                Summon {
                    member_id: 2,
                    asked: false
                },
                Summon {
                    member_id: 3,
                    asked: false
                },
            ]
        );
    }

    #[test]
    fn no_summons_for_a_meeting_that_started_or_was_cancelled() {
        let members = [member(1, Role::Member, false)];
        let started = at("2027-03-09T09:00:00Z");
        assert_eq!(
            summons(&meeting("scheduled"), &members, true, started),
            Err(Skip::NotUpcoming)
        );
        assert_eq!(
            summons(&meeting("cancelled"), &members, true, at(BEFORE)),
            Err(Skip::NotUpcoming)
        );
    }

    #[test]
    fn the_call_goes_to_members_working_addresses_only_before_the_deadline() {
        let members = [
            member(1, Role::Member, false),
            member(2, Role::Member, true),
            member(3, Role::Leader, false),
            member(4, Role::Observer, false),
            member(5, Role::Coordinator, false),
        ];
        let deadline = at("2027-02-16T23:00:00Z");
        let m = meeting("scheduled");
        assert_eq!(
            call(&m, &members, deadline, at("2027-02-09T08:00:00Z")),
            Ok(vec![1, 3])
        );
        assert_eq!(
            call(&m, &members, deadline, at("2027-02-17T08:00:00Z")),
            Err(Skip::PastDeadline)
        );
        assert_eq!(
            call(
                &meeting("cancelled"),
                &members,
                deadline,
                at("2027-02-09T08:00:00Z")
            ),
            Err(Skip::NotUpcoming)
        );
    }

    #[test]
    fn the_late_pass_sends_nothing_when_nobody_is_new_but_the_job_still_runs() {
        let m = meeting("scheduled");
        assert_eq!(summons(&m, &[], false, at(BEFORE)), Err(Skip::NobodyNew));
        assert_eq!(summons(&m, &[], true, at(BEFORE)), Ok(vec![]));
    }

    #[test]
    fn reminders_go_to_the_silent_and_the_unsure_never_to_a_bouncing_address() {
        let members = [
            member(1, Role::Member, false),
            member(2, Role::Member, false),
            member(3, Role::Member, true),
            member(4, Role::Observer, false),
            member(5, Role::Deputy, false),
        ];
        let invitations = [
            invitation(11, 1, Role::Member, None),
            invitation(12, 2, Role::Member, Some(Response::Accepted)),
            invitation(13, 3, Role::Member, None),
            invitation(14, 4, Role::Observer, None),
            invitation(15, 5, Role::Deputy, Some(Response::Tentative)),
        ];
        let r = reminders(&meeting("scheduled"), &invitations, &members, at(BEFORE)).unwrap();
        assert_eq!(
            r,
            vec![
                Remind {
                    invitation_id: 11,
                    tentative: false
                },
                Remind {
                    invitation_id: 15,
                    tentative: true
                },
            ]
        );
        assert_eq!(
            reminders(&meeting("cancelled"), &invitations, &members, at(BEFORE)),
            Err(Skip::NotUpcoming)
        );
    }

    #[test]
    fn stored_jobs_follow_the_calendar_rules_when_still_ahead() {
        use crate::domain::JobKind;
        let oslo = chrono_tz::Europe::Oslo;
        // Tuesday 12 January 2027 10:00; stored the old way: the attendance list two
        // days before on Sunday 10 January, the call on 15 December.
        let mut m = meeting("scheduled");
        m.starts_at = at("2027-01-12T09:00:00Z");
        let pending = [
            (1, JobKind::Call, at("2026-12-15T09:00:00Z")),
            (2, JobKind::Attendance, at("2027-01-10T09:00:00Z")),
            (3, JobKind::MinutesDeadline, at("2027-01-20T09:00:00Z")),
        ];
        let o = crate::config::Offsets::default();
        let now = at("2026-12-01T08:00:00Z");
        // The attendance list moves to Friday 8 January; the call was right already.
        assert_eq!(
            rescheduled(&m, &pending, o, oslo, now),
            [(2, at("2027-01-08T09:00:00Z"))]
        );
        // Past the new time: left alone.
        assert!(rescheduled(&m, &pending, o, oslo, at("2027-01-08T12:00:00Z")).is_empty());
        // A cancelled meeting's jobs are not touched.
        m.status = MeetingStatus::Cancelled;
        assert!(rescheduled(&m, &pending, o, oslo, now).is_empty());
    }
}
