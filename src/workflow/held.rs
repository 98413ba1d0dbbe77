//! The held-mail digest and the one-line replies to it (and to the approval digest),
//! decided: which held message goes
//! to which coordinator and what each entry says; what each "N …" line of a reply asks
//! done, and the answer that tells what became of it. Pure: the daemon loads the
//! messages and the members, runs the steps a reply asks for (each through the inbox
//! commands) and commits the plan.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;

use super::plan::{Event, Mail, Person, Plan};
use crate::domain::{normalize_address, Answer, Held, HeldReason, InboundState};
use crate::render::local_time;
use crate::trust::same_address;
use crate::understand::secretariat::read_decision;
use crate::understand::{Confidence, Decision, Understanding};

/// Entries in one digest; more wait for the next.
pub const MAX_ENTRIES: usize = 30;
/// How long a digest's key is accepted.
pub const DIGEST_DAYS: i64 = 14;

/// What a coordinator asks done with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Dismiss,
    Retry,
    /// Act on it as this person's mail: an address, a full name or a first name.
    As(String),
}

/// The "N …" lines of a reply to a numbered digest: the number and what follows it.
/// Lines that do not start with a number are not instructions (greetings, quotes,
/// signatures).
pub fn numbered_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches(['«', '"']);
        if line.starts_with('>') {
            continue;
        }
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        let Ok(n) = line.get(..digits).unwrap_or("").parse::<usize>() else {
            continue;
        };
        let rest = line
            .get(digits..)
            .unwrap_or("")
            .trim_start_matches(['.', ':', ')', '-'])
            .trim()
            .trim_end_matches(['»', '"', '.'])
            .trim();
        if !rest.is_empty() {
            out.push((n, rest));
        }
    }
    out
}

/// Reads "1 Kari", "2 ignorer", "3 prøv igjen", "4 kari@ous-hf.no" lines.
pub fn read_resolutions(text: &str) -> Vec<(usize, Resolution)> {
    let mut out = Vec::new();
    for (n, rest) in numbered_lines(text) {
        let lower = rest.to_lowercase();
        let r = match lower.as_str() {
            "ignorer" | "ignorere" | "ignore" | "avvis" | "dismiss" | "slett" | "se bort" => {
                Resolution::Dismiss
            }
            "prøv igjen" | "prøv" | "prøv på nytt" | "retry" | "try again" | "les på nytt" => {
                Resolution::Retry
            }
            _ => Resolution::As(rest.to_string()),
        };
        out.push((n, r));
    }
    out
}

/// The member a coordinator means by "Kari", "Kari Nordmann" or an address, among the
/// members of their councils; `None` when nobody or several match.
pub fn resolve_person<'a>(who: &str, members: &'a [Person]) -> Option<&'a Person> {
    if let Ok(addr) = normalize_address(who) {
        return members.iter().find(|m| same_address(&m.email, &addr));
    }
    let w = who.trim().to_lowercase();
    let full: Vec<&Person> = members
        .iter()
        .filter(|m| m.name.to_lowercase() == w)
        .collect();
    if let [one] = full.as_slice() {
        return Some(one);
    }
    let mut first: Vec<&Person> = members
        .iter()
        .filter(|m| {
            m.name
                .split_whitespace()
                .next()
                .is_some_and(|f| f.to_lowercase() == w)
        })
        .collect();
    first.dedup_by(|a, b| a.email == b.email);
    match first.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// Why a message is held, for the `held_reason` partial: the code stored with its
/// outcome, and the sentence written for the log (said as it is when there is no code).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reason {
    pub reason: Option<&'static str>,
    pub logged: String,
}

impl Reason {
    pub fn of(outcome: &str) -> Reason {
        let (held, sentence) = Held::read(outcome);
        let reason = held.map(|h| h.reason).or_else(|| guess(sentence));
        Reason {
            reason: reason.map(HeldReason::as_str),
            logged: sentence.to_string(),
        }
    }
}

