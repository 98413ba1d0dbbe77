//! People who come and go: what a member who leaves the council (or gives their seat
//! to someone else) is sent about the meetings they were summoned to. Pure: the daemon
//! loads the invitations and commits the withdrawals with their mail.

use super::meeting::{Invited, Meeting};
use super::plan::{Calendar, Mail};

/// The mail that withdraws an invitation to a meeting ahead from a member who left:
/// a few lines and a cancelled calendar entry for their personal UID (RFC 5546
/// §3.2.5: a CANCEL to one attendee removes the event from that attendee's calendar
/// only), so the meeting leaves their calendar while it stays in everyone else's.
/// `successor` is whoever took the seat, if someone did.
pub fn withdrawal(m: &Meeting, inv: &Invited, successor: Option<&str>) -> Mail {
    let sequence = m.sequence + 1;
    Mail {
        key: Some(inv.token.clone()),
        invitation_id: Some(inv.invitation_id),
        meeting_id: Some(m.id),
        calendar: Some(Calendar {
            method: "CANCEL",
            sequence,
            template: "withdrawn_calendar",
            rsvp: false,
            token: Some(inv.token.clone()),
            starts_at: m.starts_at,
            ends_at: m.ends_at,
        }),
        ..Mail::new(
            "withdrawn",
            "withdrawn",
            format!("withdrawn:{}:{}", m.id, inv.invitation_id),
            &inv.member,
            serde_json::json!({
                "council": m.council_name,
                "title": m.title,
                "starts": m.local(m.starts_at),
                "ends": m.local(m.ends_at),
                "successor": successor.unwrap_or_default(),
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Language;
    use crate::workflow::plan::Person;

    #[test]
    fn a_withdrawal_cancels_the_members_own_entry_once() {
        let m = Meeting {
            id: 7,
            council_name: "Utdanningsrådet".into(),
            title: "Møte i Utdanningsrådet".into(),
            starts_at: "2027-03-09T09:00:00Z".parse().unwrap(),
            ends_at: "2027-03-09T11:00:00Z".parse().unwrap(),
            time_zone: chrono_tz::Europe::Oslo,
            status: crate::domain::MeetingStatus::Scheduled,
            sequence: 2,
        };
        let inv = Invited {
            invitation_id: 41,
            token: "tok".into(),
            member: Person {
                id: 3,
                name: "Ola Hansen".into(),
                email: "ola@ahus.example".into(),
                lang: Language::Nn,
            },
            asked: true,
            accepted: true,
            substitute: None,
        };
        let mail = withdrawal(&m, &inv, Some("Kari Nordmann"));
        assert_eq!(mail.kind, "withdrawn");
        assert_eq!(mail.to.email, "ola@ahus.example");
        assert_eq!(mail.to.lang, Language::Nn);
        assert_eq!(mail.effect_key, "withdrawn:7:41");
        assert_eq!(mail.invitation_id, Some(41));
        let cal = mail.calendar.unwrap();
        assert_eq!(cal.method, "CANCEL");
        assert_eq!(cal.sequence, 3, "above every entry sent before");
        assert_eq!(cal.token.as_deref(), Some("tok"), "the member's own UID");
        assert!(!cal.rsvp);
        assert_eq!(mail.data["successor"], "Kari Nordmann");
        assert_eq!(mail.data["starts"], "2027-03-09T10:00:00+01:00");
        assert_eq!(withdrawal(&m, &inv, None).data["successor"], "");
    }
}
