//! The agenda side of a council's year, decided without I/O: closing a meeting's
//! agenda, the attendance list, decisions on proposals and on extra attendees, the
//! approval digest. The daemon loads what a decision needs (a snapshot), calls a
//! function here with the time and any fresh keys, and commits the [`Plan`] it gets
//! back in one transaction. The mail in a plan is a template and its data: the words
//! are the templates'.

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::plan::{Event, Mail, Person, Plan};
use crate::domain::{Attendance, HeldReason, Response, Role, Substitute};
use crate::understand::{Decision, Understanding};

/// The items every agenda has besides the proposals: two opening items and
/// "Eventuelt" last. Stored with their code as the title (kind `fixed`); the words
/// are the templates' (`_agenda_item.hbs`), so each reader gets them in their language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedItem {
    /// Approval of the summons and agenda.
    ApproveSummons,
    /// Approval of the minutes of the last meeting.
    ApproveMinutes,
    /// Any other business ("Eventuelt").
    AnyOtherBusiness,
}

impl FixedItem {
    /// The items before the proposals, in order.
    pub const OPENING: [FixedItem; 2] = [FixedItem::ApproveSummons, FixedItem::ApproveMinutes];
    /// The item after the proposals.
    pub const CLOSING: FixedItem = FixedItem::AnyOtherBusiness;

    /// The stable code the templates know the item by.
    pub fn code(self) -> &'static str {
        match self {
            FixedItem::ApproveSummons => "approve_summons",
            FixedItem::ApproveMinutes => "approve_minutes",
            FixedItem::AnyOtherBusiness => "any_other_business",
        }
    }

    /// The item a stored title names; `None` for an agenda closed before the codes
    /// (its titles are words, shown as they are).
    pub fn parse(code: &str) -> Option<FixedItem> {
        [
            FixedItem::ApproveSummons,
            FixedItem::ApproveMinutes,
            FixedItem::AnyOtherBusiness,
        ]
        .into_iter()
        .find(|f| f.code() == code)
    }
}

/// Where an agenda item stands (`domain::ItemState`).
pub use crate::domain::ItemState as State;

impl State {
    /// The state a stored word names; `None` for a word this version does not know.
    pub fn parse(s: &str) -> Option<State> {
        s.parse().ok()
    }

    /// The state a coordinator's decision puts a proposal in.
    pub fn of(d: Decision) -> State {
        match d {
            Decision::Approve => State::Approved,
            Decision::Reject => State::Rejected,
            Decision::Defer => State::Deferred,
        }
    }
}

/// An agenda item, as the decisions here need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: i64,
    pub ref_key: String,
    pub council_id: i64,
    pub meeting_id: Option<i64>,
    /// An opening item or "Eventuelt" (not a proposal).
    pub fixed: bool,
    pub title: String,
    pub description: String,
    pub proposer_name: Option<String>,
    pub proposer_email: Option<String>,
    pub state: State,
    /// Came after its meeting's deadline.
    pub late: bool,
    pub number: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// A meeting, as the decisions here need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    pub id: i64,
    pub council_id: i64,
    pub council_name: String,
    pub starts_at: DateTime<Utc>,
    pub tz: Tz,
    /// Neither cancelled nor otherwise taken off the calendar.
    pub scheduled: bool,
}

impl Meeting {
    /// The start as templates get it (RFC 3339 with the local offset).
    pub fn starts(&self) -> String {
        crate::render::local_time(self.starts_at, self.tz)
    }
}

/// What the agenda workflow changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An opening item or "Eventuelt", numbered, stored by its code.
    NewFixed {
        ref_key: String,
        council_id: i64,
        meeting_id: i64,
        item: FixedItem,
        position: i64,
        year: i32,
        number: i64,
    },
    /// An item that waited for a meeting joins one.
    Move {
        id: i64,
        meeting_id: Option<i64>,
    },
    /// A decision on a proposal; `move_to` moves it to another meeting (or to none).
    Decide {
        id: i64,
        state: State,
        by: String,
        move_to: Option<Option<i64>>,
    },
    /// A proposal's place on a closed agenda.
    Number {
        id: i64,
        year: i32,
        number: i64,
        position: i64,
    },
    /// The coordinators were asked to approve these proposals (by key).
    MarkRequested {
        ref_keys: Vec<String>,
    },
    /// An extra attendee announced in an answer, pending the leader's decision.
    NewExtra {
        ref_key: String,
        invitation_id: i64,
        name: String,
        email: Option<String>,
        inbound_id: i64,
    },
    DecideExtra {
        id: i64,
        approved: bool,
        by: String,
    },
    /// A proposal, filed.
    NewProposal {
        ref_key: String,
        council_id: i64,
        meeting_id: Option<i64>,
        title: String,
        description: String,
        attachments: Vec<String>,
        proposer_name: String,
        proposer_email: String,
        forwarded_by: Option<String>,
        inbound_id: i64,
        late: bool,
    },
}

// ----- closing the agenda ---------------------------------------------------------------

