//! The dispatcher: sends the outbox's due rows through the transport, at the server's
//! speed and at the provider's pace.
//!
//! - Order: one-person mail before bulk, oldest first (the store's `claim_outbox`).
//!   A row put back after a pause keeps its place.
//! - Speed: up to `transport.connections()` sends at once, rows claimed and marked sent
//!   in batches (one transaction each), connections kept open by the transport.
//! - Pace: `[smtp] max_per_minute` spaces sends evenly; a throttling reply (421, 432
//!   4.3.2, 4.7.x, rate-limit texts, a refused connection) pauses every send with a
//!   growing, capped wait; a sending quota reached (554 5.2.0, 550 5.4.5, "quota/limit
//!   exceeded") pauses all sending for `quota_pause_secs`. Neither counts as a try of
//!   the message, and neither marks its address failing.
//! - A 4xx about one message is retried with backoff; a 5xx about it marks it failed,
//!   marks the address failing and tells the coordinators.
//!
//! A row is `sending` while claimed. With SMTP every message also goes to the mailbox's
//! `+sent` address in the same transaction, and that copy coming back confirms the row
//! (see `act`); a row whose send was interrupted (a crash, or a connection lost after
//! the whole message was written) is sent again only if its copy has not come back
//! within `send_confirm_secs`.

use crate::domain::OutboxState;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Daemon, Report, Result};
use crate::config::{Config, OutboundConfig};
use crate::mail::outbound::{Outgoing, SendError, Transport, Verdict};
use crate::store::{Claimed, NewEvent, OutboxRow};

/// Retries of a message that a server keeps refusing with 4xx, before it is marked failed.
const MAX_ATTEMPTS: i64 = 12;
/// Rows claimed at once per connection when no pace is set: big enough that the
/// database's share is small, small enough that a receipt queued meanwhile waits
/// at most a fraction of a second behind a summons to everyone.
const BATCH_PER_CONNECTION: i64 = 100;
/// The first wait after a throttling reply; it doubles with each one in a row …
const THROTTLE_FIRST: Duration = Duration::from_secs(15);
/// … up to this.
const THROTTLE_MAX: Duration = Duration::from_secs(15 * 60);

/// How fast mail may leave: the configured limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Messages a minute at most (`[smtp] max_per_minute`), evenly spaced.
    pub max_per_minute: Option<u32>,
    /// All sending pauses this long after a quota reply.
    pub quota_pause: Duration,
}

impl Pacing {
    pub fn from_config(cfg: &Config) -> Pacing {
        match &cfg.outbound {
            OutboundConfig::Smtp(s) => Pacing {
                max_per_minute: s.max_per_minute,
                quota_pause: s.quota_pause,
            },
            OutboundConfig::Maildir(_) => Pacing {
                max_per_minute: None,
                quota_pause: Duration::from_secs(3600),
            },
        }
    }

    /// The time between two sends, when paced.
    fn interval(&self) -> Option<chrono::Duration> {
        self.max_per_minute
            .filter(|n| *n > 0)
            .map(|n| chrono::Duration::milliseconds(60_000 / i64::from(n)))
    }
}

/// Where sending stands: the next free slot of the pace, and any pause.
#[derive(Debug, Default)]
struct PaceState {
    seeded: bool,
    /// The earliest next send, when paced.
    next_slot: Option<DateTime<Utc>>,
    /// No send before this: the server asked us to wait.
    backoff_until: Option<DateTime<Utc>>,
    /// Throttling replies in a row (the wait doubles with each).
    throttles: u32,
    /// No send before this: a sending quota is used up.
    quota_until: Option<DateTime<Utc>>,
}

/// Why sending is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    Throttled(DateTime<Utc>),
    Quota(DateTime<Utc>),
}

/// The outbox side of the daemon: the transport and the pace it is used at.
pub struct Outbox {
    pub transport: Arc<dyn Transport>,
    pub pacing: Pacing,
    state: Mutex<PaceState>,
}