/// One held message in a digest (`held_digest` template).
#[derive(Debug, Clone, Serialize)]
struct Entry {
    number: usize,
    sender: Option<String>,
    /// When it came, as `local_time` writes it.
    received: String,
    subject: String,
    /// What it was read as (`rsvp`, `agenda_request` …), when anything.
    kind: Option<String>,
    /// The answer read from it, when sure.
    answer: Option<Answer>,
    /// The first lines of the sender's own text.
    quoted: Vec<String>,
    reason: Reason,
}

/// The reason of an outcome stored without a code: by a version before codes, or by a
/// flow that does not give one yet. Read from the sentence written for the log.
fn guess(o: &str) -> Option<HeldReason> {
    let has = |s: &str| o.contains(s);
    Some(if o.starts_with("quarantined") {
        HeldReason::Quarantined
    } else if has("does not refer to any summons") {
        HeldReason::NoSummons
    } else if has("not from the invitee") {
        HeldReason::NotInvitee
    } else if has("a reply to a confirmation request sent to") {
        HeldReason::ConfirmWrongSender
    } else if has("digest sent to") {
        HeldReason::DigestWrongSender
    } else if has("no confirmation request") {
        HeldReason::Unverified
    } else if has("not authenticated") || has("asked to confirm") || has("confirmation asked") {
        HeldReason::UnverifiedAsked
    } else if has("after the meeting is over") {
        HeldReason::AfterMeeting
    } else if has("secretariat's own address as substitute") {
        HeldReason::SecretariatSubstitute
    } else if has("has had no meeting yet") {
        HeldReason::NoMeetingYet
    } else if has("a day); kept") {
        HeldReason::TooManyProposals
    } else if has("who coordinates several councils") {
        HeldReason::MinutesSeveralCouncils
    } else if has("who is not a coordinator") || has("does not decide on it") {
        HeldReason::NotCoordinator
    } else if has("says neither") || has("neither approves") || has("without a") {
        HeldReason::NoDecision
    } else if has("a reply that reads as") {
        match has(" is asked") {
            true => HeldReason::AmbiguousAsked,
            false => HeldReason::Ambiguous,
        }
    } else if has("no answer could be read") || has("no text of its own") {
        match has(" is asked") {
            true => HeldReason::NoAnswerAsked,
            false => HeldReason::NoAnswer,
        }
    } else if o.starts_with("mailing-list") {
        HeldReason::MailingList
    } else if has("who is not a member") || has("not in the council") {
        HeldReason::NotMember
    } else if has("several councils") {
        HeldReason::SeveralCouncils
    } else if o.starts_with("not understood") {
        HeldReason::NotUnderstood
    } else if has("cannot be read") || has("cannot read") {
        HeldReason::Unreadable
    } else {
        return None;
    })
}

/// A coordinator's reply to a held-mail digest, as the daemon found it.
#[derive(Debug, Clone)]
pub struct DigestReply<'a> {
    pub inbound_id: i64,
    /// The reply's one From.
    pub from: &'a str,
    pub message_id: Option<&'a str>,
    /// The reply's own text (quotes and signature left out).
    pub text: &'a str,
    /// The address the digest's key went to, when it stops being accepted, and what it
    /// refers to: the held messages' ids, in the digest's order.
    pub key_address: &'a str,
    pub key_expires: Option<DateTime<Utc>>,
    pub reference: &'a str,
    /// Whether the sender is authenticated, and how the log says it.
    pub authenticated: bool,
    pub trust: &'a str,
    pub now: DateTime<Utc>,
    /// The language for a sender who is not a member: the secretariat's.
    pub lang: crate::domain::Language,
}

/// What one line of a reply asks done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No message has that number in the digest.
    Missing,
    /// Nobody on the coordinator's councils goes by `who`.
    UnknownPerson {
        id: i64,
        who: String,
    },
    Dismiss {
        id: i64,
    },
    Retry {
        id: i64,
    },
    /// Act on the message as `person`'s own.
    Apply {
        id: i64,
        person: Person,
    },
}

impl Step {
    /// The held message the line is about.
    pub fn id(&self) -> Option<i64> {
        match self {
            Step::Missing => None,
            Step::UnknownPerson { id, .. }
            | Step::Dismiss { id }
            | Step::Retry { id }
            | Step::Apply { id, .. } => Some(*id),
        }
    }
}