/// The year an agenda is numbered in: the meeting's, where it is held (a meeting at
/// 00:30 on 1 January in Oslo is numbered in the new year, though it is still 31
/// December in UTC).
pub fn agenda_year(starts_at: DateTime<Utc>, tz: Tz) -> i32 {
    starts_at.with_timezone(&tz).year()
}

/// What closing an agenda needs.
#[derive(Debug, Clone)]
pub struct Closing<'a> {
    pub meeting: &'a Meeting,
    /// The meeting's items.
    pub items: &'a [Item],
    /// The council's items, of which those without a meeting wait for this one.
    pub council_items: &'a [Item],
    /// The highest number given in the council's agenda year ([`agenda_year`]).
    pub highest: Option<i64>,
    /// The next scheduled meeting after this one, where undecided proposals go.
    pub next_meeting: Option<i64>,
    /// Fresh keys for the fixed items.
    pub keys: [String; 3],
}

/// One line of a closed agenda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// A proposal (by id).
    Item(i64),
    Fixed {
        item: FixedItem,
        ref_key: String,
    },
}

/// A slot with its number and place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub slot: Slot,
    pub year: i32,
    pub number: i64,
    pub position: i64,
}

/// A closed agenda: the changes that close it and the agenda as it will be.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    pub plan: Plan<Change>,
    pub agenda: Vec<Placed>,
}

/// Closes a meeting's agenda: the opening items, the approved proposals in the order
/// they were approved, and "Eventuelt", numbered per council and year after the
/// highest number given that year. Items that waited for a meeting join this one;
/// proposals nobody decided move to the next meeting. `None` when the agenda is
/// numbered already (it was closed before).
pub fn close_agenda(c: &Closing<'_>) -> Option<Closed> {
    if c.items.iter().any(|i| i.number.is_some()) {
        return None;
    }
    let m = c.meeting;
    let mut plan = Plan::done(String::new());
    let mut items: Vec<&Item> = c.items.iter().collect();
    for waiting in c
        .council_items
        .iter()
        .filter(|i| i.meeting_id.is_none() && matches!(i.state, State::Approved | State::Proposed))
    {
        plan.changes.push(Change::Move {
            id: waiting.id,
            meeting_id: Some(m.id),
        });
        items.push(waiting);
    }
    for i in items.iter().filter(|i| i.state == State::Proposed) {
        plan.changes.push(Change::Decide {
            id: i.id,
            state: State::Proposed,
            by: "scheduler".into(),
            move_to: Some(c.next_meeting),
        });
        plan.events.push(Event {
            actor: "scheduler".into(),
            kind: "agenda_moved",
            meeting_id: Some(m.id),
            inbound_id: None,
            detail: format!(
                "\"{}\" was not decided before the summons; moved to the next meeting",
                i.title
            ),
        });
    }
    let mut approved: Vec<&Item> = items
        .iter()
        .copied()
        .filter(|i| i.state == State::Approved && !i.fixed)
        .collect();
    approved.sort_by_key(|i| (i.decided_at, i.id));
    let mut slots: Vec<Slot> = Vec::new();
    let mut keys = c.keys.iter();
    let mut fixed = |item: FixedItem| Slot::Fixed {
        item,
        ref_key: keys.next().cloned().unwrap_or_default(),
    };
    for f in FixedItem::OPENING {
        slots.push(fixed(f));
    }
    slots.extend(approved.iter().map(|i| Slot::Item(i.id)));
    slots.push(fixed(FixedItem::CLOSING));
    let year = agenda_year(m.starts_at, m.tz);
    let numbers = crate::schedule::next_numbers(year, c.highest, slots.len());
    let mut agenda = Vec::with_capacity(slots.len());
    for ((slot, (year, number)), position) in slots.into_iter().zip(numbers).zip(1i64..) {
        plan.changes.push(match &slot {
            Slot::Item(id) => Change::Number {
                id: *id,
                year,
                number,
                position,
            },
            Slot::Fixed { item, ref_key } => Change::NewFixed {
                ref_key: ref_key.clone(),
                council_id: m.council_id,
                meeting_id: m.id,
                item: *item,
                position,
                year,
                number,
            },
        });
        agenda.push(Placed {
            slot,
            year,
            number,
            position,
        });
    }
    plan.outcome = format!("agenda closed with {} item(s)", agenda.len());
    plan.events.push(Event {
        actor: "scheduler".into(),
        kind: "agenda",
        meeting_id: Some(m.id),
        inbound_id: None,
        detail: plan.outcome.clone(),
    });
    Some(Closed { plan, agenda })
}

// ----- the attendance list --------------------------------------------------------------

/// One invitation, as the attendance list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitee {
    pub name: String,
    pub email: String,
    /// Asked to answer (observers are not, and are not listed).
    pub asked: bool,
    pub response: Option<Response>,
    pub attendance: Option<Attendance>,
    /// The substitute's name, when one attends instead.
    pub substitute: Option<String>,
}

