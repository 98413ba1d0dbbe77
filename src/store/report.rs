//! What the yearly reports read (a council's meetings and invitations in a span of
//! time) and how one is recorded as sent: once per council, kind and year.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::rows::{INVITATION_SELECT, MEETING_SELECT};
use super::{
    enqueue, insert_event, ts, Invitation, Meeting, NewEvent, OutgoingMail, Result, Store,
};

impl Store {
    /// A council's meetings starting in `[from, to)`, cancelled ones included.
    pub async fn meetings_between(
        &self,
        council_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Meeting>> {
        let rows = sqlx::query(&format!(
            "{MEETING_SELECT} WHERE m.council_id = $1 AND m.starts_at >= $2 AND m.starts_at < $3
             ORDER BY m.starts_at, m.id"
        ))
        .bind(council_id)
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Meeting::from_row).collect()
    }

    /// The invitations to a council's meetings starting in `[from, to)`.
    pub async fn invitations_between(
        &self,
        council_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Invitation>> {
        let rows = sqlx::query(&format!(
            "{INVITATION_SELECT} JOIN meetings m ON m.id = i.meeting_id
             WHERE m.council_id = $1 AND m.starts_at >= $2 AND m.starts_at < $3 AND i.withdrawn_at IS NULL
             ORDER BY mb.name, i.id"
        ))
        .bind(council_id)
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Invitation::from_row).collect()
    }

    /// The councils that held a meeting (not cancelled) in `[from, to)` and have not
    /// had the report `kind` for `year` yet.
    pub async fn councils_due_report(
        &self,
        kind: &str,
        year: i32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT c.id FROM councils c
             WHERE EXISTS (SELECT 1 FROM meetings m WHERE m.council_id = c.id AND m.status <> 'cancelled'
                           AND m.starts_at >= $1 AND m.starts_at < $2)
               AND NOT EXISTS (SELECT 1 FROM yearly_reports r WHERE r.council_id = c.id AND r.kind = $3 AND r.year = $4)
             ORDER BY c.id",
        )
        .bind(ts(from))
        .bind(ts(to))
        .bind(kind)
        .bind(year)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<i64, _>(0).map_err(Into::into))
            .collect()
    }

    /// Records the report `kind` for `year` as sent to a council and queues its mail, in
    /// one transaction. False (and nothing written) when it was recorded already: by an
    /// earlier pass or by another process at the same time.
    pub async fn record_report(
        &self,
        council_id: i64,
        kind: &str,
        year: i32,
        mails: &[OutgoingMail],
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO yearly_reports (council_id, kind, year, sent_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (council_id, kind, year) DO NOTHING",
        )
        .bind(council_id)
        .bind(kind)
        .bind(year)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        for m in mails {
            enqueue(&mut tx, m, now).await?;
        }
        insert_event(&mut tx, event, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// A council's attendance over `year` in `tz`, as of `now` (see
    /// [`crate::report::attendance`]).
    pub async fn attendance_report(
        &self,
        council: &super::Council,
        year: i32,
        tz: chrono_tz::Tz,
        now: DateTime<Utc>,
    ) -> Result<crate::report::AttendanceReport> {
        let (from, to) = crate::report::year_bounds(year, tz)
            .ok_or_else(|| super::StoreError::NotFound(format!("no year {year}")))?;
        let meetings = self.meetings_between(council.id, from, to).await?;
        let invitations = self.invitations_between(council.id, from, to).await?;
        let roster = self.members(council.id).await?;
        Ok(crate::report::attendance(
            &council.name,
            year,
            tz,
            now,
            &roster,
            &meetings,
            &invitations,
        ))
    }
}