/// One numbered line of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub step: Step,
}

/// What the lines of a digest reply ask done, in order; `Err`: the reply is held, and
/// the outcome (with its code) says why. `members`: the members of the councils the
/// sender coordinates.
pub fn read_digest_reply(r: &DigestReply<'_>, members: &[Person]) -> Result<Vec<Line>, String> {
    if !same_address(r.from, r.key_address) || !r.authenticated {
        return Err(
            Held::because(HeldReason::DigestWrongSender).outcome(&format!(
                "a reply to a held-mail digest sent to {}, from {} ({}); nothing done",
                r.key_address, r.from, r.trust
            )),
        );
    }
    if r.key_expires.is_some_and(|e| e < r.now) {
        return Err(Held::because(HeldReason::Expired)
            .outcome("a reply to a held-mail digest that has expired; nothing done"));
    }
    let ids: Vec<i64> = r
        .reference
        .split(',')
        .filter_map(|i| i.trim().parse().ok())
        .collect();
    let wanted = read_resolutions(r.text);
    if wanted.is_empty() {
        return Err(Held::because(HeldReason::NoDecision).outcome(&format!(
            "a reply to a held-mail digest from {} without a \"1 …\" line; kept for a coordinator",
            r.from
        )));
    }
    Ok(wanted
        .into_iter()
        .map(|(number, res)| {
            let step = match n_th(&ids, number) {
                None => Step::Missing,
                Some(id) => match res {
                    Resolution::Dismiss => Step::Dismiss { id },
                    Resolution::Retry => Step::Retry { id },
                    Resolution::As(who) => match resolve_person(&who, members) {
                        Some(p) => Step::Apply {
                            id,
                            person: p.clone(),
                        },
                        None => Step::UnknownPerson { id, who },
                    },
                },
            };
            Line { number, step }
        })
        .collect())
}

/// The `n`th (from 1) of `ids`.
fn n_th(ids: &[i64], n: usize) -> Option<i64> {
    n.checked_sub(1).and_then(|i| ids.get(i)).copied()
}

/// A held message after a line's step ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub subject: String,
    pub state: InboundState,
    pub outcome: String,
}

/// A line and what came of it: `None` for a line about no message; else whether the
/// step failed (and why), and the message as it is now.
pub type Ran = (Line, Option<(Result<(), String>, After)>);

/// What became of one line of a coordinator's reply to the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DoneState {
    /// No message has that number in the digest.
    Missing,
    /// Nobody on their councils goes by the name they gave.
    UnknownPerson,
    /// Doing it failed (the error says why).
    Failed,
    Processed,
    Ignored,
    /// Tried, and held again.
    Held,
}

/// What a coordinator's line did, for the `held_done` template.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    pub number: usize,
    pub subject: Option<String>,
    /// The member it was acted on as.
    pub as_name: Option<String>,
    pub state: DoneState,
    /// Whom the coordinator named, when nobody matches.
    pub who: Option<String>,
    pub error: Option<String>,
    /// Why it is still held.
    pub reason: Reason,
}

impl Done {
    fn of((line, ran): Ran) -> Done {
        let mut d = Done {
            number: line.number,
            subject: None,
            as_name: None,
            state: DoneState::Missing,
            who: None,
            error: None,
            reason: Reason::default(),
        };
        let Some((said, after)) = ran else {
            return d;
        };
        d.subject = Some(after.subject);
        match line.step {
            Step::Apply { person, .. } => d.as_name = Some(person.name),
            Step::UnknownPerson { who, .. } => d.who = Some(who),
            _ => {}
        }
        d.state = match (said, after.state) {
            (Err(e), _) => {
                d.error = Some(e);
                DoneState::Failed
            }
            (Ok(()), _) if d.who.is_some() => DoneState::UnknownPerson,
            (Ok(()), InboundState::Processed) => DoneState::Processed,
            (Ok(()), InboundState::Ignored) => DoneState::Ignored,
            (Ok(()), _) => {
                d.reason = Reason::of(&after.outcome);
                DoneState::Held
            }
        };
        d
    }

