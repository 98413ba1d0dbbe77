//! Confirmation requests and the reply to one, decided: a held message's request goes
//! to a registered address, a few an hour at most, quoting what is to be confirmed.
//! The reply: only the address the request went to, authenticated, with the key it
//! carried and within its days, settles the held message; "bekreft" acts on it as that person's own, "avvis" sets it aside and tells
//! the coordinators that someone wrote in the person's name. Pure: the daemon loads
//! the held message and the coordinators, acts on the message when told to, and
//! commits the plan.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::plan::{Event, Mail, Person, Plan};
use crate::domain::{Held, HeldReason};
use crate::trust::same_address;
use crate::understand::{strip_subject_prefixes, Understanding};

/// How long a confirmation request is good for.
pub const CONFIRM_DAYS: i64 = 7;

/// The reply to a confirmation request, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Confirm,
    Refuse,
}

/// "bekreft" / "avvis" and their kin, in nb, nn and en, from the first words of a reply.
pub fn read_confirmation(text: &str) -> Option<Reply> {
    const YES: &[&str] = &[
        "bekreft",
        "bekrefter",
        "bekreftet",
        "bekrefta",
        "stadfest",
        "stadfestar",
        "stadfesta",
        "ja",
        "ok",
        "okay",
        "confirm",
        "confirmed",
        "yes",
    ];
    const NO: &[&str] = &[
        "avvis", "avvist", "avviser", "nei", "no", "reject", "rejected", "refuse",
    ];
    let first = text
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())?
        .to_lowercase();
    if YES.contains(&first.as_str()) {
        Some(Reply::Confirm)
    } else if NO.contains(&first.as_str()) {
        Some(Reply::Refuse)
    } else {
        None
    }
}

/// Lines of the held message quoted in a confirmation request.
pub const QUOTED_LINES: usize = 40;

/// A confirmation request to be written: the held message, whom to ask, and how many
/// requests that address has had this hour.
#[derive(Debug, Clone)]
pub struct Requesting<'a> {
    pub inbound_id: i64,
    pub u: &'a Understanding,
    /// The address asked: always a registered one (the member's, or the forwarding
    /// coordinator's), never the unverified From.
    pub ask: &'a str,
    /// The member at that address, when one is.
    pub member: Option<&'a Person>,
    pub sent_last_hour: i64,
    pub per_hour: u32,
    pub now: DateTime<Utc>,
    /// The language for an address that is not a member's: the secretariat's.
    pub lang: crate::domain::Language,
}

/// Whether the held message is the asked person's own (not a forward in their name).
pub fn is_own(u: &Understanding, ask: &str) -> bool {
    u.from.as_deref().is_some_and(|f| same_address(f, ask)) && u.on_behalf_of.is_none()
}

/// The mail that asks `ask` to confirm a held message, and a note for the outcome;
/// no mail when the address has had its share of requests this hour. `action`: what the
/// `confirm` template is told about what is asked.
pub fn confirmation_request(
    r: &Requesting<'_>,
    mut action: serde_json::Value,
) -> (Option<Mail>, String) {
    if r.sent_last_hour >= i64::from(r.per_hour) {
        return (
            None,
            "; no confirmation request (too many to that address this hour)".into(),
        );
    }
    let u = r.u;
    // What is being confirmed, as it came: a request to confirm what one has not seen
    // would let a forgery through on a coordinator's good faith.
    let text = if u.reply_text.trim().is_empty() {
        u.attachments
            .iter()
            .find_map(|a| a.text.clone())
            .unwrap_or_default()
    } else {
        u.reply_text.clone()
    };
    let all: Vec<&str> = if text.trim().is_empty() {
        Vec::new()
    } else {
        text.lines().collect()
    };
    let fields = json!({
        "subject": strip_subject_prefixes(&u.subject),
        "sender": u.from.clone().unwrap_or_default(),
        "attachments": u.attachments.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        "lines": all.iter().take(QUOTED_LINES).collect::<Vec<_>>(),
        "more_lines": all.len().saturating_sub(QUOTED_LINES),
        "days": CONFIRM_DAYS,
    });
    if let (Some(d), Some(f)) = (action.as_object_mut(), fields.as_object()) {
        d.extend(f.clone());
    }
    let to = r.member.cloned().unwrap_or_else(|| Person {
        id: 0,
        name: r.ask.to_string(),
        email: r.ask.to_string(),
        lang: r.lang,
    });
    let mut mail = Mail::new(
        "confirm",
        "confirm",
        format!("confirm:{}:{}", r.inbound_id, r.ask),
        &to,
        action,
    );
    mail.to.email = r.ask.to_string();
    mail.reference = Some(r.inbound_id.to_string());
    mail.expires_at = Some(r.now + Duration::days(CONFIRM_DAYS));
    mail.inbound_id = Some(r.inbound_id);
    (Some(mail), format!("; confirmation asked of {}", r.ask))
}

