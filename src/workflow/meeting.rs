//! Moving or cancelling a meeting, and the summons of someone who comes in a member's
//! place (pure). Everyone who has a calendar entry for the meeting gets it updated or
//! cancelled, with the next SEQUENCE, and the meeting's jobs follow it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::plan::{Calendar, Event, File, Mail, Person};
use crate::config::Offsets;
use crate::domain::{HeldReason, Language, Place};

/// What the minutes and meeting flows decide.
pub type Plan = super::plan::Plan<Change>;

/// A member of the council, as these decisions need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Their row is `person.id`.
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

/// A change to the council's state that the minutes and meeting flows make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A meeting's title or place changed: its calendar SEQUENCE goes up.
    UpdateDetails {
        title: String,
        place: crate::domain::Place,
        sequence: i64,
    },
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
    /// The meeting at a new place or with a new link.
    UpdatePlace {
        room: Option<String>,
        digital_link: Option<String>,
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

/// What happens to a meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingChange {
    Move {
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
    Cancel,
    /// A new title or place (room, digital link), at the same time: the snapshot's
    /// meeting already has the new title.
    Details {
        place: crate::domain::Place,
    },
}

/// Someone who got a summons without an invitation of their own: a substitute in a
/// member's place, or an extra attendee (bisitter) beside them. They are participants
/// like the member: their calendar entry has the personal UID of the member's
/// invitation, they are asked to answer it, and their replies find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    /// Names the guest in effect keys (`sub:INVITATION`, `extra:ID`).
    pub key: String,
    pub person: Person,
    /// The key of the invitation they come for: their own entry's key is derived from
    /// it (`Token::for_guest`), and their replies find the invitation.
    pub token: Option<String>,
}

/// What a move or a cancellation needs to know.
#[derive(Debug, Clone)]
pub struct ChangeSnapshot {
    pub meeting: Meeting,
    pub invited: Vec<Invited>,
    pub guests: Vec<Guest>,
    /// The kinds of the meeting's jobs that are done: they are not done again.
    pub done_jobs: Vec<crate::domain::JobKind>,
    pub offsets: Offsets,
    /// The proposals on the meeting's agenda that are not numbered yet.
    pub open_items: Vec<OpenItem>,
    /// Those who got the call for agenda items for it but no summons (yet): a
    /// cancellation tells them too.
    pub called: Vec<Person>,
}

/// A proposal waiting for a meeting's agenda to close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    pub id: i64,
    pub title: String,
    pub state: crate::domain::ItemState,
}

/// The language of someone named in an answer: their own when they are on the council,
/// else that of the member who named them.
pub fn guest_language(members: &[Member], email: &str, named_by: Language) -> Language {
    members
        .iter()
        .find(|m| crate::trust::same_address(&m.person.email, email))
        .map(|m| m.person.lang)
        .unwrap_or(named_by)
}

/// A meeting at a new place (a room, a link, or both): its calendar SEQUENCE goes up
/// and everyone with an entry gets an updated one with the new location. `place` is
/// the whole new place. Refused when the meeting is not scheduled or is over.
pub fn change_place(s: &ChangeSnapshot, place: &Place, by: &str, now: DateTime<Utc>) -> Plan {
    let m = &s.meeting;
    if m.status != crate::domain::MeetingStatus::Scheduled {
        return Plan::held(
            HeldReason::NotScheduled,
            format!("meeting {} is {}, not scheduled", m.id, m.status),
        );
    }
    if m.ends_at <= now {
        return Plan::held(HeldReason::ImpossibleTime, "the meeting is over");
    }
    let sequence = m.sequence + 1;
    let mut plan = Plan::done("");
    plan.changes.push(Change::UpdateMeeting {
        starts_at: m.starts_at,
        ends_at: m.ends_at,
        status: crate::domain::MeetingStatus::Scheduled,
        sequence,
    });
    plan.changes.push(Change::UpdatePlace {
        room: place.room.clone(),
        digital_link: place.digital_link.clone(),
    });
    let data = serde_json::json!({
        "council": m.council_name,
        "title": m.title,
        "starts": m.local(m.starts_at),
        "ends": m.local(m.ends_at),
        "room": place.room,
        "link": place.digital_link,
    });
    let calendar = |token: Option<&str>, rsvp: bool| Calendar {
        method: "REQUEST",
        sequence,
        template: "place_calendar",
        rsvp,
        token: token.map(str::to_string),
        starts_at: m.starts_at,
        ends_at: m.ends_at,
    };
    for inv in &s.invited {
        plan.mails.push(Mail {
            key: Some(inv.token.clone()),
            invitation_id: Some(inv.invitation_id),
            calendar: Some(calendar(Some(&inv.token), inv.asked)),
            ..Mail::new(
                "update",
                "place",
                format!("place:{}:{}:{sequence}", m.id, inv.invitation_id),
                &inv.member,
                data.clone(),
            )
        });
    }
    for g in &s.guests {
        plan.mails.push(Mail {
            key: g.token.clone(),
            calendar: Some(calendar(
                guest_key(g.token.as_deref(), &g.person.email).as_deref(),
                g.token.is_some(),
            )),
            ..Mail::new(
                "update",
                "place",
                format!("place:{}:{}:{sequence}", m.id, g.key),
                &g.person,
                data.clone(),
            )
        });
    }
    let place_text = [place.room.as_deref(), place.digital_link.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" / ");
    plan.outcome = format!(
        "meeting {} on {} now at {place_text}; {} update(s) queued",
        m.id,
        m.log_span(m.starts_at, m.ends_at),
        plan.mails.len()
    );
    plan.events.push(Event {
        actor: by.to_string(),
        kind: "meeting_place",
        detail: plan.outcome.clone(),
        meeting_id: None,
        inbound_id: None,
    });
    plan
}