    /// The same in a few words for the log.
    pub fn logged(&self) -> String {
        let state = match self.state {
            DoneState::Missing => return format!("{}: not in the digest", self.number),
            DoneState::UnknownPerson => format!(
                "cannot tell who \"{}\" is",
                self.who.clone().unwrap_or_default()
            ),
            DoneState::Failed => format!("not done: {}", self.error.clone().unwrap_or_default()),
            DoneState::Processed => "processed".into(),
            DoneState::Ignored => "set aside".into(),
            DoneState::Held => format!("still held ({})", self.reason.logged),
        };
        let what = match &self.as_name {
            Some(name) => format!(" as the message from {name}"),
            None => String::new(),
        };
        format!(
            "{}. \"{}\"{what}: {state}",
            self.number,
            self.subject.clone().unwrap_or_default()
        )
    }
}

/// The answer to a digest reply whose lines have run: the log line, the audit line and
/// a short mail to the coordinator saying what became of each line.
pub fn digest_reply_done(r: &DigestReply<'_>, members: &[Person], ran: Vec<Ran>) -> Plan<()> {
    let done: Vec<Done> = ran.into_iter().map(Done::of).collect();
    let logged: Vec<String> = done.iter().map(Done::logged).collect();
    let mut p = Plan::done(format!(
        "held-mail digest answered by {}: {}",
        r.from,
        logged.join("; ")
    ));
    let me = members
        .iter()
        .find(|m| same_address(&m.email, r.from))
        .cloned()
        .unwrap_or_else(|| Person {
            id: 0,
            name: r.from.to_string(),
            email: r.from.to_string(),
            lang: r.lang,
        });
    // The subject says whether anything was done: "done" only when every line was.
    let finished = |d: &Done| matches!(d.state, DoneState::Processed | DoneState::Ignored);
    let outcome = if done.iter().all(finished) {
        "done"
    } else if done.iter().any(finished) {
        "partly"
    } else {
        "none"
    };
    let mut mail = Mail::new(
        "notice",
        "held_done",
        format!("held-done:{}", r.inbound_id),
        &me,
        json!({ "results": done, "outcome": outcome }),
    );
    mail.to.email = r.from.to_string();
    mail.in_reply_to = r.message_id.map(str::to_string);
    mail.inbound_id = Some(r.inbound_id);
    mail.auto_submitted = "auto-replied";
    p.mails.push(mail);
    p.events.push(Event {
        actor: r.from.to_string(),
        kind: "held_resolved",
        meeting_id: None,
        inbound_id: Some(r.inbound_id),
        detail: p.outcome.clone(),
    });
    p
}

/// What a digest changes besides mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// These held messages have been told: the next digest leaves them out.
    MarkReported { ids: Vec<i64> },
}

/// A held message the coordinators have not been told of.
#[derive(Debug, Clone)]
pub struct Unreported {
    pub id: i64,
    pub sender: Option<String>,
    pub received_at: DateTime<Utc>,
    pub subject: Option<String>,
    /// What it was read as when it came (`unknown` when nothing).
    pub kind: Option<String>,
    /// Its outcome, with the held code when there is one.
    pub outcome: Option<String>,
    /// The councils its sender is a member of (none: a stranger).
    pub councils: Vec<i64>,
    /// It read again, when its raw message could be read.
    pub understood: Option<Understanding>,
}

/// A coordinator of one council.
#[derive(Debug, Clone)]
pub struct Coordinator {
    pub council_id: i64,
    pub person: Person,
}

/// What the hourly digest is decided from.
#[derive(Debug, Clone)]
pub struct Digesting<'a> {
    pub now: DateTime<Utc>,
    pub tz: Tz,
    /// The held messages not yet told, at most [`MAX_ENTRIES`].
    pub held: &'a [Unreported],
    /// Digests sent in the last hour.
    pub sent_last_hour: i64,
    /// The coordinators of every council, council by council.
    pub coordinators: &'a [Coordinator],
}

