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
use serde_json::json;

use crate::domain::{Held, Role};
use crate::store::{Change, InboundSummary, KeyRow, Member, NewEvent, OutgoingMail};
use crate::trust::{same_address, Trust};
use crate::understand::Understanding;
use crate::workflow::held::{self as flow, Entry, Reason, DIGEST_DAYS, MAX_ENTRIES};
use crate::workflow::plan::{Event, Mail, Person, Plan};

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
        let described = trust.describe();
        let r = flow::DigestReply {
            inbound_id,
            from,
            message_id: u.message_id.as_deref(),
            text: &u.reply_text,
            key_address: &key.grant.address,
            key_expires: key.grant.expires_at,
            reference: &key.grant.reference,
            authenticated: trust.is_authenticated(),
            trust: &described,
            now: self.clock.now(),
        };
        let mut members: Vec<Person> = Vec::new();
        for m in self.store.members_by_email(from).await? {
            if m.role == Role::Coordinator {
                members.extend(self.store.members(m.council_id).await?.iter().map(person));
            }
        }
        let lines = match flow::read_digest_reply(&r, &members) {
            Ok(lines) => lines,
            Err(held) => return Ok(Handled::held(held)),
        };
        let mut ran: Vec<flow::Ran> = Vec::new();
        for line in lines {
            let Some(id) = line.step.id() else {
                ran.push((line, None));
                continue;
            };
            let said = match &line.step {
                flow::Step::Missing | flow::Step::UnknownPerson { .. } => Ok(String::new()),
                flow::Step::Dismiss { .. } => Box::pin(self.cli_dismiss(id, from)).await,
                flow::Step::Retry { .. } => Box::pin(self.cli_retry(id, from)).await,
                flow::Step::Apply { person, .. } => {
                    Box::pin(self.cli_apply(id, &person.email, from)).await
                }
            };
            let after = self.store.inbound(id).await?;
            let after = flow::After {
                subject: after.subject.unwrap_or_default(),
                state: after.state,
                outcome: after.outcome.unwrap_or_default(),
            };
            ran.push((
                line,
                Some((said.map(|_| ()).map_err(|e| e.to_string()), after)),
            ));
        }
        self.planned(flow::digest_reply_done(&r, &members, ran))
    }

    /// A plan's mail rendered and its audit lines, as the commit takes them (the plans
    /// of the trust and digest flows change nothing the store's `Change` says).
    pub(super) fn planned<C>(&self, p: Plan<C>) -> Result<Handled> {
        let mut h = if p.held {
            Handled::held(p.outcome)
        } else {
            Handled::done(p.outcome)
        };
        h.mails = p
            .mails
            .into_iter()
            .map(|m| self.planned_mail(m))
            .collect::<Result<_>>()?;
        h.events = p.events.into_iter().map(planned_event).collect();
        Ok(h)
    }

    /// Renders a mail a plan names.
    pub(super) fn planned_mail(&self, m: Mail) -> Result<OutgoingMail> {
        self.notice(Notice {
            kind: m.kind,
            effect_key: m.effect_key,
            to_name: &m.to_name,
            to_address: &m.to_address,
            template: Some(m.template),
            data: m.data,
            lang: m.lang,
            reference: m.reference,
            expires_at: m.expires_at,
            in_reply_to: m.in_reply_to.as_deref(),
            meeting_id: m.meeting_id,
            inbound_id: m.inbound_id,
            auto_submitted: m.auto_submitted,
            ..Notice::BLANK
        })
    }
}

/// A member as a plan names them.
pub(super) fn person(m: &Member) -> Person {
    Person {
        id: m.id,
        name: m.name.clone(),
        email: m.email.clone(),
        lang: m.language,
    }
}

/// An audit line as the store writes it.
pub(super) fn planned_event(e: Event) -> NewEvent {
    NewEvent::new(&e.actor, e.kind, e.meeting_id, e.inbound_id, e.detail)
}