/// Moves or cancels a meeting. Refused when it is not scheduled, or when it would move
/// into the past.
pub fn change_meeting(
    s: &ChangeSnapshot,
    change: MeetingChange,
    by: &str,
    now: DateTime<Utc>,
) -> Plan {
    change_meeting_because(s, change, None, by, now)
}

/// The same, with the coordinator's reason, which the notice of a cancellation gives
/// the members.
pub fn change_meeting_because(
    s: &ChangeSnapshot,
    change: MeetingChange,
    reason: Option<&str>,
    by: &str,
    now: DateTime<Utc>,
) -> Plan {
    let m = &s.meeting;
    if m.status != crate::domain::MeetingStatus::Scheduled {
        return Plan::held(
            HeldReason::NotScheduled,
            format!("meeting {} is {}, not scheduled", m.id, m.status),
        );
    }
    let sequence = m.sequence + 1;
    let mut plan = Plan::done("");
    let (starts_at, ends_at) = match change {
        MeetingChange::Move { starts_at, ends_at } => {
            if ends_at <= starts_at {
                return Plan::held(
                    HeldReason::ImpossibleTime,
                    "the meeting must end after it starts",
                );
            }
            if starts_at <= now {
                return Plan::held(
                    HeldReason::ImpossibleTime,
                    "a meeting cannot move into the past",
                );
            }
            plan.changes.push(Change::UpdateMeeting {
                starts_at,
                ends_at,
                status: crate::domain::MeetingStatus::Scheduled,
                sequence,
            });
            for (kind, due_at) in
                crate::schedule::jobs_for(starts_at, s.offsets, s.meeting.time_zone)
            {
                if !s.done_jobs.contains(&kind) {
                    plan.changes.push(Change::ScheduleJob { kind, due_at });
                }
            }
            (starts_at, ends_at)
        }
        MeetingChange::Cancel => {
            plan.changes.push(Change::UpdateMeeting {
                starts_at: m.starts_at,
                ends_at: m.ends_at,
                status: crate::domain::MeetingStatus::Cancelled,
                sequence,
            });
            plan.changes.push(Change::CancelJobs);
            // What was proposed or approved for it waits for the next meeting whose
            // agenda closes, as a proposal made when no meeting was scheduled does.
            for i in s.open_items.iter().filter(|i| {
                i.state == crate::domain::ItemState::Proposed
                    || i.state == crate::domain::ItemState::Approved
            }) {
                plan.changes.push(Change::DetachAgendaItem { id: i.id });
                plan.events.push(Event {
                    actor: by.to_string(),
                    kind: "agenda_moved",
                    detail: format!(
                        "\"{}\" waits for the next meeting: meeting {} is cancelled",
                        i.title, m.id
                    ),
                    meeting_id: None,
                    inbound_id: None,
                });
            }
            (m.starts_at, m.ends_at)
        }
        MeetingChange::Details { ref place } => {
            if m.title.trim().is_empty() {
                return Plan::held(HeldReason::ImpossibleTime, "a meeting needs a title");
            }
            if place.room.is_none() && place.digital_link.is_none() {
                return Plan::held(
                    HeldReason::ImpossibleTime,
                    "a meeting needs a room, a digital link, or both",
                );
            }
            plan.changes.push(Change::UpdateDetails {
                title: m.title.clone(),
                place: place.clone(),
                sequence,
            });
            (m.starts_at, m.ends_at)
        }
    };
    let (kind, method) = match change {
        MeetingChange::Move { .. } | MeetingChange::Details { .. } => ("update", "REQUEST"),
        MeetingChange::Cancel => ("cancel", "CANCEL"),
    };
    let data = |asked: bool| match &change {
        MeetingChange::Move { .. } => serde_json::json!({
            "council": m.council_name,
            "title": m.title,
            "old_starts": m.local(m.starts_at),
            "old_ends": m.local(m.ends_at),
            "starts": m.local(starts_at),
            "ends": m.local(ends_at),
            "asked": asked,
            "moved": true,
            "room": "",
            "digital_link": "",
        }),
        MeetingChange::Details { place } => serde_json::json!({
            "council": m.council_name,
            "title": m.title,
            "old_starts": m.local(m.starts_at),
            "old_ends": m.local(m.ends_at),
            "starts": m.local(starts_at),
            "ends": m.local(ends_at),
            "asked": asked,
            "moved": false,
            "room": place.room.as_deref().unwrap_or_default(),
            "digital_link": place.digital_link.as_deref().unwrap_or_default(),
        }),
        MeetingChange::Cancel => serde_json::json!({
            "council": m.council_name,
            "title": m.title,
            "starts": m.local(m.starts_at),
            "ends": m.local(m.ends_at),
            "reason": reason,
        }),
    };
    let calendar = |asked: bool, token: Option<&str>| Calendar {
        method,
        sequence,
        template: match change {
            MeetingChange::Move { .. } | MeetingChange::Details { .. } => "update_calendar",
            MeetingChange::Cancel => "cancel_calendar",
        },
        rsvp: asked,
        token: token.map(str::to_string),
        starts_at,
        ends_at,
    };
    for inv in &s.invited {
        plan.mails.push(Mail {
            key: Some(inv.token.clone()),
            invitation_id: Some(inv.invitation_id),
            calendar: Some(calendar(inv.asked, Some(&inv.token))),
            ..Mail::new(
                kind,
                kind,
                format!("{kind}:{}:{}:{sequence}", m.id, inv.invitation_id),
                &inv.member,
                data(inv.asked),
            )
        });
    }
    // Those who were only called for agenda items have no entry, but were told of the
    // meeting: they hear it is off.
    if let MeetingChange::Cancel = change {
        for p in s.called.iter().filter(|p| {
            !s.invited
                .iter()
                .any(|i| crate::trust::same_address(&i.member.email, &p.email))
        }) {
            plan.mails.push(Mail::new(
                "cancel",
                "cancel",
                format!("cancel:{}:called:{}:{sequence}", m.id, p.email),
                p,
                data(false),
            ));
        }
    }
    // A substitute or an extra attendee has the entry too, under the invitation's
    // personal UID, and answers it like the member.
    for g in &s.guests {
        plan.mails.push(Mail {
            key: g.token.clone(),
            calendar: Some(calendar(
                g.token.is_some(),
                guest_key(g.token.as_deref(), &g.person.email).as_deref(),
            )),
            ..Mail::new(
                kind,
                kind,
                format!("{kind}:{}:{}:{sequence}", m.id, g.key),
                &g.person,
                data(false),
            )
        });
    }
    let old = m.log_span(m.starts_at, m.ends_at);
    plan.outcome = match change {
        MeetingChange::Move { .. } => format!(
            "meeting {} moved from {old} to {}; {} update(s) queued",
            m.id,
            m.log_span(starts_at, ends_at),
            plan.mails.len()
        ),
        MeetingChange::Cancel => format!(
            "meeting {} on {old} cancelled; {} cancellation(s) queued",
            m.id,
            plan.mails.len()
        ),
        MeetingChange::Details { .. } => format!(
            "meeting {} on {old} updated (title or place); {} update(s) queued",
            m.id,
            plan.mails.len()
        ),
    };
    plan.events.push(Event {
        actor: by.to_string(),
        kind: match change {
            MeetingChange::Move { .. } => "meeting_moved",
            MeetingChange::Cancel => "meeting_cancelled",
            MeetingChange::Details { .. } => "meeting_updated",
        },
        detail: plan.outcome.clone(),
        meeting_id: None,
        inbound_id: None,
    });
    plan
}

