//! Meetings set up before the calendar rules (or the offsets in the configuration)
//! changed: their pending jobs are moved to where the rules put them now, once when
//! the daemon starts and at every `run --once`.

use super::*;

impl Daemon {
    /// Moves pending jobs whose due time the current rules put elsewhere (see
    /// [`workflow::jobs::rescheduled`]); each move is written to the audit log.
    /// Returns how many moved.
    pub(crate) async fn reschedule_pending(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut by_meeting: std::collections::BTreeMap<i64, Vec<workflow::jobs::PendingJob>> =
            Default::default();
        for j in self.store.pending_jobs().await? {
            by_meeting
                .entry(j.meeting_id)
                .or_default()
                .push((j.id, j.kind, j.due_at));
        }
        let mut moved = 0;
        for (meeting_id, pending) in by_meeting {
            let m = self.store.meeting(meeting_id).await?;
            let tz = self.tz(&m)?;
            let offsets = self.cfg.offsets(&m.council_slug);
            for (job_id, due) in workflow::jobs::rescheduled(&m, &pending, offsets, tz, now) {
                let Some((_, kind, old)) = pending.iter().find(|(id, ..)| *id == job_id) else {
                    continue;
                };
                self.store.reschedule_job(job_id, due).await?;
                let local = |t: chrono::DateTime<chrono::Utc>| {
                    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
                };
                let ev = NewEvent::new(
                    "scheduler",
                    "job_moved",
                    Some(meeting_id),
                    None,
                    format!(
                        "{kind} moved from {} to {} by the calendar rules",
                        local(*old),
                        local(due)
                    ),
                );
                self.store.commit(&[], &[], &[ev], now).await?;
                moved += 1;
            }
        }
        if moved > 0 {
            tracing::info!(
                moved,
                "pending jobs moved to where the calendar rules put them"
            );
        }
        Ok(moved)
    }
}
