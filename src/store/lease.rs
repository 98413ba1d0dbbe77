//! Leases: one process at a time does a thing (reads a mailbox), and another takes over
//! within seconds when it dies. Times are the wall clock (`clock::wall_now`), which all
//! processes share.

use chrono::{DateTime, Utc};

use super::{ts, Result, Store};

impl Store {
    /// Takes or renews the lease `name` for `holder` until `until`. Succeeds when nobody
    /// holds it, `holder` already does, or the holder's lease ran out before `now`; one
    /// statement, so two processes racing for it cannot both win.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(ts(until))
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Gives the lease up (a clean stop), so another process need not wait for it to
    /// expire.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Who holds a lease now, and until when.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<(String, DateTime<Utc>)>> {
        use sqlx::Row;
        let row = sqlx::query("SELECT holder, expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((
                r.try_get(0)?,
                super::parse_ts(&r.try_get::<String, _>(1)?)?,
            ))),
        }
    }
}
