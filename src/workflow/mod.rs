//! What an understood message means for the council's state, given what is stored:
//! record an answer, hold for a coordinator, ignore, note a bounce. Pure: the daemon
//! looks things up, calls [`decide`], and commits the decision in one transaction.

pub mod jobs;

use crate::domain::records::{Invitation, Meeting};
use crate::domain::InboundState;
use crate::domain::{base_address, Answer, Attendance, Held, HeldReason, Response};
use crate::trust::Trust;
use crate::understand::{Kind, Understanding};

pub mod agenda;
pub mod by_mail;
pub mod confirm;
pub mod held;
pub mod plan;
pub mod roster;
pub mod status;

/// What is known about a message's context.
pub struct InboundContext<'a> {
    pub secretariat_address: &'a str,
    /// The invitation the message answers, found by threading or by token.
    pub invitation: Option<&'a Invitation>,
    pub meeting: Option<&'a Meeting>,
    /// Whether the sender is a coordinator of the invitation's council (and so may
    /// forward a member's answer).
    pub sender_is_coordinator: bool,
    /// Receipts sent to the sender in the last hour.
    pub receipts_recent: i64,
    pub receipts_per_hour: u32,
    /// How the sender (From:) is known: only an authenticated sender's message acts.
    pub trust: &'a Trust,
    pub now: chrono::DateTime<chrono::Utc>,
    /// Whether the meeting's summons has gone out (a substitute named before it gets
    /// theirs with everyone else's).
    pub summons_sent: bool,
    /// The sender is not the invitee but someone who comes for or with them.
    pub guest: Option<&'a GuestSender>,
    /// When the message names no invitation: how many upcoming meetings its sender is
    /// invited to (an answer cannot be placed when there are several).
    pub upcoming: usize,
}

/// Someone who comes in a member's place (a substitute) or beside them (an approved
/// extra attendee), answering the entry they were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestSender {
    pub name: String,
    pub email: String,
    pub extra: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub state: InboundState,
    /// A sentence for the coordinators and the log.
    pub outcome: String,
    pub answer: Option<Answer>,
    pub receipt: bool,
    /// An address that bounced permanently, and why.
    pub failing: Option<(String, String)>,
    /// The answer is not applied: the person it claims to come from is asked to
    /// confirm it by a one-word reply (their registered address).
    pub confirm: Option<String>,
    /// No answer could be read for sure: the member gets one short question in the
    /// thread, and their one-word reply settles it.
    pub ask: bool,
    /// When unsure: the readings the reply allows, to show in the question.
    pub readings: Vec<Response>,
    /// Why it is held, stored with the outcome for the digest of held mail.
    pub held: Option<Held>,
    /// How the recorded answer came: `calendar`, `forward` or `reply`.
    pub source: &'static str,
    /// The substitute named with an address gets the summons in the member's place now
    /// (the meeting is ahead and its summons has gone out); the coordinators are told.
    pub summon_substitute: Option<(String, String)>,
    /// An extra attendee (bisitter) named beside a member who comes: held until the
    /// leader approves.
    pub announce_extra: bool,
    /// The answer came from a calendar entry of an earlier time of a meeting that has
    /// moved: not recorded, and the member is asked about the new time.
    pub stale_calendar: bool,
    /// A proposal of a new time (iTIP `COUNTER`), for the coordinators.
    pub counter: Option<Counter>,
    /// What a substitute or an extra attendee answered (not the member's answer): the
    /// coordinators are told when they cannot come or are unsure.
    pub guest_answer: Option<Response>,
    /// The member declined without naming anyone and their council invites their
    /// personal substitute (vara) by itself: the answer records the vara as the
    /// substitute, and the coordinators are told it was the designated vara.
    pub vara: bool,
}

/// A proposal of another time for a meeting, as a calendar client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    pub end: Option<chrono::DateTime<chrono::Utc>>,
    pub comment: Option<String>,
}