impl Outbox {
    pub fn new(transport: Arc<dyn Transport>, pacing: Pacing) -> Outbox {
        Outbox {
            transport,
            pacing,
            state: Mutex::new(PaceState::default()),
        }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut PaceState) -> T) -> T {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            // A panic elsewhere while holding the lock left plain data behind: use it.
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Whether sending is paused at `now`, and until when.
    pub fn paused(&self, now: DateTime<Utc>) -> Option<Pause> {
        self.with_state(|s| {
            if let Some(q) = s.quota_until.filter(|q| *q > now) {
                return Some(Pause::Quota(q));
            }
            s.backoff_until.filter(|b| *b > now).map(Pause::Throttled)
        })
    }

    /// When the next paced send may go, if that is after `now`.
    fn slot_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.with_state(|s| s.next_slot.filter(|n| *n > now))
    }

    fn take_slot(&self, now: DateTime<Utc>) {
        if let Some(interval) = self.pacing.interval() {
            self.with_state(|s| {
                let from = s.next_slot.map_or(now, |n| n.max(now));
                s.next_slot = Some(from + interval);
            });
        }
    }

    /// A throttling reply: every send waits, longer each time in a row. Returns until when.
    fn throttled(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.with_state(|s| {
            let wait = THROTTLE_FIRST
                .saturating_mul(1u32 << s.throttles.min(16))
                .min(THROTTLE_MAX);
            s.throttles = s.throttles.saturating_add(1);
            let until = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
            s.backoff_until = Some(s.backoff_until.map_or(until, |b| b.max(until)));
            until
        })
    }

    /// A quota reply: all sending waits for the quota to reset. Returns until when.
    fn quota(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let pause = chrono::Duration::from_std(self.pacing.quota_pause)
            .unwrap_or(chrono::Duration::hours(1));
        self.with_state(|s| {
            let until = now + pause;
            s.quota_until = Some(s.quota_until.map_or(until, |q| q.max(until)));
            until
        })
    }

    /// A message went: the server is taking mail again.
    fn went(&self) {
        self.with_state(|s| s.throttles = 0);
    }
}

/// What became of one claimed row.
type Sent = (OutboxRow, std::result::Result<(), SendError>);