/// The attendance list to each coordinator, a few days before a meeting that is still
/// to come: who comes, who does not, who has not answered, and approved extra
/// attendees. Nothing for a meeting that is past or cancelled.
pub fn attendance_list(
    m: &Meeting,
    invitees: &[Invitee],
    extras: &[String],
    coordinators: &[Person],
    now: DateTime<Utc>,
) -> Plan<Change> {
    let mut plan = Plan::done(String::new());
    if m.scheduled && m.starts_at > now {
        let (mut attending, mut absent, mut unanswered, mut unsure, mut substitutes) =
            (0, 0, 0, 0, 0);
        let mut members = Vec::new();
        for inv in invitees.iter().filter(|i| i.asked) {
            let answer = match (&inv.response, &inv.substitute) {
                (_, Some(_)) => {
                    absent += 1;
                    substitutes += 1;
                    "substitute"
                }
                (Some(Response::Accepted), _) => {
                    attending += 1;
                    "accepted"
                }
                (Some(Response::Declined), _) => {
                    absent += 1;
                    "declined"
                }
                (Some(Response::Tentative), _) => {
                    unsure += 1;
                    "tentative"
                }
                (None, _) => {
                    unanswered += 1;
                    "none"
                }
            };
            members.push(json!({
                "name": inv.name,
                "email": inv.email,
                "answer": answer,
                "digital": inv.attendance == Some(Attendance::Digital),
                "substitute": inv.substitute,
            }));
        }
        let extras: Vec<serde_json::Value> = extras.iter().map(|n| json!({ "name": n })).collect();
        let data = json!({
            "council": m.council_name,
            "starts": m.starts(),
            "attending": attending,
            "absent": absent,
            "unanswered": unanswered,
            "unsure": unsure,
            "substitutes": substitutes,
            "members": members,
            "extras": extras,
        });
        for c in coordinators {
            let mut mail = Mail::new(
                "attendance",
                "attendance",
                format!("attendance:{}:{}", m.id, c.id),
                c,
                data.clone(),
            );
            mail.meeting_id = Some(m.id);
            plan.mails.push(mail);
        }
    }
    plan.outcome = format!("attendance list to {} coordinator(s)", plan.mails.len());
    plan
}

// ----- decisions on proposals -----------------------------------------------------------

/// What a decision on a proposal needs.
#[derive(Debug, Clone)]
pub struct Deciding<'a> {
    pub item: &'a Item,
    pub council_name: &'a str,
    pub decision: Decision,
    /// Who decides: a coordinator's address, or the command line's operator.
    pub by: &'a str,
    /// The message that carried the decision; `None` from the command line.
    pub inbound_id: Option<i64>,
    /// The next scheduled meeting after the item's own (or after now, for an item with
    /// none): where a deferred item goes.
    pub next_meeting: Option<i64>,
    /// The item's meeting's agenda is closed (its summons went out), or it has none.
    pub agenda_closed: bool,
    /// The first meeting whose agenda is still open: where a proposal approved too
    /// late for its own goes.
    pub next_open: Option<i64>,
    /// The proposer's language (the secretariat's when they have none, or are not a
    /// member).
    pub proposer_lang: crate::domain::Language,
    pub coordinators: &'a [Person],
    /// Why, in the coordinator's words, for a rejection
    /// ([`crate::understand::secretariat::rejection_reason`], or `agenda reject
    /// --reason`): told to the proposer and the other coordinators, and kept in the
    /// audit trail.
    pub reason: Option<&'a str>,
}

/// A decision the other coordinators are told of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told {
    pub item_id: i64,
    pub meeting_id: Option<i64>,
    pub title: String,
    pub state: State,
    pub proposer_name: String,
    pub proposer_email: Option<String>,
    pub reason: Option<String>,
}

/// The name of whoever decided: the coordinator's, else what `by` says.
fn decider_name(coordinators: &[Person], by: &str) -> String {
    coordinators
        .iter()
        .find(|c| crate::trust::same_address(&c.email, by))
        .map(|c| c.name.clone())
        .unwrap_or_else(|| by.to_string())
}

fn cause(inbound_id: Option<i64>) -> String {
    inbound_id
        .map(|i| i.to_string())
        .unwrap_or_else(|| "cli".into())
}

