//! The outbox: every mail is a row written in the same transaction as the change that
//! causes it (`enqueue`), then claimed, sent and marked by the dispatcher
//! (`daemon/outbox.rs`). A row is `pending`, `sending` (claimed, or interrupted
//! mid-send), `sent` or `failed`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{opt_ts, parse_ts, ts, OutgoingMail, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub effect_key: String,
    pub message_id: String,
    pub kind: String,
    pub recipient: String,
    pub envelope_from: String,
    pub meeting_id: Option<i64>,
    pub invitation_id: Option<i64>,
    pub state: crate::domain::OutboxState,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// 0: one person waits for it; 1: mail to many. See [`priority`].
    pub priority: i64,
}

/// A row claimed for sending, with its bytes.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub row: OutboxRow,
    pub raw: Vec<u8>,
}

/// The kinds of mail that go to many at once: they wait behind everything one person
/// is waiting for (a receipt, a question, a confirmation request, a notice).
pub const BULK_KINDS: [&str; 7] = [
    "call",
    "summons",
    "update",
    "cancel",
    "reminder",
    "minutes",
    "minutes_final",
];

/// The sending priority of a kind of mail: 0 first, 1 after (the bulk kinds).
pub fn priority(kind: &str) -> i64 {
    i64::from(BULK_KINDS.contains(&kind))
}

/// How many rows of one kind are in one state (`referent outbox`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxCount {
    pub kind: String,
    pub priority: i64,
    pub state: crate::domain::OutboxState,
    pub count: i64,
}

pub(super) const OUTBOX_SELECT: &str =
    "SELECT id, effect_key, message_id, kind, recipient, envelope_from, meeting_id, invitation_id, state, attempts,
            next_attempt_at, last_error, sent_at, created_at, priority FROM outbox";

impl OutboxRow {
    pub(super) fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(OutboxRow {
            id: r.try_get(0)?,
            effect_key: r.try_get(1)?,
            message_id: r.try_get(2)?,
            kind: r.try_get(3)?,
            recipient: r.try_get(4)?,
            envelope_from: r.try_get(5)?,
            meeting_id: r.try_get(6)?,
            invitation_id: r.try_get(7)?,
            state: r.try_get::<String, _>(8)?.parse()?,
            attempts: r.try_get(9)?,
            next_attempt_at: parse_ts(&r.try_get::<String, _>(10)?)?,
            last_error: r.try_get(11)?,
            sent_at: opt_ts(r.try_get(12)?)?,
            created_at: parse_ts(&r.try_get::<String, _>(13)?)?,
            priority: r.try_get(14)?,
        })
    }
}

