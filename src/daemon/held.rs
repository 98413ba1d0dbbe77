//! Quiet is a failure mode: every held message (a stranger's, an unreadable reply, a
//! quarantined one, an action waiting for confirmation) reaches the coordinators in a
//! digest, at most one an hour, each entry with who, what was understood, why it was
//! held, and the one-line replies that resolve it ("1 Kari", "1 ignorer"). The reply
//! is trusted like every other: with the digest's personal key, from the coordinator
//! it went to.

use std::collections::BTreeMap;

use chrono::Duration;

use super::year::{Handled, Notice};
use super::{Daemon, Result};
use serde::Serialize;
use serde_json::json;

use crate::domain::{normalize_address, Held, HeldReason, Role};
use crate::store::{Change, InboundSummary, KeyRow, Member, NewEvent};
use crate::trust::{same_address, Trust};
use crate::understand::Understanding;

/// Entries in one digest; more wait for the next.
const MAX_ENTRIES: usize = 30;
/// How long a digest's key is accepted.
const DIGEST_DAYS: i64 = 14;

/// What a coordinator asks done with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution {
    Dismiss,
    Retry,
    /// Act on it as this person's mail: an address, a full name or a first name.
    As(String),
}

/// The "N …" lines of a reply to a numbered digest: the number and what follows it.
/// Lines that do not start with a number are not instructions (greetings, quotes,
/// signatures).
pub(crate) fn numbered_lines(text: &str) -> Vec<(usize, &str)> {
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
pub(crate) fn read_resolutions(text: &str) -> Vec<(usize, Resolution)> {
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
pub(crate) fn resolve_person<'a>(who: &str, members: &'a [Member]) -> Option<&'a Member> {
    if let Ok(addr) = normalize_address(who) {
        return members.iter().find(|m| same_address(&m.email, &addr));
    }
    let w = who.trim().to_lowercase();
    let full: Vec<&Member> = members
        .iter()
        .filter(|m| m.name.to_lowercase() == w)
        .collect();
    if let [one] = full.as_slice() {
        return Some(one);
    }
    let mut first: Vec<&Member> = members
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
struct Reason {
    reason: Option<&'static str>,
    logged: String,
}

impl Reason {
    fn of(outcome: &str) -> Reason {
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
    answer: Option<crate::domain::Answer>,
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

/// What became of one line of a coordinator's reply to the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum DoneState {
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
struct Done {
    number: usize,
    subject: Option<String>,
    /// The member it was acted on as.
    as_name: Option<String>,
    state: DoneState,
    /// Whom the coordinator named, when nobody matches.
    who: Option<String>,
    error: Option<String>,
    /// Why it is still held.
    reason: Reason,
}

impl Done {
    /// The same in a few words for the log.
    fn logged(&self) -> String {
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

impl Daemon {
    /// Sends the coordinators the held messages they have not seen, at most one
    /// digest an hour. Returns how many digests went out.
    pub(crate) async fn held_digest(&self) -> Result<usize> {
        let now = self.clock.now();
        // Every tick asks; the usual answer, nothing held, comes from the index on
        // the state, before the outbox is counted.
        let held = self.store.unreported_held(MAX_ENTRIES as i64).await?;
        if held.is_empty()
            || self
                .store
                .count_kind_since("held_digest", now - Duration::hours(1))
                .await?
                > 0
        {
            return Ok(0);
        }
        // Who hears of each: the coordinators of the sender's councils, or, for a
        // stranger, every coordinator.
        let mut all_coordinators: Vec<Member> = Vec::new();
        for c in self.store.councils().await? {
            all_coordinators.extend(self.store.coordinators(c.id).await?);
        }
        let mut per: BTreeMap<String, (&Member, Vec<&InboundSummary>)> = BTreeMap::new();
        for row in &held {
            let councils: Vec<i64> = match &row.sender {
                Some(s) => self
                    .store
                    .members_by_email(s)
                    .await?
                    .iter()
                    .map(|m| m.council_id)
                    .collect(),
                None => Vec::new(),
            };
            let (code, _) = Held::read(row.outcome.as_deref().unwrap_or(""));
            let asked = code.and_then(|h| h.asked);
            for c in all_coordinators
                .iter()
                .filter(|c| councils.is_empty() || councils.contains(&c.council_id))
                // A coordinator who was just asked to confirm this very message does
                // not need it twice.
                .filter(|c| !asked.as_deref().is_some_and(|a| same_address(a, &c.email)))
            {
                let entry = per
                    .entry(c.email.clone())
                    .or_insert_with(|| (c, Vec::new()));
                if !entry.1.iter().any(|r| r.id == row.id) {
                    entry.1.push(row);
                }
            }
        }
        // What each held message says, the same for every coordinator it goes to.
        let tz = self.cfg.secretariat.time_zone;
        let mut entries: BTreeMap<i64, Entry> = BTreeMap::new();
        for r in &held {
            // What the person wrote, so the coordinator can decide without the
            // server: what it was read as, and the first lines of their own text.
            let u = match self.store.inbound_raw(r.id).await {
                Ok(raw) => Some(crate::understand::understand(&raw, self.limits)),
                Err(_) => None,
            };
            let answer = u
                .as_ref()
                .filter(|u| u.confidence == crate::understand::Confidence::Sure)
                .and_then(|u| u.answer.as_ref());
            let quoted: Vec<String> = u
                .as_ref()
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
            entries.insert(
                r.id,
                Entry {
                    number: 0,
                    sender: r.sender.clone(),
                    received: crate::render::local_time(r.received_at, tz),
                    subject: r.subject.clone().unwrap_or_default(),
                    answer: kind.as_ref().and(answer).cloned(),
                    kind,
                    quoted,
                    reason: Reason::of(r.outcome.as_deref().unwrap_or("")),
                },
            );
        }
        let mut mails = Vec::new();
        for (address, (coordinator, rows)) in &per {
            let list: Vec<Entry> = rows
                .iter()
                .filter_map(|r| entries.get(&r.id).cloned())
                .enumerate()
                .map(|(i, e)| Entry { number: i + 1, ..e })
                .collect();
            let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
            mails.push(self.notice(Notice {
                kind: "held_digest",
                template: Some("held_digest"),
                lang: Some(self.lang_of(coordinator)),
                data: json!({ "count": rows.len(), "entries": list }),
                effect_key: format!("held-digest:{}:{address}", ids.join(",")),
                to_name: &coordinator.name,
                to_address: address,
                reference: Some(ids.join(",")),
                expires_at: Some(now + Duration::days(DIGEST_DAYS)),
                ..Notice::BLANK
            })?);
        }
        let ids: Vec<i64> = held.iter().map(|r| r.id).collect();
        let n = mails.len();
        let ev = NewEvent::new(
            "scheduler",
            "held_digest",
            None,
            None,
            format!("{} held message(s) told to {n} coordinator(s)", ids.len()),
        );
        self.store
            .commit(&[Change::MarkReported { ids }], &mails, &[ev], now)
            .await?;
        Ok(n)
    }

    /// A coordinator's reply to a held-mail digest: each "N …" line applied, and a
    /// short answer saying what was done.
    pub(crate) async fn reply_to_held_digest(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        key: KeyRow,
        trust: Trust,
    ) -> Result<Handled> {
        let now = self.clock.now();
        if !same_address(from, &key.grant.address) || !trust.is_authenticated() {
            return Ok(Handled::held(
                Held::because(HeldReason::DigestWrongSender).outcome(&format!(
                    "a reply to a held-mail digest sent to {}, from {from} ({}); nothing done",
                    key.grant.address,
                    trust.describe()
                )),
            ));
        }
        if key.grant.expires_at.is_some_and(|e| e < now) {
            return Ok(Handled::held(Held::because(HeldReason::Expired).outcome(
                "a reply to a held-mail digest that has expired; nothing done",
            )));
        }
        let ids: Vec<i64> = key
            .grant
            .reference
            .split(',')
            .filter_map(|i| i.trim().parse().ok())
            .collect();
        let wanted = read_resolutions(&u.reply_text);
        if wanted.is_empty() {
            return Ok(Handled::held(Held::because(HeldReason::NoDecision).outcome(
                &format!(
                    "a reply to a held-mail digest from {from} without a \"1 …\" line; kept for a coordinator"
                ),
            )));
        }
        let mut members: Vec<Member> = Vec::new();
        for m in self.store.members_by_email(from).await? {
            if m.role == Role::Coordinator {
                members.extend(self.store.members(m.council_id).await?);
            }
        }
        let mut done: Vec<Done> = Vec::new();
        for (n, r) in wanted {
            let mut d = Done {
                number: n,
                subject: None,
                as_name: None,
                state: DoneState::Missing,
                who: None,
                error: None,
                reason: Reason::default(),
            };
            let Some(&id) = n.checked_sub(1).and_then(|i| ids.get(i)) else {
                done.push(d);
                continue;
            };
            let said = match &r {
                Resolution::Dismiss => Box::pin(self.cli_dismiss(id, from)).await.map(Some),
                Resolution::Retry => Box::pin(self.cli_retry(id, from)).await.map(Some),
                Resolution::As(who) => match resolve_person(who, &members) {
                    Some(m) => {
                        d.as_name = Some(m.name.clone());
                        Box::pin(self.cli_apply(id, &m.email, from)).await.map(Some)
                    }
                    None => {
                        d.who = Some(who.clone());
                        Ok(None)
                    }
                },
            };
            let after = self.store.inbound(id).await?;
            d.subject = Some(after.subject.clone().unwrap_or_default());
            d.state = match (said, after.state.as_str()) {
                (Err(e), _) => {
                    d.error = Some(e.to_string());
                    DoneState::Failed
                }
                (Ok(None), _) => DoneState::UnknownPerson,
                (Ok(Some(_)), "processed") => DoneState::Processed,
                (Ok(Some(_)), "ignored") => DoneState::Ignored,
                (Ok(Some(_)), _) => {
                    d.reason = Reason::of(after.outcome.as_deref().unwrap_or(""));
                    DoneState::Held
                }
            };
            done.push(d);
        }
        let logged: Vec<String> = done.iter().map(Done::logged).collect();
        let mut h = Handled::done(format!(
            "held-mail digest answered by {from}: {}",
            logged.join("; ")
        ));
        let me = members.iter().find(|m| same_address(&m.email, from));
        let name = me
            .map(|m| m.name.clone())
            .unwrap_or_else(|| from.to_string());
        h.mails.push(self.notice(Notice {
            kind: "notice",
            template: Some("held_done"),
            lang: Some(me.map_or(self.lang(), |m| self.lang_of(m))),
            data: json!({ "results": done }),
            effect_key: format!("held-done:{inbound_id}"),
            to_name: &name,
            to_address: from,
            in_reply_to: u.message_id.as_deref(),
            inbound_id: Some(inbound_id),
            auto_submitted: "auto-replied",
            ..Notice::BLANK
        })?);
        h.events.push(NewEvent::new(
            from,
            "held_resolved",
            None,
            Some(inbound_id),
            h.outcome.clone(),
        ));
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, email: &str) -> Member {
        Member {
            id: 1,
            council_id: 1,
            name: name.into(),
            email: email.into(),
            organisation: None,
            role: Role::Member,
            doctor: false,
            failing_since: None,
            failing_reason: None,
            language: None,
        }
    }

    #[test]
    fn lines() {
        let r = read_resolutions(
            "1 Kari\n2. ignorer\n3: prøv igjen\nHilsen Eldbjørg\n> 4 Ola\n5 kari@ous-hf.no",
        );
        assert_eq!(
            r,
            vec![
                (1, Resolution::As("Kari".into())),
                (2, Resolution::Dismiss),
                (3, Resolution::Retry),
                (5, Resolution::As("kari@ous-hf.no".into())),
            ]
        );
    }

    #[test]
    fn reasons_come_from_the_code_and_else_from_the_sentence() {
        let tagged = Held::because(HeldReason::NotMember).outcome("anything at all");
        let r = Reason::of(&tagged);
        assert_eq!(r.reason, Some("not_member"));
        assert_eq!(r.logged, "anything at all");
        let old = Reason::of("an agenda proposal from x@y.no, who is in several councils; kept for a coordinator to place");
        assert_eq!(old.reason, Some("several_councils"));
        let unknown = Reason::of("something new");
        assert_eq!(
            (unknown.reason, unknown.logged.as_str()),
            (None, "something new")
        );
        // Every code the digest can be given has words in every language.
        let r = crate::render::Renderer::new().unwrap();
        for code in HeldReason::ALL {
            for lang in crate::render::LANGUAGES {
                let data = json!({"reason": {"reason": code.as_str(), "logged": "LOGGED"}});
                let words = r
                    .render_snippet(lang, "{{> held_reason reason}}", &data)
                    .unwrap();
                assert!(!words.is_empty() && words != "LOGGED", "{lang:?} {code:?}");
            }
        }
    }

    #[test]
    fn people() {
        let ms = vec![
            member("Kari Nordmann", "kari@ous-hf.no"),
            member("Kari Hansen", "kh@ahus.no"),
            member("Ola Nordmann", "ola@ous-hf.no"),
        ];
        assert_eq!(
            resolve_person("Ola", &ms).map(|m| m.email.as_str()),
            Some("ola@ous-hf.no")
        );
        assert!(resolve_person("Kari", &ms).is_none(), "two Karis");
        assert_eq!(
            resolve_person("kari nordmann", &ms).map(|m| m.email.as_str()),
            Some("kari@ous-hf.no")
        );
        assert_eq!(
            resolve_person("KH@ahus.no", &ms).map(|m| m.email.as_str()),
            Some("kh@ahus.no")
        );
        assert!(resolve_person("eve@evil.example", &ms).is_none());
    }
}
