//! Quiet is a failure mode: every held message (a stranger's, an unreadable reply, a
//! quarantined one, an action waiting for confirmation) reaches the coordinators in a
//! digest, at most one an hour, each entry with who, what was understood, why it was
//! held, and the one-line replies that resolve it ("1 Kari", "1 ignorer"). The reply
//! is trusted like every other: with the digest's personal key, from the coordinator
//! it went to.
//!
//! Who hears of what, what each entry says and what a reply's lines ask done is decided
//! in `workflow::held`; this file loads, runs the inbox commands a reply asks for, and
//! commits.

use chrono::Duration;

use super::year::Handled;
use super::{Daemon, Result};

use crate::domain::Role;
use crate::store::{Change, KeyRow};
use crate::trust::Trust;
use crate::understand::Understanding;
use crate::workflow::held::{self as flow, MAX_ENTRIES};
use crate::workflow::plan::{Person, Plan};

impl Daemon {
    /// Sends the coordinators the held messages they have not seen, at most one
    /// digest an hour. Returns how many digests went out.
    pub(crate) async fn held_digest(&self) -> Result<usize> {
        let now = self.clock.now();
        // Every tick asks; the usual answer, nothing held, comes from the index on
        // the state, before the outbox is counted.
        let rows = self.store.unreported_held(MAX_ENTRIES as i64).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let sent_last_hour = self
            .store
            .count_kind_since("held_digest", now - Duration::hours(1))
            .await?;
        if sent_last_hour > 0 {
            return Ok(0);
        }
        let mut coordinators = Vec::new();
        for c in self.store.councils().await? {
            for m in self.store.coordinators(c.id).await? {
                coordinators.push(flow::Coordinator {
                    council_id: m.council_id,
                    person: self.person(&m),
                });
            }
        }
        let mut held = Vec::new();
        for r in rows {
            let councils = match &r.sender {
                Some(s) => self
                    .store
                    .members_by_email(s)
                    .await?
                    .iter()
                    .map(|m| m.council_id)
                    .collect(),
                None => Vec::new(),
            };
            let understood = match self.store.inbound_raw(r.id).await {
                Ok(raw) => Some(crate::understand::understand(&raw, self.limits)),
                Err(_) => None,
            };
            held.push(flow::Unreported {
                id: r.id,
                sender: r.sender,
                received_at: r.received_at,
                subject: r.subject,
                kind: r.kind,
                outcome: r.outcome,
                councils,
                understood,
            });
        }
        let Some(p) = flow::held_digest(&flow::Digesting {
            now,
            tz: self.cfg.secretariat.time_zone,
            held: &held,
            sent_last_hour,
            coordinators: &coordinators,
        }) else {
            return Ok(0);
        };
        let h = self.handled_plan(p, |c| match c {
            flow::Change::MarkReported { ids } => Some(Change::MarkReported { ids }),
        })?;
        let n = h.mails.len();
        self.store
            .commit(&h.changes, &h.mails, &h.events, now)
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
            lang: self.lang(),
        };
        let mut members: Vec<Person> = Vec::new();
        for m in self.store.members_by_email(from).await? {
            if m.role == Role::Coordinator {
                members.extend(
                    self.store
                        .members(m.council_id)
                        .await?
                        .iter()
                        .map(|x| self.person(x)),
                );
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
                // Still held after: said with its reason, in the reply's language.
                flow::Step::Apply { person, .. } => {
                    Box::pin(self.apply_held(id, &person.email, from))
                        .await
                        .map(|_| String::new())
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
    /// of the digest flows change nothing the store's `Change` says).
    pub(super) fn planned<C>(&self, p: Plan<C>) -> Result<Handled> {
        self.handled_plan(p, |_| None)
    }
}