impl Decision {
    fn new(state: InboundState, outcome: impl Into<String>) -> Self {
        Decision {
            state,
            outcome: outcome.into(),
            answer: None,
            receipt: false,
            failing: None,
            confirm: None,
            ask: false,
            readings: Vec::new(),
            held: None,
            stale_calendar: false,
            counter: None,
            guest_answer: None,
            source: "reply",
            summon_substitute: None,
            announce_extra: false,
            vara: false,
        }
    }

    fn held(reason: HeldReason, outcome: impl Into<String>) -> Self {
        Decision {
            held: Some(Held::because(reason)),
            ..Decision::new(InboundState::Held, outcome)
        }
    }
}

/// What an understood message means, and what a recorded answer leads to.
pub fn decide(u: &Understanding, ctx: &InboundContext<'_>) -> Decision {
    let mut d = decide_answer(u, ctx);
    if d.confirm.is_some() {
        return d;
    }
    // A decline that names nobody: the member's designated vara comes in their place
    // (when their council has it so), as if the member had named them.
    if let (Some(answer), Some(inv), Some(m)) = (&mut d.answer, ctx.invitation, ctx.meeting) {
        if let Some(vara) = inv.vara.as_ref().filter(|v| v.email.is_some()) {
            if answer.response == Response::Declined
                && answer.substitute.is_none()
                && m.starts_at > ctx.now
                && !vara
                    .email
                    .as_deref()
                    .is_some_and(|v| crate::trust::same_address(v, &inv.member_email))
            {
                answer.substitute = Some(vara.as_ref().clone());
                d.vara = true;
            }
        }
    }
    let (Some(answer), Some(m)) = (&d.answer, ctx.meeting) else {
        return d;
    };
    d.source = if u.calendar.as_ref().is_some_and(|c| c.response.is_some()) {
        "calendar"
    } else if u.on_behalf_of.is_some() {
        "forward"
    } else {
        "reply"
    };
    if let Some(crate::domain::Substitute {
        name,
        email: Some(email),
    }) = &answer.substitute
    {
        if m.starts_at > ctx.now && ctx.summons_sent {
            d.summon_substitute = Some((name.clone(), email.clone()));
        }
    }
    d.announce_extra = u.extra_attendee.is_some() && answer.substitute.is_none();
    d
}

