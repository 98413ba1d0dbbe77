//! When scheduled mail is due: the summons N days before a meeting, the reminder M days
//! before, and the cron rule that wakes the scheduler. Pure: time is a parameter.

use chrono::{DateTime, Duration, Utc};

use crate::config::Offsets;

pub const SUMMONS: &str = "summons";
pub const REMINDER: &str = "reminder";

/// The jobs a meeting starting at `starts_at` gets, with their due times.
pub fn jobs_for(starts_at: DateTime<Utc>, offsets: Offsets) -> Vec<(String, DateTime<Utc>)> {
    vec![
        (
            SUMMONS.to_string(),
            starts_at - Duration::days(i64::from(offsets.summons_days_before)),
        ),
        (
            REMINDER.to_string(),
            starts_at - Duration::days(i64::from(offsets.reminder_days_before)),
        ),
    ]
}

/// The due time of one kind of job for a meeting.
pub fn due_for(kind: &str, starts_at: DateTime<Utc>, offsets: Offsets) -> Option<DateTime<Utc>> {
    jobs_for(starts_at, offsets)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, d)| d)
}

/// The next time the scheduler wakes after `after`.
pub fn next_tick(rule: &cron::Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    rule.after(&after).next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn due_times() {
        let start: DateTime<Utc> = "2027-01-12T09:00:00Z".parse().unwrap();
        let jobs = jobs_for(
            start,
            Offsets {
                summons_days_before: 14,
                reminder_days_before: 5,
            },
        );
        assert_eq!(jobs[0].1.to_rfc3339(), "2026-12-29T09:00:00+00:00");
        assert_eq!(jobs[1].1.to_rfc3339(), "2027-01-07T09:00:00+00:00");
        let rule = cron::Schedule::from_str("0 */5 * * * *").unwrap();
        let next = next_tick(&rule, "2027-01-01T10:02:00Z".parse().unwrap()).unwrap();
        assert_eq!(next.to_rfc3339(), "2027-01-01T10:05:00+00:00");
    }
}