/// Holds a message until `ask` confirms it: the request (when one may go), the held
/// outcome saying whom it waits for, and the audit line. `what`: the message in a few
/// words; `trust`: how its sender is known, as the log says it.
pub fn confirm_first(
    r: &Requesting<'_>,
    action: serde_json::Value,
    what: &str,
    trust: &str,
) -> Plan<Change> {
    confirm_first_because(r, action, what, trust, HeldReason::Unverified)
}

/// The same, held for `reason`: `AwaitingConfirmation` for a change a coordinator
/// asked for by mail, which waits for their word whoever sent it.
pub fn confirm_first_because(
    r: &Requesting<'_>,
    action: serde_json::Value,
    what: &str,
    trust: &str,
    reason: HeldReason,
) -> Plan<Change> {
    let (mail, note) = confirmation_request(r, action);
    let held = match &mail {
        Some(_) => Held::asking(reason, r.ask),
        None => Held::because(reason),
    };
    let mut p = Plan {
        held: Some(held),
        ..Plan::done(format!("{what}, {trust}; held{note}"))
    };
    p.mails.extend(mail);
    p.events.push(Event {
        actor: r.u.from.clone().unwrap_or_default(),
        kind: "held_unverified",
        meeting_id: None,
        inbound_id: Some(r.inbound_id),
        detail: p.outcome.clone(),
    });
    p
}

/// What a confirmation reply changes besides mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The request's key has been answered: a second reply does nothing.
    UseKey { key: String },
}

/// A reply to a confirmation request, as the daemon found it.
#[derive(Debug, Clone)]
pub struct ConfirmationReply<'a> {
    pub inbound_id: i64,
    /// The reply's one From.
    pub from: &'a str,
    pub text: &'a str,
    /// The request's key: the address it went to, its value, what it refers to (the
    /// held message's id), whether it was answered before and until when it holds.
    pub asked: &'a str,
    pub key: &'a str,
    pub reference: &'a str,
    pub used: bool,
    pub expires: Option<DateTime<Utc>>,
    /// Whether the sender is authenticated, and how the log says it.
    pub authenticated: bool,
    pub trust: &'a str,
    pub now: DateTime<Utc>,
}

/// What the reply says about which held message, when it may settle one; `Err`: the
/// whole answer (held or done, nothing changed).
pub fn read_confirmation_reply(
    r: &ConfirmationReply<'_>,
) -> Result<(Reply, i64), Box<Plan<Change>>> {
    if !same_address(r.from, r.asked) || !r.authenticated {
        return Err(Box::new(Plan::held(
            HeldReason::ConfirmWrongSender,
            format!(
                "a reply to a confirmation request sent to {}, from {} ({}); nothing done",
                r.asked, r.from, r.trust
            ),
        )));
    }
    if r.used {
        return Err(Box::new(Plan::done(
            "a second reply to a confirmation request that was already answered; nothing more to do",
        )));
    }
    if r.expires.is_some_and(|e| e < r.now) {
        return Err(Box::new(Plan::held(HeldReason::Expired, format!(
            "a reply to a confirmation request from {} that had expired; the held message stays held",
            r.from
        ))));
    }
    let Some(reply) = read_confirmation(r.text) else {
        return Err(Box::new(Plan::held(HeldReason::NoDecision, format!(
            "a reply to a confirmation request from {} that says neither \"bekreft\" nor \"avvis\"; kept for a coordinator",
            r.from
        ))));
    };
    let Ok(original) = r.reference.parse::<i64>() else {
        return Err(Box::new(Plan::held(
            HeldReason::NotUnderstood,
            "a reply to a confirmation request about nothing known",
        )));
    };
    Ok((reply, original))
}

/// The held message a confirmation is about, as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub id: i64,
    pub state: crate::domain::InboundState,
    pub subject: String,
}

/// One council the person who refused is a member of: their name there and its
/// coordinators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub name: String,
    pub coordinators: Vec<Person>,
}