/// One numbered item of a meeting's agenda, as a summons lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaLine {
    /// `3/27`.
    pub label: String,
    /// What a fixed item is (`approve_summons`, `any_other_business` …): its title is
    /// then written by the template, in the recipient's language.
    pub code: Option<&'static str>,
    pub title: String,
    pub proposer: Option<String>,
    pub attachments: Vec<String>,
}

/// The key of a guest's own calendar entry for the invitation with `token`: never the
/// member's token (`Token::for_guest`).
fn guest_key(token: Option<&str>, email: &str) -> Option<String> {
    token.and_then(crate::domain::Token::parse).map(|t| {
        crate::domain::Token::for_guest(&t, email)
            .as_str()
            .to_string()
    })
}

/// What the summons of a substitute or an extra attendee needs to know.
#[derive(Debug, Clone)]
pub struct GuestSummons {
    pub meeting: Meeting,
    pub place: crate::domain::Place,
    pub agenda: Vec<AgendaLine>,
    /// The agenda's documents, as the members' summons carries them: the substitute
    /// reads them in the member's place.
    pub documents: Vec<File>,
    /// The invitation of the member they come for (or with).
    pub invitation_id: i64,
    pub member_name: String,
    pub guest: Person,
    /// An extra attendee (bisitter) comes with the member, not in their place.
    pub extra: bool,
    /// The key of the member's invitation: the guest's own calendar entry has a key
    /// derived from it (never the member's own) and asks for an answer, and replies to
    /// the summons find the invitation.
    pub token: Option<String>,
}

