//! Approval requests in batches: the first
//! [`AT_ONCE_PER_HOUR`](crate::workflow::agenda::AT_ONCE_PER_HOUR) proposals in an hour
//! are asked about at once, one mail each; more wait for the hourly digest, numbered and
//! answered line by line ("1 godkjent", "2 avvist"). What the digest says and does is
//! decided in `workflow::agenda`, what a reply's lines ask in `workflow::held`.

use std::collections::BTreeMap;

use chrono::Duration;

use super::year::Handled;
use super::{Daemon, Result};
use crate::store::{AgendaItem, KeyRow};
use crate::trust::Trust;
use crate::understand::Understanding;
use crate::workflow::agenda as flow;
use crate::workflow::held as digest;
use crate::workflow::plan::Person;

impl Daemon {
    /// The most approval mails (requests and digests) any of these coordinators got in
    /// the last hour.
    pub(crate) async fn approval_mails_last_hour(
        &self,
        coordinators: &[crate::store::Member],
    ) -> Result<i64> {
        let since = self.clock.now() - Duration::hours(1);
        let mut most = 0;
        for c in coordinators {
            let mut n = 0;
            for kind in ["approval", "approval_digest"] {
                n += self.store.count_recent(&c.email, kind, since).await?;
            }
            most = most.max(n);
        }
        Ok(most)
    }

    /// Sends each council's coordinators the proposals they have not been asked about,
    /// unless they were asked within the hour. Returns how many digests went out.
    pub(crate) async fn approval_digest(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut by_council: BTreeMap<i64, Vec<AgendaItem>> = BTreeMap::new();
        for item in self.store.unrequested_proposals().await? {
            by_council.entry(item.council_id).or_default().push(item);
        }
        let mut sent = 0;
        for (council_id, items) in by_council {
            let coordinators = self.store.coordinators(council_id).await?;
            // At most one digest an hour, and none while the coordinators were just
            // asked about a proposal on its own.
            let asked = self.approval_mails_last_hour(&coordinators).await?;
            if asked > 0 {
                continue;
            }
            let council = self.store.council(council_id).await?;
            let mut pending = Vec::with_capacity(items.len());
            for item in &items {
                let unverified = match item.inbound_id {
                    Some(id) => self
                        .store
                        .inbound(id)
                        .await?
                        .outcome
                        .is_some_and(|o| o.contains("(unverified)")),
                    None => false,
                };
                pending.push(flow::Pending {
                    item: super::agenda::item_view(item)?,
                    unverified,
                });
            }
            let people: Vec<Person> = coordinators.iter().map(|c| self.person(c)).collect();
            let Some(plan) = flow::approval_digest(&council.name, &pending, &people, asked, now)
            else {
                continue;
            };
            let h = self.handled(plan)?;
            self.store
                .commit(&h.changes, &h.mails, &h.events, now)
                .await?;
            sent += h.mails.len();
        }
        Ok(sent)
    }

    /// A coordinator's answer to an approval digest: every "N decision" line decided.
    pub(crate) async fn reply_to_approval_digest(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        key: KeyRow,
        trust: &Trust,
    ) -> Result<Handled> {
        let described = trust.describe();
        let r = digest::ApprovalDigestReply {
            from,
            text: &u.reply_text,
            key_address: &key.grant.address,
            reference: &key.grant.reference,
            authenticated: trust.is_authenticated(),
            trust: &described,
        };
        let wanted = match digest::read_approval_digest_reply(&r) {
            Ok(wanted) => wanted,
            Err((reason, sentence)) => return Ok(Handled::held_for(reason, &sentence)),
        };
        let mut lines = Vec::with_capacity(wanted.len());
        let mut items = Vec::with_capacity(wanted.len());
        for d in wanted {
            let item = match d.id {
                Some(id) => Some(self.store.agenda_item(id).await?),
                None => None,
            };
            let proposal = item.as_ref().map(|i| digest::Proposal {
                title: i.title.clone(),
                state: i.state,
            });
            lines.push((d, proposal));
            items.push(item);
        }
        let (chosen, said) = digest::sort_approval_lines(&lines);
        let mut deciding = Vec::with_capacity(chosen.len());
        let mut numbers = Vec::with_capacity(chosen.len());
        for i in chosen {
            if let (Some((d, _)), Some(Some(item))) =
                (lines.get(i), items.get_mut(i).map(Option::take))
            {
                numbers.push(d.number);
                deciding.push((item, d.decision, d.reason.clone()));
            }
        }
        let (mut all, outcomes) = self.decide_items(&deciding, from, inbound_id).await?;
        all.outcome =
            digest::approval_digest_outcome(from, said, numbers.into_iter().zip(outcomes));
        Ok(all)
    }
}
