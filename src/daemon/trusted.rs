//! Acting only on what can be trusted: a message that would change someone else's
//! state or reach many people, from a sender nothing authenticates, is held and the
//! person it claims to come from is asked to confirm it by a one-word reply to their
//! registered address. A forger never sees the request; the real person confirms with
//! "bekreft". See `crate::trust` for how a sender is authenticated.

use chrono::Duration;

use super::year::Handled;
use super::{Acting, Daemon, Report, Result};

use serde_json::json;

use crate::domain::Answer;
use crate::store::{Change, InboundOutcome, InboundState, KeyRow, Meeting, NewEvent, OutgoingMail};
use crate::trust::Trust;
use crate::understand::{Decision, Understanding};
use crate::workflow::confirm as flow;

/// What a confirmation request is decided from, as loaded.
struct Loaded {
    inbound_id: i64,
    ask: String,
    member: Option<crate::workflow::plan::Person>,
    sent_last_hour: i64,
    per_hour: u32,
    now: chrono::DateTime<chrono::Utc>,
    lang: crate::domain::Language,
}

impl Loaded {
    fn with<'a>(&'a self, u: &'a Understanding) -> flow::Requesting<'a> {
        flow::Requesting {
            inbound_id: self.inbound_id,
            u,
            ask: &self.ask,
            member: self.member.as_ref(),
            sent_last_hour: self.sent_last_hour,
            per_hour: self.per_hour,
            now: self.now,
            lang: self.lang,
        }
    }
}

/// What a confirmation request asks about: the `confirm` template says it in the
/// recipient's language, one paragraph per kind (`action` in its data).
pub(crate) enum Asked<'a> {
    /// An answer to a summons, for `member`; `outsider` when the substitute it names is
    /// not on the council (they would get the summons and the link).
    Answer {
        member: &'a str,
        meeting: &'a Meeting,
        answer: &'a Answer,
        outsider: bool,
    },
    /// An agenda proposal from `proposer`, forwarded in the asked person's name.
    ForwardedProposal { proposer: &'a str, title: &'a str },
    /// A decision on the agenda proposal `title`.
    Decision { title: &'a str, decision: Decision },
    /// Draft minutes for the meeting of `council`, to go to `recipients` (names).
    MinutesDraft {
        council: &'a str,
        recipients: Vec<String>,
    },
    /// A reply to version `version` of the draft minutes of `council`.
    MinutesReply { council: &'a str, version: i64 },
    /// A decision about the extra attendee `extra` of `member`.
    ExtraAttendee { extra: &'a str, member: &'a str },
    /// A change to a meeting asked for by mail, as understood: the `confirm`
    /// template's data for it (`action` `meeting_add`, `meeting_move` or
    /// `meeting_cancel`, with the council, the times, the place and the reason).
    MeetingChange(serde_json::Value),
    /// A roster by mail, as compared: the `confirm` template's data for it (`action`
    /// `roster`, the council, who is added, changed, leaving and kept).
    Roster(serde_json::Value),
}

impl Asked<'_> {
    /// What the `confirm` template is told about it. `own`: the message is the asked
    /// person's own answer, not a forward.
    fn data(
        &self,
        own: bool,
        tz: impl Fn(&Meeting) -> Result<chrono_tz::Tz>,
    ) -> Result<serde_json::Value> {
        Ok(match self {
            Asked::Answer {
                member,
                meeting,
                answer,
                outsider,
            } => json!({
                "action": if own { "answer" } else { "forwarded_answer" },
                "member": member,
                "council": meeting.council_name,
                "starts": crate::render::local_time(meeting.starts_at, tz(meeting)?),
                "answer": answer,
                "outsider": outsider,
            }),
            Asked::ForwardedProposal { proposer, title } => json!({
                "action": "forwarded_proposal",
                "proposer": proposer,
                "title": title,
            }),
            Asked::Decision { title, decision } => json!({
                "action": "decision",
                "title": title,
                "decision": decision,
            }),
            Asked::MinutesDraft {
                council,
                recipients,
            } => json!({
                "action": "minutes_draft",
                "council": council,
                "recipients": recipients,
            }),
            Asked::MinutesReply { council, version } => json!({
                "action": "minutes_reply",
                "council": council,
                "version": version,
            }),
            Asked::ExtraAttendee { extra, member } => json!({
                "action": "extra_attendee",
                "extra": extra,
                "member": member,
            }),
            Asked::MeetingChange(data) | Asked::Roster(data) => data.clone(),
        })
    }
}

