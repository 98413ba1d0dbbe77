//! Norwegian public holidays (helligdager and the two public days, 1 and 17 May),
//! Easter-dependent ones included.

use chrono::{Datelike, Duration, NaiveDate};

/// Easter Sunday in the Gregorian calendar (the anonymous "Meeus/Jones/Butcher"
/// computus). `None` only for years chrono cannot represent.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

/// The public holidays of a year, in date order, with their Norwegian names.
pub fn public_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut out = Vec::new();
    let fixed = [
        (1, 1, "første nyttårsdag"),
        (5, 1, "arbeidernes dag"),
        (5, 17, "grunnlovsdag"),
        (12, 25, "første juledag"),
        (12, 26, "andre juledag"),
    ];
    for (m, d, name) in fixed {
        if let Some(date) = NaiveDate::from_ymd_opt(year, m, d) {
            out.push((date, name));
        }
    }
    if let Some(easter) = easter_sunday(year) {
        for (offset, name) in [
            (-3, "skjærtorsdag"),
            (-2, "langfredag"),
            (0, "første påskedag"),
            (1, "andre påskedag"),
            (39, "Kristi himmelfartsdag"),
            (49, "første pinsedag"),
            (50, "andre pinsedag"),
        ] {
            out.push((easter + Duration::days(offset), name));
        }
    }
    // Whit Monday can fall on 17 May (2027): one day, named by the fixed holiday.
    out.sort_by_key(|(d, _)| *d);
    out.dedup_by_key(|(d, _)| *d);
    out
}

/// The holiday's name when `date` is a public holiday.
pub fn holiday(date: NaiveDate) -> Option<&'static str> {
    public_holidays(date.year())
        .into_iter()
        .find(|(d, _)| *d == date)
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn easter_dates() {
        assert_eq!(easter_sunday(2027), Some(d(2027, 3, 28)));
        assert_eq!(easter_sunday(2026), Some(d(2026, 4, 5)));
        assert_eq!(easter_sunday(2025), Some(d(2025, 4, 20)));
        assert_eq!(easter_sunday(2024), Some(d(2024, 3, 31)));
        assert_eq!(easter_sunday(2038), Some(d(2038, 4, 25)));
        assert_eq!(easter_sunday(2285), Some(d(2285, 3, 22)));
    }

    #[test]
    fn holidays_2027() {
        let h: Vec<String> = public_holidays(2027)
            .iter()
            .map(|(d, _)| d.to_string())
            .collect();
        assert_eq!(
            h,
            [
                "2027-01-01",
                "2027-03-25",
                "2027-03-26",
                "2027-03-28",
                "2027-03-29",
                "2027-05-01",
                "2027-05-06",
                "2027-05-16",
                "2027-05-17",
                "2027-12-25",
                "2027-12-26"
            ]
        );
        assert_eq!(holiday(d(2027, 5, 6)), Some("Kristi himmelfartsdag"));
        assert_eq!(holiday(d(2027, 5, 17)), Some("grunnlovsdag"));
        assert_eq!(holiday(d(2027, 5, 18)), None);
    }
}