impl Store {
    /// Rows ready to send at `now`, in sending order: by priority, then oldest first.
    /// Not by `next_attempt_at`: a row put back after a pause keeps its place.
    pub async fn due_outbox(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<OutboxRow>> {
        let rows = sqlx::query(&format!(
            "{OUTBOX_SELECT} WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY priority, id LIMIT $2"
        ))
        .bind(ts(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(OutboxRow::from_row).collect()
    }

    /// The outbox's rows one at a time, oldest first (`referent outbox`): read as a
    /// stream, never loaded whole, since sent rows stay. `unsent`: only those not sent.
    pub async fn each_outbox_row(&self, unsent: bool, mut f: impl FnMut(OutboxRow)) -> Result<()> {
        use futures::TryStreamExt;
        let filter = if unsent { " WHERE state <> 'sent'" } else { "" };
        let sql = format!("{OUTBOX_SELECT}{filter} ORDER BY id");
        let mut rows = sqlx::query(&sql).fetch(&self.pool);
        while let Some(r) = rows.try_next().await? {
            f(OutboxRow::from_row(&r)?);
        }
        Ok(())
    }

    pub async fn outbox(&self) -> Result<Vec<OutboxRow>> {
        let rows = sqlx::query(&format!("{OUTBOX_SELECT} ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(OutboxRow::from_row).collect()
    }

    pub async fn outbox_raw(&self, id: i64) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT raw FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no outbox row {id}")))?;
        Ok(row.try_get(0)?)
    }

    pub async fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE outbox SET state = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
            .bind(ts(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims a row for sending: `sending` until `until`. Returns false when another
    /// sender has it.
    pub async fn begin_send(&self, id: i64, until: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query("UPDATE outbox SET state = 'sending', next_attempt_at = $1 WHERE id = $2 AND state = 'pending'")
            .bind(ts(until))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Our copy of a sent message came back: the server took it. Confirms a row left
    /// `sending` by a crash, so it is not sent twice.
    pub async fn confirm_sent(&self, message_id: &str, now: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = COALESCE(sent_at, $1), last_error = NULL
             WHERE message_id = $2 AND state IN ('sending', 'pending')",
        )
        .bind(ts(now))
        .bind(message_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Rows whose send was interrupted and whose copy did not come back in time: they
    /// go back to the queue.
    pub async fn requeue_unconfirmed(&self, now: DateTime<Utc>) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE outbox SET state = 'pending' WHERE state = 'sending' AND next_attempt_at <= $1",
        )
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn mark_retry(&self, id: i64, error: &str, next: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE outbox SET state = 'pending', attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3")
            .bind(error)
            .bind(ts(next))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mark_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3")
            .bind(error)
            .bind(ts(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims up to `limit` due rows for sending, in sending order, with their bytes:
    /// each is `sending` until `until` (see `requeue_unconfirmed`). One statement, so
    /// two dispatchers never claim the same row (PostgreSQL re-checks `state` on the
    /// rows it updates).
    pub async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Claimed>> {
        // Several daemons on one PostgreSQL each claim rows no other is claiming
        // (SKIP LOCKED, in a CTE so the LIMIT is taken once) instead of queueing behind
        // one another's claims; the `state = 'pending'` guard alone already keeps a row
        // from being claimed twice, which is all SQLite (one writer) needs.
        const COLUMNS: &str = "id, effect_key, message_id, kind, recipient, envelope_from, meeting_id, invitation_id,
                       state, attempts, next_attempt_at, last_error, sent_at, created_at, priority, raw";
        let sql = match self.backend() {
            super::Backend::Postgres => format!(
                "WITH picked AS (
                     SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $2
                     ORDER BY priority, id LIMIT $3 FOR UPDATE SKIP LOCKED)
                 UPDATE outbox SET state = 'sending', next_attempt_at = $1
                 FROM picked WHERE outbox.id = picked.id AND outbox.state = 'pending'
                 RETURNING {}",
                COLUMNS
                    .split(',')
                    .map(|c| format!("outbox.{}", c.trim()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            super::Backend::Sqlite => format!(
                "UPDATE outbox SET state = 'sending', next_attempt_at = $1
                 WHERE state = 'pending' AND id IN (
                     SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $2
                     ORDER BY priority, id LIMIT $3)
                 RETURNING {COLUMNS}"
            ),
        };
        let rows = sqlx::query(&sql)
            .bind(ts(until))
            .bind(ts(now))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = rows
            .iter()
            .map(|r| {
                Ok(Claimed {
                    row: OutboxRow::from_row(r)?,
                    raw: r.try_get(15)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // RETURNING promises no order.
        claimed.sort_by_key(|c| (c.row.priority, c.row.id));
        Ok(claimed)
    }

    /// Marks rows sent, in one transaction.
    pub async fn mark_sent_many(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for chunk in ids.chunks(ID_CHUNK) {
            let sql = format!(
                "UPDATE outbox SET state = 'sent', sent_at = {}, attempts = attempts + 1, last_error = NULL
                 WHERE id IN ({})",
                self.backend.param(1),
                self.backend.params(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(ts(now));
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Puts claimed rows back in the queue untouched but for the reason (a pause, a
    /// stop): not a try, so `attempts` stays, and due at `now`, so they keep their place.
    pub async fn release(
        &self,
        ids: &[i64],
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for chunk in ids.chunks(ID_CHUNK) {
            let sql = format!(
                "UPDATE outbox SET state = 'pending', next_attempt_at = {}, last_error = COALESCE({}, last_error)
                 WHERE state = 'sending' AND id IN ({})",
                self.backend.param(1),
                self.backend.param(2),
                self.backend.params(3, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(ts(now)).bind(reason);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// When the last message was sent, so a restarted dispatcher keeps the pace.
    pub async fn last_sent_at(&self) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query("SELECT MAX(sent_at) FROM outbox WHERE state = 'sent'")
            .fetch_one(&self.pool)
            .await?;
        opt_ts(row.try_get(0)?)
    }

    /// Rows sent since a time (the pace actually reached).
    pub async fn count_sent_since(&self, since: DateTime<Utc>) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM outbox WHERE state = 'sent' AND sent_at >= $1")
            .bind(ts(since))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Rows per kind and state, in sending order of the kinds.
    pub async fn outbox_counts(&self) -> Result<Vec<OutboxCount>> {
        let rows = sqlx::query(
            "SELECT kind, MIN(priority), state, COUNT(*), MIN(id) FROM outbox
             GROUP BY kind, state ORDER BY MIN(priority), MIN(id)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxCount {
                    kind: r.try_get(0)?,
                    priority: r.try_get(1)?,
                    state: r.try_get::<String, _>(2)?.parse()?,
                    count: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// How many mails of a kind went (or will go) to an address since a time.
    pub async fn count_recent(
        &self,
        recipient: &str,
        kind: &str,
        since: DateTime<Utc>,
    ) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND kind = $2 AND created_at >= $3",
        )
        .bind(recipient)
        .bind(kind)
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }
}

impl Store {
    /// Who was sent mail of one kind about a meeting (the call, say), by address.
    pub async fn recipients_of(&self, meeting_id: i64, kind: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT recipient FROM outbox WHERE meeting_id = $1 AND kind = $2",
        )
        .bind(meeting_id)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// Whether a substitute or extra attendee of an invitation has declined it
    /// themselves (their `guest_answer` in the audit trail).
    pub async fn guest_declined(
        &self,
        meeting_id: i64,
        invitation_id: i64,
        address: &str,
    ) -> Result<bool> {
        // By meeting first: the audit trail is indexed by it.
        Ok(sqlx::query(
            "SELECT 1 FROM events WHERE meeting_id = $1 AND kind = 'guest_answer'
             AND invitation_id = $2 AND LOWER(actor) = LOWER($3) AND detail LIKE '%: declined%'",
        )
        .bind(meeting_id)
        .bind(invitation_id)
        .bind(address)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// Whether a mail with this effect key was queued (whatever became of it).
    pub async fn effect_exists(&self, effect_key: &str) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM outbox WHERE effect_key = $1")
            .bind(effect_key)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }
}

pub(super) async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    mail: &OutgoingMail,
    now: DateTime<Utc>,
) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO outbox (effect_key, message_id, kind, recipient, envelope_from, raw, meeting_id, invitation_id, inbound_id,
                             state, attempts, next_attempt_at, created_at, priority)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10, $11)
         ON CONFLICT (effect_key) DO NOTHING",
    )
    .bind(&mail.effect_key)
    .bind(&mail.message_id)
    .bind(&mail.kind)
    .bind(&mail.recipient)
    .bind(&mail.envelope_from)
    .bind(mail.raw.clone())
    .bind(mail.meeting_id)
    .bind(mail.invitation_id)
    .bind(mail.inbound_id)
    .bind(ts(now))
    .bind(priority(&mail.kind))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    // The key goes with its mail: a mail written once gives its key once.
    if let (1, Some(g)) = (inserted, &mail.grant) {
        sqlx::query(
            "INSERT INTO keys (key, address, purpose, ref, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(&g.key)
        .bind(&g.address)
        .bind(&g.purpose)
        .bind(&g.reference)
        .bind(ts(now))
        .bind(g.expires_at.map(ts))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Ids bound per statement: well inside SQLite's and PostgreSQL's parameter limits.
const ID_CHUNK: usize = 500;
