//! Working days and the calendar rules for scheduled mail: nothing is scheduled to
//! arrive on a Saturday, Sunday or public holiday (it goes the working day before), a
//! call for agenda items or a deadline that would fall in Christmas week or the summer
//! holiday goes before it, and a deadline means the end of its day. Pure.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::holidays;

/// The ISO weeks (1–53) in which no call for agenda items goes out and no deadline
/// falls: the summer holiday (`[calendar] holiday_weeks`). One bit per week, so the
/// set is `Copy` like the offsets it travels with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HolidayWeeks(u64);

impl HolidayWeeks {
    /// No week.
    pub const NONE: HolidayWeeks = HolidayWeeks(0);

    /// The set of `weeks`; `None` when one of them is not an ISO week number (1–53).
    pub fn new(weeks: &[u32]) -> Option<HolidayWeeks> {
        let mut bits = 0u64;
        for &w in weeks {
            if !(1..=53).contains(&w) {
                return None;
            }
            bits |= 1u64 << w;
        }
        Some(HolidayWeeks(bits))
    }

    pub fn contains(self, week: u32) -> bool {
        week < 64 && self.0 & (1u64 << week) != 0
    }

    /// The weeks, in order.
    pub fn weeks(self) -> Vec<u32> {
        (1..=53).filter(|w| self.contains(*w)).collect()
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The Norwegian fellesferie: weeks 28, 29 and 30 (mid-July to the start of August).
impl Default for HolidayWeeks {
    fn default() -> Self {
        HolidayWeeks((1 << 28) | (1 << 29) | (1 << 30))
    }
}

/// Monday to Friday and not a public holiday.
pub fn is_working_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && holidays::holiday(d).is_none()
}

/// Christmas week: from Christmas Eve to New Year's Day, when nobody reads council
/// mail.
pub fn is_christmas(d: NaiveDate) -> bool {
    (d.month() == 12 && d.day() >= 24) || (d.month() == 1 && d.day() == 1)
}

/// A day in Christmas week or in one of the configured holiday weeks.
pub fn is_holiday_time(d: NaiveDate, weeks: HolidayWeeks) -> bool {
    is_christmas(d) || weeks.contains(d.iso_week().week())
}

/// The last day on or before `d` for which `ok` holds, looking back at most `limit`
/// days; `d` itself when none does (a rule no day satisfies is a configuration the
/// validation refuses, so this is a fallback, not a path).
fn last_on_or_before(d: NaiveDate, limit: i64, ok: impl Fn(NaiveDate) -> bool) -> NaiveDate {
    (0..=limit)
        .filter_map(|back| d.checked_sub_signed(Duration::days(back)))
        .find(|day| ok(*day))
        .unwrap_or(d)
}

/// `d` when it is a working day, else the working day before it (Easter: from the
/// Monday after to the Wednesday before).
pub fn working_day_on_or_before(d: NaiveDate) -> NaiveDate {
    last_on_or_before(d, 31, is_working_day)
}

/// `d` when it is a working day outside the holidays, else the last such day before
/// (a deadline on 28 December is moved to 23 December).
pub fn open_day_on_or_before(d: NaiveDate, weeks: HolidayWeeks) -> NaiveDate {
    let open = last_on_or_before(d, 400, |day| {
        is_working_day(day) && !is_holiday_time(day, weeks)
    });
    if is_working_day(open) {
        open
    } else {
        working_day_on_or_before(d)
    }
}

/// The first working day on or after `d`.
pub fn working_day_on_or_after(d: NaiveDate) -> NaiveDate {
    (0..=31)
        .filter_map(|ahead| d.checked_add_signed(Duration::days(ahead)))
        .find(|day| is_working_day(*day))
        .unwrap_or(d)
}

/// `time` on `d` in `tz`. Where the clocks skip that time (02:30 on the night summer
/// time begins), the same time an hour later, which is the moment the clocks show
/// after the jump; where it happens twice, the first.
pub fn at_local(d: NaiveDate, time: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let local = d.and_time(time);
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        // No zone skips two hours; keep the wall-clock reading as if it were UTC.
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// The last second of `d` in `tz`: what "by 22 December" means. 23:59:59 exists on
/// every day of every zone referent is used in (clocks change in the small hours).
pub fn end_of_day(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let last = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
    at_local(d, last, tz)
}

/// How a scheduled day is moved when it is not a good one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// To the working day before (summons, reminder, attendance list).
    WorkingDay,
    /// To the working day before, and before Christmas week and the holiday weeks
    /// (the call for agenda items and the deadline).
    OutsideHolidays(HolidayWeeks),
}

impl Rule {
    /// The day `d` moves to under this rule.
    pub fn day(self, d: NaiveDate) -> NaiveDate {
        match self {
            Rule::WorkingDay => working_day_on_or_before(d),
            Rule::OutsideHolidays(weeks) => open_day_on_or_before(d, weeks),
        }
    }
}

/// The day `days` days before the local day of `t`, moved by `rule`, at `t`'s local
/// wall-clock time: a summons for a 10:00 meeting in summer time goes at 10:00 in
/// winter time too.
pub fn send_time(t: DateTime<Utc>, days: u32, tz: Tz, rule: Rule) -> DateTime<Utc> {
    let local = t.with_timezone(&tz);
    let day = local
        .date_naive()
        .checked_sub_signed(Duration::days(i64::from(days)))
        .unwrap_or(local.date_naive());
    at_local(rule.day(day), local.time(), tz)
}

/// The end of the day `days` days before the local day of `t`, moved by `rule`.
pub fn deadline(t: DateTime<Utc>, days: u32, tz: Tz, rule: Rule) -> DateTime<Utc> {
    let day = t
        .with_timezone(&tz)
        .date_naive()
        .checked_sub_signed(Duration::days(i64::from(days)))
        .unwrap_or(t.with_timezone(&tz).date_naive());
    end_of_day(rule.day(day), tz)
}

/// The end of the correction period that starts at `now` and lasts `days` days: the
/// end of that day, or of the working day before when it is not one (the digest of
/// corrections goes out then) — but never today, when a short period would end before
/// anyone could answer; then the next working day.
pub fn correction_deadline(now: DateTime<Utc>, days: u32, tz: Tz) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    let day = today
        .checked_add_signed(Duration::days(i64::from(days)))
        .unwrap_or(today);
    let mut end = working_day_on_or_before(day);
    if end <= today {
        end = working_day_on_or_after(day);
    }
    end_of_day(end, tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OSLO: Tz = chrono_tz::Europe::Oslo;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn local(t: DateTime<Utc>) -> String {
        t.with_timezone(&OSLO)
            .format("%a %Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }

    #[test]
    fn weekends_go_to_the_friday_before() {
        assert!(is_working_day(d(2027, 1, 8)));
        assert!(!is_working_day(d(2027, 1, 9)));
        assert!(!is_working_day(d(2027, 1, 10)));
        assert_eq!(working_day_on_or_before(d(2027, 1, 9)), d(2027, 1, 8));
        assert_eq!(working_day_on_or_before(d(2027, 1, 10)), d(2027, 1, 8));
        assert_eq!(working_day_on_or_before(d(2027, 1, 11)), d(2027, 1, 11));
        assert_eq!(working_day_on_or_after(d(2027, 1, 9)), d(2027, 1, 11));
    }

    #[test]
    fn easter_goes_to_the_wednesday_before() {
        // 2027: skjærtorsdag 25 March, langfredag 26, Easter Sunday 28, Monday 29.
        for day in 25..=29 {
            assert_eq!(
                working_day_on_or_before(d(2027, 3, day)),
                d(2027, 3, 24),
                "{day} March"
            );
        }
        assert_eq!(working_day_on_or_before(d(2027, 3, 30)), d(2027, 3, 30));
    }

    #[test]
    fn the_seventeenth_of_may_and_a_holiday_monday_after_a_weekend() {
        // 17 May 2027 is a Monday (and Whit Monday): Saturday, Sunday and Monday are
        // all off, so the Friday before.
        assert_eq!(working_day_on_or_before(d(2027, 5, 17)), d(2027, 5, 14));
        // 17 May 2028 is a Wednesday: the Tuesday.
        assert_eq!(working_day_on_or_before(d(2028, 5, 17)), d(2028, 5, 16));
        // Ascension Day 2027 (Thursday 6 May): the Wednesday.
        assert_eq!(working_day_on_or_before(d(2027, 5, 6)), d(2027, 5, 5));
        // Whit Monday 2026 (25 May) after a weekend: Friday 22 May.
        assert_eq!(working_day_on_or_before(d(2026, 5, 25)), d(2026, 5, 22));
    }

    #[test]
    fn christmas_week_moves_a_call_or_deadline_before_christmas_eve() {
        let summer = HolidayWeeks::default();
        // 28 December 2026 (a Monday in Christmas week): Wednesday 23 December.
        assert_eq!(
            open_day_on_or_before(d(2026, 12, 28), summer),
            d(2026, 12, 23)
        );
        // New Year's Day 2027: still 23 December 2026.
        assert_eq!(
            open_day_on_or_before(d(2027, 1, 1), summer),
            d(2026, 12, 23)
        );
        // 2 January 2027 is a Saturday, outside Christmas week: Thursday 31 December is
        // in it, so 23 December again.
        assert_eq!(
            open_day_on_or_before(d(2027, 1, 2), summer),
            d(2026, 12, 23)
        );
        assert_eq!(open_day_on_or_before(d(2027, 1, 4), summer), d(2027, 1, 4));
        // The working-day rule alone keeps Christmas week's working days.
        assert_eq!(working_day_on_or_before(d(2026, 12, 28)), d(2026, 12, 28));
        // 24 December 2027 is a Friday: Thursday the 23rd.
        assert_eq!(
            open_day_on_or_before(d(2027, 12, 24), summer),
            d(2027, 12, 23)
        );
    }

    #[test]
    fn the_summer_weeks_are_configured() {
        // Weeks 28–30 of 2027 run from Monday 12 July to Sunday 1 August.
        let fellesferie = HolidayWeeks::default();
        assert_eq!(fellesferie.weeks(), [28, 29, 30]);
        assert_eq!(
            open_day_on_or_before(d(2027, 7, 20), fellesferie),
            d(2027, 7, 9)
        );
        assert_eq!(
            open_day_on_or_before(d(2027, 8, 1), fellesferie),
            d(2027, 7, 9)
        );
        assert_eq!(
            open_day_on_or_before(d(2027, 8, 2), fellesferie),
            d(2027, 8, 2)
        );
        // A secretariat closed weeks 27–32 instead.
        let long = HolidayWeeks::new(&[27, 28, 29, 30, 31, 32]).unwrap();
        assert_eq!(open_day_on_or_before(d(2027, 8, 2), long), d(2027, 7, 2));
        assert_eq!(open_day_on_or_before(d(2027, 8, 16), long), d(2027, 8, 16));
        // None: only weekends and holidays move a day.
        assert_eq!(
            open_day_on_or_before(d(2027, 7, 20), HolidayWeeks::NONE),
            d(2027, 7, 20)
        );
        assert_eq!(HolidayWeeks::new(&[0]), None);
        assert_eq!(HolidayWeeks::new(&[54]), None);
        // Week 53 exists in some years (2026 ends in it).
        let w53 = HolidayWeeks::new(&[53]).unwrap();
        assert!(is_holiday_time(d(2026, 12, 31), w53));
        assert_eq!(open_day_on_or_before(d(2026, 12, 22), w53), d(2026, 12, 22));
    }

    #[test]
    fn a_deadline_is_the_end_of_its_day_in_winter_and_summer() {
        let rule = Rule::OutsideHolidays(HolidayWeeks::default());
        // Meeting Tuesday 12 January 2027 10:00; 21 days before is Tuesday 22 December.
        let start: DateTime<Utc> = "2027-01-12T09:00:00Z".parse().unwrap();
        let dl = deadline(start, 21, OSLO, rule);
        assert_eq!(local(dl), "Tue 2026-12-22 23:59:59 CET");
        assert_eq!(dl.to_rfc3339(), "2026-12-22T22:59:59+00:00");
        // 14 days before is 29 December, in Christmas week: the 23rd.
        assert_eq!(
            local(deadline(start, 14, OSLO, rule)),
            "Wed 2026-12-23 23:59:59 CET"
        );
        // Summer time: 23:59:59 CEST is 21:59:59 UTC.
        let june: DateTime<Utc> = "2027-06-15T08:00:00Z".parse().unwrap();
        let dl = deadline(june, 21, OSLO, rule);
        assert_eq!(local(dl), "Tue 2027-05-25 23:59:59 CEST");
        assert_eq!(dl.to_rfc3339(), "2027-05-25T21:59:59+00:00");
    }

    #[test]
    fn send_times_keep_the_local_hour_across_daylight_saving() {
        // Meeting Tuesday 13 April 2027 10:00 summer time. 14 days before is Tuesday 30
        // March, summer time already; 21 days before is 23 March, winter time.
        let start: DateTime<Utc> = "2027-04-13T08:00:00Z".parse().unwrap();
        assert_eq!(
            local(send_time(start, 14, OSLO, Rule::WorkingDay)),
            "Tue 2027-03-30 10:00:00 CEST"
        );
        assert_eq!(
            local(send_time(start, 21, OSLO, Rule::WorkingDay)),
            "Tue 2027-03-23 10:00:00 CET"
        );
        // 17 days before is Saturday 27 March: Friday 26 is langfredag, Thursday 25
        // skjærtorsdag, so Wednesday 24 March, 10:00 winter time (09:00 UTC).
        let t = send_time(start, 17, OSLO, Rule::WorkingDay);
        assert_eq!(local(t), "Wed 2027-03-24 10:00:00 CET");
        assert_eq!(t.to_rfc3339(), "2027-03-24T09:00:00+00:00");
        // Back to winter time: Monday 1 November 2027 10:00 CET, 2 days before is
        // Saturday 30 October (summer time): Friday 29 October 10:00 CEST.
        let nov: DateTime<Utc> = "2027-11-01T09:00:00Z".parse().unwrap();
        assert_eq!(
            local(send_time(nov, 2, OSLO, Rule::WorkingDay)),
            "Fri 2027-10-29 10:00:00 CEST"
        );
        // A time the clocks skip (02:30 on 28 March 2027) is read an hour later.
        assert_eq!(
            local(at_local(
                d(2027, 3, 28),
                NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
                OSLO
            )),
            "Sun 2027-03-28 03:30:00 CEST"
        );
    }

    #[test]
    fn the_correction_period_ends_at_the_end_of_a_working_day() {
        // Draft sent Tuesday 9 March 2027 14:37; seven days: the end of Tuesday 16th.
        let sent: DateTime<Utc> = "2027-03-09T13:37:00Z".parse().unwrap();
        assert_eq!(
            local(correction_deadline(sent, 7, OSLO)),
            "Tue 2027-03-16 23:59:59 CET"
        );
        // Sent Monday 22 March: seven days is Easter Monday, so Wednesday 24 March.
        let sent: DateTime<Utc> = "2027-03-22T13:37:00Z".parse().unwrap();
        assert_eq!(
            local(correction_deadline(sent, 7, OSLO)),
            "Wed 2027-03-24 23:59:59 CET"
        );
        // Sent Friday 5 March with one day: Saturday would go back to today, so
        // Monday 8 March instead.
        let sent: DateTime<Utc> = "2027-03-05T13:37:00Z".parse().unwrap();
        assert_eq!(
            local(correction_deadline(sent, 1, OSLO)),
            "Mon 2027-03-08 23:59:59 CET"
        );
    }
}