impl Daemon {
    /// The mail that asks `ask` to confirm a held message, and a note for the outcome.
    /// Requests count against the per-address hourly cap, like receipts.
    pub(crate) async fn confirmation_request(
        &self,
        inbound_id: i64,
        u: &Understanding,
        ask: &str,
        asked: Asked<'_>,
    ) -> Result<(Option<OutgoingMail>, String)> {
        let (r, action) = self.requesting(inbound_id, u, ask, asked).await?;
        let (mail, note) = flow::confirmation_request(&r.with(u), action);
        Ok((mail.map(|m| self.plan_mail(m, None)).transpose()?, note))
    }

    /// What a confirmation request is decided from, and what the `confirm` template is
    /// told about what is asked.
    async fn requesting(
        &self,
        inbound_id: i64,
        u: &Understanding,
        ask: &str,
        asked: Asked<'_>,
    ) -> Result<(Loaded, serde_json::Value)> {
        let now = self.clock.now();
        let sent_last_hour = self
            .store
            .count_recent(ask, "confirm", now - Duration::hours(1))
            .await?;
        if sent_last_hour >= i64::from(self.cfg.receipts_per_hour) {
            // No request: nothing more to look up.
            let loaded = Loaded {
                inbound_id,
                ask: ask.to_string(),
                member: None,
                sent_last_hour,
                per_hour: self.cfg.receipts_per_hour,
                now,
                lang: self.lang(),
            };
            return Ok((loaded, serde_json::Value::Null));
        }
        let member = self.store.members_by_email(ask).await?.into_iter().next();
        let action = asked.data(flow::is_own(u, ask), |m| self.tz(m))?;
        let loaded = Loaded {
            inbound_id,
            ask: ask.to_string(),
            member: member.as_ref().map(|m| self.person(m)),
            sent_last_hour,
            per_hour: self.cfg.receipts_per_hour,
            now,
            lang: self.lang(),
        };
        Ok((loaded, action))
    }

    /// Holds a message until `ask` confirms it.
    pub(crate) async fn confirm_first(
        &self,
        inbound_id: i64,
        u: &Understanding,
        ask: &str,
        asked: Asked<'_>,
        what: &str,
        trust: &Trust,
    ) -> Result<Handled> {
        self.confirm_first_because(
            inbound_id,
            u,
            ask,
            asked,
            what,
            trust,
            crate::domain::HeldReason::Unverified,
        )
        .await
    }

    /// The same, held for `reason` (see `workflow::confirm::confirm_first_because`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn confirm_first_because(
        &self,
        inbound_id: i64,
        u: &Understanding,
        ask: &str,
        asked: Asked<'_>,
        what: &str,
        trust: &Trust,
        reason: crate::domain::HeldReason,
    ) -> Result<Handled> {
        let (r, action) = self.requesting(inbound_id, u, ask, asked).await?;
        self.confirmed(flow::confirm_first_because(
            &r.with(u),
            action,
            what,
            &trust.describe(),
            reason,
        ))
    }

    /// A reply to a confirmation request: "bekreft" acts on the held message as the
    /// person's own, "avvis" sets it aside. Only the address the request went to can
    /// answer it, with the key it carried.
    pub(crate) async fn reply_to_confirmation(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        key: KeyRow,
        trust: Trust,
        report: &mut Report,
    ) -> Result<Handled> {
        let now = self.clock.now();
        let described = trust.describe();
        let r = flow::ConfirmationReply {
            inbound_id,
            from,
            text: &u.reply_text,
            asked: &key.grant.address,
            key: &key.grant.key,
            reference: &key.grant.reference,
            used: key.used_at.is_some(),
            expires: key.grant.expires_at,
            authenticated: trust.is_authenticated(),
            trust: &described,
            now,
        };
        let (reply, id) = match flow::read_confirmation_reply(&r) {
            Ok(read) => read,
            Err(p) => return self.confirmed(*p),
        };
        let summary = self.store.inbound(id).await?;
        let original = flow::Original {
            id,
            state: summary.state,
            subject: summary.subject.clone().unwrap_or_default(),
        };
        let mut memberships = Vec::new();
        if reply == flow::Reply::Refuse {
            for m in self.store.members_by_email(from).await? {
                let coordinators = self.store.coordinators(m.council_id).await?;
                memberships.push(flow::Membership {
                    name: m.name,
                    coordinators: coordinators.iter().map(|m| self.person(m)).collect(),
                });
            }
        }
        let (settle, p) = flow::settle_confirmation(&r, reply, &original, &memberships);
        match settle {
            flow::Settle::Nothing => {}
            flow::Settle::Act => {
                let raw = self.store.inbound_raw(id).await?;
                let acting = Acting {
                    trust: Trust::Confirmed(from.to_string()),
                    as_address: None,
                };
                Box::pin(self.act(id, &raw, summary.received_at, report, Some(&acting))).await?;
            }
            flow::Settle::SetAside { outcome, event } => {
                let outcome = InboundOutcome {
                    state: InboundState::Ignored,
                    kind: summary.kind.clone().unwrap_or_else(|| "unknown".into()),
                    sender: summary.sender.clone(),
                    subject: summary.subject.clone().unwrap_or_default(),
                    outcome,
                    problems: summary.problems.clone(),
                    invitation_id: summary.invitation_id,
                };
                let ev = super::year::plan_event(event);
                self.store
                    .finish_inbound(id, &outcome, None, &[], &[ev], &[], now)
                    .await?;
            }
        }
        self.confirmed(p)
    }

    /// A confirmation reply's plan as the commit takes it.
    fn confirmed(&self, p: crate::workflow::plan::Plan<flow::Change>) -> Result<Handled> {
        self.handled_plan(p, |c| match c {
            flow::Change::UseKey { key } => Some(Change::UseKey { key }),
        })
    }
}

