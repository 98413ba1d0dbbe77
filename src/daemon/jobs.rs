//! The scheduled work: the tick, and the summons and reminder jobs (whom they reach is
//! decided in `workflow::jobs`; here they are rendered and committed with the job).

use super::*;
use crate::store::JobChunk;

/// Members per transaction in the jobs that write to a whole council (the summons, the
/// call for agenda items, the reminder): the memory such a job takes is this many
/// rendered mails, whatever the size of the council.
pub(crate) const CHUNK: usize = 250;

/// What one run of the summons carries from chunk to chunk.
#[derive(Default)]
pub(crate) struct SummonsRun {
    /// The agenda as the first chunk found (or closed) it.
    agenda: Option<Agenda>,
    /// Invitations the meeting had when this run began (an earlier run stopped midway).
    already: i64,
    /// Summonses this run has committed.
    sent: usize,
}

/// The agenda every summons of a run shows.
struct Agenda {
    lines: Vec<String>,
    lines_in: std::collections::BTreeMap<&'static str, Vec<String>>,
    documents: Vec<(String, String, Vec<u8>)>,
}

/// What a chunk of the summons left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Members without an invitation may remain.
    More,
    /// The run is over; true when it did the job (or sent anything).
    Done(bool),
}

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

    /// Creates the invitations and summons that are missing for a meeting, a chunk of
    /// members per transaction (`store::summons`), the job marked done with the last.
    /// Returns false when another run did it, or when the daemon stops between chunks
    /// (the job stays pending and the next run carries on with those not yet invited).
    pub(crate) async fn summons(&self, m: &Meeting, job_id: Option<i64>) -> Result<bool> {
        let mut run = SummonsRun::default();
        loop {
            match self.summons_chunk(m, job_id, &mut run).await? {
                Chunk::Done(done) => return Ok(done),
                Chunk::More if self.stopping.is_cancelled() => return Ok(false),
                Chunk::More => {}
            }
        }
    }

    /// One chunk of the summons: the next members without an invitation, rendered and
    /// committed with their invitations; the first chunk of the job closes the agenda,
    /// the last marks the job done.
    pub(crate) async fn summons_chunk(
        &self,
        m: &Meeting,
        job_id: Option<i64>,
        run: &mut SummonsRun,
    ) -> Result<Chunk> {
        let now = self.clock.now();
        let limit = self.chunk.max(1);
        let chunk = self
            .store
            .uninvited_members(m.id, m.council_id, limit as i64)
            .await?;
        let last = chunk.len() < limit;
        let to = match workflow::jobs::summons(m, &chunk, job_id.is_some(), now) {
            Ok(to) => to,
            Err(workflow::jobs::Skip::NobodyNew) => {
                if run.sent > 0 {
                    tracing::info!(meeting = m.id, count = run.sent, "summons queued");
                }
                return Ok(Chunk::Done(run.sent > 0));
            }
            Err(skip) => {
                let event = NewEvent::new(
                    "scheduler",
                    "summons_skipped",
                    Some(m.id),
                    None,
                    skip.detail(),
                );
                return Ok(Chunk::Done(
                    self.store
                        .complete_job(job_id, &[], &[], &[event], &[], now)
                        .await?,
                ));
            }
        };
        // The first summons closes the agenda (with its first chunk); later chunks and
        // later summonses show it as it was closed.
        let mut changes = Vec::new();
        let mut events = Vec::new();
        if run.agenda.is_none() {
            let (c, agenda, e) = if job_id.is_some() {
                self.close_agenda(m).await?
            } else {
                (Vec::new(), self.store.agenda_items(m.id).await?, Vec::new())
            };
            (changes, events) = (c, e);
            run.already = self.store.invitation_count(m.id).await?;
            run.agenda = Some(self.summons_agenda(agenda).await?);
        }
        let Some(agenda) = &run.agenda else {
            return Ok(Chunk::Done(false));
        };
        let mut invitations = Vec::with_capacity(to.len());
        for s in &to {
            let Some(mb) = chunk.iter().find(|mb| mb.id == s.member_id) else {
                continue;
            };
            invitations.push(self.summons_mail(m, mb, s.asked, agenda)?);
        }
        let count = invitations.len();
        // The audit line: one for the job, with the last chunk; one per chunk for the
        // members added late (no job keeps the count between runs).
        if job_id.is_none() || last {
            let total = match job_id {
                Some(_) => run.already + (run.sent + count) as i64,
                None => count as i64,
            };
            events.push(NewEvent::new(
                "scheduler",
                "summons",
                Some(m.id),
                None,
                format!("summons to {total} member(s)"),
            ));
        }
        let committed = self
            .store
            .commit_chunk(
                JobChunk {
                    job_id,
                    last,
                    meeting_id: m.id,
                    invitations,
                    changes,
                    events,
                    ..JobChunk::default()
                },
                now,
            )
            .await?;
        if !committed {
            return Ok(Chunk::Done(false));
        }
        run.sent += count;
        if last {
            tracing::info!(meeting = m.id, count = run.sent, "summons queued");
            return Ok(Chunk::Done(true));
        }
        tracing::debug!(meeting = m.id, count, "a chunk of the summons queued");
        Ok(Chunk::More)
    }

    /// What every summons of a run shares: the agenda in each language, its documents.
    async fn summons_agenda(&self, agenda: Vec<crate::store::AgendaItem>) -> Result<Agenda> {
        let mut lines_in = std::collections::BTreeMap::new();
        for lang in crate::render::LANGUAGES {
            lines_in.insert(lang.as_str(), self.agenda_lines(&agenda, lang)?);
        }
        Ok(Agenda {
            lines: self.agenda_lines(&agenda, self.lang())?,
            lines_in,
            documents: self.agenda_documents(&agenda).await?,
        })
    }

    /// One member's invitation and summons.
    fn summons_mail(
        &self,
        m: &Meeting,
        mb: &Member,
        asked: bool,
        agenda: &Agenda,
    ) -> Result<(NewInvitation, OutgoingMail)> {
        let token = Token::generate();
        let lang = self.lang_of(mb);
        let mut ctx = self.meeting_text(m, &mb.name, asked, lang)?;
        // Each recipient reads the agenda in their language.
        ctx.agenda = agenda
            .lines_in
            .get(lang.as_str())
            .cloned()
            .unwrap_or_else(|| agenda.lines.clone());
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
            agenda.documents.clone(),
        )?;
        Ok((
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
        ))
    }

    /// Reminds those asked to answer who have not, a chunk of invitations per
    /// transaction; the job is done with the last. A run stopped midway is done again
    /// by the next, the reminders already written kept once by their effect key.
    pub(crate) async fn reminder(&self, m: &Meeting, job_id: i64) -> Result<bool> {
        let now = self.clock.now();
        let failing = self.store.failing_members(m.council_id).await?;
        let limit = self.chunk.max(1);
        let (mut after, mut count) = (0, 0usize);
        loop {
            let page = self
                .store
                .invitations_page(m.id, after, limit as i64)
                .await?;
            let last = page.len() < limit;
            let remind = match workflow::jobs::reminders(m, &page, &failing, now) {
                Ok(r) => r,
                Err(skip) => {
                    return self
                        .finish_job(m, job_id, "reminder", skip.detail().to_string(), &[])
                        .await
                }
            };
            after = page.last().map_or(after, |i| i.id);
            let mut mails = Vec::with_capacity(remind.len());
            for r in remind {
                let Some(inv) = page.iter().find(|i| i.id == r.invitation_id) else {
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
            count += mails.len();
            let detail = format!("reminder to {count} member(s) who had not answered");
            if !self
                .job_chunk(m, job_id, last, mails, "reminder", detail)
                .await?
            {
                return Ok(false);
            }
            if last {
                return Ok(true);
            }
        }
    }

    /// Commits one chunk of mail of a job that writes to the whole council; the last
    /// with the job's completion and its audit line. False when the job is done (or
    /// cancelled) meanwhile, or the daemon stops between chunks: the job stays
    /// pending then, and the next run writes its chunks again.
    pub(crate) async fn job_chunk(
        &self,
        m: &Meeting,
        job_id: i64,
        last: bool,
        mails: Vec<OutgoingMail>,
        kind: &str,
        detail: String,
    ) -> Result<bool> {
        let events = match last {
            true => vec![NewEvent::new("scheduler", kind, Some(m.id), None, detail)],
            false => Vec::new(),
        };
        let chunk = JobChunk {
            job_id: Some(job_id),
            last,
            meeting_id: m.id,
            mails,
            events,
            ..JobChunk::default()
        };
        let committed = self.store.commit_chunk(chunk, self.clock.now()).await?;
        Ok(committed && (last || !self.stopping.is_cancelled()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::domain::{JobKind, Place, Role};
    use crate::store::NewMember;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    async fn daemon(cfg: &Config, now: DateTime<Utc>, chunk: usize) -> Daemon {
        let store = Store::open(&cfg.database_url).await.unwrap();
        let mut d = Daemon::new(cfg.clone(), store, Arc::new(FixedClock(now)))
            .await
            .unwrap();
        d.chunk = chunk;
        d
    }

    fn kinds(events: &[crate::store::Event], kind: &str) -> Vec<String> {
        events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.detail.clone())
            .collect()
    }

    async fn council(cfg: &Config, d: &Daemon, now: DateTime<Utc>, n: usize) -> (i64, i64) {
        let store = &d.store;
        let c = store
            .add_council("ur", "Utdanningsrådet", now)
            .await
            .unwrap();
        let members: Vec<NewMember> = (0..n)
            .map(|i| NewMember {
                name: format!("Medlem {i:02}"),
                email: format!("m{i}@hf.example"),
                organisation: None,
                role: if i == n - 1 {
                    Role::Observer
                } else {
                    Role::Member
                },
                doctor: false,
                language: None,
                vara: None,
            })
            .collect();
        store.add_members(c, &members, now).await.unwrap();
        let starts = at("2027-03-09T09:00:00Z");
        let (mid, _) = crate::council::add_meeting(
            store,
            cfg,
            c,
            "ur",
            "Møte".into(),
            starts,
            starts + chrono::Duration::hours(2),
            Place {
                room: Some("Ullevål".into()),
                digital_link: None,
            },
            now,
        )
        .await
        .unwrap();
        (c, mid)
    }

    /// The call for agenda items and the reminder go a chunk at a time; a stop between
    /// chunks leaves the job pending, and the next run writes what is missing, nothing
    /// twice, with one audit line.
    #[tokio::test]
    async fn the_call_and_the_reminder_stopped_between_chunks_are_finished_once() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::embedded(dir.path());
        // Before the agenda deadline: the call is due, the summons not yet.
        let now = at("2027-02-10T08:00:00Z");
        let first = daemon(&cfg, now, 4).await;
        let (_, mid) = council(&cfg, &first, now, 10).await;
        let call = first.store.due_jobs(now).await.unwrap();
        assert_eq!(call.len(), 1);
        assert_eq!(call[0].kind, JobKind::Call);
        first.stopping.cancel();
        assert!(!first.run_job(&call[0]).await.unwrap(), "stopped midway");
        assert_eq!(first.store.outbox().await.unwrap().len(), 4);
        drop(first);
        let next = daemon(&cfg, now, 4).await;
        let mut report = Report::default();
        next.tick(&mut report).await.unwrap();
        next.tick(&mut report).await.unwrap();
        let calls: Vec<String> = next
            .store
            .outbox()
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.kind == "call")
            .map(|o| o.effect_key)
            .collect();
        // Nine members; the observer is not called for items.
        assert_eq!(calls.len(), 9, "{calls:?}");
        let events = next.store.events(Some(mid)).await.unwrap();
        assert_eq!(
            kinds(&events, "call"),
            vec!["call for agenda items to 9 member(s)"]
        );

        // The summons, then the reminder to the nine asked to answer (not the observer).
        let later = at("2027-03-05T08:00:00Z");
        let d = daemon(&cfg, later, 4).await;
        for j in d.store.due_jobs(later).await.unwrap() {
            if j.kind == JobKind::Summons {
                assert!(d.run_job(&j).await.unwrap());
            }
        }
        let reminder = d
            .store
            .due_jobs(later)
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.kind == JobKind::Reminder)
            .unwrap();
        d.stopping.cancel();
        assert!(!d.run_job(&reminder).await.unwrap(), "stopped midway");
        let d = daemon(&cfg, later, 4).await;
        assert!(d.run_job(&reminder).await.unwrap());
        assert!(!d.run_job(&reminder).await.unwrap(), "done once");
        let reminders = d
            .store
            .outbox()
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.kind == "reminder")
            .count();
        assert_eq!(reminders, 9);
        let events = d.store.events(Some(mid)).await.unwrap();
        assert_eq!(
            kinds(&events, "reminder"),
            vec!["reminder to 9 member(s) who had not answered"]
        );
    }

    /// A summons to more members than a chunk, stopped after its first chunk as a crash
    /// would stop it: the next run invites exactly those not yet invited, the agenda is
    /// closed once, the job is done once, and nobody gets two summonses.
    #[tokio::test]
    async fn a_summons_stopped_between_chunks_is_finished_by_the_next_run_losing_and_doubling_nothing(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::embedded(dir.path());
        let now = at("2027-02-25T08:00:00Z");
        let first = daemon(&cfg, now, 4).await;
        let store = &first.store;
        let (c, mid) = council(&cfg, &first, now, 10).await;
        let meeting = store.meeting(mid).await.unwrap();
        // The jobs due before the summons (the call for items) run first, out of the way.
        let due = store.due_jobs(now).await.unwrap();
        let summons_job = due.iter().find(|j| j.kind == JobKind::Summons).unwrap().id;
        for j in due.iter().filter(|j| j.kind != JobKind::Summons) {
            first.run_job(j).await.unwrap();
        }

        // The first chunk, then the process dies.
        let mut run = SummonsRun::default();
        let step = first
            .summons_chunk(&meeting, Some(summons_job), &mut run)
            .await
            .unwrap();
        assert_eq!(step, Chunk::More);
        assert_eq!(store.invitations(mid).await.unwrap().len(), 4);
        assert_eq!(store.outbox().await.unwrap().len(), 4);
        assert!(store
            .due_jobs(now)
            .await
            .unwrap()
            .iter()
            .any(|j| j.id == summons_job));
        let closed = store.agenda_items(mid).await.unwrap();
        assert!(closed.iter().all(|i| i.number.is_some()));
        let events = store.events(Some(mid)).await.unwrap();
        assert_eq!(
            kinds(&events, "agenda").len(),
            1,
            "the first chunk closes it"
        );
        assert!(
            kinds(&events, "summons").is_empty(),
            "the job is not done yet"
        );
        drop(first);

        // The next start finishes the job with the members not yet invited.
        let next = daemon(&cfg, now + chrono::Duration::minutes(1), 4).await;
        let mut report = Report::default();
        next.tick(&mut report).await.unwrap();
        let invitations = next.store.invitations(mid).await.unwrap();
        assert_eq!(invitations.len(), 10);
        let outbox = next.store.outbox().await.unwrap();
        let mut keys: Vec<String> = outbox.iter().map(|o| o.effect_key.clone()).collect();
        keys.sort();
        keys.dedup();
        let mut want: Vec<String> = invitations
            .iter()
            .map(|i| format!("summons:{mid}:{}", i.member_id))
            .collect();
        want.sort();
        assert_eq!(keys, want, "one summons per member, none twice");
        assert_eq!(outbox.len(), 10);
        assert!(outbox
            .iter()
            .all(|o| o.invitation_id.is_some() && o.kind == "summons"));
        assert!(next
            .store
            .jobs(mid)
            .await
            .unwrap()
            .iter()
            .any(|j| j.id == summons_job && j.state == crate::domain::JobState::Done));
        let events = next.store.events(Some(mid)).await.unwrap();
        assert_eq!(kinds(&events, "agenda").len(), 1, "closed once");
        assert_eq!(kinds(&events, "summons"), vec!["summons to 10 member(s)"]);
        let after: Vec<_> = next
            .store
            .agenda_items(mid)
            .await
            .unwrap()
            .iter()
            .map(|i| (i.id, i.number))
            .collect();
        let before: Vec<_> = closed.iter().map(|i| (i.id, i.number)).collect();
        assert_eq!(after, before, "the agenda as the first chunk closed it");

        // Nothing more at the next tick; a member added late gets theirs.
        next.tick(&mut report).await.unwrap();
        assert_eq!(next.store.outbox().await.unwrap().len(), 10);
        next.store
            .add_members(
                c,
                &[NewMember {
                    name: "Sen Ankomst".into(),
                    email: "sen@hf.example".into(),
                    organisation: None,
                    role: Role::Member,
                    doctor: false,
                    language: None,
                    vara: None,
                }],
                now,
            )
            .await
            .unwrap();
        next.tick(&mut report).await.unwrap();
        assert_eq!(next.store.invitations(mid).await.unwrap().len(), 11);
        assert_eq!(next.store.outbox().await.unwrap().len(), 11);
        let events = next.store.events(Some(mid)).await.unwrap();
        assert_eq!(
            kinds(&events, "summons"),
            vec!["summons to 10 member(s)", "summons to 1 member(s)"]
        );
    }
}
