//! When scheduled mail is due (the call for agenda items, the summons, the reminder,
//! the attendance list, the end of the correction period), the yearly calendar, public
//! holidays, agenda numbering, and the cron rule that wakes the scheduler. Pure: time is
//! a parameter.

pub mod calendar;
pub mod holidays;
pub mod workdays;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::Offsets;

use crate::domain::JobKind;
use workdays::Rule;

/// `days` days before `t` at the same local wall-clock time (a summons for a 10:00
/// summer meeting sent 14 days before, in winter, goes at 10:00 winter time, not
/// 09:00). Where that local time does not exist (the clocks skip it), the same span
/// in UTC.
pub fn days_before(t: DateTime<Utc>, days: u32, tz: Tz) -> DateTime<Utc> {
    let local = t.with_timezone(&tz).naive_local() - Duration::days(i64::from(days));
    tz.from_local_datetime(&local)
        .earliest()
        .map(|l| l.with_timezone(&Utc))
        .unwrap_or_else(|| t - Duration::days(i64::from(days)))
}

/// The jobs a meeting starting at `starts_at` gets, with their due times: each at the
/// meeting's local hour, `…_days_before` days before, moved to the working day before
/// when that day is a Saturday, Sunday or public holiday; the call for agenda items also
/// before Christmas week and the holiday weeks (see [`workdays`]).
pub fn jobs_for(
    starts_at: DateTime<Utc>,
    offsets: Offsets,
    tz: Tz,
) -> Vec<(JobKind, DateTime<Utc>)> {
    let summons = workdays::send_time(starts_at, offsets.summons_days_before, tz, Rule::WorkingDay);
    let mut reminder = workdays::send_time(
        starts_at,
        offsets.reminder_days_before,
        tz,
        Rule::WorkingDay,
    );
    // Moved back onto the summons' day (a summons on a Friday, a reminder the day
    // after), a reminder would go out with the summons: it keeps its own day then.
    if reminder <= summons {
        reminder = days_before(starts_at, offsets.reminder_days_before, tz);
    }
    vec![
        (
            JobKind::Call,
            workdays::send_time(
                starts_at,
                offsets.call_days_before,
                tz,
                Rule::OutsideHolidays(offsets.holiday_weeks),
            ),
        ),
        (JobKind::Summons, summons),
        (JobKind::Reminder, reminder),
        (
            JobKind::Attendance,
            workdays::send_time(
                starts_at,
                offsets.attendance_days_before,
                tz,
                Rule::WorkingDay,
            ),
        ),
    ]
}

/// The deadline for agenda proposals for a meeting: the end of the day
/// `agenda_deadline_days_before` days before, moved to the working day before and
/// before Christmas week and the holiday weeks. The summons closes the agenda, so a
/// deadline that would end after it is the end of the last such day before the
/// summons' day.
pub fn agenda_deadline(starts_at: DateTime<Utc>, offsets: Offsets, tz: Tz) -> DateTime<Utc> {
    let rule = Rule::OutsideHolidays(offsets.holiday_weeks);
    let deadline = workdays::deadline(starts_at, offsets.agenda_deadline_days_before, tz, rule);
    let summons = workdays::send_time(starts_at, offsets.summons_days_before, tz, Rule::WorkingDay);
    if deadline < summons {
        return deadline;
    }
    let summons_day = summons.with_timezone(&tz).date_naive();
    match summons_day.pred_opt() {
        Some(day) => workdays::end_of_day(rule.day(day), tz),
        None => deadline,
    }
}

/// Numbers for a meeting's agenda: items are numbered per council and year ("Sak
/// 7/27"), continuing after the highest number already given that year. Returns
/// (year as two digits for display, first number).
pub fn next_numbers(year: i32, highest_given: Option<i64>, count: usize) -> Vec<(i32, i64)> {
    let first = highest_given.unwrap_or(0) + 1;
    (0..count as i64).map(|i| (year, first + i)).collect()
}

/// "7/27": an agenda number as councils write it.
pub fn item_label(number: i64, year: i32) -> String {
    format!("{number}/{:02}", year.rem_euclid(100))
}

/// The due time of one kind of job for a meeting.
pub fn due_for(
    kind: JobKind,
    starts_at: DateTime<Utc>,
    offsets: Offsets,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    jobs_for(starts_at, offsets, tz)
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, d)| d)
}