impl Daemon {
    /// Acts on a held message as that person's own (a coordinator vouches for its
    /// sender), and writes what came of it to the audit trail; the message as it is
    /// after (still held when it answers nothing that person may answer).
    pub(crate) async fn apply_held(
        &self,
        id: i64,
        as_address: &str,
        by: &str,
    ) -> Result<crate::store::InboundSummary> {
        let summary = self.store.inbound(id).await?;
        let is_member = summary.state != crate::domain::InboundState::Held
            || !self.store.members_by_email(as_address).await?.is_empty();
        if let Err(why) = crate::workflow::held::may_apply(id, summary.state, as_address, is_member)
        {
            // A refused try is in the audit trail too.
            let ev = NewEvent::new(
                by,
                "inbox_apply",
                None,
                Some(id),
                format!("message {id}: not acted on as {as_address}'s: {why}"),
            );
            self.store.commit(&[], &[], &[ev], self.clock.now()).await?;
            return Err(super::DaemonError::Refused(why));
        }
        let raw = self.store.inbound_raw(id).await?;
        let acting = Acting {
            trust: Trust::Confirmed(by.to_string()),
            as_address: Some(as_address.to_string()),
        };
        let mut report = Report::default();
        self.act(id, &raw, summary.received_at, &mut report, Some(&acting))
            .await?;
        let after = self.store.inbound(id).await?;
        let outcome = after.outcome.clone().unwrap_or_default();
        let detail = if after.state == InboundState::Held {
            format!("message {id}: acting on it as {as_address}'s changed nothing; still held: {outcome}")
        } else {
            format!("message {id} applied as {as_address}'s: {outcome}")
        };
        let ev = NewEvent::new(by, "inbox_apply", None, Some(id), detail);
        self.store.commit(&[], &[], &[ev], self.clock.now()).await?;
        Ok(after)
    }

    /// `inbox apply ID --as ADDRESS`: [`Daemon::apply_held`], refused (an error, a
    /// non-zero exit) with the reason when the message stays held.
    pub async fn cli_apply(&self, id: i64, as_address: &str, by: &str) -> Result<String> {
        let after = self.apply_held(id, as_address, by).await?;
        let outcome = after.outcome.unwrap_or_default();
        if after.state != InboundState::Held {
            return Ok(format!("message {id}: {} ({outcome})", after.state));
        }
        // An answer with no key to a summons is applied to the person's one upcoming
        // meeting; with several (or none) it stays held.
        let upcoming = match after.invitation_id {
            None => {
                self.store
                    .upcoming_invitations(as_address, self.clock.now())
                    .await?
            }
            Some(_) => Vec::new(),
        };
        let why = if after.invitation_id.is_some() {
            outcome
        } else if upcoming.is_empty() {
            format!("{as_address} is not invited to any upcoming meeting")
        } else if upcoming.len() == 1 {
            outcome
        } else {
            let mut meetings = Vec::new();
            for inv in &upcoming {
                let m = self.store.meeting(inv.meeting_id).await?;
                let at = m.starts_at.with_timezone(&self.tz(&m)?);
                meetings.push(format!(
                    "meeting {} on {}",
                    m.id,
                    at.format("%Y-%m-%d %H:%M")
                ));
            }
            format!(
                "{as_address} is invited to {} upcoming meetings ({}) and the message names none of them (it answers no summons). Ask them to answer the summons of the meeting they mean",
                meetings.len(),
                meetings.join(", ")
            )
        };
        Err(super::DaemonError::Refused(format!(
            "message {id} is still held: {why}. `referent inbox dismiss {id}` sets it aside"
        )))
    }

