//! Draft minutes, corrections and approval: the snapshot each decision needs is
//! loaded here, `workflow::minutes` decides, and the plan is committed in one
//! transaction with the message, job or command that caused it.

use super::trusted::Asked;
use super::year::Handled;
use super::{Daemon, DaemonError, Result};
use crate::domain::{Held, HeldReason, Token};
use crate::store::{Meeting, Minutes};
use crate::trust::Trust;
use crate::understand::Understanding;
use crate::workflow::minutes::{
    self as decide, ApproveSnapshot, Approver, Candidate, DigestSnapshot, Draft, MinutesMail,
    MinutesReply, Replier, Submission, SubmitSnapshot,
};
use crate::workflow::plan::File;

/// A stored version of the minutes as the workflow sees it.
fn draft_of(mi: &Minutes) -> Draft {
    Draft {
        id: mi.id,
        ref_key: mi.ref_key.clone(),
        version: mi.version,
        state: mi.state,
        deadline_at: mi.deadline_at,
        body: mi.body.clone(),
        attachment_name: mi.attachment_name.clone(),
    }
}

impl Daemon {
    /// Draft minutes sent to the mailbox by a coordinator.
    pub(super) async fn minutes_by_mail(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        raw: &[u8],
        trust: &Trust,
    ) -> Result<Handled> {
        let coordinates: Vec<i64> = self
            .coordinator_roles(from)
            .await?
            .iter()
            .map(|m| m.council_id)
            .collect();
        let mut meetings = Vec::new();
        let mut stored = Vec::new();
        for m in self.store.meetings().await? {
            if coordinates.contains(&m.council_id) {
                meetings.push(Candidate {
                    council_id: m.council_id,
                    meeting: self.meeting_facts(&m)?,
                });
                stored.push(m);
            }
        }
        let now = self.clock.now();
        let (meeting_id, body, attachment, authenticated) =
            match decide::read_minutes_mail(u, raw, from, &coordinates, &meetings, trust, now) {
                MinutesMail::Held(reason, why) => return Ok(Handled::held_for(reason, &why)),
                MinutesMail::Minutes {
                    meeting_id,
                    body,
                    attachment,
                    authenticated,
                } => (meeting_id, body, attachment, authenticated),
            };
        let Some(meeting) = stored.into_iter().find(|m| m.id == meeting_id) else {
            return Ok(Handled::held_for(
                HeldReason::MeetingGone,
                "minutes for a meeting that is gone",
            ));
        };
        if !authenticated {
            // Draft minutes reach everyone who attended: never on an unauthenticated
            // message. The coordinator it claims to come from confirms it.
            let recipients = decide::recipients(
                &self.invited(meeting.id).await?,
                &self.council_members(meeting.council_id).await?,
            );
            let n = recipients.len();
            let recipient_names: Vec<String> = recipients.iter().map(|p| p.name.clone()).collect();
            return self
                .confirm_first(
                    inbound_id,
                    u,
                    from,
                    Asked::MinutesDraft {
                        council: &meeting.council_name,
                        recipients: recipient_names,
                    },
                    &format!("draft minutes from {from} for {n} recipient(s)"),
                    trust,
                )
                .await;
        }
        self.submit_minutes(&meeting, &body, attachment, from, Some(inbound_id))
            .await
    }

    /// Sends a version of the draft minutes to those who attended and the coordinators,
    /// with the correction deadline.
    pub(super) async fn submit_minutes(
        &self,
        m: &Meeting,
        body: &str,
        attachment: Option<File>,
        by: &str,
        inbound_id: Option<i64>,
    ) -> Result<Handled> {
        let snapshot = SubmitSnapshot {
            meeting: self.meeting_facts(m)?,
            versions: self
                .store
                .minutes(m.id)
                .await?
                .iter()
                .map(draft_of)
                .collect(),
            invited: self.invited(m.id).await?,
            members: self.council_members(m.council_id).await?,
            correction_days: self.cfg.offsets(&m.council_slug).correction_days,
        };
        let submission = Submission {
            body,
            attachment,
            by,
            key: Token::generate().as_str().to_string(),
        };
        let p = decide::submit_minutes(&snapshot, submission, self.clock.now());
        self.realise(m, p, inbound_id)
    }