/// The summons with a calendar entry for someone who comes in a member's place or
/// beside them: a participant, asked to answer like the member.
pub fn guest_summons(s: &GuestSummons) -> Mail {
    let m = &s.meeting;
    let agenda: Vec<serde_json::Value> = s
        .agenda
        .iter()
        .map(|a| {
            serde_json::json!({
                "label": a.label,
                "code": a.code,
                "title": a.title,
                "proposer": a.proposer,
                "attachments": a.attachments,
            })
        })
        .collect();
    Mail {
        invitation_id: Some(s.invitation_id),
        key: s.token.clone(),
        calendar: Some(Calendar {
            method: "REQUEST",
            sequence: m.sequence,
            template: "substitute_calendar",
            rsvp: s.token.is_some(),
            token: guest_key(s.token.as_deref(), &s.guest.email),
            starts_at: m.starts_at,
            ends_at: m.ends_at,
        }),
        attachments: s.documents.clone(),
        ..Mail::new(
            "summons",
            "substitute_summons",
            format!("substitute:{}:{}", s.invitation_id, s.guest.email),
            &s.guest,
            serde_json::json!({
                "council": m.council_name,
                "title": m.title,
                "starts": m.local(m.starts_at),
                "ends": m.local(m.ends_at),
                "room": s.place.room,
                "link": s.place.digital_link,
                "member": s.member_name,
                "extra": s.extra,
                "agenda": agenda,
            }),
        )
    }
}