/// The next time the scheduler wakes after `after`.
pub fn next_tick(rule: &cron::Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    rule.after(&after).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_before_keep_the_local_time_across_a_clock_change() {
        let oslo = chrono_tz::Europe::Oslo;
        // 10:00 summer time (08:00 UTC) on 13 April; 14 days before is winter time.
        let start: DateTime<Utc> = "2027-04-13T08:00:00Z".parse().unwrap();
        let before = days_before(start, 14, oslo);
        assert_eq!(
            before
                .with_timezone(&oslo)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            "2027-03-30 10:00"
        );
        let winter: DateTime<Utc> = "2027-03-23T09:00:00Z".parse().unwrap();
        assert_eq!(days_before(start, 21, oslo), winter);
        // 02:30 on the night the clocks skip it: the same span in UTC.
        let after_skip: DateTime<Utc> = "2027-03-29T00:30:00Z".parse().unwrap();
        assert_eq!(
            days_before(after_skip, 1, oslo),
            after_skip - Duration::days(1)
        );
    }
    use std::str::FromStr;

    #[test]
    fn numbering_across_years() {
        // The last meeting of 2026 ends at 31/26; the first of 2027 starts again at 1.
        let n = next_numbers(2026, Some(27), 4);
        assert_eq!(n.last(), Some(&(2026, 31)));
        assert_eq!(item_label(31, 2026), "31/26");
        let n = next_numbers(2027, None, 3);
        assert_eq!(n, [(2027, 1), (2027, 2), (2027, 3)]);
        assert_eq!(item_label(7, 2027), "7/27");
        assert_eq!(item_label(1, 2100), "1/00");
    }

    #[test]
    fn due_times() {
        let start: DateTime<Utc> = "2027-01-12T09:00:00Z".parse().unwrap();
        let jobs = jobs_for(start, Offsets::default(), chrono_tz::Europe::Oslo);
        assert_eq!(jobs[0].0, JobKind::Call);
        assert_eq!(jobs[0].1.to_rfc3339(), "2026-12-15T09:00:00+00:00");
        assert_eq!(jobs[1].1.to_rfc3339(), "2026-12-29T09:00:00+00:00");
        assert_eq!(jobs[2].1.to_rfc3339(), "2027-01-07T09:00:00+00:00");
        // Two days before is Sunday 10 January: the attendance list goes on Friday.
        assert_eq!(jobs[3].1.to_rfc3339(), "2027-01-08T09:00:00+00:00");
        // The end of Tuesday 22 December, Oslo time.
        assert_eq!(
            agenda_deadline(start, Offsets::default(), chrono_tz::Europe::Oslo).to_rfc3339(),
            "2026-12-22T22:59:59+00:00"
        );
        let rule = cron::Schedule::from_str("0 */5 * * * *").unwrap();
        let next = next_tick(&rule, "2027-01-01T10:02:00Z".parse().unwrap()).unwrap();
        assert_eq!(next.to_rfc3339(), "2027-01-01T10:05:00+00:00");
    }

    #[test]
    fn christmas_and_summer_move_the_call_and_the_deadline_earlier() {
        let oslo = chrono_tz::Europe::Oslo;
        let local = |t: DateTime<Utc>| t.with_timezone(&oslo).format("%a %F %H:%M:%S").to_string();
        // Tuesday 19 January 2027 10:00: the call (28 days before) would be 22 December,
        // the deadline (21) 29 December and the summons (14) 5 January.
        let start: DateTime<Utc> = "2027-01-19T09:00:00Z".parse().unwrap();
        let o = Offsets::default();
        let jobs = jobs_for(start, o, oslo);
        assert_eq!(local(jobs[0].1), "Tue 2026-12-22 10:00:00");
        assert_eq!(local(jobs[1].1), "Tue 2027-01-05 10:00:00");
        assert_eq!(
            local(agenda_deadline(start, o, oslo)),
            "Wed 2026-12-23 23:59:59"
        );
        // Tuesday 17 August 2027: call 20 July and deadline 27 July are in the
        // fellesferie (weeks 28–30): both on Friday 9 July, the call at 10:00 and the
        // deadline at the end of the day; the summons on 3 August as usual.
        let start: DateTime<Utc> = "2027-08-17T08:00:00Z".parse().unwrap();
        let jobs = jobs_for(start, o, oslo);
        assert_eq!(local(jobs[0].1), "Fri 2027-07-09 10:00:00");
        assert_eq!(
            local(agenda_deadline(start, o, oslo)),
            "Fri 2027-07-09 23:59:59"
        );
        assert_eq!(local(jobs[1].1), "Tue 2027-08-03 10:00:00");
        // Without holiday weeks only the working-day rule applies.
        let none = Offsets {
            holiday_weeks: workdays::HolidayWeeks::NONE,
            ..o
        };
        assert_eq!(
            local(jobs_for(start, none, oslo)[0].1),
            "Tue 2027-07-20 10:00:00"
        );
        assert_eq!(
            local(agenda_deadline(start, none, oslo)),
            "Tue 2027-07-27 23:59:59"
        );
    }

    #[test]
    fn a_deadline_on_the_summons_day_ends_the_day_before() {
        let oslo = chrono_tz::Europe::Oslo;
        // Deadline and summons both 14 days before Tuesday 9 March 2027: the summons
        // at 10:00 on Tuesday 23 February closes the agenda, so the deadline is the end
        // of Monday 22 February.
        let start: DateTime<Utc> = "2027-03-09T09:00:00Z".parse().unwrap();
        let o = Offsets {
            agenda_deadline_days_before: 14,
            ..Offsets::default()
        };
        assert_eq!(
            agenda_deadline(start, o, oslo).to_rfc3339(),
            "2027-02-22T22:59:59+00:00"
        );
    }

    #[test]
    fn a_reminder_never_goes_with_the_summons() {
        let oslo = chrono_tz::Europe::Oslo;
        // Monday 15 March 2027 10:00; summons 10 days before is Friday 5 March, the
        // reminder 9 days before Saturday 6 March: moved to Friday it would go with the
        // summons, so it keeps its Saturday.
        let start: DateTime<Utc> = "2027-03-15T09:00:00Z".parse().unwrap();
        let o = Offsets {
            summons_days_before: 10,
            reminder_days_before: 9,
            ..Offsets::default()
        };
        let jobs = jobs_for(start, o, oslo);
        assert_eq!(jobs[1].1.to_rfc3339(), "2027-03-05T09:00:00+00:00");
        assert_eq!(jobs[2].1.to_rfc3339(), "2027-03-06T09:00:00+00:00");
    }
}
