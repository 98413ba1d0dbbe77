//! What a batch of inbound messages needs from the database, loaded in a few queries
//! (`IN` lists) instead of a dozen round trips per message, and the batch's outcomes
//! committed in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::domain::{OutboxState, Role};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::rows::{INVITATION_SELECT, MEETING_SELECT, MEMBER_SELECT};
use super::{
    apply, priority, ts, Backend, Change, Finish, Invitation, KeyGrant, Meeting, Member, NewAnswer,
    NewEvent, OutgoingMail, Result, Store,
};

/// Values per `IN` list: far below SQLite's and PostgreSQL's limits on bound values.
const IN_CHUNK: usize = 400;

/// The values, without repeats, in the order first seen.
fn distinct<T: Copy + Eq + std::hash::Hash>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    values.into_iter().filter(|v| seen.insert(*v)).collect()
}

/// A value of an `IN` list: an id or a text.
enum InValue {
    Id(i64),
    Text(String),
}

impl From<i64> for InValue {
    fn from(i: i64) -> Self {
        InValue::Id(i)
    }
}

impl From<&str> for InValue {
    fn from(t: &str) -> Self {
        InValue::Text(t.to_string())
    }
}

impl Store {
    /// The rows of a query with an `IN` list of `values`, in chunks of [`IN_CHUNK`]:
    /// `sql` gets the list's placeholders; the `leading` values are bound before it.
    async fn rows_in<V: Copy + Into<InValue>>(
        &self,
        leading: &[&str],
        values: &[V],
        sql: impl Fn(&str) -> String,
    ) -> Result<Vec<AnyRow>> {
        let mut out = Vec::new();
        for chunk in values.chunks(IN_CHUNK) {
            let sql = sql(&self.backend.params(leading.len() + 1, chunk.len()));
            let mut q = sqlx::query(&sql);
            for l in leading {
                q = q.bind(l.to_string());
            }
            for v in chunk {
                q = match (*v).into() {
                    InValue::Id(i) => q.bind(i),
                    InValue::Text(t) => q.bind(t),
                };
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }

    /// Of these Message-IDs, the ones referent sent, each with the invitation it was
    /// sent for (if any) and the address it went to.
    pub async fn sent_messages(
        &self,
        message_ids: &[&str],
    ) -> Result<HashMap<String, (Option<i64>, String)>> {
        let rows = self
            .rows_in(&[], &distinct(message_ids.iter().copied()), |list| {
                format!(
                    "SELECT message_id, invitation_id, recipient FROM outbox WHERE message_id IN ({list})"
                )
            })
            .await?;
        let mut out = HashMap::new();
        for r in rows {
            out.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
        }
        Ok(out)
    }

    /// Invitations by id or by token.
    pub async fn invitations_by(&self, ids: &[i64], tokens: &[&str]) -> Result<Vec<Invitation>> {
        let rows = self
            .rows_in(&[], &distinct(ids.iter().copied()), |list| {
                format!("{INVITATION_SELECT} WHERE i.id IN ({list})")
            })
            .await?;
        let mut out = rows
            .iter()
            .map(Invitation::from_row)
            .collect::<Result<Vec<_>>>()?;
        // Tokens of invitations loaded by id are not looked up again (a reply's
        // Message-ID and its plus-address usually name the same one).
        let loaded: HashSet<&str> = out.iter().map(|i| i.token.as_str()).collect();
        let rest = distinct(tokens.iter().copied().filter(|t| !loaded.contains(t)));
        drop(loaded);
        let rows = self
            .rows_in(&[], &rest, |list| {
                format!("{INVITATION_SELECT} WHERE i.token IN ({list})")
            })
            .await?;
        for r in &rows {
            out.push(Invitation::from_row(r)?);
        }
        Ok(out)
    }

    /// Meetings by id (those that exist).
    pub async fn meetings_by_ids(&self, ids: &[i64]) -> Result<Vec<Meeting>> {
        self.rows_in(&[], &distinct(ids.iter().copied()), |list| {
            format!("{MEETING_SELECT} WHERE m.id IN ({list})")
        })
        .await?
        .iter()
        .map(Meeting::from_row)
        .collect()
    }

    /// The coordinator memberships of these addresses, by address (as
    /// `members_by_email` matches): whether a sender coordinates a meeting's council.
    pub async fn coordinators_by_emails(
        &self,
        emails: &[&str],
    ) -> Result<HashMap<String, Vec<Member>>> {
        let role = self.backend.param(1);
        let rows = self
            .rows_in(
                &[Role::Coordinator.as_str()],
                &distinct(emails.iter().copied()),
                |list| {
                    format!("{MEMBER_SELECT} AND role = {role} AND email IN ({list}) ORDER BY id")
                },
            )
            .await?;
        let mut out: HashMap<String, Vec<Member>> = HashMap::new();
        for r in &rows {
            let m = Member::from_row(r)?;
            out.entry(m.email.clone()).or_default().push(m);
        }
        Ok(out)
    }

    /// Of these texts, the ones that are personal keys.
    pub async fn keys_present(&self, keys: &[&str]) -> Result<HashSet<String>> {
        self.rows_in(&[], &distinct(keys.iter().copied()), |list| {
            format!("SELECT key FROM keys WHERE key IN ({list})")
        })
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
    }

    /// Mail of one kind queued for each of these recipients since a time, by recipient
    /// (as `count_recent` counts; absent means none).
    pub async fn counts_recent(
        &self,
        recipients: &[&str],
        kind: &str,
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, i64>> {
        let (k, t) = (self.backend.param(1), self.backend.param(2));
        self.rows_in(
            &[kind, &ts(since)],
            &distinct(recipients.iter().copied()),
            |list| {
                format!(
                    "SELECT recipient, COUNT(*) FROM outbox WHERE kind = {k} AND created_at >= {t}
                     AND recipient IN ({list}) GROUP BY recipient"
                )
            },
        )
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
    }

    /// Records the outcomes of several inbound messages in one transaction: all of them
    /// or none. Messages about different invitations are written with a few statements
    /// of many rows each, not a handful per message; should two answer the same
    /// invitation, each is written in turn (the later one must see the earlier).
    pub async fn finish_inbound_many(&self, all: &[Finish<'_>], now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let invitations: Vec<i64> = all
            .iter()
            .filter_map(|f| f.answer.map(|a| a.invitation_id))
            .collect();
        if distinct(invitations.iter().copied()).len() == invitations.len() {
            finish_in(&mut tx, self.backend, all, now).await?;
        } else {
            for f in all {
                finish_in(&mut tx, self.backend, std::slice::from_ref(f), now).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Most rows written by one statement: with at most a dozen values a row, far below
/// SQLite's and PostgreSQL's limits on bound values.
const ROWS: usize = 100;

/// Records what became of inbound messages, about different invitations, inside a
/// transaction: their outcomes, the changes they cause, their answers, mail and audit
/// lines, each kind in statements of up to [`ROWS`] rows (one message is one row each).
pub(super) async fn finish_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    db: Backend,
    all: &[Finish<'_>],
    now: DateTime<Utc>,
) -> Result<()> {
    let at = ts(now);
    // The outcomes first: a write, so the transaction holds SQLite's write lock
    // before it reads (a read first could find its snapshot outdated by another
    // writer when it comes to write, and fail).
    for chunk in all.chunks(ROWS) {
        let sql = format!(
            "WITH v (id, state, kind, sender, subject, outcome, problems, invitation_id) AS (VALUES {})
             UPDATE inbound SET state = v.state, kind = v.kind, sender = v.sender, subject = v.subject,
                    outcome = v.outcome, problems = v.problems, invitation_id = v.invitation_id,
                    processed_at = {}
             FROM v WHERE inbound.id = v.id",
            db.rows(
                1,
                chunk.len(),
                &["BIGINT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT"]
            ),
            db.param(chunk.len() * 8 + 1)
        );
        let mut q = sqlx::query(&sql);
        for f in chunk {
            q = q
                .bind(f.inbound_id)
                .bind(f.outcome.state.as_str())
                .bind(&f.outcome.kind)
                .bind(f.outcome.sender.as_deref())
                .bind(&f.outcome.subject)
                .bind(&f.outcome.outcome)
                .bind(serde_json::to_string(&f.outcome.problems).unwrap_or_else(|_| "[]".into()))
                .bind(f.outcome.invitation_id);
        }
        q.bind(&at).execute(&mut **tx).await?;
    }
    // Changes. Settling an invitation's held messages is the common one; it is only
    // written for invitations that have any.
    let settle: Vec<i64> = all
        .iter()
        .flat_map(|f| f.changes)
        .filter_map(|c| match c {
            Change::SettleHeld { invitation_id, .. } => Some(*invitation_id),
            _ => None,
        })
        .collect();
    let held = invitations_with_held(tx, db, &distinct(settle.iter().copied())).await?;
    for f in all {
        for c in f.changes {
            let wanted = match c {
                Change::SettleHeld { invitation_id, .. } => held.contains(invitation_id),
                _ => true,
            };
            if wanted {
                apply(tx, std::slice::from_ref(c), now).await?;
            }
        }
    }

    // Answers, and each invitation's latest answer (by arrival, then by recording).
    let answers: Vec<(i64, &NewAnswer)> = all
        .iter()
        .filter_map(|f| f.answer.map(|a| (f.inbound_id, a)))
        .collect();
    let mut recorded: HashMap<i64, i64> = HashMap::new();
    for chunk in answers.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO answers (invitation_id, response, attendance, substitute_name, substitute_email, inbound_id, source, sender, received_at, recorded_at)
             VALUES {} ON CONFLICT (invitation_id, inbound_id) DO NOTHING RETURNING id, invitation_id",
            db.rows(1, chunk.len(), &[""; 10])
        );
        let mut q = sqlx::query(&sql);
        for (inbound_id, a) in chunk {
            q = q
                .bind(a.invitation_id)
                .bind(a.answer.response.as_str())
                .bind(a.answer.attendance.map(|x| x.as_str()))
                .bind(a.answer.substitute.as_ref().map(|s| s.name.clone()))
                .bind(a.answer.substitute.as_ref().and_then(|s| s.email.clone()))
                .bind(*inbound_id)
                .bind(&a.source)
                .bind(&a.sender)
                .bind(ts(a.received_at))
                .bind(&at);
        }
        for r in q.fetch_all(&mut **tx).await? {
            recorded.insert(r.try_get(1)?, r.try_get(0)?);
        }
    }
    let latest: Vec<(&NewAnswer, i64)> = answers
        .iter()
        .filter_map(|(_, a)| recorded.get(&a.invitation_id).map(|id| (*a, *id)))
        .collect();
    for chunk in latest.chunks(ROWS) {
        let sql = format!(
            "WITH v (id, response, attendance, substitute_name, substitute_email, answered_at, answer_id) AS (VALUES {})
             UPDATE invitations SET response = v.response, attendance = v.attendance,
                    substitute_name = v.substitute_name, substitute_email = v.substitute_email,
                    answered_at = v.answered_at, answer_id = v.answer_id
             FROM v
             WHERE invitations.id = v.id
               AND (invitations.answered_at IS NULL OR invitations.answered_at <= v.answered_at)",
            db.rows(
                1,
                chunk.len(),
                &["BIGINT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT"]
            )
        );
        let mut q = sqlx::query(&sql);
        for (a, answer_id) in chunk {
            q = q
                .bind(a.invitation_id)
                .bind(a.answer.response.as_str())
                .bind(a.answer.attendance.map(|x| x.as_str()))
                .bind(a.answer.substitute.as_ref().map(|s| s.name.clone()))
                .bind(a.answer.substitute.as_ref().and_then(|s| s.email.clone()))
                .bind(ts(a.received_at))
                .bind(*answer_id);
        }
        q.execute(&mut **tx).await?;
    }

    // Mail, one row per effect; a key goes with its mail only if the mail is written.
    let mails: Vec<&OutgoingMail> = all.iter().flat_map(|f| f.mails).collect();
    let mut written: HashSet<String> = HashSet::new();
    for chunk in mails.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO outbox (effect_key, message_id, kind, recipient, envelope_from, raw, meeting_id, invitation_id, inbound_id,
                                 state, attempts, next_attempt_at, created_at, priority)
             VALUES {} ON CONFLICT (effect_key) DO NOTHING RETURNING effect_key",
            db.rows(1, chunk.len(), &[""; 14])
        );
        let mut q = sqlx::query(&sql);
        for m in chunk {
            q = q
                .bind(&m.effect_key)
                .bind(&m.message_id)
                .bind(&m.kind)
                .bind(&m.recipient)
                .bind(&m.envelope_from)
                .bind(m.raw.as_slice())
                .bind(m.meeting_id)
                .bind(m.invitation_id)
                .bind(m.inbound_id)
                .bind(OutboxState::Pending.as_str())
                .bind(0_i64)
                .bind(&at)
                .bind(&at)
                .bind(priority(&m.kind));
        }
        for r in q.fetch_all(&mut **tx).await? {
            written.insert(r.try_get(0)?);
        }
    }
    let grants: Vec<&KeyGrant> = mails
        .iter()
        .filter(|m| written.contains(&m.effect_key))
        .filter_map(|m| m.grant.as_ref())
        .collect();
    for chunk in grants.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO keys (key, address, purpose, ref, created_at, expires_at) VALUES {}
             ON CONFLICT (key) DO NOTHING",
            db.rows(1, chunk.len(), &[""; 6])
        );
        let mut q = sqlx::query(&sql);
        for g in chunk {
            q = q
                .bind(&g.key)
                .bind(&g.address)
                .bind(&g.purpose)
                .bind(&g.reference)
                .bind(&at)
                .bind(g.expires_at.map(ts));
        }
        q.execute(&mut **tx).await?;
    }

    // Audit lines.
    let events: Vec<&NewEvent> = all.iter().flat_map(|f| f.events).collect();
    for chunk in events.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO events (at, actor, kind, meeting_id, invitation_id, inbound_id, detail) VALUES {}",
            db.rows(1, chunk.len(), &[""; 7])
        );
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = q
                .bind(&at)
                .bind(&e.actor)
                .bind(&e.kind)
                .bind(e.meeting_id)
                .bind(e.invitation_id)
                .bind(e.inbound_id)
                .bind(&e.detail);
        }
        q.execute(&mut **tx).await?;
    }

    Ok(())
}

/// Of these invitations, the ones with held messages.
async fn invitations_with_held(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    db: Backend,
    ids: &[i64],
) -> Result<HashSet<i64>> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT DISTINCT invitation_id FROM inbound WHERE state = 'held' AND invitation_id IN ({})",
            db.params(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut **tx).await? {
            out.insert(r.try_get(0)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_and_bare_for_sqlite() {
        assert_eq!(Backend::Postgres.params(1, 3), "$1, $2, $3");
        assert_eq!(Backend::Postgres.params(3, 2), "$3, $4");
        assert_eq!(Backend::Sqlite.params(3, 2), "?, ?");
        assert_eq!(
            Backend::Postgres.rows(2, 2, &["BIGINT", ""]),
            "(CAST($2 AS BIGINT), $3), (CAST($4 AS BIGINT), $5)"
        );
        assert_eq!(
            Backend::Sqlite.rows(1, 1, &["", "TEXT"]),
            "(?, CAST(? AS TEXT))"
        );
    }

    #[test]
    fn distinct_keeps_the_first_of_each() {
        assert_eq!(distinct(["a", "b", "a", "c", "b"]), vec!["a", "b", "c"]);
    }
}