    /// `inbox dismiss ID`: sets a held message aside.
    pub async fn cli_dismiss(&self, id: i64, by: &str) -> Result<String> {
        let summary = self.store.inbound(id).await?;
        let dismissed = crate::workflow::held::dismissal(
            id,
            summary.state,
            summary.outcome.as_deref().unwrap_or_default(),
            by,
        )
        .map_err(super::DaemonError::Refused)?;
        let outcome = InboundOutcome {
            state: InboundState::Ignored,
            kind: summary.kind.clone().unwrap_or_else(|| "unknown".into()),
            sender: summary.sender.clone(),
            subject: summary.subject.clone().unwrap_or_default(),
            outcome: dismissed,
            problems: summary.problems.clone(),
            invitation_id: summary.invitation_id,
        };
        let ev = NewEvent::new(by, "inbox_dismiss", None, Some(id), outcome.outcome.clone());
        self.store
            .finish_inbound(id, &outcome, None, &[], &[ev], &[], self.clock.now())
            .await?;
        Ok(format!("message {id} dismissed"))
    }

    /// `inbox retry ID`: tries a held or quarantined message again from the start.
    pub async fn cli_retry(&self, id: i64, by: &str) -> Result<String> {
        let ev = NewEvent::new(
            by,
            "inbox_retry",
            None,
            Some(id),
            format!("message {id} tried again by {by}"),
        );
        if !self.store.retry_inbound(id, &ev, self.clock.now()).await? {
            return Err(super::DaemonError::Refused(format!(
                "message {id} is not held or ignored: nothing to retry"
            )));
        }
        let summary = self.store.inbound(id).await?;
        let raw = self.store.inbound_raw(id).await?;
        let mut report = Report::default();
        self.act_on_stored(id, &raw, summary.received_at, &mut report)
            .await;
        let after = self.store.inbound(id).await?;
        Ok(format!(
            "message {id}: {} ({})",
            after.state,
            after.outcome.unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The year's kinds of request say in the template what they said inline before.
    #[test]
    fn every_kind_of_request_is_said_in_every_language() {
        let r = crate::render::Renderer::new().unwrap();
        let common = crate::render::Common {
            name: "Eldbjørg".into(),
            full_name: "Eldbjørg Koordinator".into(),
            secretariat: "RegUt".into(),
            ..Default::default()
        };
        let asked = [
            (
                Asked::ForwardedProposal {
                    proposer: "Anna Ahus",
                    title: "Ny veileder",
                },
                "Vi har mottatt en videresendt melding i ditt navn med et forslag til sak fra Anna Ahus: «Ny veileder». Vi kan ikke se at den kommer fra deg, så forslaget registreres ikke før du bekrefter.",
            ),
            (
                Asked::Decision {
                    title: "Ny veileder",
                    decision: Decision::Defer,
                },
                "Vi har mottatt en avgjørelse i ditt navn om forslaget «Ny veileder»: utsatt. Vi kan ikke se sikkert at den kommer fra deg, så vi gjennomfører den ikke før du bekrefter.",
            ),
            (
                Asked::MinutesDraft {
                    council: "Utdanningsrådet",
                    recipients: vec!["Kari Hansen".into(), "Per Vara".into()],
                },
                "Vi har mottatt et utkast til referat i ditt navn for møtet i Utdanningsrådet. Svar «bekreft» for å sende det til 2 mottakere (Kari Hansen, Per Vara).",
            ),
            (
                Asked::MinutesReply {
                    council: "Utdanningsrådet",
                    version: 2,
                },
                "Vi har mottatt et svar i ditt navn på utkastet til referat fra møtet i Utdanningsrådet (versjon 2). Vi kan ikke se sikkert at det kommer fra deg, så vi registrerer det ikke før du bekrefter.",
            ),
            (
                Asked::ExtraAttendee {
                    extra: "Per Hansen",
                    member: "Ola Nordmann",
                },
                "Vi har mottatt et svar i ditt navn om bisitteren Per Hansen til Ola Nordmann. Vi kan ikke se sikkert at det kommer fra deg, så vi gjennomfører det ikke før du bekrefter.",
            ),
        ];
        for (a, nb) in &asked {
            for lang in crate::render::LANGUAGES {
                let mut data = a.data(false, |_| Ok(chrono_tz::Europe::Oslo)).unwrap();
                let fields = json!({"subject": "Sak", "sender": "koord@hf.example", "attachments": [], "lines": [], "more_lines": 0, "days": 7});
                data.as_object_mut()
                    .unwrap()
                    .extend(fields.as_object().unwrap().clone());
                let text = r.render_kind(lang, "confirm", &common, &data).unwrap();
                let first = text.body.lines().nth(2).unwrap_or("");
                assert!(!first.is_empty(), "{lang:?}: {}", text.body);
                if lang == crate::domain::Language::Nb {
                    assert_eq!(first, *nb);
                }
            }
        }
    }
}
