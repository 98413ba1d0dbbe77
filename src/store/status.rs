//! What a coordinator's status reads besides the council's rows: the automatic replies
//! the mailbox received, as their inbound rows keep them.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{parse_ts, ts, Result, Store};

impl Store {
    /// Automatic replies received since `since`: the sender, when it came, and the
    /// outcome written for it (which carries the return date: "(away until
    /// 2027-01-04)").
    pub async fn auto_replies_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>, String)>> {
        let rows = sqlx::query(
            "SELECT sender, received_at, outcome FROM inbound
             WHERE kind = 'auto_reply' AND sender IS NOT NULL AND received_at >= $1
             ORDER BY received_at, id",
        )
        .bind(ts(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0)?,
                    parse_ts(&r.try_get::<String, _>(1)?)?,
                    r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                ))
            })
            .collect()
    }
}