fn decide_answer(u: &Understanding, ctx: &InboundContext<'_>) -> Decision {
    let from = u.from.as_deref().unwrap_or("");
    // Never act on our own mail (a loop through a forwarding rule, a copy to ourselves).
    if u.sent_by_referent || (!from.is_empty() && base_address(from) == ctx.secretariat_address) {
        return Decision::new(
            InboundState::Ignored,
            "a copy of mail referent sent; not answered",
        );
    }
    if let Some(b) = &u.bounce {
        let Some(recipient) = &b.recipient else {
            return Decision::held(
                HeldReason::BounceUnreadable,
                "a delivery failure report whose failed address could not be read",
            );
        };
        if b.permanent {
            let reason = format!(
                "delivery failed permanently{}",
                b.status
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            );
            let mut d = Decision::new(
                InboundState::Processed,
                format!("bounce: mail to {recipient} cannot be delivered; the address is marked failing"),
            );
            d.failing = Some((recipient.clone(), reason));
            return d;
        }
        return Decision::new(
            InboundState::Processed,
            format!("delivery to {recipient} is delayed; the mail server keeps trying"),
        );
    }
    if let Some(a) = &u.auto_reply {
        let until = a
            .until
            .map(|d| format!(" (away until {d})"))
            .unwrap_or_default();
        return Decision::new(
            InboundState::Ignored,
            format!("automatic reply from {from}{until}; never answered"),
        );
    }
    if u.is_list {
        return Decision::held(
            HeldReason::MailingList,
            "mailing-list or bulk mail; kept for a coordinator, not answered",
        );
    }
    if u.from.is_none() {
        return Decision::held(HeldReason::NoSender, "the sender's address cannot be read");
    }
    let Some(inv) = ctx.invitation else {
        let (reason, what) = if u.answer.is_some() && ctx.upcoming > 1 {
            (
                HeldReason::SeveralMeetings,
                format!(
                    "an answer that refers to no summons, from someone invited to {} upcoming meetings: which one it is for cannot be told",
                    ctx.upcoming
                ),
            )
        } else if u.answer.is_some() {
            (
                HeldReason::NoSummons,
                "looks like an answer, but does not refer to any summons we sent".to_string(),
            )
        } else if u.kind() == Kind::CoordinatorDecision {
            (
                HeldReason::DecisionWithoutRequest,
                "a decision that answers no request we sent".to_string(),
            )
        } else {
            (HeldReason::NotUnderstood, "not understood".to_string())
        };
        return Decision::held(reason, format!("{what}; kept for a coordinator"));
    };
    if let Some(g) = ctx.guest {
        return decide_guest(u, g, inv, ctx);
    }
    // A coordinator may forward a member's answer: it counts as the member's.
    let forwarded_by = match &u.on_behalf_of {
        Some(original) if ctx.sender_is_coordinator && *original == inv.member_email => Some(from),
        Some(original) if *original == inv.member_email => {
            return Decision::held(
                HeldReason::NotCoordinator,
                format!("{original}'s answer forwarded by {from}, who is not a coordinator; kept for a coordinator"),
            );
        }
        _ => None,
    };
    if forwarded_by.is_none() && !crate::trust::same_address(from, &inv.member_email) {
        return Decision::held(
            HeldReason::NotInvitee,
            format!(
                "an answer to {}'s invitation sent from {from}, not from the invitee; kept for a coordinator",
                inv.member_email
            ),
        );
    }
    if let Some(m) = ctx.meeting {
        if m.ends_at <= ctx.now || m.status != crate::domain::MeetingStatus::Scheduled {
            // Too late to matter, or nothing to attend: kept, not applied, nobody asked.
            return Decision::held(
                HeldReason::AfterMeeting,
                format!(
                    "an answer for {} after the meeting is over or cancelled; not applied",
                    inv.member_email
                ),
            );
        }
    }
    let counter = u
        .calendar
        .as_ref()
        .filter(|c| c.method == "COUNTER")
        .map(|c| {
            let tz = ctx
                .meeting
                .and_then(|m| m.time_zone.parse::<chrono_tz::Tz>().ok())
                .unwrap_or(chrono_tz::Europe::Oslo);
            Counter {
                start: c.proposed_start.and_then(|t| t.instant(tz)),
                end: c.proposed_end.and_then(|t| t.instant(tz)),
                comment: c.comment.clone(),
            }
        });
    if let (Some(c), Some(m)) = (&u.calendar, ctx.meeting) {
        // A calendar answers the version of the entry it holds: an answer to the time
        // before a move is not an answer to the new time.
        if c.sequence.is_some_and(|s| s < m.sequence) && u.answer.is_some() {
            let mut d = ask_back(
                &format!(
                    "a calendar answer to an earlier version of the meeting (sequence {} of {})",
                    c.sequence.unwrap_or_default(),
                    m.sequence
                ),
                HeldReason::StaleCalendar,
                inv,
                ctx,
            );
            d.stale_calendar = true;
            d.counter = counter;
            return d;
        }
    }
    if let (Some(counter), None) = (&counter, &u.answer) {
        if !ctx.trust.is_authenticated() {
            return Decision::held(
                HeldReason::NotUnderstood,
                format!(
                    "a proposal of a new time for {}'s meeting, {}; kept for a coordinator",
                    inv.member_email,
                    ctx.trust.describe()
                ),
            );
        }
        let mut d = Decision::new(
            InboundState::Processed,
            format!(
                "{} proposes a new time{}; the coordinators are told",
                inv.member_email,
                counter
                    .start
                    .map(|t| format!(" ({})", t.to_rfc3339()))
                    .unwrap_or_default()
            ),
        );
        d.counter = Some(counter.clone());
        return d;
    }
    let Some(mut answer) = u.answer.clone() else {
        let why = if u.kind() == Kind::Unknown && u.reply_text.is_empty() {
            "a reply with no text of its own"
        } else {
            "a reply to the summons, but no answer could be read from it"
        };
        return ask_back(why, HeldReason::NoAnswer, inv, ctx);
    };
    if let Some(sub) = &answer.substitute {
        // The secretariat cannot stand in for anyone; its own addresses are never
        // invited (a loop, or a way to read the summons through our own copies).
        if sub
            .email
            .as_deref()
            .is_some_and(|e| base_address(e) == ctx.secretariat_address)
        {
            return ask_back(
                "an answer naming the secretariat's own address as substitute",
                HeldReason::SecretariatSubstitute,
                inv,
                ctx,
            );
        }
    }
    if !ctx.trust.is_authenticated() {
        // Nothing proves who wrote it: the person it claims to be (the coordinator who
        // forwarded it, or the member) confirms by a one-word reply first.
        let ask = forwarded_by.unwrap_or(&inv.member_email).to_string();
        let mut d = Decision::new(
            InboundState::Held,
            format!(
                "an answer for {} ({}), {}; {ask} is asked to confirm it",
                inv.member_email,
                answer.response.as_str(),
                ctx.trust.describe()
            ),
        );
        d.held = Some(Held::asking(HeldReason::Unverified, &ask));
        d.confirm = Some(ask);
        d.answer = Some(answer);
        return d;
    }
    if u.confidence == crate::understand::Confidence::Unsure {
        // Guessing is worse than asking: the member gets one question.
        let mut d = ask_back(
            &format!(
                "a reply that reads as {}; not applied",
                u.readings
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            HeldReason::Ambiguous,
            inv,
            ctx,
        );
        d.readings = u.readings.clone();
        return d;
    }
    if answer.response == Response::Accepted {
        let implied = ctx.meeting.and_then(|m| m.place.implied_attendance());
        // A plain "kommer" to a meeting held only on a link means joining it; an
        // explicit "digitalt" to a meeting in a room stays as said, for the
        // coordinators to see.
        match (answer.attendance, implied) {
            (None, _) | (Some(Attendance::InPerson), Some(Attendance::Digital)) => {
                answer.attendance = implied.or(answer.attendance);
            }
            _ => {}
        }
    }
    let mut d = Decision::new(
        InboundState::Processed,
        format!(
            "answer from {}{}: {}{}{}",
            inv.member_email,
            forwarded_by
                .map(|f| format!(" (forwarded by {f})"))
                .unwrap_or_default(),
            answer.response.as_str(),
            answer
                .attendance
                .map(|a| format!(", {}", a.as_str()))
                .unwrap_or_default(),
            answer
                .substitute
                .as_ref()
                .map(|s| format!(", substitute {}", s.name))
                .unwrap_or_default()
        ),
    );
    d.receipt = ctx.receipts_recent < i64::from(ctx.receipts_per_hour);
    if !d.receipt {
        d.outcome
            .push_str("; no receipt (too many to this address this hour)");
    }
    d.answer = Some(answer);
    // A proposal of a new time beside the answer reaches the coordinators, once the
    // answer is the member's own.
    if ctx.trust.is_authenticated() {
        d.counter = counter;
    }
    d
}

/// A substitute's or an extra attendee's own answer to the entry they were sent. It is
/// not the member's answer and changes nothing recorded for the member; the
/// coordinators are told when the guest cannot come or is unsure.
fn decide_guest(
    u: &Understanding,
    g: &GuestSender,
    inv: &Invitation,
    ctx: &InboundContext<'_>,
) -> Decision {
    let role = if g.extra {
        "extra attendee with"
    } else {
        "substitute for"
    };
    if let Some(m) = ctx.meeting {
        if m.ends_at <= ctx.now || m.status != crate::domain::MeetingStatus::Scheduled {
            return Decision::held(
                HeldReason::AfterMeeting,
                format!(
                    "an answer from {} ({role} {}) after the meeting is over or cancelled; not applied",
                    g.email, inv.member_email
                ),
            );
        }
    }
    if !ctx.trust.is_authenticated() {
        return Decision::held(
            HeldReason::NotInvitee,
            format!(
                "an answer from {} ({role} {}), {}; kept for a coordinator",
                g.email,
                inv.member_email,
                ctx.trust.describe()
            ),
        );
    }
    let Some(answer) = &u.answer else {
        return Decision::held(
            HeldReason::NoAnswer,
            format!(
                "a reply from {} ({role} {}) with no answer that could be read; kept for a coordinator",
                g.email, inv.member_email
            ),
        );
    };
    let mut d = Decision::new(
        InboundState::Processed,
        format!(
            "{} ({role} {}): {}{}",
            g.email,
            inv.member_email,
            answer.response.as_str(),
            if answer.response == Response::Accepted {
                ""
            } else {
                "; the coordinators are told"
            }
        ),
    );
    d.guest_answer = Some(answer.response);
    d
}

/// Holds a reply whose answer cannot be read for sure and, when the member wrote it
/// (authenticated) and is asked to answer, asks them one short question in the thread.
fn ask_back(why: &str, reason: HeldReason, inv: &Invitation, ctx: &InboundContext<'_>) -> Decision {
    let can_ask = ctx.trust.is_authenticated()
        && inv.role.is_asked_to_answer()
        && ctx.receipts_recent < i64::from(ctx.receipts_per_hour);
    let mut d = Decision::new(
        InboundState::Held,
        if can_ask {
            format!(
                "{why}; {} is asked, and a coordinator sees it",
                inv.member_email
            )
        } else {
            format!("{why}; kept for a coordinator")
        },
    );
    d.ask = can_ask;
    // The member is asked a question, not to confirm: the digest still goes to them
    // if they coordinate, so no address is recorded.
    d.held = Some(Held::because(if can_ask { reason.asked() } else { reason }));
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Attendance, Place, Role};
    use crate::understand::{understand, Limits};

    fn invitation() -> Invitation {
        Invitation {
            id: 1,
            meeting_id: 1,
            member_id: 1,
            member_name: "Ola".into(),
            member_email: "ola@example.no".into(),
            role: Role::Member,
            token: "t".into(),
            response: None,
            attendance: None,
            substitute: None,
            answered_at: None,
            answer_id: None,
            member_language: None,
            vara: None,
        }
    }

    fn meeting(place: Place) -> Meeting {
        Meeting {
            id: 1,
            council_id: 1,
            council_slug: "ur".into(),
            council_name: "UR".into(),
            title: "Møte".into(),
            starts_at: "2027-01-12T09:00:00Z".parse().unwrap(),
            ends_at: "2027-01-12T11:00:00Z".parse().unwrap(),
            time_zone: "Europe/Oslo".into(),
            place,
            status: crate::domain::MeetingStatus::Scheduled,
            uid: "u".into(),
            sequence: 0,
        }
    }

    fn msg(from: &str, extra: &str, body: &str) -> Understanding {
        let raw = format!("From: {from}\r\nTo: referent@council.no\r\nSubject: SV: Innkalling\r\n{extra}\r\n{body}\r\n");
        understand(raw.as_bytes(), Limits::default())
    }

    const KEY: Trust = Trust::Key;

    fn ctx<'a>(
        inv: Option<&'a Invitation>,
        m: Option<&'a Meeting>,
        recent: i64,
    ) -> InboundContext<'a> {
        InboundContext {
            secretariat_address: "referent@council.no",
            invitation: inv,
            meeting: m,
            sender_is_coordinator: false,
            receipts_recent: recent,
            receipts_per_hour: 3,
            trust: &KEY,
            now: "2027-01-01T09:00:00Z".parse().unwrap(),
            summons_sent: true,
            guest: None,
            upcoming: 0,
        }
    }

    fn calendar_reply(
        method: &str,
        partstat: Option<&str>,
        sequence: u32,
        extra: &str,
    ) -> Understanding {
        let attendee = match partstat {
            Some(p) => format!("ATTENDEE;PARTSTAT={p}:mailto:ola@example.no\r\n"),
            None => "ATTENDEE:mailto:ola@example.no\r\n".to_string(),
        };
        let raw = format!(
            "From: ola@example.no\r\nTo: referent@council.no\r\nSubject: Ny tid foreslått: Møte\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar; method={method}; charset=utf-8\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:{method}\r\nBEGIN:VEVENT\r\nUID:t.x@council.no\r\nSEQUENCE:{sequence}\r\n{attendee}{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        understand(raw.as_bytes(), Limits::default())
    }

    #[test]
    fn a_calendar_answer_to_the_time_before_a_move_is_asked_again() {
        let inv = invitation();
        let mut m = meeting(Place {
            room: Some("Ullevål".into()),
            digital_link: None,
        });
        m.sequence = 1;
        let u = calendar_reply("REPLY", Some("ACCEPTED"), 0, "");
        let d = decide(&u, &ctx(Some(&inv), Some(&m), 0));
        assert_eq!(d.state, InboundState::Held);
        assert!(d.answer.is_none(), "not recorded: {d:?}");
        assert!(d.ask && d.stale_calendar, "{d:?}");
        assert_eq!(
            d.held.map(|h| h.reason),
            Some(HeldReason::StaleCalendarAsked)
        );
        // The same answer to the version the meeting has now counts.
        let u = calendar_reply("REPLY", Some("ACCEPTED"), 1, "");
        let d = decide(&u, &ctx(Some(&inv), Some(&m), 0));
        assert_eq!(d.state, InboundState::Processed, "{d:?}");
        assert!(!d.stale_calendar);
        // A client that does not say which version it answers is taken at its word.
        let mut u = calendar_reply("REPLY", Some("DECLINED"), 0, "");
        if let Some(c) = u.calendar.as_mut() {
            c.sequence = None;
        }
        let d = decide(&u, &ctx(Some(&inv), Some(&m), 0));
        assert_eq!(d.answer.map(|a| a.response), Some(Response::Declined));
    }

    #[test]
    fn a_proposal_of_a_new_time_reaches_the_coordinators_with_the_answer_beside_it() {
        let inv = invitation();
        let m = meeting(Place {
            room: Some("Ullevål".into()),
            digital_link: None,
        });
        let extra = "DTSTART;TZID=W. Europe Standard Time:20270119T130000\r\nDTEND;TZID=W. Europe Standard Time:20270119T150000\r\nCOMMENT:Kan vi ta det en uke senere?\r\n";
        let u = calendar_reply("COUNTER", Some("TENTATIVE"), 0, extra);
        let d = decide(&u, &ctx(Some(&inv), Some(&m), 0));
        assert_eq!(
            d.answer.as_ref().map(|a| a.response),
            Some(Response::Tentative)
        );
        let c = d.counter.expect("a proposal");
        assert_eq!(
            c.start.map(|t| t.to_rfc3339()).as_deref(),
            Some("2027-01-19T12:00:00+00:00")
        );
        assert_eq!(
            c.end.map(|t| t.to_rfc3339()).as_deref(),
            Some("2027-01-19T14:00:00+00:00")
        );
        assert_eq!(c.comment.as_deref(), Some("Kan vi ta det en uke senere?"));
        // Without an answer beside it: processed, nothing recorded, nobody asked.
        let u = calendar_reply("COUNTER", None, 0, extra);
        let d = decide(&u, &ctx(Some(&inv), Some(&m), 0));
        assert_eq!(d.state, InboundState::Processed, "{d:?}");
        assert!(d.answer.is_none() && !d.ask && d.counter.is_some());
        // Nothing proves who sent it: kept for a coordinator, nobody told.
        let unverified = Trust::Unverified("no key".into());
        let mut c = ctx(Some(&inv), Some(&m), 0);
        c.trust = &unverified;
        let d = decide(&u, &c);
        assert_eq!(d.state, InboundState::Held);
        assert!(d.counter.is_none());
    }

    #[test]
    fn a_named_substitute_is_summoned_once_the_summons_is_out_and_a_bisitter_announced() {
        let inv = invitation();
        let m = meeting(Place {
            room: Some("Ullevål".into()),
            digital_link: None,
        });
        let text = "Jeg kan ikke komme. Kari Vara (kari.vara@example.no) møter for meg.";
        let d = decide(
            &msg("ola@example.no", "", text),
            &ctx(Some(&inv), Some(&m), 0),
        );
        assert_eq!(d.source, "reply");
        assert_eq!(
            d.summon_substitute,
            Some(("Kari Vara".into(), "kari.vara@example.no".into())),
            "{d:?}"
        );
        assert!(!d.announce_extra, "a substitute is not a bisitter");
        // Before the summons: the substitute gets theirs with everyone else's.
        let before = InboundContext {
            summons_sent: false,
            ..ctx(Some(&inv), Some(&m), 0)
        };
        assert_eq!(
            decide(&msg("ola@example.no", "", text), &before).summon_substitute,
            None
        );
        // After the meeting: nothing to summon to.
        let after = InboundContext {
            now: "2027-01-13T09:00:00Z".parse().unwrap(),
            ..ctx(Some(&inv), Some(&m), 0)
        };
        assert_eq!(
            decide(&msg("ola@example.no", "", text), &after).summon_substitute,
            None
        );
    }

    #[test]
    fn a_decline_naming_nobody_brings_the_designated_vara() {
        let inv = Invitation {
            vara: Some(Box::new(crate::domain::Substitute {
                name: "Per Vara".into(),
                email: Some("per.vara@example.no".into()),
            })),
            ..invitation()
        };
        let m = meeting(Place {
            room: Some("Ullevål".into()),
            digital_link: None,
        });
        let decline = "Må dessverre melde forfall.";
        let d = decide(
            &msg("ola@example.no", "", decline),
            &ctx(Some(&inv), Some(&m), 0),
        );
        assert!(d.vara, "{d:?}");
        assert_eq!(
            d.summon_substitute,
            Some(("Per Vara".into(), "per.vara@example.no".into()))
        );
        let answer = d.answer.unwrap();
        assert_eq!(answer.response, Response::Declined);
        assert_eq!(
            answer.substitute.and_then(|s| s.email).as_deref(),
            Some("per.vara@example.no"),
            "the vara is recorded as the substitute"
        );
        // Before the summons: recorded, and summoned with everyone else.
        let before = InboundContext {
            summons_sent: false,
            ..ctx(Some(&inv), Some(&m), 0)
        };
        let d = decide(&msg("ola@example.no", "", decline), &before);
        assert!(d.vara && d.summon_substitute.is_none(), "{d:?}");
        // Someone named in the answer comes instead of the vara.
        let named = "Jeg kan ikke komme. Kari Annen (kari@example.no) møter for meg.";
        let d = decide(
            &msg("ola@example.no", "", named),
            &ctx(Some(&inv), Some(&m), 0),
        );
        assert!(!d.vara);
        assert_eq!(
            d.summon_substitute,
            Some(("Kari Annen".into(), "kari@example.no".into()))
        );
        // Coming, or a council without automatic vara (no vara on the invitation):
        // nobody is invited.
        let d = decide(
            &msg("ola@example.no", "", "Ja, jeg kommer."),
            &ctx(Some(&inv), Some(&m), 0),
        );
        assert!(!d.vara && d.summon_substitute.is_none());
        let d = decide(
            &msg("ola@example.no", "", decline),
            &ctx(Some(&invitation()), Some(&m), 0),
        );
        assert!(!d.vara && d.summon_substitute.is_none());
        // After the meeting: no vara is invited to it.
        let after = InboundContext {
            now: "2027-01-13T09:00:00Z".parse().unwrap(),
            ..ctx(Some(&inv), Some(&m), 0)
        };
        assert!(!decide(&msg("ola@example.no", "", decline), &after).vara);
    }

    #[test]
    fn an_unsure_answer_is_asked_not_applied() {
        let inv = invitation();
        let d = decide(
            &msg("ola@example.no", "", "Jeg kan ikke si at jeg ikke kommer."),
            &ctx(Some(&inv), None, 0),
        );
        assert_eq!(d.state, InboundState::Held);
        assert!(d.answer.is_none());
        assert!(d.ask);
        assert!(!d.readings.is_empty());
    }

    #[test]
    fn an_answer_naming_no_meeting_says_whether_the_sender_has_several() {
        let one = decide(
            &msg("ola@example.no", "", "Jeg kommer."),
            &ctx(None, None, 0),
        );
        assert_eq!(one.held.map(|h| h.reason), Some(HeldReason::NoSummons));
        let several = InboundContext {
            upcoming: 2,
            ..ctx(None, None, 0)
        };
        let d = decide(&msg("ola@example.no", "", "Jeg kommer."), &several);
        assert_eq!(d.state, InboundState::Held);
        assert_eq!(d.held.map(|h| h.reason), Some(HeldReason::SeveralMeetings));
        assert!(d.outcome.contains("2 upcoming meetings"), "{}", d.outcome);
    }

    #[test]
    fn an_unauthenticated_answer_is_confirmed_first() {
        let inv = invitation();
        let unverified = Trust::Unverified("no key".into());
        let c = InboundContext {
            trust: &unverified,
            ..ctx(Some(&inv), None, 0)
        };
        let d = decide(&msg("ola@example.no", "", "Jeg kommer ikke."), &c);
        assert_eq!(d.state, InboundState::Held);
        assert_eq!(d.confirm.as_deref(), Some("ola@example.no"));
        // A coordinator's forward without authentication: the coordinator confirms.
        let c = InboundContext {
            trust: &unverified,
            sender_is_coordinator: true,
            ..ctx(Some(&inv), None, 0)
        };
        let fwd = msg(
            "kari@example.no",
            "",
            "---------- Forwarded message ---------\r\nFrom: Ola <ola@example.no>\r\nSubject: Re: Innkalling\r\n\r\nJeg kommer ikke.",
        );
        let d = decide(&fwd, &c);
        assert_eq!(d.confirm.as_deref(), Some("kari@example.no"));
    }

    #[test]
    fn records_an_answer_and_fills_attendance_from_the_place() {
        let inv = invitation();
        let m = meeting(Place {
            room: Some("Ullevål".into()),
            digital_link: None,
        });
        let d = decide(
            &msg("ola@example.no", "", "Ja, jeg kommer."),
            &ctx(Some(&inv), Some(&m), 0),
        );
        assert_eq!(d.state, InboundState::Processed);
        assert!(d.receipt);
        assert_eq!(d.answer.unwrap().attendance, Some(Attendance::InPerson));
    }

    #[test]
    fn holds_what_it_must_not_apply() {
        let inv = invitation();
        let d = decide(&msg("eve@example.no", "", "Ja"), &ctx(Some(&inv), None, 0));
        assert_eq!(d.state, InboundState::Held);
        assert!(d.answer.is_none());
        let d = decide(&msg("ola@example.no", "", "Ja"), &ctx(None, None, 0));
        assert_eq!(d.state, InboundState::Held);
        let d = decide(
            &msg("ola@example.no", "", "Hvor er møtet?"),
            &ctx(Some(&inv), None, 0),
        );
        assert_eq!(d.state, InboundState::Held);
    }

    #[test]
    fn never_answers_robots_and_limits_receipts() {
        let inv = invitation();
        let d = decide(
            &msg(
                "ola@example.no",
                "Auto-Submitted: auto-replied\r\n",
                "Jeg kommer ikke",
            ),
            &ctx(Some(&inv), None, 0),
        );
        assert_eq!(d.state, InboundState::Ignored);
        assert!(!d.receipt && d.answer.is_none());
        let d = decide(&msg("ola@example.no", "", "Ja"), &ctx(Some(&inv), None, 3));
        assert_eq!(d.state, InboundState::Processed);
        assert!(!d.receipt);
        let d = decide(
            &msg("referent@council.no", "", "Ja"),
            &ctx(Some(&inv), None, 0),
        );
        assert_eq!(d.state, InboundState::Ignored);
    }
}

// Minutes and meeting changes: decide (pure, over a snapshot), then the daemon commits.
pub mod meeting;
pub mod minutes;
pub mod people;
