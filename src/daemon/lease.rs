//! One reader per mailbox. Several `referent run` processes may share one PostgreSQL
//! database (for failover); only the one holding the mailbox's lease reads it. It renews
//! the lease every few seconds; when it dies, another takes the lease over once it has
//! expired (~10 s) and carries on from what is stored. Jobs and outbox rows need no
//! lease: a job is completed and a row claimed by one conditional update that only one
//! process can win.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Daemon, Result};
use crate::clock::wall_now;

/// How long a lease lasts without renewal: another process takes over after this.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// How often the holder renews, and a waiting process tries.
const LEASE_EVERY: Duration = Duration::from_secs(3);

/// This process, as a lease holder: host, process id and a random part (a restarted
/// process with a reused pid is still another holder).
pub fn holder_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        format!(
            "{host}:{}:{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )
    })
}

fn ttl() -> chrono::Duration {
    chrono::Duration::from_std(LEASE_TTL).unwrap_or(chrono::Duration::seconds(10))
}

impl Daemon {
    /// The lease that guards this configuration's mailbox.
    pub(crate) fn mailbox_lease(&self) -> String {
        format!("mailbox:{}", self.source_name())
    }

    /// Takes or renews the mailbox lease once; false when another process holds it.
    pub(crate) async fn take_mailbox(&self) -> Result<bool> {
        let now = wall_now();
        Ok(self
            .store
            .take_lease(&self.mailbox_lease(), holder_id(), now, now + ttl())
            .await?)
    }

    pub(crate) async fn release_mailbox(&self) {
        if let Err(e) = self
            .store
            .release_lease(&self.mailbox_lease(), holder_id())
            .await
        {
            tracing::warn!(error = %e, "cannot give the mailbox lease up; it expires by itself");
        }
    }

    /// The inbound task: waits for the mailbox lease, watches the mailbox while it holds
    /// it, and waits again if it loses it (a pause longer than the lease, a database
    /// that was away).
    pub(crate) async fn inbound_task(
        &self,
        cancel: CancellationToken,
        wake: Arc<Notify>,
    ) -> Result<()> {
        let mut said_waiting = false;
        while !cancel.is_cancelled() {
            let taken = match self.take_mailbox().await {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "cannot take the mailbox lease; trying again");
                    false
                }
            };
            if !taken {
                if !said_waiting {
                    let holder = self
                        .store
                        .lease_holder(&self.mailbox_lease())
                        .await
                        .ok()
                        .flatten()
                        .map(|(h, _)| h)
                        .unwrap_or_default();
                    tracing::info!(holder = %holder, "another referent reads this mailbox; standing by to take over");
                    said_waiting = true;
                }
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(LEASE_EVERY) => continue,
                }
            }
            if said_waiting {
                tracing::info!("took the mailbox over");
                said_waiting = false;
            }
            let held = cancel.child_token();
            let renewing = held.clone();
            let renew = {
                let held = &renewing;
                async move {
                    loop {
                        tokio::select! {
                            _ = held.cancelled() => return,
                            _ = tokio::time::sleep(LEASE_EVERY) => {}
                        }
                        match self.take_mailbox().await {
                            Ok(true) => {}
                            Ok(false) => {
                                tracing::warn!(
                                    "lost the mailbox lease to another referent; stopping reading"
                                );
                                held.cancel();
                                return;
                            }
                            Err(e) => {
                                // Without the database nothing is stored or acknowledged
                                // either; keep the lease until it is back or expires.
                                tracing::warn!(error = %e, "cannot renew the mailbox lease");
                            }
                        }
                    }
                }
            };
            let watched = tokio::select! {
                r = self.watch_mailbox(held.clone(), wake.clone()) => r,
                _ = renew => Ok(()),
            };
            held.cancel();
            if let Err(e) = watched {
                self.release_mailbox().await;
                return Err(e);
            }
        }
        self.release_mailbox().await;
        Ok(())
    }
}