/// A coordinator's decision on one proposal: its new state (and meeting), and the
/// proposer told. The other coordinators are told by [`tell_coordinators`], once for
/// all the decisions one message made.
pub fn decide(d: &Deciding<'_>) -> (Plan<Change>, Option<Told>) {
    let item = d.item;
    if item.number.is_some() || item.fixed {
        return (
            Plan::held(
                HeldReason::AlreadyOnAgenda,
                format!(
                    "a decision on \"{}\", which is already on a sent agenda; nothing changed",
                    item.title
                ),
            ),
            None,
        );
    }
    let state = State::of(d.decision);
    // Only a rejection carries a reason to the proposer: the words after an approval
    // or a deferral are the coordinator's remarks, not meant for them.
    let reason = d
        .reason
        .filter(|_| d.decision == Decision::Reject)
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let move_to = match d.decision {
        Decision::Defer => Some(d.next_meeting),
        // Approved after its meeting's agenda closed (or for no meeting yet): it goes
        // on the next agenda that is still open.
        Decision::Approve if d.agenda_closed => Some(d.next_open),
        Decision::Approve | Decision::Reject => None,
    };
    let mut plan = Plan::done(format!(
        "agenda item \"{}\" {} by {}{}",
        item.title,
        state.as_str(),
        d.by,
        reason.map(|r| format!(": {r}")).unwrap_or_default()
    ));
    plan.changes.push(Change::Decide {
        id: item.id,
        state,
        by: d.by.to_string(),
        move_to,
    });
    plan.events.push(Event {
        actor: d.by.to_string(),
        kind: "agenda_decision",
        meeting_id: item.meeting_id,
        inbound_id: d.inbound_id,
        detail: plan.outcome.clone(),
    });
    let proposer_name = item
        .proposer_name
        .clone()
        .or_else(|| item.proposer_email.clone())
        .unwrap_or_default();
    if let Some(email) = &item.proposer_email {
        let to = Person {
            id: 0,
            name: proposer_name.clone(),
            email: email.clone(),
            lang: d.proposer_lang,
        };
        let mut mail = Mail::new(
            "notice",
            "decision",
            format!(
                "decision:{}:{}:{}",
                item.id,
                state.as_str(),
                cause(d.inbound_id)
            ),
            &to,
            json!({
                "own": true,
                "council": d.council_name,
                "title": item.title,
                "decision": state.as_str(),
                "decided_by": decider_name(d.coordinators, d.by),
                "reason": reason,
                "items": [{
                    "title": item.title,
                    "decision": state.as_str(),
                    "proposer_name": proposer_name,
                    "reason": reason,
                }],
            }),
        );
        mail.meeting_id = item.meeting_id;
        mail.inbound_id = d.inbound_id;
        plan.mails.push(mail);
    }
    let told = Told {
        item_id: item.id,
        meeting_id: item.meeting_id,
        title: item.title.clone(),
        state,
        proposer_name,
        proposer_email: item.proposer_email.clone(),
        reason: reason.map(str::to_string),
    };
    (plan, Some(told))
}

/// Tells each coordinator but the one who decided what was decided: one mail for all
/// the decisions of one message, leaving out a coordinator's own proposals (they were
/// told as the proposer).
pub fn tell_coordinators(
    council_name: &str,
    by: &str,
    coordinators: &[Person],
    told: &[Told],
    inbound_id: Option<i64>,
) -> Vec<Mail> {
    let decided_by = decider_name(coordinators, by);
    let mut mails = Vec::new();
    for c in coordinators
        .iter()
        .filter(|c| !crate::trust::same_address(&c.email, by))
    {
        let theirs: Vec<&Told> = told
            .iter()
            .filter(|t| {
                !t.proposer_email
                    .as_deref()
                    .is_some_and(|p| crate::trust::same_address(&c.email, p))
            })
            .collect();
        let Some(first) = theirs.first() else {
            continue;
        };
        let which: Vec<String> = theirs
            .iter()
            .map(|t| format!("{}={}", t.item_id, t.state.as_str()))
            .collect();
        let items: Vec<serde_json::Value> = theirs
            .iter()
            .map(|t| {
                json!({
                    "title": t.title,
                    "decision": t.state.as_str(),
                    "proposer_name": t.proposer_name,
                    "reason": t.reason,
                })
            })
            .collect();
        let mut mail = Mail::new(
            "notice",
            "decision",
            format!(
                "decision-told:{}:{}:{}",
                which.join(","),
                cause(inbound_id),
                c.id
            ),
            c,
            json!({
                "own": false,
                "council": council_name,
                "title": first.title,
                "decision": first.state.as_str(),
                "decided_by": decided_by,
                "reason": first.reason,
                "items": items,
            }),
        );
        mail.meeting_id = first.meeting_id;
        mail.inbound_id = inbound_id;
        mails.push(mail);
    }
    mails
}

/// One decision on one proposal, the proposer and the other coordinators told.
pub fn decide_item(d: &Deciding<'_>) -> Plan<Change> {
    let (mut plan, told) = decide(d);
    if let Some(t) = told {
        plan.mails.extend(tell_coordinators(
            d.council_name,
            d.by,
            d.coordinators,
            &[t],
            d.inbound_id,
        ));
    }
    plan
}

/// What a coordinator's reply to an approval request leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalReply {
    /// Kept for a coordinator, for the reason, with a sentence for the log.
    Held(HeldReason, String),
    /// The decision, once the coordinator confirms the reply is theirs.
    Confirm(Decision),
    Decide(Decision),
}

