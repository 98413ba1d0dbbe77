//! The scheduled work: the tick, and the summons and reminder jobs (whom they reach is
//! decided in `workflow::jobs`; here they are rendered and committed with the job).

use super::*;

impl Daemon {
    // ----- scheduled work -------------------------------------------------------------------

    /// Runs every job that is due, and invites members added after the summons went out.
    pub async fn tick(&self, report: &mut Report) -> Result<()> {
        let now = self.clock.now();
        // `--now` may not go back before this.
        self.store.advance_clock(now).await?;
        // One job that fails (a broken template, an unreadable document) does not keep
        // the others from running: it stays pending and is tried at the next tick.
        let mut first_error = None;
        for job in self.store.due_jobs(now).await? {
            if self.stopping.is_cancelled() {
                return Ok(());
            }
            match self.run_job(&job).await {
                Ok(true) => report.jobs += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(job = job.id, kind = %job.kind, meeting = job.meeting_id, error = %e, "a scheduled job failed; it is tried again at the next tick");
                    first_error.get_or_insert(e);
                }
            }
        }
        // Members added after the summons went out get theirs now.
        for m in self.store.meetings_with_uninvited(now).await? {
            if let Err(e) = self.summons(&m, None).await {
                tracing::error!(meeting = m.id, error = %e, "cannot send the summons to members added late; tried again at the next tick");
                first_error.get_or_insert(e);
            }
        }
        // Proposals that waited for the hourly approval digest.
        match self.approval_digest().await {
            Ok(n) => report.jobs += n,
            Err(e) => {
                tracing::error!(error = %e, "cannot send the approval digest; tried again at the next tick");
                first_error.get_or_insert(e);
            }
        }
        // In January, last year's attendance to the coordinators.
        match self.yearly_reports().await {
            Ok(n) => report.jobs += n,
            Err(e) => {
                tracing::error!(error = %e, "cannot send the yearly attendance report; tried again at the next tick");
                first_error.get_or_insert(e);
            }
        }
        // Message bodies past the retention period are deleted (once a day).
        if let Err(e) = self.retention().await {
            tracing::error!(error = %e, "cannot delete message bodies past the retention period; tried again at the next tick");
            first_error.get_or_insert(e);
        }
        // Whatever is held reaches the coordinators.
        match self.held_digest().await {
            Ok(n) => report.jobs += n,
            Err(e) => {
                tracing::error!(error = %e, "cannot send the held-mail digest; tried again at the next tick");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) async fn run_job(&self, job: &crate::store::Job) -> Result<bool> {
        let meeting = self.store.meeting(job.meeting_id).await?;
        Ok(match job.kind {
            crate::domain::JobKind::Summons => self.summons(&meeting, Some(job.id)).await?,
            crate::domain::JobKind::Reminder => self.reminder(&meeting, job.id).await?,
            crate::domain::JobKind::Call => self.call_for_items(&meeting, job.id).await?,
            crate::domain::JobKind::Attendance => self.attendance_list(&meeting, job.id).await?,
            crate::domain::JobKind::MinutesDeadline => {
                self.corrections_digest(&meeting, job.id).await?
            }
        })
    }

    /// Creates the invitations and summons that are missing for a meeting, in one
    /// transaction with the job's completion. Returns false when another run did it.
    pub(crate) async fn summons(&self, m: &Meeting, job_id: Option<i64>) -> Result<bool> {
        let now = self.clock.now();
        let invited: HashSet<i64> = self
            .store
            .invitations(m.id)
            .await?
            .iter()
            .map(|i| i.member_id)
            .collect();
        let roster = self.store.members(m.council_id).await?;
        let to = match workflow::jobs::summons(m, &roster, &invited, job_id.is_some(), now) {
            Ok(to) => to,
            Err(workflow::jobs::Skip::NobodyNew) => return Ok(false),
            Err(skip) => {
                let event = NewEvent::new(
                    "scheduler",
                    "summons_skipped",
                    Some(m.id),
                    None,
                    skip.detail(),
                );
                return Ok(self
                    .store
                    .complete_job(job_id, &[], &[], &[event], &[], now)
                    .await?);
            }
        };
        let members: Vec<(&Member, bool)> = to
            .iter()
            .filter_map(|s| {
                roster
                    .iter()
                    .find(|mb| mb.id == s.member_id)
                    .map(|mb| (mb, s.asked))
            })
            .collect();
        // The first summons closes the agenda; later ones show it as it was closed.
        let (changes, agenda, mut agenda_events) = if job_id.is_some() {
            self.close_agenda(m).await?
        } else {
            (Vec::new(), self.store.agenda_items(m.id).await?, Vec::new())
        };
        // Each recipient reads the agenda in their language.
        let mut agenda_lines_in = std::collections::BTreeMap::new();
        for lang in crate::render::LANGUAGES {
            agenda_lines_in.insert(lang.as_str(), self.agenda_lines(&agenda, lang)?);
        }
        let agenda_lines = self.agenda_lines(&agenda, self.lang())?;
        let documents = self.agenda_documents(&agenda).await?;
        let mut invitations = Vec::with_capacity(members.len());
        for &(mb, asked) in &members {
            let token = Token::generate();
            let lang = self.lang_of(mb);
            let mut ctx = self.meeting_text(m, &mb.name, asked, lang)?;
            ctx.agenda = agenda_lines_in
                .get(lang.as_str())
                .cloned()
                .unwrap_or_else(|| agenda_lines.clone());
            // The calendar entry's description is the agenda in the reader's language.
            let ics = self.calendar_entry(
                m,
                "REQUEST",
                m.sequence,
                &mb.name,
                &mb.email,
                asked,
                &ctx.agenda.join("\n"),
                Some(token.as_str()),
            )?;
            let (message_id, raw) = self.compose(
                "summons",
                &ctx,
                &mb.name,
                &mb.email,
                Some(&token),
                None,
                "auto-generated",
                Some(("REQUEST", ics)),
                documents.clone(),
            )?;
            invitations.push((
                NewInvitation {
                    meeting_id: m.id,
                    member_id: mb.id,
                    token: token.as_str().to_string(),
                },
                OutgoingMail {
                    effect_key: format!("summons:{}:{}", m.id, mb.id),
                    message_id,
                    kind: "summons".into(),
                    recipient: mb.email.clone(),
                    envelope_from: self.cfg.secretariat.address.clone(),
                    raw,
                    meeting_id: Some(m.id),
                    invitation_id: None,
                    inbound_id: None,
                    grant: None,
                },
            ));
        }
        let event = NewEvent::new(
            "scheduler",
            "summons",
            Some(m.id),
            None,
            format!("summons to {} member(s)", invitations.len()),
        );
        // The agenda's audit lines go in the transaction that closes it.
        agenda_events.push(event);
        let done = self
            .store
            .complete_job(job_id, &invitations, &[], &agenda_events, &changes, now)
            .await?;
        if done {
            tracing::info!(meeting = m.id, count = invitations.len(), "summons queued");
        }
        Ok(done)
    }

    /// Reminds those asked to answer who have not.
    pub(crate) async fn reminder(&self, m: &Meeting, job_id: i64) -> Result<bool> {
        let now = self.clock.now();
        let mut mails = Vec::new();
        let invitations = self.store.invitations(m.id).await?;
        let members = self.store.members(m.council_id).await?;
        let remind = match workflow::jobs::reminders(m, &invitations, &members, now) {
            Ok(r) => r,
            Err(skip) => {
                return self
                    .finish_job(m, job_id, "reminder", skip.detail().to_string(), &[])
                    .await
            }
        };
        {
            for r in remind {
                let Some(inv) = invitations.iter().find(|i| i.id == r.invitation_id) else {
                    continue;
                };
                let lang = inv.member_language.unwrap_or(self.lang());
                let mut ctx = self.meeting_text(m, &inv.member_name, true, lang)?;
                ctx.tentative = r.tentative;
                let token = Token::parse(&inv.token);
                let (message_id, raw) = self.compose(
                    "reminder",
                    &ctx,
                    &inv.member_name,
                    &inv.member_email,
                    token.as_ref(),
                    None,
                    "auto-generated",
                    None,
                    Vec::new(),
                )?;
                mails.push(OutgoingMail {
                    effect_key: format!("reminder:{}", inv.id),
                    message_id,
                    kind: "reminder".into(),
                    recipient: inv.member_email.clone(),
                    envelope_from: self.cfg.secretariat.address.clone(),
                    raw,
                    meeting_id: Some(m.id),
                    invitation_id: Some(inv.id),
                    inbound_id: None,
                    grant: None,
                });
            }
        }
        let detail = format!("reminder to {} member(s) who had not answered", mails.len());
        self.finish_job(m, job_id, "reminder", detail, &mails).await
    }
}