/// What to do with the held message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// It is settled already, or the reply only answers: nothing.
    Nothing,
    /// Act on it as the confirming person's own.
    Act,
    /// Set it aside (`ignored`) with this outcome and audit line.
    SetAside { outcome: String, event: Event },
}

/// The answer to a confirmation reply that may settle `original`: what to do with it,
/// and the plan for the reply itself (the key used, the coordinators told of a
/// forgery, the audit line).
pub fn settle_confirmation(
    r: &ConfirmationReply<'_>,
    reply: Reply,
    original: &Original,
    memberships: &[Membership],
) -> (Settle, Plan<Change>) {
    let from = r.from;
    let id = original.id;
    let (settle, mut p) = if original.state != crate::domain::InboundState::Held {
        (
            Settle::Nothing,
            Plan::done(format!(
                "a confirmation by {from} of message {id}, which is {} already",
                original.state
            )),
        )
    } else {
        match reply {
            Reply::Confirm => (
                Settle::Act,
                Plan::done(format!("{from} confirmed message {id}; acted on it")),
            ),
            Reply::Refuse => {
                let outcome = format!("{from} said this message did not come from them; set aside");
                let event = Event {
                    actor: from.to_string(),
                    kind: "refused",
                    meeting_id: None,
                    inbound_id: Some(id),
                    detail: outcome.clone(),
                };
                let mut p = Plan::done(format!("{from} refused message {id}; it is set aside"));
                // Someone wrote in their name: the coordinators should know.
                p.mails = forgery_notices(r, original, memberships);
                (Settle::SetAside { outcome, event }, p)
            }
        }
    };
    p.changes.push(Change::UseKey {
        key: r.key.to_string(),
    });
    p.events.push(Event {
        actor: from.to_string(),
        kind: "confirmation",
        meeting_id: None,
        inbound_id: Some(r.inbound_id),
        detail: p.outcome.clone(),
    });
    (settle, p)
}

