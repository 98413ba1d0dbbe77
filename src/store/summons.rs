//! Jobs that write to a whole council, in chunks: the summons, the call for agenda
//! items and the reminder take a few hundred members per transaction, each chunk's
//! invitations committed with their mail, so memory stays bounded by the chunk and
//! not by the roster. A run that stops between chunks (a crash, a stop) leaves the job
//! pending; the next run invites the members who have no invitation yet (the summons)
//! or writes the chunks again, the mail already written kept by its effect key (the
//! call, the reminder), and the job is done only with the last chunk.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{
    apply, enqueue, insert_event, ts, Change, Invitation, Member, NewEvent, NewInvitation,
    OutgoingMail, Result, Store, INVITATION_SELECT, MEMBER_SELECT,
};

/// One chunk of a job, committed in one transaction.
#[derive(Debug, Default)]
pub struct JobChunk {
    /// The job; `None` for the pass that invites members added after the summons.
    pub job_id: Option<i64>,
    /// The last chunk: the job is marked done with it.
    pub last: bool,
    /// The meeting whose agenda `changes` close (with the summons' first chunk).
    pub meeting_id: i64,
    /// Invitations, each created with its summons.
    pub invitations: Vec<(NewInvitation, OutgoingMail)>,
    /// Other mail (the call, reminders): kept once by its effect key.
    pub mails: Vec<OutgoingMail>,
    /// The agenda's closing, with the first chunk only.
    pub changes: Vec<Change>,
    pub events: Vec<NewEvent>,
}

impl Store {
    /// Members of a meeting's council who have no invitation to it yet, at most
    /// `limit`, in roster order (name, then id). An anti-join: nothing of the roster
    /// is read into memory beyond the chunk.
    pub async fn uninvited_members(
        &self,
        meeting_id: i64,
        council_id: i64,
        limit: i64,
    ) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "{MEMBER_SELECT} AND council_id = $1
               AND NOT EXISTS (SELECT 1 FROM invitations i WHERE i.meeting_id = $2 AND i.member_id = members.id)
             ORDER BY name, id LIMIT $3"
        ))
        .bind(council_id)
        .bind(meeting_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Member::from_row).collect()
    }

    /// A council's members after the one with id `after`, at most `limit`, by id: the
    /// roster a page at a time.
    pub async fn members_page(
        &self,
        council_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "{MEMBER_SELECT} AND council_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(council_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Member::from_row).collect()
    }

    /// A meeting's invitations after the one with id `after`, at most `limit`, by id.
    pub async fn invitations_page(
        &self,
        meeting_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Invitation>> {
        let rows = sqlx::query(&format!(
            "{INVITATION_SELECT} WHERE i.meeting_id = $1 AND i.id > $2 AND i.withdrawn_at IS NULL AND mb.removed_at IS NULL
             ORDER BY i.id LIMIT $3"
        ))
        .bind(meeting_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Invitation::from_row).collect()
    }

    /// The members of a council whose address does not work.
    pub async fn failing_members(&self, council_id: i64) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "{MEMBER_SELECT} AND council_id = $1 AND failing_since IS NOT NULL ORDER BY id"
        ))
        .bind(council_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Member::from_row).collect()
    }

    /// How many invitations a meeting has.
    pub async fn invitation_count(&self, meeting_id: i64) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM invitations WHERE meeting_id = $1")
            .bind(meeting_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Commits one chunk of a job: its invitations, each with its mail (a member
    /// invited meanwhile is left as they are), its other mail, the agenda's closing and
    /// the audit lines, and, with the last chunk, the job's completion. Returns false,
    /// having written nothing, when the job is no longer pending (another run finished
    /// it, the meeting was cancelled) or another run closed the agenda first.
    pub async fn commit_chunk(&self, chunk: JobChunk, now: DateTime<Utc>) -> Result<bool> {
        let JobChunk {
            job_id,
            last,
            meeting_id,
            invitations,
            mails,
            changes,
            events,
        } = chunk;
        let mut tx = self.pool.begin().await?;
        if let Some(job_id) = job_id {
            // Every chunk writes the job's row first: it is still pending, and a second
            // run on another daemon (PostgreSQL) waits here for this one's commit.
            let r = if last {
                sqlx::query(
                    "UPDATE jobs SET state = 'done', done_at = $1 WHERE id = $2 AND state = 'pending'",
                )
                .bind(ts(now))
                .bind(job_id)
                .execute(&mut *tx)
                .await?
            } else {
                sqlx::query("UPDATE jobs SET due_at = due_at WHERE id = $1 AND state = 'pending'")
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await?
            };
            if r.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        if !changes.is_empty() {
            // The agenda is closed once: the mail of this chunk shows the agenda as
            // this run closed it, so it does not go out beside another run's closing.
            let closed = sqlx::query(
                "SELECT 1 FROM agenda_items WHERE meeting_id = $1 AND number IS NOT NULL LIMIT 1",
            )
            .bind(meeting_id)
            .fetch_optional(&mut *tx)
            .await?;
            if closed.is_some() {
                tx.rollback().await?;
                return Ok(false);
            }
            apply(&mut tx, &changes, now).await?;
        }
        for (inv, mail) in invitations {
            super::invite(&mut tx, &inv, mail, now).await?;
        }
        for mail in &mails {
            enqueue(&mut tx, mail, now).await?;
        }
        for e in &events {
            insert_event(&mut tx, e, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