/// The held messages each coordinator should hear of, as a digest of their own, at
/// most one an hour: the coordinators of the sender's councils, or, for a stranger,
/// every coordinator; not one who was just asked to confirm that very message. `None`:
/// no digest now (nothing held, or one went out within the hour).
pub fn held_digest(d: &Digesting<'_>) -> Option<Plan<Change>> {
    if d.held.is_empty() || d.sent_last_hour > 0 {
        return None;
    }
    let mut per: BTreeMap<String, (&Person, Vec<&Unreported>)> = BTreeMap::new();
    for row in d.held {
        let (code, _) = Held::read(row.outcome.as_deref().unwrap_or(""));
        let asked = code.and_then(|h| h.asked);
        for c in d
            .coordinators
            .iter()
            .filter(|c| row.councils.is_empty() || row.councils.contains(&c.council_id))
            .filter(|c| {
                !asked
                    .as_deref()
                    .is_some_and(|a| same_address(a, &c.person.email))
            })
        {
            let entry = per
                .entry(c.person.email.clone())
                .or_insert_with(|| (&c.person, Vec::new()));
            if !entry.1.iter().any(|r| r.id == row.id) {
                entry.1.push(row);
            }
        }
    }
    let ids: Vec<i64> = d.held.iter().map(|r| r.id).collect();
    let mut p = Plan::done(format!(
        "{} held message(s) told to {} coordinator(s)",
        ids.len(),
        per.len()
    ));
    for (address, (coordinator, rows)) in &per {
        let list: Vec<Entry> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| entry(r, i + 1, d.tz))
            .collect();
        let these: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
        let mut mail = Mail::new(
            "held_digest",
            "held_digest",
            format!("held-digest:{}:{address}", these.join(",")),
            coordinator,
            json!({ "count": rows.len(), "entries": list }),
        );
        mail.to.email = address.clone();
        mail.reference = Some(these.join(","));
        mail.expires_at = Some(d.now + Duration::days(DIGEST_DAYS));
        p.mails.push(mail);
    }
    p.events.push(Event {
        actor: "scheduler".into(),
        kind: "held_digest",
        meeting_id: None,
        inbound_id: None,
        detail: p.outcome.clone(),
    });
    p.changes.push(Change::MarkReported { ids });
    Some(p)
}

/// What a held message says in a digest, the same for every coordinator it goes to:
/// what it was read as, and the first lines of the sender's own text, so the
/// coordinator can decide without the server.
fn entry(r: &Unreported, number: usize, tz: Tz) -> Entry {
    let u = r.understood.as_ref();
    let answer = u
        .filter(|u| u.confidence == Confidence::Sure)
        .and_then(|u| u.answer.as_ref());
    let quoted: Vec<String> = u
        .map(|u| {
            u.reply_text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(3)
                .map(|l| l.chars().take(160).collect())
                .collect()
        })
        .unwrap_or_default();
    let kind = r.kind.clone().filter(|k| k != "unknown");
    Entry {
        number,
        sender: r.sender.clone(),
        received: local_time(r.received_at, tz),
        subject: r.subject.clone().unwrap_or_default(),
        answer: kind.as_ref().and(answer).cloned(),
        kind,
        quoted,
        reason: Reason::of(r.outcome.as_deref().unwrap_or("")),
    }
}

/// "1 godkjent", "2: avvist – passer ikke", "3 utsatt": the number and the decision, in a
/// reply to an approval digest.
pub fn read_decisions(text: &str) -> Vec<(usize, Decision)> {
    read_decisions_with_reasons(text)
        .into_iter()
        .map(|(n, d, _)| (n, d))
        .collect()
}

/// [`read_decisions`] with a rejection's reason, the words after "avvist" on its line
/// ("2: avvist – passer ikke i rådet").
pub fn read_decisions_with_reasons(text: &str) -> Vec<(usize, Decision, Option<String>)> {
    numbered_lines(text)
        .into_iter()
        .filter_map(|(n, rest)| {
            read_decision(rest)
                .map(|d| (n, d, crate::understand::secretariat::rejection_reason(rest)))
        })
        .collect()
}

