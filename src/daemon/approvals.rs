//! Approval requests in batches: the first
//! [`AT_ONCE_PER_HOUR`](crate::workflow::agenda::AT_ONCE_PER_HOUR) proposals in an hour
//! are asked about at once, one mail each; more wait for the hourly digest, numbered and
//! answered line by line ("1 godkjent", "2 avvist"). What the digest says and does is
//! decided in `workflow::agenda`.

use std::collections::BTreeMap;

use chrono::Duration;

use super::year::Handled;
use super::{Daemon, Result};
use crate::store::{AgendaItem, KeyRow};
use crate::trust::{same_address, Trust};
use crate::understand::{Decision, Understanding};
use crate::workflow::agenda as flow;
use crate::workflow::plan::Person;

/// "1 godkjent", "2: avvist – passer ikke", "3 utsatt": the number and the decision.
pub(crate) fn read_decisions(text: &str) -> Vec<(usize, Decision)> {
    crate::workflow::held::numbered_lines(text)
        .into_iter()
        .filter_map(|(n, rest)| crate::understand::secretariat::read_decision(rest).map(|d| (n, d)))
        .collect()
}

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
            let people: Vec<Person> = coordinators.iter().map(super::agenda::person).collect();
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
        if !same_address(from, &key.grant.address) || !trust.is_authenticated() {
            return Ok(Handled::held(format!(
                "a reply to an approval digest sent to {}, from {from} ({}); nothing decided",
                key.grant.address,
                trust.describe()
            )));
        }
        let ids: Vec<i64> = key
            .grant
            .reference
            .split(',')
            .filter_map(|i| i.trim().parse().ok())
            .collect();
        let wanted = read_decisions(&u.reply_text);
        if wanted.is_empty() {
            return Ok(Handled::held(format!(
                "a reply to an approval digest from {from} without a \"1 godkjent\" line; kept for a coordinator"
            )));
        }
        let mut said = Vec::new();
        let mut deciding = Vec::new();
        let mut numbers = Vec::new();
        for (n, d) in wanted {
            let Some(&id) = n.checked_sub(1).and_then(|i| ids.get(i)) else {
                said.push(format!("{n}: not in the digest"));
                continue;
            };
            let item = self.store.agenda_item(id).await?;
            if item.state != "proposed" {
                said.push(format!(
                    "{n}: \"{}\" was {} already",
                    item.title, item.state
                ));
                continue;
            }
            numbers.push(n);
            deciding.push((item, d));
        }
        let (mut all, outcomes) = self.decide_items(&deciding, from, inbound_id).await?;
        said.extend(
            numbers
                .iter()
                .zip(outcomes)
                .map(|(n, outcome)| format!("{n}: {outcome}")),
        );
        all.outcome = format!("approval digest answered by {from}: {}", said.join("; "));
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_decisions() {
        assert_eq!(
            read_decisions(
                "1 godkjent\n2: avvist – passer ikke\n3. utsatt\nHilsen Eldbjørg\n> 4 godkjent"
            ),
            vec![
                (1, Decision::Approve),
                (2, Decision::Reject),
                (3, Decision::Defer)
            ]
        );
        assert_eq!(
            read_decisions("1 approved\n2 rejected"),
            vec![(1, Decision::Approve), (2, Decision::Reject)]
        );
    }
}
