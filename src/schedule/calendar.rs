//! A council's yearly calendar from a rule: "six meetings, Tuesdays 10:00–12:00",
//! spread over the year, never on a public holiday or in July.

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};

use super::holidays;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error("a rule is a weekday and a time span, e.g. \"Tuesday 10:00-12:00\" or \"tirsdag 10:00-12:00\" (got {0:?})")]
    Shape(String),
    #[error("{0:?} is not a weekday (Monday…Friday or mandag…fredag)")]
    Weekday(String),
    #[error("{0:?} is not a time of day like 10:00")]
    Time(String),
    #[error("the meeting must end after it starts ({0})")]
    Order(String),
    #[error("between 1 and 52 meetings a year (got {0})")]
    Count(u32),
    #[error("only {available} possible dates in {year} for {count} meetings")]
    TooFew {
        year: i32,
        count: u32,
        available: usize,
    },
}

/// A weekly slot: the day and the local start and end times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub weekday: Weekday,
    pub starts: NaiveTime,
    pub ends: NaiveTime,
}

impl std::str::FromStr for Rule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Rule, RuleError> {
        let mut words = s.split_whitespace();
        let (Some(day), Some(span), None) = (words.next(), words.next(), words.next()) else {
            return Err(RuleError::Shape(s.to_string()));
        };
        let weekday = match day.to_lowercase().trim_end_matches(['s', ',']) {
            "monday" | "mandag" | "måndag" => Weekday::Mon,
            "tuesday" | "tirsdag" | "tysdag" => Weekday::Tue,
            "wednesday" | "onsdag" => Weekday::Wed,
            "thursday" | "torsdag" => Weekday::Thu,
            "friday" | "fredag" => Weekday::Fri,
            _ => return Err(RuleError::Weekday(day.to_string())),
        };
        let (a, b) = span
            .split_once(['-', '–'])
            .ok_or_else(|| RuleError::Shape(s.to_string()))?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| RuleError::Time(t.to_string()))
        };
        let (starts, ends) = (time(a)?, time(b)?);
        if ends <= starts {
            return Err(RuleError::Order(span.to_string()));
        }
        Ok(Rule {
            weekday,
            starts,
            ends,
        })
    }
}

/// Why a date in the rule's weekday series was passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub date: NaiveDate,
    pub reason: String,
}

/// The proposed dates, and the dates the rule would have hit that were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub dates: Vec<NaiveDate>,
    pub skipped: Vec<Skipped>,
}

/// `count` dates of the rule's weekday in `year`, spread evenly over the dates that
/// can be used: no public holiday, nothing in July, nothing in the Christmas week.
pub fn generate(year: i32, count: u32, rule: &Rule) -> Result<Proposal, RuleError> {
    if count == 0 || count > 52 {
        return Err(RuleError::Count(count));
    }
    let mut usable = Vec::new();
    let mut skipped = Vec::new();
    let Some(mut d) = NaiveDate::from_ymd_opt(year, 1, 1) else {
        return Err(RuleError::TooFew {
            year,
            count,
            available: 0,
        });
    };
    while d.weekday() != rule.weekday {
        d = d.succ_opt().unwrap_or(d);
    }
    while d.year() == year {
        if let Some(name) = holidays::holiday(d) {
            skipped.push(Skipped {
                date: d,
                reason: name.to_string(),
            });
        } else if d.month() == 7 {
            skipped.push(Skipped {
                date: d,
                reason: "juli".into(),
            });
        } else if d.month() == 12 && d.day() >= 22 {
            skipped.push(Skipped {
                date: d,
                reason: "jul".into(),
            });
        } else {
            usable.push(d);
        }
        match d.checked_add_days(chrono::Days::new(7)) {
            Some(n) => d = n,
            None => break,
        }
    }
    if usable.len() < count as usize {
        return Err(RuleError::TooFew {
            year,
            count,
            available: usable.len(),
        });
    }
    // The middle of each of `count` equal stretches of the usable dates.
    let n = usable.len();
    let c = count as usize;
    let dates = (0..c)
        .filter_map(|i| usable.get((2 * i + 1) * n / (2 * c)).copied())
        .collect();
    Ok(Proposal { dates, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_tuesdays_in_2027() {
        let rule: Rule = "Tuesday 10:00-12:00".parse().unwrap();
        let p = generate(2027, 6, &rule).unwrap();
        assert_eq!(p.dates.len(), 6);
        for d in &p.dates {
            assert_eq!(d.weekday(), Weekday::Tue);
            assert_ne!(d.month(), 7);
            assert!(holidays::holiday(*d).is_none());
        }
        // Spread: one meeting in roughly every two months.
        let months: Vec<u32> = p.dates.iter().map(|d| d.month()).collect();
        assert_eq!(months, [1, 3, 5, 8, 10, 11]);
        assert!(p.skipped.iter().any(|s| s.reason == "juli"));
    }

    #[test]
    fn holidays_are_skipped() {
        // Thursdays in 2027 hit Maundy Thursday (25 March) and Ascension (6 May).
        let rule: Rule = "torsdag 09:00-11:00".parse().unwrap();
        let p = generate(2027, 40, &rule).unwrap();
        let skipped: Vec<String> = p.skipped.iter().map(|s| s.date.to_string()).collect();
        assert!(skipped.contains(&"2027-03-25".to_string()));
        assert!(skipped.contains(&"2027-05-06".to_string()));
        assert!(!p
            .dates
            .contains(&NaiveDate::from_ymd_opt(2027, 3, 25).unwrap()));
    }

    #[test]
    fn bad_rules() {
        assert!(matches!(
            "Sunday 10:00-12:00".parse::<Rule>(),
            Err(RuleError::Weekday(_))
        ));
        assert!(matches!(
            "Tuesday 12:00-10:00".parse::<Rule>(),
            Err(RuleError::Order(_))
        ));
        assert!(matches!(
            "Tuesday".parse::<Rule>(),
            Err(RuleError::Shape(_))
        ));
        assert!(matches!(
            "Tuesday 25:00-26:00".parse::<Rule>(),
            Err(RuleError::Time(_))
        ));
        let rule: Rule = "Tuesday 10:00-12:00".parse().unwrap();
        assert_eq!(generate(2027, 0, &rule), Err(RuleError::Count(0)));
        assert!(matches!(
            generate(2027, 50, &rule),
            Err(RuleError::TooFew { .. })
        ));
    }
}