/// A reply to an approval request: only a coordinator of the item's council decides,
/// only when authenticated (else they are asked to confirm), and only with a decision.
pub fn reply_to_approval(
    title: &str,
    from: &str,
    is_coordinator: bool,
    authenticated: bool,
    decision: Option<Decision>,
) -> ApprovalReply {
    match decision {
        _ if !is_coordinator => ApprovalReply::Held(HeldReason::NotCoordinator, format!(
            "a reply about agenda item \"{title}\" from {from}, who is not a coordinator; kept for a coordinator"
        )),
        Some(d) if !authenticated => ApprovalReply::Confirm(d),
        Some(d) => ApprovalReply::Decide(d),
        None => ApprovalReply::Held(HeldReason::NoDecision, format!(
            "a reply about agenda item \"{title}\" that says neither approved, rejected nor deferred; kept for a coordinator"
        )),
    }
}

// ----- the approval digest --------------------------------------------------------------

/// A proposal waiting in the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub item: Item,
    /// Its mail was not authenticated.
    pub unverified: bool,
}

/// How long an approval digest's key is accepted.
pub const DIGEST_DAYS: i64 = 30;

/// The proposals of one council that its coordinators have not been asked about, in
/// one numbered digest to each ("1 godkjent", "2 avvist" answers it) — unless they
/// got an approval mail within the hour (`None` then: they wait for the next).
pub fn approval_digest(
    council_name: &str,
    pending: &[Pending],
    coordinators: &[Person],
    asked_last_hour: i64,
    now: DateTime<Utc>,
) -> Option<Plan<Change>> {
    if asked_last_hour > 0 || pending.is_empty() {
        return None;
    }
    let entries: Vec<serde_json::Value> = pending
        .iter()
        .zip(1..)
        .map(|(p, number)| {
            json!({
                "number": number,
                "title": p.item.title,
                "proposer_name": p.item.proposer_name,
                "proposer_email": p.item.proposer_email,
                "description": p.item.description.lines().take(6).collect::<Vec<_>>(),
                "unverified": p.unverified,
                "late": p.item.late,
            })
        })
        .collect();
    let data = json!({ "council": council_name, "items": entries });
    let ids: Vec<String> = pending.iter().map(|p| p.item.id.to_string()).collect();
    let ids = ids.join(",");
    let mut plan = Plan::done(format!(
        "{} proposal(s) of {council_name} sent for approval",
        pending.len()
    ));
    for c in coordinators {
        let mut mail = Mail::new(
            "approval_digest",
            "approval_digest",
            format!("approval-digest:{ids}:{}", c.id),
            c,
            data.clone(),
        );
        mail.reference = Some(ids.clone());
        mail.expires_at = Some(now + Duration::days(DIGEST_DAYS));
        plan.mails.push(mail);
    }
    plan.changes.push(Change::MarkRequested {
        ref_keys: pending.iter().map(|p| p.item.ref_key.clone()).collect(),
    });
    plan.events.push(Event {
        actor: "scheduler".into(),
        kind: "approval_digest",
        meeting_id: None,
        inbound_id: None,
        detail: plan.outcome.clone(),
    });
    Some(plan)
}

// ----- extra attendees ------------------------------------------------------------------

/// Those who decide on an extra attendee: the council's leader, else its coordinators.
pub fn extra_deciders(members: &[(Role, Person)]) -> Vec<Person> {
    let with = |role: Role| -> Vec<Person> {
        members
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, p)| p.clone())
            .collect()
    };
    let leaders = with(Role::Leader);
    if leaders.is_empty() {
        with(Role::Coordinator)
    } else {
        leaders
    }
}

/// An extra attendee (bisitter) announced in a member's answer: kept pending, and
/// those who decide asked, each with a key their one-word reply comes back with.
pub fn announce_extra(
    m: &Meeting,
    invitation_id: i64,
    member_name: &str,
    extra: &Substitute,
    inbound_id: i64,
    deciders: &[Person],
    key: &str,
) -> (Change, Vec<Mail>) {
    let change = Change::NewExtra {
        ref_key: key.to_string(),
        invitation_id,
        name: extra.name.clone(),
        email: extra.email.clone(),
        inbound_id,
    };
    let data = json!({
        "council": m.council_name,
        "starts": m.starts(),
        "member_name": member_name,
        "extra_name": extra.name,
        "extra_email": extra.email,
    });
    let mails = deciders
        .iter()
        .map(|d| {
            let mut mail = Mail::new(
                "extra_request",
                "extra_request",
                format!("extra-request:{inbound_id}:{}", d.id),
                d,
                data.clone(),
            );
            mail.reference = Some(key.to_string());
            mail.meeting_id = Some(m.id);
            mail.inbound_id = Some(inbound_id);
            mail
        })
        .collect();
    (change, mails)
}

/// An extra attendee as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    /// `None` while pending; whether approved once decided.
    pub approved: Option<bool>,
}

/// What a reply about an extra attendee needs.
#[derive(Debug, Clone)]
pub struct ExtraReplying<'a> {
    pub extra: &'a Extra,
    pub meeting: &'a Meeting,
    /// The member who brings them.
    pub member: &'a Person,
    pub from: &'a str,
    pub deciders: &'a [Person],
    pub authenticated: bool,
    pub decision: Option<Decision>,
    pub inbound_id: i64,
    pub now: DateTime<Utc>,
}