    /// A reply to draft minutes or to their digest.
    pub(super) async fn reply_to_minutes(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        mi: Minutes,
        trust: &Trust,
    ) -> Result<Handled> {
        let m = self.store.meeting(mi.meeting_id).await?;
        let who = Replier {
            coordinator: self.is_coordinator(from, m.council_id).await?,
            invited: self.store.invitation_for(m.id, from).await?.is_some(),
            member: self
                .store
                .members_by_email(from)
                .await?
                .iter()
                .any(|x| x.council_id == m.council_id),
        };
        match decide::reply_to_minutes(&draft_of(&mi), u, from, who, trust) {
            MinutesReply::ConfirmFirst => {
                self.confirm_first(
                    inbound_id,
                    u,
                    from,
                    Asked::MinutesReply {
                        council: &m.council_name,
                        version: mi.version,
                    },
                    &format!("a reply to the minutes from {from}"),
                    trust,
                )
                .await
            }
            MinutesReply::Approve => {
                self.approve_minutes(&m, &mi, Approver::Mail(from), Some(inbound_id))
                    .await
            }
            MinutesReply::Plan(p) => self.realise(&m, p, Some(inbound_id)),
        }
    }

    /// Approves a draft after its deadline and sends the final minutes to every member
    /// and observer.
    pub(super) async fn approve_minutes(
        &self,
        m: &Meeting,
        mi: &Minutes,
        approver: Approver<'_>,
        inbound_id: Option<i64>,
    ) -> Result<Handled> {
        let document = match (&mi.attachment_name, mi.inbound_id) {
            (Some(name), Some(src)) => {
                let raw = self.store.inbound_raw(src).await?;
                crate::understand::attachment_bytes(&raw, name).map(|(ct, b)| (name.clone(), ct, b))
            }
            _ => None,
        };
        let snapshot = ApproveSnapshot {
            meeting: self.meeting_facts(m)?,
            draft: draft_of(mi),
            document,
            members: self.council_members(m.council_id).await?,
        };
        let p = decide::approve_minutes(&snapshot, approver, self.clock.now());
        self.realise(m, p, inbound_id)
    }

    /// The end of the correction period: the coordinators get every correction.
    pub(crate) async fn corrections_digest(&self, m: &Meeting, job_id: i64) -> Result<bool> {
        let draft = self
            .store
            .minutes(m.id)
            .await?
            .into_iter()
            .filter(|x| x.state == crate::domain::MinutesState::Draft)
            .max_by_key(|x| x.version);
        let corrections = match &draft {
            Some(mi) => self
                .store
                .corrections(mi.id)
                .await?
                .into_iter()
                .map(|c| decide::Correction {
                    author: c.author,
                    item: c.item,
                    before: c.before,
                    after: c.after,
                    text: c.text,
                    no_remarks: c.no_remarks,
                })
                .collect(),
            None => Vec::new(),
        };
        let snapshot = DigestSnapshot {
            meeting: self.meeting_facts(m)?,
            draft: draft.as_ref().map(draft_of),
            corrections,
            invited: self.invited(m.id).await?,
            members: self.council_members(m.council_id).await?,
        };
        let h = self.realise(m, decide::corrections_digest(&snapshot), None)?;
        self.finish_job(m, job_id, "digest", h.outcome, &h.mails)
            .await
    }

    /// Commits what a command decided (approve an item, submit or approve minutes,
    /// move or cancel a meeting), or refuses with the reason when it would be held.
    pub(super) async fn commit_command(&self, h: Handled) -> Result<String> {
        if h.state == crate::store::InboundState::Held {
            // The reason's code is for the held-mail digest; the operator reads the
            // sentence.
            let (_, sentence) = Held::read(&h.outcome);
            return Err(DaemonError::Refused(sentence.to_string()));
        }
        let now = self.clock.now();
        self.store
            .commit(&h.changes, &h.mails, &h.events, now)
            .await?;
        self.store.advance_clock(now).await?;
        Ok(h.outcome)
    }

    pub async fn cli_submit_minutes(
        &self,
        meeting_id: i64,
        body: &str,
        attachment: Option<File>,
        by: &str,
    ) -> Result<String> {
        let m = self.store.meeting(meeting_id).await?;
        if m.starts_at > self.clock.now() {
            return Err(DaemonError::Refused(format!(
                "meeting {meeting_id} has not taken place yet"
            )));
        }
        let h = self.submit_minutes(&m, body, attachment, by, None).await?;
        self.commit_command(h).await
    }

    pub async fn cli_approve_minutes(&self, meeting_id: i64, by: &str) -> Result<String> {
        let m = self.store.meeting(meeting_id).await?;
        let Some(mi) = self
            .store
            .minutes(meeting_id)
            .await?
            .into_iter()
            .filter(|x| x.state == crate::domain::MinutesState::Draft)
            .max_by_key(|x| x.version)
        else {
            return Err(DaemonError::Refused(format!(
                "meeting {meeting_id} has no draft minutes to approve"
            )));
        };
        let h = self
            .approve_minutes(&m, &mi, Approver::Operator(by), None)
            .await?;
        self.commit_command(h).await
    }
}
