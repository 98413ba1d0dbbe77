//! A coordinator's status of their councils: loaded here in one set of queries,
//! decided by `workflow::status`, printed by `referent status` or mailed in answer to
//! "status" / "oversikt" / "oversyn".
//!
//! A status request changes nothing, so it is answered at once, without the one-word
//! confirmation a change needs. It is answered only at the coordinator's registered
//! address (their member row), never at a Reply-To or any other address the message
//! names, and only as often as receipts are (`receipts_per_hour`): a forger who writes
//! "status" in a coordinator's name makes the real coordinator get their own status
//! and learns nothing, and cannot flood them.

use chrono::Duration;

use super::year::Handled;
use super::{Daemon, Result};
use crate::store::Council;
use crate::trust::Trust;
use crate::understand::command::Command;
use crate::understand::Understanding;
use crate::workflow::status::{self as flow, Status};

/// How far ahead meetings are read for a status.
const AHEAD_DAYS: i64 = 3 * 366;

impl Daemon {
    /// The status of `councils` now.
    pub async fn status_of(&self, councils: &[Council]) -> Result<Status> {
        let now = self.clock.now();
        let tz = self.cfg.secretariat.time_zone;
        let from = now - Duration::days(1);
        let to = now + Duration::days(AHEAD_DAYS);
        let mut out = Vec::new();
        for c in councils {
            let invitations = self.store.invitations_between(c.id, from, to).await?;
            let mut meetings = Vec::new();
            for m in self.store.meetings_between(c.id, from, to).await? {
                meetings.push(flow::Meeting {
                    id: m.id,
                    title: m.title.clone(),
                    starts_at: m.starts_at,
                    ends_at: m.ends_at,
                    time_zone: self.tz(&m)?,
                    status: m.status,
                    place: m.place.clone(),
                    invitations: invitations
                        .iter()
                        .filter(|i| i.meeting_id == m.id)
                        .cloned()
                        .collect(),
                });
            }
            let proposals = self
                .store
                .council_agenda(c.id)
                .await?
                .into_iter()
                .filter(|i| i.kind == crate::domain::ItemKind::Proposal)
                .map(|i| flow::Proposal {
                    title: i.title,
                    proposer: i.proposer_name.or(i.proposer_email),
                    created_at: i.created_at,
                    state: i.state,
                })
                .collect();
            let failing = self
                .store
                .members(c.id)
                .await?
                .into_iter()
                .filter_map(|m| {
                    m.failing_since
                        .map(|since| (m.name, m.email, since, m.failing_reason))
                })
                .collect();
            out.push(flow::Council {
                slug: c.slug.clone(),
                name: c.name.clone(),
                meetings,
                proposals,
                failing,
            });
        }
        let held = self
            .store
            .inbound_list(Some("held"))
            .await?
            .into_iter()
            .map(|h| flow::Held {
                id: h.id,
                sender: h.sender,
                subject: h.subject,
                received_at: h.received_at,
            })
            .collect();
        let away = self
            .store
            .auto_replies_since(now - Duration::days(flow::AWAY_DAYS))
            .await?
            .into_iter()
            .map(|(email, received_at, outcome)| flow::Away {
                email,
                received_at,
                until: flow::away_until_in(&outcome),
            })
            .collect();
        let snapshot = flow::Snapshot {
            councils: out,
            held,
            away,
            time_zone: tz,
        };
        Ok(flow::status(&snapshot, now))
    }

    /// `referent status [--council S]`: that council, or every council.
    pub async fn cli_status(&self, council: Option<&str>) -> Result<Status> {
        let councils = match council {
            Some(slug) => match self.store.council_by_slug(slug).await? {
                Some(c) => vec![c],
                None => {
                    return Err(super::DaemonError::Refused(format!(
                        "no council {slug:?}; see `referent council list`"
                    )))
                }
            },
            None => self.store.councils().await?,
        };
        self.status_of(&councils).await
    }

    /// "status" by mail from a coordinator: their councils' status, to their registered
    /// address. `None` when the sender coordinates no council (the message goes on as
    /// any other and is held for a coordinator).
    pub(crate) async fn status_by_mail(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        trust: &Trust,
    ) -> Result<Option<Handled>> {
        let roles = self.coordinator_roles(from).await?;
        let Some(me) = roles.first() else {
            return Ok(None);
        };
        let now = self.clock.now();
        let recent = self
            .store
            .count_recent(&me.email, "status", now - Duration::hours(1))
            .await?;
        if recent >= i64::from(self.cfg.receipts_per_hour) {
            return Ok(Some(Handled::done(format!(
                "status asked by {from} ({}); not sent: {recent} this hour already",
                trust.describe()
            ))));
        }
        let mut councils = Vec::new();
        for m in &roles {
            councils.push(self.store.council(m.council_id).await?);
        }
        // "status ur" / "status Utdanningsrådet": that council, when it names one of
        // theirs; otherwise all of them.
        if let Some(Command::Status { filter: Some(f) }) = &u.command {
            let f = f.to_lowercase();
            let named: Vec<Council> = councils
                .iter()
                .filter(|c| c.slug.to_lowercase() == f || c.name.to_lowercase().contains(&f))
                .cloned()
                .collect();
            if !named.is_empty() {
                councils = named;
            }
        }
        let status = self.status_of(&councils).await?;
        let mut data = serde_json::to_value(&status).unwrap_or_default();
        if let Some(d) = data.as_object_mut() {
            d.insert(
                "now".into(),
                crate::render::local_time(now, self.cfg.secretariat.time_zone).into(),
            );
        }
        let mail = self.reply_to_coordinator(
            "status",
            format!("status:{inbound_id}"),
            inbound_id,
            u,
            me,
            data,
        )?;
        let mut h = Handled::done(format!(
            "status of {} council(s) sent to {} ({})",
            councils.len(),
            me.email,
            trust.describe()
        ));
        h.mails.push(mail);
        h.events.push(crate::store::NewEvent::new(
            from,
            "status",
            None,
            Some(inbound_id),
            h.outcome.clone(),
        ));
        Ok(Some(h))
    }
}