/// To the coordinators of the councils of the person who refused (not to themselves,
/// once each): mail was sent in their name.
fn forgery_notices(
    r: &ConfirmationReply<'_>,
    original: &Original,
    memberships: &[Membership],
) -> Vec<Mail> {
    let mut mails = Vec::new();
    let mut told = std::collections::HashSet::new();
    for m in memberships {
        for c in &m.coordinators {
            if same_address(&c.email, r.from) || !told.insert(c.email.clone()) {
                continue;
            }
            let mut mail = Mail::new(
                "notice",
                "forgery",
                format!("forgery:{}:{}", r.inbound_id, c.id),
                c,
                json!({
                    "member": m.name,
                    "member_first": crate::render::first_name(&m.name),
                    "address": r.from,
                    "subject": original.subject,
                }),
            );
            mail.inbound_id = Some(r.inbound_id);
            mails.push(mail);
        }
    }
    mails
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn sent() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
    }

    fn reply<'a>(from: &'a str, text: &'a str, now: DateTime<Utc>) -> ConfirmationReply<'a> {
        ConfirmationReply {
            inbound_id: 90,
            from,
            text,
            asked: "kari@ous-hf.no",
            key: "k3y",
            reference: "41",
            used: false,
            expires: Some(sent() + Duration::days(CONFIRM_DAYS)),
            authenticated: true,
            trust: "DKIM-authenticated",
            now,
        }
    }

    fn person(id: i64, name: &str, email: &str) -> Person {
        Person {
            id,
            name: name.into(),
            email: email.into(),
            lang: crate::domain::Language::Nb,
        }
    }

    fn held(p: &Plan<Change>) -> Option<HeldReason> {
        Held::read(&p.stored_outcome()).0.map(|h| h.reason)
    }

    fn forged() -> Understanding {
        Understanding {
            from: Some("eve@evil.example".into()),
            subject: "SV: Innkalling".into(),
            reply_text: "Kari kommer ikke.\nHilsen Kari".into(),
            ..Understanding::default()
        }
    }

    fn requesting<'a>(u: &'a Understanding, member: Option<&'a Person>) -> Requesting<'a> {
        Requesting {
            inbound_id: 41,
            u,
            ask: "kari@ous-hf.no",
            member,
            sent_last_hour: 0,
            per_hour: 3,
            now: sent(),
            lang: crate::domain::Language::Nb,
        }
    }

    #[test]
    fn the_request_goes_to_the_registered_address_never_to_the_stranger_who_wrote() {
        let u = forged();
        let kari = person(3, "Kari Hansen", "kari@ous-hf.no");
        let r = requesting(&u, Some(&kari));
        assert!(!is_own(&u, r.ask), "written by someone else");
        let p = confirm_first(
            &r,
            json!({"action": "answer"}),
            "an answer for kari@ous-hf.no",
            "not authenticated",
        );
        let [mail] = p.mails.as_slice() else {
            panic!("one request: {:?}", p.mails)
        };
        assert_eq!(
            (mail.template, mail.to.email.as_str()),
            ("confirm", "kari@ous-hf.no")
        );
        assert_eq!(mail.to.name, "Kari Hansen");
        assert!(p
            .mails
            .iter()
            .all(|m| !same_address(&m.to.email, "eve@evil.example")));
        assert_eq!(mail.reference.as_deref(), Some("41"));
        assert_eq!(mail.expires_at, Some(sent() + Duration::days(CONFIRM_DAYS)));
        assert_eq!(mail.data["action"], "answer");
        assert_eq!(mail.data["subject"], "Innkalling");
        assert_eq!(mail.data["sender"], "eve@evil.example");
        assert_eq!(
            mail.data["lines"],
            json!(["Kari kommer ikke.", "Hilsen Kari"])
        );
        assert!(p.is_held());
        let (code, _) = Held::read(&p.stored_outcome());
        assert_eq!(
            code.and_then(|h| h.asked).as_deref(),
            Some("kari@ous-hf.no")
        );
        assert_eq!(
            Held::read(&p.stored_outcome()).1,
            "an answer for kari@ous-hf.no, not authenticated; held; confirmation asked of kari@ous-hf.no"
        );
        assert_eq!(
            (p.events[0].kind, p.events[0].actor.as_str()),
            ("held_unverified", "eve@evil.example")
        );
    }

    #[test]
    fn no_more_requests_to_an_address_than_its_hourly_share() {
        let u = forged();
        let r = Requesting {
            sent_last_hour: 3,
            ..requesting(&u, None)
        };
        let p = confirm_first(
            &r,
            serde_json::Value::Null,
            "an answer",
            "not authenticated",
        );
        assert!(p.mails.is_empty() && p.is_held());
        let stored = p.stored_outcome();
        let (code, said) = Held::read(&stored);
        assert_eq!(
            code.map(|h| (h.reason, h.asked)),
            Some((HeldReason::Unverified, None))
        );
        assert!(
            said.ends_with("too many to that address this hour)"),
            "{said}"
        );
    }

    #[test]
    fn an_attachment_is_quoted_when_the_message_has_no_text_of_its_own() {
        let mut u = forged();
        u.from = Some("Kari@ous-hf.no".into());
        u.reply_text = String::new();
        u.attachments.push(crate::understand::FileInfo {
            name: "referat.md".into(),
            content_type: "text/markdown".into(),
            size: 10,
            text: Some((1..=45).map(|n| format!("linje {n}\n")).collect()),
        });
        let r = requesting(&u, None);
        assert!(is_own(&u, r.ask));
        let (mail, note) = confirmation_request(&r, json!({}));
        let mail = mail.unwrap();
        assert_eq!(note, "; confirmation asked of kari@ous-hf.no");
        assert_eq!(
            mail.to.name, "kari@ous-hf.no",
            "not a member: named by the address"
        );
        assert_eq!(
            mail.data["lines"].as_array().map(Vec::len),
            Some(QUOTED_LINES)
        );
        assert_eq!(mail.data["more_lines"], 5);
        assert_eq!(mail.data["attachments"], json!(["referat.md"]));
    }

    #[test]
    fn a_confirmation_answered_after_its_seven_days_leaves_the_message_held() {
        let late = reply("kari@ous-hf.no", "bekreft", sent() + Duration::days(8));
        let p = read_confirmation_reply(&late).unwrap_err();
        assert!(p.is_held() && p.changes.is_empty() && p.mails.is_empty());
        assert_eq!(held(&p), Some(HeldReason::Expired));
        let in_time = reply("kari@ous-hf.no", "bekreft", sent() + Duration::days(6));
        assert_eq!(read_confirmation_reply(&in_time), Ok((Reply::Confirm, 41)));
    }

    #[test]
    fn a_reply_from_another_address_than_the_keys_does_nothing() {
        let p = read_confirmation_reply(&reply("eve@evil.example", "bekreft", sent())).unwrap_err();
        assert!(p.is_held() && p.changes.is_empty());
        assert_eq!(held(&p), Some(HeldReason::ConfirmWrongSender));
        let unauthenticated = ConfirmationReply {
            authenticated: false,
            ..reply("Kari@ous-hf.no", "bekreft", sent())
        };
        let p = read_confirmation_reply(&unauthenticated).unwrap_err();
        assert_eq!(held(&p), Some(HeldReason::ConfirmWrongSender));
    }

    #[test]
    fn a_second_reply_or_one_that_says_neither_settles_nothing() {
        let again = ConfirmationReply {
            used: true,
            ..reply("kari@ous-hf.no", "avvis", sent())
        };
        let p = read_confirmation_reply(&again).unwrap_err();
        assert!(!p.is_held() && p.changes.is_empty());
        let p =
            read_confirmation_reply(&reply("kari@ous-hf.no", "Hva er dette?", sent())).unwrap_err();
        assert_eq!(held(&p), Some(HeldReason::NoDecision));
    }

    #[test]
    fn avvis_from_the_right_address_sets_it_aside_and_tells_the_coordinators() {
        let r = reply("kari@ous-hf.no", "Avvis – det var ikke meg", sent());
        let (answer, id) = read_confirmation_reply(&r).unwrap();
        let original = Original {
            id,
            state: crate::domain::InboundState::Held,
            subject: "Forfall".into(),
        };
        let eldbjorg = person(5, "Eldbjørg Koordinator", "eldbjorg@ous-hf.no");
        let memberships = [
            Membership {
                name: "Kari Hansen".into(),
                coordinators: vec![eldbjorg.clone(), person(6, "Kari Hansen", "KARI@ous-hf.no")],
            },
            // A second council with the same coordinator: told once.
            Membership {
                name: "Kari Hansen".into(),
                coordinators: vec![eldbjorg],
            },
        ];
        let (settle, p) = settle_confirmation(&r, answer, &original, &memberships);
        let Settle::SetAside { outcome, event } = settle else {
            panic!("set aside: {settle:?}")
        };
        assert_eq!(
            outcome,
            "kari@ous-hf.no said this message did not come from them; set aside"
        );
        assert_eq!((event.kind, event.inbound_id), ("refused", Some(41)));
        assert_eq!(
            p.outcome,
            "kari@ous-hf.no refused message 41; it is set aside"
        );
        let [mail] = p.mails.as_slice() else {
            panic!("one coordinator told: {:?}", p.mails)
        };
        assert_eq!(
            (mail.template, mail.to.email.as_str()),
            ("forgery", "eldbjorg@ous-hf.no")
        );
        assert_eq!(mail.effect_key, "forgery:90:5");
        assert_eq!(mail.data["member_first"], "Kari");
        assert_eq!(mail.data["subject"], "Forfall");
        assert_eq!(p.changes, vec![Change::UseKey { key: "k3y".into() }]);
        assert_eq!(p.events.last().map(|e| e.kind), Some("confirmation"));
    }

    #[test]
    fn bekreft_acts_and_a_message_settled_already_is_left_alone() {
        let r = reply("kari@ous-hf.no", "bekreft", sent());
        let mut original = Original {
            id: 41,
            state: crate::domain::InboundState::Held,
            subject: "Forfall".into(),
        };
        let (settle, p) = settle_confirmation(&r, Reply::Confirm, &original, &[]);
        assert_eq!(settle, Settle::Act);
        assert_eq!(
            p.outcome,
            "kari@ous-hf.no confirmed message 41; acted on it"
        );
        original.state = crate::domain::InboundState::Ignored;
        let (settle, p) = settle_confirmation(&r, Reply::Refuse, &original, &[]);
        assert_eq!(settle, Settle::Nothing);
        assert!(p.mails.is_empty());
        assert_eq!(
            p.outcome,
            "a confirmation by kari@ous-hf.no of message 41, which is ignored already"
        );
        assert_eq!(p.changes.len(), 1, "the key is used all the same");
    }

    #[test]
    fn one_word_replies() {
        assert_eq!(read_confirmation("Bekreft"), Some(Reply::Confirm));
        assert_eq!(
            read_confirmation("  bekreftet.\n\nMvh Kari"),
            Some(Reply::Confirm)
        );
        assert_eq!(read_confirmation("Confirm"), Some(Reply::Confirm));
        assert_eq!(
            read_confirmation("Avvis – det var ikke meg"),
            Some(Reply::Refuse)
        );
        assert_eq!(read_confirmation("Hva er dette?"), None);
        assert_eq!(read_confirmation(""), None);
    }
}