/// A coordinator's reply to an approval digest, as the daemon found it.
#[derive(Debug, Clone)]
pub struct ApprovalDigestReply<'a> {
    pub from: &'a str,
    pub text: &'a str,
    /// The address the digest's key went to, and the proposals' ids in its order.
    pub key_address: &'a str,
    pub reference: &'a str,
    pub authenticated: bool,
    pub trust: &'a str,
}

/// One "N decision" line: the proposal it names (none: no such number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub number: usize,
    pub id: Option<i64>,
    pub decision: Decision,
    /// A rejection's reason, for the proposer.
    pub reason: Option<String>,
}

/// The lines of a reply to an approval digest; `Err`: it is held, and the outcome
/// says why.
pub fn read_approval_digest_reply(
    r: &ApprovalDigestReply<'_>,
) -> Result<Vec<Decided>, (HeldReason, String)> {
    if !same_address(r.from, r.key_address) || !r.authenticated {
        return Err((
            HeldReason::DigestWrongSender,
            format!(
                "a reply to an approval digest sent to {}, from {} ({}); nothing decided",
                r.key_address, r.from, r.trust
            ),
        ));
    }
    let ids: Vec<i64> = r
        .reference
        .split(',')
        .filter_map(|i| i.trim().parse().ok())
        .collect();
    let wanted = read_decisions_with_reasons(r.text);
    if wanted.is_empty() {
        return Err((HeldReason::NoDecision, format!(
            "a reply to an approval digest from {} without a \"1 godkjent\" line; kept for a coordinator",
            r.from
        )));
    }
    Ok(wanted
        .into_iter()
        .map(|(number, decision, reason)| Decided {
            number,
            id: n_th(&ids, number),
            decision,
            reason,
        })
        .collect())
}

/// A proposal a line names, as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub title: String,
    /// `Proposed` until decided.
    pub state: crate::domain::ItemState,
}

/// Which lines decide a proposal still undecided (their indexes in `lines`, in order),
/// and what the others say for the log.
pub fn sort_approval_lines(lines: &[(Decided, Option<Proposal>)]) -> (Vec<usize>, Vec<String>) {
    let mut deciding = Vec::new();
    let mut said = Vec::new();
    for (i, (d, proposal)) in lines.iter().enumerate() {
        match proposal {
            None => said.push(format!("{}: not in the digest", d.number)),
            Some(p) if p.state != crate::domain::ItemState::Proposed => said.push(format!(
                "{}: \"{}\" was {} already",
                d.number, p.title, p.state
            )),
            Some(_) => deciding.push(i),
        }
    }
    (deciding, said)
}

/// The log line of an approval digest's reply: what the lines that decided nothing said,
/// then each decision's outcome by its number.
pub fn approval_digest_outcome(
    from: &str,
    mut said: Vec<String>,
    decided: impl IntoIterator<Item = (usize, String)>,
) -> String {
    said.extend(
        decided
            .into_iter()
            .map(|(n, outcome)| format!("{n}: {outcome}")),
    );
    format!("approval digest answered by {from}: {}", said.join("; "))
}

/// `inbox dismiss`: the outcome a held (or new) message is set aside with, by `by`;
/// `Err`: why it may not be.
pub fn dismissal(id: i64, state: InboundState, was: &str, by: &str) -> Result<String, String> {
    if state != InboundState::Held && state != InboundState::New {
        return Err(format!(
            "message {id} is {state}, not held: nothing to dismiss"
        ));
    }
    Ok(format!("dismissed by {by} (was: {was})"))
}

/// `inbox apply --as`: whether a message may be acted on as `as_address`'s own: only a
/// held one, and only as a member's.
pub fn may_apply(
    id: i64,
    state: InboundState,
    as_address: &str,
    is_member: bool,
) -> Result<(), String> {
    if state != InboundState::Held {
        return Err(format!(
            "message {id} is {state}, not held: nothing to apply"
        ));
    }
    if !is_member {
        return Err(format!(
            "{as_address} is not a member of any council: a message is applied only as a member's own"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