impl Daemon {
    /// Sends what is due: in batches at the server's speed, or one at a time at the
    /// configured pace (waiting for each slot). Returns when nothing is due, when the
    /// daemon stops, or when sending is paused (a throttling or quota reply); what was
    /// not sent stays queued in its place.
    pub async fn dispatch(&self, report: &mut Report) -> Result<()> {
        let requeued = self.store.requeue_unconfirmed(self.clock.now()).await?;
        if requeued > 0 {
            tracing::warn!(
                count = requeued,
                "sends interrupted earlier were not confirmed; sending them again"
            );
        }
        self.seed_pace().await?;
        let transport = self.outbox.transport.clone();
        let witness = transport
            .witnessed()
            .then(|| self.cfg.secretariat.copy_address());
        let grace = match witness {
            Some(_) => chrono::Duration::from_std(self.cfg.send_confirm)
                .unwrap_or(chrono::Duration::minutes(10)),
            // A Maildir write is idempotent (same file name): retry at once.
            None => chrono::Duration::zero(),
        };
        let paced = self.outbox.pacing.interval().is_some();
        let batch = BATCH_PER_CONNECTION.saturating_mul(transport.connections().max(1) as i64);
        loop {
            if self.stopping.is_cancelled() {
                return Ok(());
            }
            let now = self.clock.now();
            if let Some(pause) = self.outbox.paused(now) {
                tracing::debug!(?pause, "sending is paused");
                return Ok(());
            }
            if !paced {
                return self
                    .dispatch_batches(transport.as_ref(), witness.as_deref(), grace, batch, report)
                    .await;
            }
            if let Some(at) = self.outbox.slot_after(now) {
                if self.store.due_outbox(now, 1).await?.is_empty() {
                    return Ok(());
                }
                let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
                tokio::select! {
                    _ = self.stopping.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            // The slot has come: the send goes now, even on a clock that did not move.
            let now = self
                .clock
                .now()
                .max(self.outbox.slot_after(now).unwrap_or(now));
            let claimed = self.store.claim_outbox(now, now + grace, 1).await?;
            if claimed.is_empty() {
                return Ok(());
            }
            self.outbox.take_slot(now);
            let (results, _) = self
                .send_claimed(transport.as_ref(), claimed, witness.as_deref())
                .await?;
            self.record(results, grace, report).await?;
        }
    }

    /// At the server's speed: while one batch is sent, the batch before is recorded
    /// and the next one claimed, so the database's work overlaps the network's.
    async fn dispatch_batches(
        &self,
        transport: &dyn Transport,
        witness: Option<&str>,
        grace: chrono::Duration,
        batch: i64,
        report: &mut Report,
    ) -> Result<()> {
        let claim = |now: DateTime<Utc>| self.store.claim_outbox(now, now + grace, batch);
        let mut claimed = claim(self.clock.now()).await?;
        let mut previous: Option<Vec<Sent>> = None;
        while !claimed.is_empty() {
            let mut recorded = Report::default();
            let ((results, halted), next) =
                tokio::try_join!(self.send_claimed(transport, claimed, witness), async {
                    if let Some(p) = previous.take() {
                        self.record(p, grace, &mut recorded).await?;
                    }
                    let now = self.clock.now();
                    if self.stopping.is_cancelled() || self.outbox.paused(now).is_some() {
                        return Ok(Vec::new());
                    }
                    claim(now).await.map_err(super::DaemonError::from)
                })?;
            add(report, recorded);
            if halted || self.stopping.is_cancelled() {
                let ids: Vec<i64> = next.iter().map(|c| c.row.id).collect();
                self.store.release(&ids, None, self.clock.now()).await?;
                return self.record(results, grace, report).await;
            }
            claimed = next;
            if claimed.is_empty() {
                // The last batch; recording it may queue more (a coordinator's notice).
                self.record(results, grace, report).await?;
                let now = self.clock.now();
                if self.stopping.is_cancelled() || self.outbox.paused(now).is_some() {
                    return Ok(());
                }
                claimed = claim(now).await?;
            } else {
                previous = Some(results);
            }
        }
        Ok(())
    }

    /// A restarted dispatcher keeps the pace: the next slot follows the last send.
    async fn seed_pace(&self) -> Result<()> {
        let Some(interval) = self.outbox.pacing.interval() else {
            return Ok(());
        };
        if self.outbox.with_state(|s| s.seeded) {
            return Ok(());
        }
        // `sent_at` is kept to the second: a second more, never too early.
        let last = self.store.last_sent_at().await?;
        self.outbox.with_state(|s| {
            s.seeded = true;
            if let Some(last) = last {
                let next = last + chrono::Duration::seconds(1) + interval;
                s.next_slot = Some(s.next_slot.map_or(next, |n| n.max(next)));
            }
        });
        Ok(())
    }

    /// Sends claimed rows over up to `connections()` sends at once, in their order.
    /// A throttling or quota reply stops the batch (the flag says so); what was not
    /// tried goes back to the queue as it was.
    async fn send_claimed(
        &self,
        transport: &dyn Transport,
        claimed: Vec<Claimed>,
        witness: Option<&str>,
    ) -> Result<(Vec<Sent>, bool)> {
        let workers = transport.connections().clamp(1, claimed.len().max(1));
        let queue = Mutex::new(VecDeque::from(claimed));
        let halt = AtomicBool::new(false);
        let next = || queue.lock().ok().and_then(|mut q| q.pop_front());
        let worker = || async {
            let mut done: Vec<Sent> = Vec::new();
            while !halt.load(Ordering::Relaxed) && !self.stopping.is_cancelled() {
                let Some(c) = next() else { break };
                let name = format!("{}.R{}.referent", c.row.created_at.timestamp(), c.row.id);
                let to: Vec<&str> = std::iter::once(c.row.recipient.as_str())
                    .chain(witness)
                    .collect();
                let r = transport
                    .send(Outgoing {
                        from: &c.row.envelope_from,
                        to: &to,
                        raw: &c.raw,
                        name: &name,
                    })
                    .await;
                if r.as_ref().is_err_and(SendError::pauses_sending) {
                    halt.store(true, Ordering::Relaxed);
                }
                done.push((c.row, r));
            }
            done
        };
        let results: Vec<Sent> = futures::future::join_all((0..workers).map(|_| worker()))
            .await
            .into_iter()
            .flatten()
            .collect();
        let untried: Vec<i64> = queue
            .into_inner()
            .map(|q| q.into_iter().map(|c| c.row.id).collect())
            .unwrap_or_default();
        self.store.release(&untried, None, self.clock.now()).await?;
        Ok((results, halt.load(Ordering::Relaxed)))
    }

    /// Writes what became of each row: sent ones in one transaction first (what
    /// matters most if anything below fails), then pauses, retries and failures.
    async fn record(
        &self,
        results: Vec<Sent>,
        grace: chrono::Duration,
        report: &mut Report,
    ) -> Result<()> {
        let now = self.clock.now();
        let sent: Vec<i64> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(row, _)| row.id)
            .collect();
        self.store.mark_sent_many(&sent, now).await?;
        report.sent += sent.len();
        if !sent.is_empty() {
            self.outbox.went();
        }
        let mut throttled_until: Option<DateTime<Utc>> = None;
        let mut quota_paused = false;
        for (row, r) in results {
            let e = match r {
                Ok(()) => {
                    tracing::info!(outbox = row.id, kind = %row.kind, to = %row.recipient, "sent");
                    continue;
                }
                Err(e) => e,
            };
            let reason = e.to_string();
            match e.verdict {
                Verdict::Throttled => {
                    // One pause per batch, however many of its sends heard the reply.
                    let until = match throttled_until {
                        Some(u) => u,
                        None => *throttled_until.insert(self.outbox.throttled(now)),
                    };
                    self.store.release(&[row.id], Some(&reason), now).await?;
                    report.retried += 1;
                    if e.code.is_some_and(|c| c >= 500) {
                        // Our login or sender refused: a setting to fix, not a rate.
                        tracing::error!(outbox = row.id, error = %reason, until = %until, "the server refuses our login or sender: sending waits, the message keeps its place");
                    } else {
                        tracing::warn!(outbox = row.id, error = %reason, until = %until, "the server asks us to wait: sending paused, the message keeps its place");
                    }
                }
                Verdict::Quota => {
                    let first = !quota_paused;
                    quota_paused = true;
                    let until = self.outbox.quota(now);
                    self.store.release(&[row.id], Some(&reason), now).await?;
                    report.retried += 1;
                    if !first {
                        continue;
                    }
                    tracing::error!(outbox = row.id, error = %reason, until = %until, "sending quota reached: all sending paused, nothing is lost");
                    let ev = NewEvent::new(
                        "mail system",
                        "sending_paused",
                        None,
                        None,
                        format!(
                            "sending paused until {}: {reason}",
                            until.format("%Y-%m-%dT%H:%M:%SZ")
                        ),
                    );
                    self.store.commit(&[], &[], &[ev], now).await?;
                }
                Verdict::Unknown if grace > chrono::Duration::zero() => {
                    // Left `sending`: its copy confirms it, or it is sent again once
                    // the grace period is over (`requeue_unconfirmed`).
                    report.retried += 1;
                    tracing::warn!(outbox = row.id, to = %row.recipient, error = %reason, "the connection broke after the message was sent; waiting for its copy");
                }
                Verdict::Transient | Verdict::Unknown if row.attempts + 1 < MAX_ATTEMPTS => {
                    self.store
                        .mark_retry(row.id, &reason, now + retry_delay(row.attempts))
                        .await?;
                    report.retried += 1;
                    tracing::warn!(outbox = row.id, to = %row.recipient, error = %reason, "send failed; will retry");
                }
                _ => {
                    self.store.mark_failed(row.id, &reason, now).await?;
                    report.failed += 1;
                    tracing::error!(outbox = row.id, to = %row.recipient, error = %reason, "send failed for good");
                    // Refused at submission: the coordinators hear of it as of a
                    // bounce, and the address is marked failing. Not when the server
                    // refused our sender or login: that is its setting, not the address.
                    if e.refuses_recipient() || e.is_transient() {
                        if let Err(err) = self.submission_refused(&row, &reason).await {
                            tracing::error!(outbox = row.id, error = %err, "cannot tell the coordinators about the refused mail");
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) async fn dispatcher_task(
        &self,
        cancel: CancellationToken,
        wake: Arc<Notify>,
    ) -> Result<()> {
        loop {
            let mut report = Report::default();
            if let Err(e) = self.dispatch(&mut report).await {
                tracing::error!(error = %e, "dispatch failed; trying again shortly");
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = wake.notified() => {}
                // Retries and the end of a pause come without anyone waking us.
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
        self.outbox.transport.close().await;
        Ok(())
    }
}

/// How far the outbox has come, for `referent outbox`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Progress {
    /// Per kind, in sending order.
    pub kinds: Vec<KindProgress>,
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    /// Messages a minute the estimate assumes: the configured pace, else what was
    /// reached in the last ten minutes; `None` when neither is known.
    pub per_minute: Option<f64>,
    /// Sending paused for a quota, until then, and the server's reply.
    pub paused_until: Option<(DateTime<Utc>, String)>,
    /// When the last queued message should be gone.
    pub done_by: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KindProgress {
    pub kind: String,
    /// Waiting or being sent.
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    /// When its last queued message should be gone (it waits for those before it).
    pub done_by: Option<DateTime<Utc>>,
}

/// Counts per kind and the expected finish from the pace: each kind waits for the
/// kinds sent before it (one-person mail first, then oldest first).
pub async fn progress(
    store: &crate::store::Store,
    pacing: Pacing,
    now: DateTime<Utc>,
) -> Result<Progress> {
    let mut kinds: Vec<KindProgress> = Vec::new();
    for c in store.outbox_counts().await? {
        let i = match kinds.iter().position(|k| k.kind == c.kind) {
            Some(i) => i,
            None => {
                kinds.push(KindProgress {
                    kind: c.kind.clone(),
                    queued: 0,
                    sent: 0,
                    failed: 0,
                    done_by: None,
                });
                kinds.len() - 1
            }
        };
        if let Some(k) = kinds.get_mut(i) {
            match c.state {
                OutboxState::Sent => k.sent += c.count,
                OutboxState::Failed => k.failed += c.count,
                OutboxState::Pending | OutboxState::Sending => k.queued += c.count,
            }
        }
    }
    let per_minute = match pacing.max_per_minute {
        Some(n) => Some(f64::from(n)),
        None => {
            let recent = store
                .count_sent_since(now - chrono::Duration::minutes(10))
                .await?;
            (recent > 0).then(|| recent as f64 / 10.0)
        }
    };
    // A quota pause shows in the audit log; it is over once something was sent after it.
    let last_sent = store.last_sent_at().await?;
    let paused_until = store
        .events(None)
        .await?
        .into_iter()
        .rev()
        .find(|e| e.kind == "sending_paused")
        .filter(|e| last_sent.is_none_or(|s| s <= e.at))
        .and_then(|e| {
            let rest = e.detail.strip_prefix("sending paused until ")?;
            let (until, why) = rest.split_once(": ")?;
            let until = crate::store::parse_ts(until).ok()?;
            (until > now).then(|| (until, why.to_string()))
        });
    let start = paused_until.as_ref().map_or(now, |(u, _)| *u);
    let mut before = 0i64;
    for k in kinds.iter_mut() {
        before += k.queued;
        if k.queued > 0 {
            k.done_by = per_minute.map(|r| start + minutes(before as f64 / r));
        }
    }
    let queued: i64 = kinds.iter().map(|k| k.queued).sum();
    Ok(Progress {
        queued,
        sent: kinds.iter().map(|k| k.sent).sum(),
        failed: kinds.iter().map(|k| k.failed).sum(),
        done_by: (queued > 0)
            .then(|| per_minute.map(|r| start + minutes(queued as f64 / r)))
            .flatten(),
        per_minute,
        paused_until,
        kinds,
    })
}

fn minutes(m: f64) -> chrono::Duration {
    chrono::Duration::milliseconds((m * 60_000.0).clamp(0.0, 1e15) as i64)
}

fn add(report: &mut Report, more: Report) {
    report.sent += more.sent;
    report.retried += more.retried;
    report.failed += more.failed;
}

/// 30 s, 1 min, 2 min … capped at an hour, with jitter so many failures do not retry
/// in lockstep.
pub(super) fn retry_delay(attempts: i64) -> chrono::Duration {
    let base = 30i64 << attempts.clamp(0, 7);
    let capped = base.min(3600);
    let jitter = (rand::random::<u64>() % (capped as u64 / 4 + 1)) as i64;
    chrono::Duration::seconds(capped + jitter)
}

#[cfg(test)]
mod tests;
