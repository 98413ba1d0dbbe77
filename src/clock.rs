//! The one place that reads the wall clock. Everything else takes `now` as a parameter,
//! so schedules and deadlines are tested by moving time, never by sleeping.

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a chosen instant and then runs at the real pace: what the
/// global `--now` option gives, so a long-running command still sees time pass.
#[derive(Debug, Clone, Copy)]
pub struct ShiftedClock {
    offset: chrono::Duration,
}

impl ShiftedClock {
    #[allow(clippy::disallowed_methods)]
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            offset: start - Utc::now(),
        }
    }
}

impl Clock for ShiftedClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// A clock that never moves, for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// The real time, whatever `--now` says: for what other processes must agree on (who
/// holds the mailbox), never for the council's schedule. A `--now` run in the future
/// must not leave a lease that blocks the real daemon for months.
#[allow(clippy::disallowed_methods)]
pub fn wall_now() -> DateTime<Utc> {
    Utc::now()
}

/// Time spent, for log lines and benchmarks: never for a decision (those take `now`
/// from a [`Clock`]).
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)] // a duration printed for a person, never acted on
    pub fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    /// Milliseconds since the start.
    pub fn ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