/// The substitute a member named is not needed any more (the member answered again
/// without them, or `member_left` the council): their calendar entry — the invitation's personal one — is
/// cancelled, and the mail says why.
pub fn guest_withdrawal(
    m: &Meeting,
    invitation_id: i64,
    token: &str,
    member_name: &str,
    guest: &Person,
    member_left: bool,
) -> Mail {
    Mail {
        key: Some(token.to_string()),
        invitation_id: Some(invitation_id),
        calendar: Some(Calendar {
            method: "CANCEL",
            sequence: m.sequence + 1,
            template: "substitute_withdrawn_calendar",
            rsvp: false,
            token: guest_key(Some(token), &guest.email),
            starts_at: m.starts_at,
            ends_at: m.ends_at,
        }),
        ..Mail::new(
            "withdrawn",
            "substitute_withdrawn",
            format!("substitute-withdrawn:{invitation_id}:{}", guest.email),
            guest,
            serde_json::json!({
                "council": m.council_name,
                "title": m.title,
                "starts": m.local(m.starts_at),
                "ends": m.local(m.ends_at),
                "member": member_name,
                "member_left": member_left,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Place;
    use crate::render::{Common, Renderer};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn person(name: &str, email: &str, lang: Language) -> Person {
        Person {
            id: 0,
            name: name.into(),
            email: email.into(),
            lang,
        }
    }

    /// Tuesday 23 March 2027 10:00–12:00 in Oslo, still winter time (CET, +01:00).
    fn meeting() -> Meeting {
        Meeting {
            id: 7,
            council_name: "Utdanningsrådet".into(),
            title: "Møte i Utdanningsrådet".into(),
            starts_at: t("2027-03-23T09:00:00Z"),
            ends_at: t("2027-03-23T11:00:00Z"),
            time_zone: chrono_tz::Europe::Oslo,
            status: crate::domain::MeetingStatus::Scheduled,
            sequence: 1,
        }
    }

    fn invited(id: i64, name: &str, email: &str, lang: Language, asked: bool) -> Invited {
        Invited {
            invitation_id: id,
            token: format!("{id:032x}"),
            member: person(name, email, lang),
            asked,
            accepted: true,
            substitute: None,
        }
    }

    fn snapshot() -> ChangeSnapshot {
        ChangeSnapshot {
            meeting: meeting(),
            invited: vec![
                invited(1, "Kari Hansen", "kari@hf.example", Language::Nb, true),
                invited(2, "Ann Smith", "ann@hf.example", Language::En, true),
                invited(
                    3,
                    "Helsedirektoratet",
                    "post@hdir.example",
                    Language::Nn,
                    false,
                ),
            ],
            guests: vec![Guest {
                key: "sub:1".into(),
                person: person("Per Vara", "per@hf.example", Language::Nb),
                token: Some("0123456789abcdef0123456789abcdef".into()),
            }],
            done_jobs: vec![
                crate::domain::JobKind::Call,
                crate::domain::JobKind::Summons,
            ],
            offsets: Offsets::default(),
            open_items: Vec::new(),
            called: Vec::new(),
        }
    }

    fn render(kind: &str, m: &Mail) -> crate::render::Rendered {
        let common = Common {
            name: m.to.name.clone(),
            full_name: m.to.name.clone(),
            secretariat: "RegUt HSØ".into(),
            ..Default::default()
        };
        Renderer::new()
            .unwrap()
            .render_kind(m.to.lang, kind, &common, &m.data)
            .unwrap()
    }

    #[test]
    fn a_new_place_or_title_updates_every_entry_at_the_same_time() {
        let now = t("2027-03-15T08:00:00Z");
        let mut s = snapshot();
        s.meeting.title = "Ekstraordinært møte".into();
        let place = crate::domain::Place {
            room: Some("Ullevål, bygg 25".into()),
            digital_link: None,
        };
        let p = change_meeting(
            &s,
            MeetingChange::Details {
                place: place.clone(),
            },
            "koord@hf.example",
            now,
        );
        assert!(!p.is_held(), "{}", p.outcome);
        assert_eq!(
            p.changes,
            vec![Change::UpdateDetails {
                title: "Ekstraordinært møte".into(),
                place,
                sequence: 2,
            }],
            "no job moves"
        );
        assert_eq!(p.mails.len(), 4);
        for m in &p.mails {
            let cal = m.calendar.as_ref().unwrap();
            assert_eq!((m.kind, cal.method, cal.sequence), ("update", "REQUEST", 2));
            assert_eq!(cal.starts_at, s.meeting.starts_at);
            assert_eq!(m.data["moved"], false);
        }
        let text = render("update", &p.mails[0]).body;
        assert!(text.contains("Ullevål, bygg 25"), "{text}");
        assert!(text.contains("Ekstraordinært møte"), "{text}");
        assert!(!text.contains("flyttet"), "{text}");
        // Neither a room nor a link: refused.
        let p = change_meeting(
            &s,
            MeetingChange::Details {
                place: crate::domain::Place {
                    room: None,
                    digital_link: None,
                },
            },
            "koord@hf.example",
            now,
        );
        assert!(p.is_held());
    }

    #[test]
    fn a_move_across_the_change_to_summer_time_keeps_the_local_hour() {
        let now = t("2027-03-15T08:00:00Z");
        // Tuesday 30 March 10:00 is 08:00 UTC: summer time (CEST, +02:00) began on
        // the 28th.
        let (starts_at, ends_at) = (t("2027-03-30T08:00:00Z"), t("2027-03-30T10:00:00Z"));
        let o = Offsets::default();
        let o_reminder = || o.reminder_days_before;
        let p = change_meeting(
            &snapshot(),
            MeetingChange::Move { starts_at, ends_at },
            "koord@hf.example",
            now,
        );
        assert!(!p.is_held(), "{}", p.outcome);
        assert_eq!(
            p.outcome,
            "meeting 7 moved from 2027-03-23 10:00–12:00 to 2027-03-30 10:00–12:00; 4 update(s) queued"
        );
        assert_eq!(
            p.changes.first(),
            Some(&Change::UpdateMeeting {
                starts_at,
                ends_at,
                status: crate::domain::MeetingStatus::Scheduled,
                sequence: 2,
            })
        );
        // The jobs not done yet follow the meeting at its local hour; the call and the
        // summons are done.
        let oslo = || chrono_tz::Europe::Oslo;
        assert_eq!(
            crate::schedule::days_before(starts_at, o_reminder(), oslo()),
            t("2027-03-25T09:00:00Z")
        );
        let jobs: Vec<(&str, DateTime<Utc>)> = p
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::ScheduleJob { kind, due_at } => Some((kind.as_str(), *due_at)),
                _ => None,
            })
            .collect();
        // Five days before is skjærtorsdag (25 March), two days before Easter Sunday:
        // both go the working day before Easter, Wednesday 24 March, at 10:00 winter
        // time (09:00 UTC).
        assert_eq!(
            jobs,
            vec![
                ("reminder", t("2027-03-24T09:00:00Z")),
                ("attendance", t("2027-03-24T09:00:00Z")),
            ]
        );
        // Every invitee and the substitute, each in their language, with the next
        // SEQUENCE; only those asked to answer are asked again.
        let to: Vec<(&str, Language)> = p
            .mails
            .iter()
            .map(|m| (m.to.email.as_str(), m.to.lang))
            .collect();
        assert_eq!(
            to,
            vec![
                ("kari@hf.example", Language::Nb),
                ("ann@hf.example", Language::En),
                ("post@hdir.example", Language::Nn),
                ("per@hf.example", Language::Nb),
            ]
        );
        for m in &p.mails {
            let c = m.calendar.as_ref().unwrap();
            assert_eq!((m.kind, c.method, c.sequence), ("update", "REQUEST", 2));
            assert_eq!((c.starts_at, c.ends_at), (starts_at, ends_at));
        }
        let kari = &p.mails[0];
        assert_eq!(kari.effect_key, "update:7:1:2");
        assert_eq!(
            kari.key.as_deref(),
            Some(snapshot().invited[0].token.as_str())
        );
        assert_eq!(kari.invitation_id, Some(1));
        assert!(kari.calendar.as_ref().unwrap().rsvp);
        assert_eq!(kari.data["old_starts"], "2027-03-23T10:00:00+01:00");
        assert_eq!(kari.data["starts"], "2027-03-30T10:00:00+02:00");
        let r = render("update", kari);
        assert_eq!(
            r.subject,
            "Endret tidspunkt: Utdanningsrådet tirsdag 30. mars 2027 kl. 10:00–12:00"
        );
        assert!(r.body.contains("fra tirsdag 23. mars 2027 kl. 10:00–12:00 til tirsdag 30. mars 2027 kl. 10:00–12:00.\nSvar gjerne på nytt"), "{}", r.body);
        let ann = render("update", &p.mails[1]);
        assert!(
            ann.body.contains(
                "from Tuesday 23 March 2027 at 10:00–12:00 to Tuesday 30 March 2027 at 10:00–12:00"
            ),
            "{}",
            ann.body
        );
        let hdir = &p.mails[2];
        assert!(!hdir.calendar.as_ref().unwrap().rsvp);
        let nn = render("update_calendar", hdir);
        assert_eq!(nn.subject, "Utdanningsrådet: Møte i Utdanningsrådet");
        assert!(nn
            .body
            .starts_with("Møtet i Utdanningsrådet er flytta frå tysdag 23. mars"));
        assert!(
            !nn.body.contains("Svar gjerne"),
            "an observer is not asked: {}",
            nn.body
        );
        let per = &p.mails[3];
        // The substitute's entry is their own (a key derived from the member's), and
        // asks for an answer.
        let token = Some("0123456789abcdef0123456789abcdef");
        assert_eq!(per.key.as_deref(), token);
        let own = crate::domain::Token::for_guest(
            &crate::domain::Token::parse("0123456789abcdef0123456789abcdef").unwrap(),
            "per@hf.example",
        );
        assert_eq!(
            per.calendar.as_ref().unwrap().token.as_deref(),
            Some(own.as_str())
        );
        assert!(per.calendar.as_ref().unwrap().rsvp);
        assert_eq!(per.effect_key, "update:7:sub:1:2");
        assert_eq!(
            p.events,
            vec![Event::new(
                "koord@hf.example",
                "meeting_moved",
                p.outcome.clone()
            )]
        );
    }

    #[test]
    fn cancelling_before_the_summons_tells_only_the_called_and_stops_every_job() {
        let item = |id: i64, title: &str, state: &str| OpenItem {
            id,
            title: title.into(),
            state: state.parse().unwrap(),
        };
        let s = ChangeSnapshot {
            invited: Vec::new(),
            guests: Vec::new(),
            done_jobs: vec![crate::domain::JobKind::Call],
            open_items: vec![
                item(21, "Veileder for LIS1", "approved"),
                item(22, "Ny turnusordning", "proposed"),
                item(23, "Avvist forslag", "rejected"),
            ],
            ..snapshot()
        };
        let p = change_meeting(
            &s,
            MeetingChange::Cancel,
            "command line (kari)",
            t("2027-03-01T08:00:00Z"),
        );
        assert!(!p.is_held());
        assert!(p.mails.is_empty());
        // Those who got the call hear the meeting is off (no calendar entry to cancel).
        let called = ChangeSnapshot {
            called: vec![person("Ola Nordmann", "ola@hf.example", Language::Nb)],
            ..s.clone()
        };
        let c = change_meeting(
            &called,
            MeetingChange::Cancel,
            "command line (kari)",
            t("2027-03-01T08:00:00Z"),
        );
        assert_eq!(c.mails.len(), 1);
        assert_eq!(
            (c.mails[0].template, c.mails[0].to.email.as_str()),
            ("cancel", "ola@hf.example")
        );
        assert!(c.mails[0].calendar.is_none());
        assert_eq!(
            p.changes,
            vec![
                Change::UpdateMeeting {
                    starts_at: s.meeting.starts_at,
                    ends_at: s.meeting.ends_at,
                    status: crate::domain::MeetingStatus::Cancelled,
                    sequence: 2,
                },
                Change::CancelJobs,
                // The proposals wait for the next meeting; the rejected one stays.
                Change::DetachAgendaItem { id: 21 },
                Change::DetachAgendaItem { id: 22 },
            ]
        );
        assert_eq!(
            p.outcome,
            "meeting 7 on 2027-03-23 10:00–12:00 cancelled; 0 cancellation(s) queued"
        );
        let events: Vec<&str> = p.events.iter().map(|e| e.kind).collect();
        assert_eq!(
            events,
            vec!["agenda_moved", "agenda_moved", "meeting_cancelled"]
        );
        assert_eq!(
            p.events[0].detail,
            "\"Veileder for LIS1\" waits for the next meeting: meeting 7 is cancelled"
        );
    }

    #[test]
    fn a_cancellation_reaches_every_calendar_with_the_old_time() {
        let p = change_meeting(
            &snapshot(),
            MeetingChange::Cancel,
            "x",
            t("2027-03-01T08:00:00Z"),
        );
        assert_eq!(p.mails.len(), 4);
        for m in &p.mails {
            let c = m.calendar.as_ref().unwrap();
            assert_eq!(
                (m.kind, c.method, c.sequence, c.template),
                ("cancel", "CANCEL", 2, "cancel_calendar")
            );
            assert_eq!(c.starts_at, t("2027-03-23T09:00:00Z"));
        }
        let r = render("cancel", &p.mails[1]);
        assert_eq!(
            r.subject,
            "Cancelled: Utdanningsrådet Tuesday 23 March 2027 at 10:00–12:00"
        );
        let r = render("cancel_calendar", &p.mails[0]);
        assert_eq!(
            r.body.trim_end(),
            "Møtet i Utdanningsrådet tirsdag 23. mars 2027 kl. 10:00–12:00 er avlyst."
        );
    }

    #[test]
    fn a_cancelled_meeting_or_a_move_into_the_past_is_refused() {
        let mut s = snapshot();
        s.meeting.status = crate::domain::MeetingStatus::Cancelled;
        let p = change_meeting(&s, MeetingChange::Cancel, "x", t("2027-03-01T08:00:00Z"));
        assert!(p.is_held() && p.changes.is_empty() && p.mails.is_empty());
        assert_eq!(p.held.map(|h| h.reason), Some(HeldReason::NotScheduled));
        assert_eq!(p.outcome, "meeting 7 is cancelled, not scheduled");
        let past = MeetingChange::Move {
            starts_at: t("2027-02-01T09:00:00Z"),
            ends_at: t("2027-02-01T11:00:00Z"),
        };
        let p = change_meeting(&snapshot(), past, "x", t("2027-03-01T08:00:00Z"));
        assert!(p.is_held() && p.mails.is_empty(), "{}", p.outcome);
        assert_eq!(p.held.map(|h| h.reason), Some(HeldReason::ImpossibleTime));
    }

    #[test]
    fn a_substitute_is_summoned_in_the_members_place_and_an_extra_attendee_beside_them() {
        let mut s = GuestSummons {
            meeting: meeting(),
            place: Place {
                room: Some("Ullevål sykehus, bygg 1".into()),
                digital_link: None,
            },
            agenda: vec![
                AgendaLine {
                    label: "3/27".into(),
                    code: None,
                    title: "Veileder for LIS1".into(),
                    proposer: Some("Ola Nordmann".into()),
                    attachments: vec!["veileder.pdf".into()],
                },
                AgendaLine {
                    label: "4/27".into(),
                    code: Some("any_other_business"),
                    title: "Eventuelt".into(),
                    proposer: None,
                    attachments: Vec::new(),
                },
            ],
            documents: vec![(
                "veileder.pdf".into(),
                "application/pdf".into(),
                b"%PDF".to_vec(),
            )],
            invitation_id: 4,
            member_name: "Lene Leder".into(),
            guest: person("Per Vara", "per@hf.example", Language::Nb),
            extra: false,
            token: Some("0123456789abcdef0123456789abcdef".into()),
        };
        let m = guest_summons(&s);
        // A participant: the member's personal UID and reply address, asked to answer.
        assert_eq!(
            (m.kind, m.template, m.key.as_deref()),
            (
                "summons",
                "substitute_summons",
                Some("0123456789abcdef0123456789abcdef")
            )
        );
        assert_eq!(m.effect_key, "substitute:4:per@hf.example");
        assert_eq!(m.attachments.len(), 1);
        let c = m.calendar.as_ref().unwrap();
        assert_eq!((c.method, c.sequence, c.rsvp), ("REQUEST", 1, true));
        // The guest's own entry: a key derived from the member's, never the member's.
        let own = crate::domain::Token::for_guest(
            &crate::domain::Token::parse("0123456789abcdef0123456789abcdef").unwrap(),
            "per@hf.example",
        );
        assert_ne!(own.as_str(), "0123456789abcdef0123456789abcdef");
        assert_eq!(c.token.as_deref(), Some(own.as_str()));
        let r = render("substitute_summons", &m);
        assert!(r.body.contains("Lene Leder kan ikke komme på møtet i Utdanningsrådet og har meldt at du møter i stedet."), "{}", r.body);
        assert!(
            r.body
                .contains("  Sak 3/27 Veileder for LIS1 (Ola Nordmann) – vedlegg: veileder.pdf"),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains("Når:   tirsdag 23. mars 2027 kl. 10:00–12:00"),
            "{}",
            r.body
        );
        let cal = render("substitute_calendar", &m);
        assert!(
            cal.body.starts_with("Du møter for Lene Leder.\n"),
            "{}",
            cal.body
        );
        s.extra = true;
        s.guest.lang = Language::En;
        let m = guest_summons(&s);
        let r = render("substitute_summons", &m);
        assert!(
            r.body.contains("  Item 4/27 Any other business\n"),
            "{}",
            r.body
        );
        assert!(r.body.contains("Lene Leder is bringing you to the meeting of Utdanningsrådet as an extra attendee."), "{}", r.body);
    }

    #[test]
    fn someone_named_in_an_answer_reads_their_own_language_when_on_the_council() {
        let members = vec![Member {
            person: person("Per Vara", "Per@HF.example", Language::En),
            coordinator: false,
            failing: false,
        }];
        assert_eq!(
            guest_language(&members, "per@hf.example", Language::Nn),
            Language::En
        );
        assert_eq!(
            guest_language(&members, "eva@hf.example", Language::Nn),
            Language::Nn
        );
    }
}