/// What a reply about an extra attendee leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtraReply {
    /// The decider is asked to confirm the reply is theirs first.
    Confirm,
    /// The plan; with `summons`, the approved attendee gets the summons and the
    /// calendar entry (the daemon builds them).
    Plan { plan: Plan<Change>, summons: bool },
}

/// The leader's (or a coordinator's) "godkjent" or "avvist" on an extra attendee.
pub fn reply_about_extra(r: &ExtraReplying<'_>) -> ExtraReply {
    let x = r.extra;
    let held = |reason: HeldReason, why: String| ExtraReply::Plan {
        plan: Plan::held(reason, why),
        summons: false,
    };
    if !r
        .deciders
        .iter()
        .any(|d| crate::trust::same_address(&d.email, r.from))
    {
        return held(HeldReason::NotCoordinator, format!("a reply about the extra attendee {} from {}, who does not decide on it; kept for a coordinator", x.name, r.from));
    }
    if !r.authenticated {
        return ExtraReply::Confirm;
    }
    let approved = match r.decision {
        Some(Decision::Approve) => true,
        Some(Decision::Reject) => false,
        _ => return held(HeldReason::NoDecision, format!("a reply about the extra attendee {} that neither approves nor rejects; kept for a coordinator", x.name)),
    };
    let state = if approved { "approved" } else { "rejected" };
    if x.approved == Some(approved) {
        return ExtraReply::Plan {
            plan: Plan::done(format!("the extra attendee {} was already {state}", x.name)),
            summons: false,
        };
    }
    let m = r.meeting;
    let mut plan = Plan::done(format!(
        "extra attendee {} for {} {state} by {}",
        x.name, r.member.name, r.from
    ));
    plan.changes.push(Change::DecideExtra {
        id: x.id,
        approved,
        by: r.from.to_string(),
    });
    plan.events.push(Event {
        actor: r.from.to_string(),
        kind: "extra_attendee",
        meeting_id: Some(m.id),
        inbound_id: Some(r.inbound_id),
        detail: plan.outcome.clone(),
    });
    let decided_by = decider_name(r.deciders, r.from);
    let data = |told: bool| {
        json!({
            "council": m.council_name,
            "starts": m.starts(),
            "extra_name": x.name,
            "approved": approved,
            "told": told,
            "decided_by": decided_by,
            "member": r.member.name,
        })
    };
    let mut mail = Mail::new(
        "notice",
        "extra_decision",
        format!("extra-decision:{}:{state}", x.id),
        r.member,
        data(false),
    );
    mail.meeting_id = Some(m.id);
    mail.inbound_id = Some(r.inbound_id);
    plan.mails.push(mail);
    // When the coordinators decide (the council has no leader), the others hear which
    // way one of them went.
    for d in r
        .deciders
        .iter()
        .filter(|d| !crate::trust::same_address(&d.email, r.from))
    {
        let mut mail = Mail::new(
            "notice",
            "extra_decision",
            format!("extra-decision-told:{}:{state}:{}", x.id, d.id),
            d,
            data(true),
        );
        mail.meeting_id = Some(m.id);
        mail.inbound_id = Some(r.inbound_id);
        plan.mails.push(mail);
    }
    let summons = approved && x.email.is_some() && m.scheduled && m.starts_at > r.now;
    ExtraReply::Plan { plan, summons }
}

// ----- proposals ------------------------------------------------------------------------

/// Approval requests sent one by one to a coordinator in an hour before the rest wait
/// for the digest.
pub const AT_ONCE_PER_HOUR: i64 = 3;

/// The title on the first line of a text and the rest as the description.
pub fn first_line_item(text: &str) -> Option<crate::understand::AgendaItem> {
    let text = text.trim();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let title: String = first
        .trim()
        .trim_start_matches("Forslag til sak:")
        .trim_start_matches("Sak:")
        .trim()
        .chars()
        .take(200)
        .collect();
    (!title.is_empty()).then(|| crate::understand::AgendaItem {
        title,
        description: rest.trim().to_string(),
    })
}

/// One council someone is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub council_id: i64,
    pub role: Role,
    pub name: String,
    /// Their language (the secretariat's when they have none).
    pub lang: crate::domain::Language,
}

/// What deciding who files a proposal needs.
#[derive(Debug, Clone)]
pub struct Filing<'a> {
    pub u: &'a Understanding,
    pub from: &'a str,
    /// The council of the call for items the message answers, if it answers one.
    pub call_council: Option<i64>,
    /// The sender's memberships.
    pub sender: &'a [Membership],
    /// The memberships of the original sender of a forward (`u.on_behalf_of`), else
    /// the sender's.
    pub proposer: &'a [Membership],
    pub authenticated: bool,
    /// Proposals filed from the proposer's address in the last day, and the limit.
    pub proposals_today: i64,
    pub proposals_per_day: u32,
    /// The secretariat's language: a proposer who is not a member is written to in it.
    pub lang: crate::domain::Language,
}

