//! Personal data kept only as long as needed: once a day, message bodies older than
//! `[retention] raw_months` are deleted (`store::Store::purge_raw_daily`), the rows,
//! outcomes and audit trail staying.

use chrono::Months;

use super::*;

impl Daemon {
    /// Deletes the bodies past the retention period, at most once a day across every
    /// process; returns how many were deleted (0 when it already ran today).
    pub(crate) async fn retention(&self) -> Result<u64> {
        let now = self.clock.now();
        let Some(before) = now.checked_sub_months(Months::new(self.cfg.raw_months)) else {
            return Ok(0);
        };
        match self.store.purge_raw_daily(before, now).await? {
            Some(p) => {
                if p.inbound + p.outbox > 0 {
                    tracing::info!(
                        received = p.inbound,
                        sent = p.outbox,
                        months = self.cfg.raw_months,
                        "deleted message bodies past the retention period"
                    );
                }
                Ok(p.inbound + p.outbox)
            }
            None => Ok(0),
        }
    }
}
