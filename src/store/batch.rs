//! What a batch of inbound messages needs from the database, loaded in a few queries
//! (`IN` lists) instead of a dozen round trips per message, and the batch's outcomes
//! committed in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::rows::{INVITATION_SELECT, MEETING_SELECT, MEMBER_SELECT};
use super::{finish_in, ts, Finish, Invitation, Meeting, Member, Result, Store};

/// Values per `IN` list: far below SQLite's and PostgreSQL's limits on bound values.
const IN_CHUNK: usize = 400;

/// `$from, $from+1, …` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The values, without repeats, in the order first seen.
fn distinct<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    values.into_iter().filter(|v| seen.insert(*v)).collect()
}

impl Store {
    /// Of these Message-IDs, the ones referent sent, each with the invitation it was
    /// sent for (if any) and the address it went to.
    pub async fn sent_messages(
        &self,
        message_ids: &[&str],
    ) -> Result<HashMap<String, (Option<i64>, String)>> {
        let mut out = HashMap::new();
        for chunk in distinct(message_ids.iter().copied()).chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT message_id, invitation_id, recipient FROM outbox WHERE message_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
            }
        }
        Ok(out)
    }

    /// Invitations by id or by token.
    pub async fn invitations_by(&self, ids: &[i64], tokens: &[&str]) -> Result<Vec<Invitation>> {
        let mut out = Vec::new();
        let mut ids: Vec<i64> = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!(
                "{INVITATION_SELECT} WHERE i.id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(Invitation::from_row(&r)?);
            }
        }
        for chunk in distinct(tokens.iter().copied()).chunks(IN_CHUNK) {
            let sql = format!(
                "{INVITATION_SELECT} WHERE i.token IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for t in chunk {
                q = q.bind(*t);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(Invitation::from_row(&r)?);
            }
        }
        Ok(out)
    }

    /// Meetings by id (those that exist).
    pub async fn meetings_by_ids(&self, ids: &[i64]) -> Result<Vec<Meeting>> {
        let mut ids: Vec<i64> = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!(
                "{MEETING_SELECT} WHERE m.id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(Meeting::from_row(&r)?);
            }
        }
        Ok(out)
    }

    /// Every membership of these addresses, by address (as `members_by_email` matches).
    pub async fn members_by_emails(&self, emails: &[&str]) -> Result<HashMap<String, Vec<Member>>> {
        let mut out: HashMap<String, Vec<Member>> = HashMap::new();
        for chunk in distinct(emails.iter().copied()).chunks(IN_CHUNK) {
            let sql = format!(
                "{MEMBER_SELECT} AND email IN ({}) ORDER BY id",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q.bind(*e);
            }
            for r in q.fetch_all(&self.pool).await? {
                let m = Member::from_row(&r)?;
                out.entry(m.email.clone()).or_default().push(m);
            }
        }
        Ok(out)
    }

    /// Of these texts, the ones that are personal keys.
    pub async fn keys_present(&self, keys: &[&str]) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        for chunk in distinct(keys.iter().copied()).chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT key FROM keys WHERE key IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for k in chunk {
                q = q.bind(*k);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(r.try_get(0)?);
            }
        }
        Ok(out)
    }

    /// Mail of one kind queued for each of these recipients since a time, by recipient
    /// (as `count_recent` counts; absent means none).
    pub async fn counts_recent(
        &self,
        recipients: &[&str],
        kind: &str,
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, i64>> {
        let mut out = HashMap::new();
        for chunk in distinct(recipients.iter().copied()).chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT recipient, COUNT(*) FROM outbox WHERE kind = $1 AND created_at >= $2
                 AND recipient IN ({}) GROUP BY recipient",
                placeholders(3, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(kind).bind(ts(since));
            for r in chunk {
                q = q.bind(*r);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(r.try_get(0)?, r.try_get(1)?);
            }
        }
        Ok(out)
    }

    /// Records the outcomes of several inbound messages in one transaction: all of them
    /// or none.
    pub async fn finish_inbound_many(&self, all: &[Finish<'_>], now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for f in all {
            finish_in(&mut tx, f, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_the_first() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
        assert_eq!(placeholders(3, 2), "$3, $4");
    }

    #[test]
    fn distinct_keeps_the_first_of_each() {
        assert_eq!(distinct(["a", "b", "a", "c", "b"]), vec!["a", "b", "c"]);
    }
}