/// Who files a proposal, for which council.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposer {
    pub email: String,
    pub name: String,
    pub lang: crate::domain::Language,
    /// The coordinator who forwarded it.
    pub forwarded_by: Option<String>,
    pub council_id: i64,
}

/// Whether a proposal is filed, and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filed {
    Proposer(Proposer),
    /// Kept for a coordinator, for the reason, with a sentence for the log.
    Held(HeldReason, String),
    /// A forward on someone's behalf that does not prove it comes from the coordinator:
    /// they are asked to confirm it first.
    Confirm {
        coordinator: String,
        proposer: String,
        title: String,
    },
}

/// The title a message gives its proposal, before the call's first-line rule.
fn subject_title(u: &Understanding) -> String {
    u.agenda_item
        .as_ref()
        .map(|i| i.title.clone())
        .unwrap_or_else(|| crate::understand::strip_subject_prefixes(&u.subject).to_string())
}

/// Who proposes: the original sender of a coordinator's forward, else the sender; in
/// which council: the call's, else the one the proposer (or the forwarding
/// coordinator) is in. A member's own proposal is filed even unverified (the approval
/// request says so), at most `proposals_per_day` a day; a forward acts only when it
/// comes from an authenticated coordinator of that council.
pub fn file_proposal(f: &Filing<'_>) -> Filed {
    let from = f.from;
    let coordinator_somewhere = f.sender.iter().any(|m| m.role == Role::Coordinator);
    let (proposer, forwarded_by) = match &f.u.on_behalf_of {
        Some(orig) if coordinator_somewhere => (orig.clone(), Some(from.to_string())),
        Some(orig) => {
            return Filed::Held(HeldReason::NotCoordinator, format!(
                "an agenda proposal from {orig} forwarded by {from}, who is not a coordinator; kept for a coordinator"
            ))
        }
        None => (from.to_string(), None),
    };
    let council_id = match (f.call_council, f.proposer) {
        (Some(c), _) => c,
        (None, [one]) => one.council_id,
        // A coordinator may forward a proposal from someone outside the council.
        (None, []) => match (&forwarded_by, f.sender) {
            (Some(_), [c]) => c.council_id,
            _ => return Filed::Held(HeldReason::NotMember, format!("an agenda proposal from {proposer}, who is not a member of any council; kept for a coordinator")),
        },
        (None, _) => return Filed::Held(HeldReason::SeveralCouncils, format!("an agenda proposal from {proposer}, who is in several councils; kept for a coordinator to place")),
    };
    let membership = f.proposer.iter().find(|m| m.council_id == council_id);
    if f.call_council.is_none() && forwarded_by.is_none() && membership.is_none() {
        return Filed::Held(
            HeldReason::NotMember,
            format!(
                "an agenda proposal from {proposer}, who is not a member; kept for a coordinator"
            ),
        );
    }
    if let Some(c) = &forwarded_by {
        let coordinator_here = f
            .sender
            .iter()
            .any(|m| m.council_id == council_id && m.role == Role::Coordinator);
        if !coordinator_here {
            return Filed::Held(HeldReason::NotCoordinator, format!("an agenda proposal forwarded by {c}, who is not a coordinator of this council; kept for a coordinator"));
        }
        if !f.authenticated {
            return Filed::Confirm {
                coordinator: c.clone(),
                proposer,
                title: subject_title(f.u),
            };
        }
    } else if f.proposals_today >= i64::from(f.proposals_per_day) {
        return Filed::Held(HeldReason::TooManyProposals, format!(
            "an agenda proposal from {proposer}, who has sent {} today (at most {} a day); kept for a coordinator",
            f.proposals_today, f.proposals_per_day
        ));
    }
    let name = membership
        .map(|m| m.name.clone())
        .or_else(|| {
            if forwarded_by.is_some() {
                f.u.on_behalf_of_name.clone()
            } else {
                f.u.from_name.clone()
            }
        })
        .unwrap_or_else(|| proposer.clone());
    Filed::Proposer(Proposer {
        email: proposer,
        name,
        lang: membership.map_or(f.lang, |m| m.lang),
        forwarded_by,
        council_id,
    })
}

/// What filing a proposal needs, once its proposer is known.
#[derive(Debug, Clone)]
pub struct Proposing<'a> {
    pub u: &'a Understanding,
    pub inbound_id: i64,
    pub proposer: &'a Proposer,
    pub council_name: &'a str,
    /// The meeting it is for: the call's while its agenda is open, else the next one
    /// whose agenda is; `None` when there is none yet.
    pub target: Option<&'a Meeting>,
    /// That meeting's deadline for proposals.
    pub deadline: Option<DateTime<Utc>>,
    /// The message answers a call for items (its first line is the title then).
    pub call_reply: bool,
    pub authenticated: bool,
    /// Automatic replies to the proposer in the last hour, and the cap.
    pub receipts_recent: i64,
    pub receipts_per_hour: u32,
    pub coordinators: &'a [Person],
    /// The most approval mails any of the coordinators got in the last hour.
    pub approval_mails_last_hour: i64,
    /// A fresh key for the item.
    pub key: &'a str,
    pub now: DateTime<Utc>,
}

/// Files a proposal: the item, the proposer's receipt (within the hourly cap on
/// automatic replies, so a forged flood is not a flood of receipts), and an approval
/// request to each coordinator — unless they were asked about several within the
/// hour, when it waits for the hourly digest.
pub fn propose(p: &Proposing<'_>) -> Plan<Change> {
    let u = p.u;
    let who = p.proposer;
    let late = p.deadline.is_some_and(|d| p.now > d);
    // A reply to the call puts the title on its first line (the call asks for that);
    // a mail of its own has it in the subject.
    let item = match (p.call_reply, first_line_item(&u.reply_text)) {
        (true, Some(item)) => item,
        _ => u
            .agenda_item
            .clone()
            .unwrap_or_else(|| crate::understand::AgendaItem {
                title: crate::understand::strip_subject_prefixes(&u.subject).to_string(),
                description: u.reply_text.trim().to_string(),
            }),
    };
    let attachments: Vec<String> = u.attachments.iter().map(|a| a.name.clone()).collect();
    // A proposal needs something to call it by: its title, else its first document.
    let title = match (item.title.trim(), attachments.first()) {
        ("", Some(name)) => name.clone(),
        ("", None) => {
            let why = format!(
                "an agenda proposal from {} with neither a title nor a document; kept for a coordinator",
                who.email
            );
            return Plan::held(HeldReason::NoTitle, why);
        }
        (t, _) => t.to_string(),
    };
    let meeting_id = p.target.map(|m| m.id);
    let starts = p.target.map(Meeting::starts);
    let mut plan = Plan::done(format!(
        "agenda proposal \"{title}\" from {}{}{} for {}{}",
        who.email,
        if p.authenticated { "" } else { " (unverified)" },
        who.forwarded_by
            .as_ref()
            .map(|f| format!(" (forwarded by {f})"))
            .unwrap_or_default(),
        match p.target {
            Some(m) => format!(
                "the meeting of {}",
                m.starts_at.with_timezone(&m.tz).format("%Y-%m-%d")
            ),
            None => "the next meeting".into(),
        },
        if late { " (late)" } else { "" }
    ));
    plan.changes.push(Change::NewProposal {
        ref_key: p.key.to_string(),
        council_id: who.council_id,
        meeting_id,
        title: title.clone(),
        description: item.description.clone(),
        attachments: attachments.clone(),
        proposer_name: who.name.clone(),
        proposer_email: who.email.clone(),
        forwarded_by: who.forwarded_by.clone(),
        inbound_id: p.inbound_id,
        late,
    });
    plan.events.push(Event {
        actor: who.email.clone(),
        kind: "proposal",
        meeting_id,
        inbound_id: Some(p.inbound_id),
        detail: plan.outcome.clone(),
    });
    if p.receipts_recent >= i64::from(p.receipts_per_hour) {
        plan.outcome
            .push_str("; no receipt (too many to this address this hour)");
    } else {
        let to = Person {
            id: 0,
            name: who.name.clone(),
            email: who.email.clone(),
            lang: who.lang,
        };
        let mut mail = Mail::new(
            "receipt",
            "proposal_receipt",
            format!("proposal-receipt:{}", p.inbound_id),
            &to,
            json!({
                "council": p.council_name,
                "title": title,
                "starts": starts,
                "late": late,
            }),
        );
        mail.in_reply_to = u.message_id.clone();
        mail.meeting_id = meeting_id;
        mail.inbound_id = Some(p.inbound_id);
        mail.auto_submitted = "auto-replied";
        plan.mails.push(mail);
    }
    if p.approval_mails_last_hour >= AT_ONCE_PER_HOUR {
        plan.outcome
            .push_str("; the coordinators are asked in the next approval digest");
        return plan;
    }
    plan.changes.push(Change::MarkRequested {
        ref_keys: vec![p.key.to_string()],
    });
    let data = json!({
        "council": p.council_name,
        "starts": starts,
        "title": title,
        "description": item.description.lines().take(40).collect::<Vec<_>>(),
        "proposer_name": who.name,
        "proposer": who.email,
        "attachments": attachments,
        "forwarded_by": who.forwarded_by,
        "unverified": !p.authenticated,
        "late": late,
    });
    for c in p.coordinators {
        let mut mail = Mail::new(
            "approval",
            "approval",
            format!("approval:{}:{}", p.inbound_id, c.id),
            c,
            data.clone(),
        );
        mail.reference = Some(p.key.to_string());
        mail.meeting_id = meeting_id;
        mail.inbound_id = Some(p.inbound_id);
        plan.mails.push(mail);
    }
    plan
}

#[cfg(test)]
mod tests;
