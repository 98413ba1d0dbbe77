//! A coordinator's short commands to the mailbox, read from the subject or the first
//! line: "status" / "oversikt" / "oversyn" (a status of their councils), and changes
//! to meetings — "Nytt møte i Utdanningsrådet 12. januar kl. 10–12 på Ullevål, bygg 1",
//! "Flytt møtet 12. januar til 19. januar kl. 12–14", "Avlys møtet 12. januar: for få
//! påmeldte" — in Bokmål, Nynorsk and English. Only what the words say is read here;
//! which council and which meeting they mean is decided against the store's facts
//! (`workflow::by_mail`), and anything missing is asked about there, never guessed.

use super::auto::MONTHS;
use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use serde::Serialize;

/// A command, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// "status", with the words after it (a council's name or short name, if any).
    Status {
        filter: Option<String>,
    },
    Add(Wanted),
    Move(Wanted),
    Cancel(Wanted),
    /// A new place or link for a meeting ("Nytt sted for møtet 12. januar: Ullevål").
    Place(Wanted),
    /// A council's roster in an attached file ("Medlemsliste Utdanningsrådet", "Ny
    /// medlemsliste", "Roster"), with the words after it (a council, if named).
    Roster {
        filter: Option<String>,
    },
}

/// A day as written: day and month, the year when given, the weekday when named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Day {
    pub day: u32,
    pub month: u32,
    pub year: Option<i32>,
    pub weekday: Option<Weekday>,
}

impl Day {
    /// The date meant: with its year, or the first such day on or after `today`.
    /// `None` for a day that does not exist (31 April) or a weekday that does not fit.
    pub fn resolve(&self, today: NaiveDate) -> Option<NaiveDate> {
        let date = match self.year {
            Some(y) => NaiveDate::from_ymd_opt(y, self.month, self.day)?,
            None => {
                let this = NaiveDate::from_ymd_opt(today.year(), self.month, self.day);
                match this {
                    Some(d) if d >= today => d,
                    _ => NaiveDate::from_ymd_opt(today.year() + 1, self.month, self.day)?,
                }
            }
        };
        match self.weekday {
            Some(w) if w != date.weekday() => None,
            _ => Some(date),
        }
    }
}

/// Start and end as written ("kl. 10–12", "10:00-12:00"); no end: not said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Times {
    pub start: NaiveTime,
    pub end: Option<NaiveTime>,
}

/// What a change names: the words of the line, the days in the order written, the
/// times, a place, a link, and a reason (after a colon, "fordi", "because").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Wanted {
    pub line: String,
    pub days: Vec<Day>,
    pub times: Option<Times>,
    pub place: Option<String>,
    pub link: Option<String>,
    pub reason: Option<String>,
}

const STATUS: &[&str] = &["status", "oversikt", "oversyn", "overview"];
/// The words of a roster sent as a file, before the council's name.
const ROSTER: &[&str] = &[
    "ny medlemsliste",
    "oppdatert medlemsliste",
    "ny medlemsliste",
    "medlemsliste",
    "medlemslista",
    "new roster",
    "updated roster",
    "roster",
    "member list",
];
const ADD: &[&str] = &[
    "nytt møte",
    "nytt ekstramøte",
    "ekstra møte",
    "nytt mote",
    "new meeting",
    "add meeting",
    "add a meeting",
];
const MOVE: &[&str] = &[
    "flytt møtet",
    "flytt møte",
    "flytt mote",
    "flytte møtet",
    "move the meeting",
    "move meeting",
    "reschedule the meeting",
    "reschedule meeting",
];
const PLACE: &[&str] = &[
    "nytt sted",
    "nytt møtested",
    "ny stad",
    "ny møtestad",
    "endre sted",
    "endra stad",
    "ny lenke",
    "ny lenkje",
    "ny link",
    "new place",
    "new location",
    "new venue",
    "new link",
    "change the place",
    "change place",
    "change the location",
    "change location",
];
const CANCEL: &[&str] = &[
    "avlys møtet",
    "avlys møte",
    "avlys mote",
    "avlyse møtet",
    "cancel the meeting",
    "cancel meeting",
];

/// The command in a message, from its subject (reply prefixes removed) or the first
/// non-empty line of its text.
pub fn read(subject: &str, text: &str) -> Option<Command> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    let subject = super::strip_subject_prefixes(subject).trim().to_string();
    // The first line of the text is what was written now; a subject may be an old one.
    first.and_then(read_line).or_else(|| read_line(&subject))
}

/// One line read as a command.
pub fn read_line(line: &str) -> Option<Command> {
    let line = line.trim();
    let lower = line.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let first = words.first()?.trim_end_matches(['.', '?', '!']);
    if STATUS.contains(&first) && words.len() <= 3 {
        let rest: Vec<&str> = line.split_whitespace().skip(1).collect();
        let rest = rest.join(" ");
        let rest = rest
            .trim_start_matches(|c: char| c == ':' || c == '-' || c.is_whitespace())
            .trim_end_matches(['.', '?', '!']);
        let rest = ["for ", "i ", "in ", "of "]
            .iter()
            .find_map(|p| rest.strip_prefix(p))
            .unwrap_or(rest)
            .trim();
        return Some(Command::Status {
            filter: (!rest.is_empty()).then(|| rest.to_string()),
        });
    }
    // "Medlemsliste Utdanningsrådet": a short line, the council's name after it.
    if words.len() <= 6 {
        let found = ROSTER.iter().find_map(|p| {
            lower
                .strip_prefix(p)
                .filter(|r| !r.starts_with(char::is_alphabetic))
                .map(|_| line.get(p.len()..).unwrap_or(""))
        });
        if let Some(rest) = found {
            let rest = rest
                .trim_start_matches(|c: char| c == ':' || c == '-' || c.is_whitespace())
                .trim_end_matches(['.', '!']);
            let rest = ["for ", "i ", "in ", "of "]
                .iter()
                .find_map(|p| rest.strip_prefix(p))
                .unwrap_or(rest)
                .trim();
            return Some(Command::Roster {
                filter: (!rest.is_empty()).then(|| rest.to_string()),
            });
        }
    }
    let starts = |set: &[&str]| {
        set.iter().any(|p| {
            lower
                .strip_prefix(p)
                .is_some_and(|r| !r.starts_with(char::is_alphabetic))
        })
    };
    if starts(ADD) {
        Some(Command::Add(wanted(line)))
    } else if starts(MOVE) {
        Some(Command::Move(wanted(line)))
    } else if starts(CANCEL) {
        Some(Command::Cancel(wanted(line)))
    } else if starts(PLACE) {
        Some(Command::Place(place_wanted(line)))
    } else {
        None
    }
}

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("mandag", Weekday::Mon),
    ("måndag", Weekday::Mon),
    ("monday", Weekday::Mon),
    ("tirsdag", Weekday::Tue),
    ("tysdag", Weekday::Tue),
    ("tuesday", Weekday::Tue),
    ("onsdag", Weekday::Wed),
    ("wednesday", Weekday::Wed),
    ("torsdag", Weekday::Thu),
    ("thursday", Weekday::Thu),
    ("fredag", Weekday::Fri),
    ("friday", Weekday::Fri),
    ("lørdag", Weekday::Sat),
    ("laurdag", Weekday::Sat),
    ("saturday", Weekday::Sat),
    ("søndag", Weekday::Sun),
    ("sundag", Weekday::Sun),
    ("sunday", Weekday::Sun),
];

fn month(word: &str) -> Option<u32> {
    let w = word.trim_end_matches(['.', ',']);
    MONTHS.iter().find(|(n, _)| *n == w).map(|(_, m)| *m)
}

fn weekday(word: &str) -> Option<Weekday> {
    let w = word.trim_end_matches(['.', ',']);
    WEEKDAYS.iter().find(|(n, _)| *n == w).map(|(_, d)| *d)
}

fn number(word: &str, max: u32) -> Option<u32> {
    let w = word.trim_end_matches(['.', ',']);
    let w = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| w.strip_suffix(s))
        .unwrap_or(w);
    if w.is_empty() || w.len() > 2 || !w.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    w.parse().ok().filter(|n| (1..=max).contains(n))
}

fn year(word: &str) -> Option<i32> {
    let w = word.trim_end_matches(['.', ',']);
    (w.len() == 4 && w.chars().all(|c| c.is_ascii_digit()))
        .then(|| w.parse().ok())
        .flatten()
        .filter(|y| (2000..=2200).contains(y))
}

/// "12.01", "12.01.2027", "12/1", "12/1/27", "2027-01-12".
fn numeric_date(word: &str) -> Option<(u32, u32, Option<i32>)> {
    let w = word.trim_end_matches([',', ':']).trim_end_matches('.');
    if let Ok(d) = NaiveDate::parse_from_str(w, "%Y-%m-%d") {
        return Some((d.day(), d.month(), Some(d.year())));
    }
    let parts: Vec<&str> = w.split(['.', '/']).collect();
    let (d, m, y) = match parts.as_slice() {
        [d, m] => (*d, *m, None),
        [d, m, y] => (*d, *m, Some(*y)),
        _ => return None,
    };
    let all_digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !all_digits(d) || !all_digits(m) || d.len() > 2 || m.len() > 2 {
        return None;
    }
    let y = match y {
        None => None,
        Some(y) if all_digits(y) && y.len() == 4 => Some(y.parse().ok()?),
        Some(y) if all_digits(y) && y.len() == 2 => Some(2000 + y.parse::<i32>().ok()?),
        Some(_) => return None,
    };
    let day: u32 = d.parse().ok()?;
    let mon: u32 = m.parse().ok()?;
    ((1..=31).contains(&day) && (1..=12).contains(&mon)).then_some((day, mon, y))
}

/// "10", "10:00", "10.00", "1000" is not a time (it is a year or a number).
fn clock(s: &str) -> Option<NaiveTime> {
    let s = s.trim_end_matches(['.', ',']);
    let (h, m) = match s.split_once([':', '.']) {
        Some((h, m)) if m.len() == 2 => (h, m),
        Some(_) => return None,
        None => (s, "0"),
    };
    if h.is_empty() || h.len() > 2 || !h.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !m.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// "10–12", "10:00-12:00", "10.00 - 12.00" as a start and an end.
fn span(s: &str) -> Option<Times> {
    let (a, b) = s.split_once(['–', '-', '—'])?;
    Some(Times {
        start: clock(a.trim())?,
        end: Some(clock(b.trim())?),
    })
}

fn is_link(w: &str) -> bool {
    let l = w.to_lowercase();
    l.starts_with("https://") || l.starts_with("http://")
}

/// Reads the days, times, place, link and reason of a change.
fn wanted(line: &str) -> Wanted {
    let mut w = Wanted {
        line: line.to_string(),
        ..Wanted::default()
    };
    // A reason: after the first colon that is not inside a time or a link, or after
    // "fordi" / "because" / "grunn:".
    let (main, reason) = split_reason(line);
    w.reason = reason;
    // Tokens, with a spaced dash joined to its neighbours ("10 - 12" → "10-12").
    let raw: Vec<&str> = main.split_whitespace().collect();
    let mut tokens: Vec<String> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let t = raw.get(i).copied().unwrap_or("");
        if matches!(t, "-" | "–" | "—") {
            if let (Some(prev), Some(next)) = (tokens.last_mut(), raw.get(i + 1)) {
                prev.push('-');
                prev.push_str(next);
                i += 2;
                continue;
            }
        }
        tokens.push(t.to_string());
        i += 1;
    }
    let lower: Vec<String> = tokens.iter().map(|t| t.to_lowercase()).collect();
    let mut last_used = 0usize;
    let mut k = 0usize;
    let mut pending_weekday = None;
    while k < lower.len() {
        let t = lower.get(k).map(String::as_str).unwrap_or("");
        let next = lower.get(k + 1).map(String::as_str).unwrap_or("");
        let after = lower.get(k + 2).map(String::as_str).unwrap_or("");
        if is_link(t) {
            // A link is not where the place ends: "på Ullevål og https://…".
            w.link = tokens
                .get(k)
                .map(|s| s.trim_end_matches(['.', ',']).to_string());
            k += 1;
            continue;
        }
        if let Some(d) = weekday(t) {
            pending_weekday = Some(d);
            k += 1;
            continue;
        }
        // "12. januar [2027]", "12 January", "12th of January"
        if let Some(day) = number(t, 31) {
            let m_at = if next == "of" { k + 2 } else { k + 1 };
            let m_word = lower.get(m_at).map(String::as_str).unwrap_or("");
            if let Some(mon) = month(m_word) {
                let y_word = lower.get(m_at + 1).map(String::as_str).unwrap_or("");
                let y = year(y_word);
                w.days.push(Day {
                    day,
                    month: mon,
                    year: y,
                    weekday: pending_weekday.take(),
                });
                k = m_at + 1 + usize::from(y.is_some());
                last_used = k;
                continue;
            }
        }
        // "January 12[,] [2027]"
        if let (Some(mon), Some(day)) = (month(t), number(next, 31)) {
            let y = year(after);
            w.days.push(Day {
                day,
                month: mon,
                year: y,
                weekday: pending_weekday.take(),
            });
            k += 2 + usize::from(y.is_some());
            last_used = k;
            continue;
        }
        if let Some((day, mon, y)) = numeric_date(t) {
            // "12.00" after "kl." is a time, not the twelfth of no month: numeric dates
            // need a month of 1–12 and come before a time, and "kl." says a time.
            let prev = k
                .checked_sub(1)
                .and_then(|p| lower.get(p))
                .map(String::as_str)
                .unwrap_or("");
            let is_time_word = matches!(prev, "kl." | "kl" | "klokka" | "klokken" | "at");
            if !is_time_word && !t.contains(':') {
                w.days.push(Day {
                    day,
                    month: mon,
                    year: y,
                    weekday: pending_weekday.take(),
                });
                k += 1;
                last_used = k;
                continue;
            }
        }
        // Times: "kl. 10–12", "kl 10", "10:00-12:00", "fra 10 til 12", "from 10 to 12"
        let (time_at, skip) = if matches!(t, "kl." | "kl" | "klokka" | "klokken" | "at") {
            (k + 1, 1)
        } else {
            (k, 0)
        };
        let tw = lower.get(time_at).map(String::as_str).unwrap_or("");
        if let Some(s) = span(tw) {
            w.times = Some(s);
            k = time_at + 1;
            last_used = k;
            continue;
        }
        if skip == 1 || (tw.contains(':') && clock(tw).is_some()) {
            if let Some(start) = clock(tw) {
                let mut end = None;
                let mut n = time_at + 1;
                let til = lower.get(n).map(String::as_str).unwrap_or("");
                if matches!(til, "til" | "to" | "until" | "-" | "–") {
                    let e = lower.get(n + 1).map(String::as_str).unwrap_or("");
                    let e = e
                        .strip_prefix("kl.")
                        .or_else(|| e.strip_prefix("kl"))
                        .unwrap_or(e);
                    if let Some(e) = clock(e) {
                        end = Some(e);
                        n += 2;
                    }
                }
                w.times = Some(Times { start, end });
                k = n;
                last_used = k;
                continue;
            }
        }
        if matches!(t, "fra" | "from") {
            if let (Some(start), true, Some(end)) = (
                clock(next),
                matches!(after, "til" | "to" | "until"),
                clock(lower.get(k + 3).map(String::as_str).unwrap_or("")),
            ) {
                w.times = Some(Times {
                    start,
                    end: Some(end),
                });
                k += 4;
                last_used = k;
                continue;
            }
        }
        k += 1;
    }
    // The place: what follows the last day or time, after "på" / "at" / "in" / "i".
    let rest: Vec<&str> = tokens
        .iter()
        .skip(last_used)
        .map(String::as_str)
        .filter(|t| !is_link(t))
        .collect();
    let rest = rest.join(" ");
    let rest = rest.trim().trim_start_matches([',', '-', '–']).trim();
    let lowered = rest.to_lowercase();
    let place = [
        "på ", "at ", "in ", "i ", "er ", "blir ", "is ", "sted: ", "stad: ", "place: ",
    ]
    .iter()
    .find(|p| lowered.starts_with(*p))
    .and_then(|p| rest.get(p.len()..))
    .map(|p| {
        let mut p = p.trim().trim_end_matches(['.', ',', '/', '+']).trim();
        for tail in [" og", " and", " eller", " or"] {
            p = p.strip_suffix(tail).unwrap_or(p).trim();
        }
        p.to_string()
    })
    .filter(|p| !p.is_empty());
    w.place = place;
    w
}

/// A new place: what follows the colon ("Nytt sted for møtet 12. januar: Ullevål,
/// bygg 2"), or the words after the day ("… 12. januar er Ullevål"), and any link.
fn place_wanted(line: &str) -> Wanted {
    let mut w = wanted(line);
    if let Some(after) = w.reason.take() {
        let mut words = Vec::new();
        for t in after.split_whitespace() {
            if is_link(t) {
                w.link = Some(t.trim_end_matches(['.', ',']).to_string());
            } else {
                words.push(t);
            }
        }
        let mut p = words.join(" ");
        for tail in [" og", " and", " eller", " or", ",", "."] {
            p = p.trim().strip_suffix(tail).unwrap_or(&p).trim().to_string();
        }
        let lower = p.to_lowercase();
        let digital_only = matches!(lower.as_str(), "digitalt" | "digital" | "online" | "");
        if !digital_only {
            w.place = Some(p);
        }
    }
    w
}

/// The line before its reason, and the reason.
fn split_reason(line: &str) -> (String, Option<String>) {
    let lower = line.to_lowercase();
    for marker in [" fordi ", " because ", " grunn: ", " reason: ", " årsak: "] {
        if let Some(at) = lower.find(marker) {
            let reason = line.get(at + marker.len()..).unwrap_or("").trim();
            return (
                line.get(..at).unwrap_or(line).to_string(),
                (!reason.is_empty()).then(|| reason.to_string()),
            );
        }
    }
    // A colon that ends a word (not "10:00", not "https:").
    let bytes: Vec<char> = line.chars().collect();
    let mut byte_at = 0usize;
    for (i, c) in bytes.iter().enumerate() {
        if *c == ':' {
            let next = bytes.get(i + 1).copied().unwrap_or(' ');
            let before: String = bytes.iter().take(i).collect();
            let word_before = before
                .split_whitespace()
                .last()
                .unwrap_or("")
                .to_lowercase();
            let is_link = word_before.starts_with("http");
            if next.is_whitespace()
                && !is_link
                && !matches!(word_before.as_str(), "sted" | "stad" | "place")
            {
                let reason = line.get(byte_at + 1..).unwrap_or("").trim();
                return (
                    line.get(..byte_at).unwrap_or(line).to_string(),
                    (!reason.is_empty()).then(|| reason.to_string()),
                );
            }
        }
        byte_at += c.len_utf8();
    }
    (line.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn day(d: u32, m: u32) -> Day {
        Day {
            day: d,
            month: m,
            year: None,
            weekday: None,
        }
    }

    fn add(line: &str) -> Wanted {
        match read_line(line) {
            Some(Command::Add(w)) => w,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn status_in_every_language() {
        for s in [
            "status", "Status", "Oversikt", "oversyn", "Overview", "Status?",
        ] {
            assert_eq!(read(s, ""), Some(Command::Status { filter: None }), "{s}");
            assert_eq!(read("", s), Some(Command::Status { filter: None }), "{s}");
        }
        assert_eq!(
            read("Status for Utdanningsrådet", ""),
            Some(Command::Status {
                filter: Some("Utdanningsrådet".into())
            })
        );
        assert_eq!(
            read("SV: status", "\n\n"),
            Some(Command::Status { filter: None })
        );
        // A sentence that merely starts with the word is not a request.
        assert_eq!(
            read("", "Status på saken er at vi venter på svar fra HF."),
            None
        );
        assert_eq!(read("Statusrapport", ""), None);
        assert_eq!(read("Ja, jeg kommer", "Ja, jeg kommer"), None);
    }

    #[test]
    fn a_new_meeting_in_bokmal() {
        let w = add("Nytt møte i Utdanningsrådet 12. januar kl. 10–12 på Ullevål, bygg 1");
        assert_eq!(w.days, vec![day(12, 1)]);
        assert_eq!(
            w.times,
            Some(Times {
                start: t(10, 0),
                end: Some(t(12, 0))
            })
        );
        assert_eq!(w.place.as_deref(), Some("Ullevål, bygg 1"));
        assert_eq!(w.link, None);
        assert_eq!(w.reason, None);
    }

    #[test]
    fn many_phrasings_of_a_new_meeting() {
        type Case<'a> = (
            &'a str,
            Day,
            (u32, u32),
            Option<(u32, u32)>,
            Option<&'a str>,
        );
        let cases: &[Case<'_>] = &[
            (
                "Nytt møte i Utdanningsrådet 12.01.2027 10:00-12:00 på Ullevål",
                Day { year: Some(2027), ..day(12, 1) },
                (10, 0),
                Some((12, 0)),
                Some("Ullevål"),
            ),
            (
                "Nytt møte i Utdanningsrådet tirsdag 12. januar 2027 kl 10.00 - 12.00 på Ullevål sykehus",
                Day { year: Some(2027), weekday: Some(Weekday::Tue), ..day(12, 1) },
                (10, 0),
                Some((12, 0)),
                Some("Ullevål sykehus"),
            ),
            (
                "nytt møte i RegRåd anestesi 3. mars kl. 9:30 til 11 på Rikshospitalet",
                day(3, 3),
                (9, 30),
                Some((11, 0)),
                Some("Rikshospitalet"),
            ),
            (
                "Nytt møte i Utdanningsrådet 12. jan fra 10 til 12 i auditoriet",
                day(12, 1),
                (10, 0),
                Some((12, 0)),
                Some("auditoriet"),
            ),
            // Nynorsk.
            (
                "Nytt møte i Utdanningsrådet tysdag 12. januar kl. 10–12 på Haukeland",
                Day { weekday: Some(Weekday::Tue), ..day(12, 1) },
                (10, 0),
                Some((12, 0)),
                Some("Haukeland"),
            ),
            // English.
            (
                "New meeting of Utdanningsrådet on 12 January at 10:00-12:00 at Ullevål, building 1",
                day(12, 1),
                (10, 0),
                Some((12, 0)),
                Some("Ullevål, building 1"),
            ),
            (
                "New meeting in Utdanningsrådet January 12, 2027, 10:00–12:00 in room 3",
                Day { year: Some(2027), ..day(12, 1) },
                (10, 0),
                Some((12, 0)),
                Some("room 3"),
            ),
            (
                "new meeting Utdanningsrådet Tuesday 12th January from 10 to 12",
                Day { weekday: Some(Weekday::Tue), ..day(12, 1) },
                (10, 0),
                Some((12, 0)),
                None,
            ),
            (
                "Nytt møte i Utdanningsrådet 12/1 kl. 14",
                day(12, 1),
                (14, 0),
                None,
                None,
            ),
        ];
        for (line, d, start, end, place) in cases {
            let w = add(line);
            assert_eq!(w.days, vec![*d], "{line}");
            let times = w.times.unwrap_or_else(|| panic!("{line}: no time"));
            assert_eq!(times.start, t(start.0, start.1), "{line}");
            assert_eq!(times.end, end.map(|(h, m)| t(h, m)), "{line}");
            assert_eq!(w.place.as_deref(), *place, "{line}");
        }
    }

    #[test]
    fn a_digital_meeting_has_its_link() {
        let w = add("Nytt møte i Utdanningsrådet 12. januar kl. 10–12 https://teams.example/m/1");
        assert_eq!(w.link.as_deref(), Some("https://teams.example/m/1"));
        assert_eq!(w.place, None);
        let w = add("Nytt møte i Utdanningsrådet 12. januar kl. 10–12 på Ullevål og https://teams.example/m/1");
        assert_eq!(w.link.as_deref(), Some("https://teams.example/m/1"));
        assert_eq!(w.place.as_deref(), Some("Ullevål"));
    }

    #[test]
    fn what_is_not_said_is_not_made_up() {
        let w = add("Nytt møte i Utdanningsrådet");
        assert!(w.days.is_empty());
        assert_eq!(w.times, None);
        let w = add("Nytt møte i Utdanningsrådet 12. januar");
        assert_eq!(w.days, vec![day(12, 1)]);
        assert_eq!(w.times, None);
        assert_eq!(w.place, None);
    }

    #[test]
    fn moves() {
        for line in [
            "Flytt møtet 12. januar til 19. januar kl. 12–14",
            "Flytt møtet i Utdanningsrådet 12. januar til 19. januar kl. 12-14",
            "flytt møtet 12.01 til 19.01 kl. 12:00–14:00",
            "Move the meeting on 12 January to 19 January at 12:00-14:00",
            "Move the meeting on January 12 to January 19, 12:00 - 14:00",
        ] {
            let Some(Command::Move(w)) = read_line(line) else {
                panic!("{line}")
            };
            assert_eq!(w.days, vec![day(12, 1), day(19, 1)], "{line}");
            assert_eq!(
                w.times,
                Some(Times {
                    start: t(12, 0),
                    end: Some(t(14, 0))
                }),
                "{line}"
            );
        }
        let Some(Command::Move(w)) = read_line("Flytt møtet 12. januar til kl. 13") else {
            panic!()
        };
        assert_eq!(w.days, vec![day(12, 1)]);
        assert_eq!(w.times.map(|t| t.start), Some(t(13, 0)));
    }

    #[test]
    fn cancellations_with_a_reason() {
        for (line, reason) in [
            (
                "Avlys møtet 12. januar: for få påmeldte",
                Some("for få påmeldte"),
            ),
            (
                "Avlys møtet i Utdanningsrådet 12. januar fordi for få har meldt seg på",
                Some("for få har meldt seg på"),
            ),
            ("Avlys møtet 12. januar", None),
            (
                "Cancel the meeting on 12 January: too few can come",
                Some("too few can come"),
            ),
        ] {
            let Some(Command::Cancel(w)) = read_line(line) else {
                panic!("{line}")
            };
            assert_eq!(w.days, vec![day(12, 1)], "{line}");
            assert_eq!(w.reason.as_deref(), reason, "{line}");
        }
    }

    #[test]
    fn new_places_and_links() {
        for (line, place, link) in [
            (
                "Nytt sted for møtet 12. januar: Ullevål, bygg 2",
                Some("Ullevål, bygg 2"),
                None,
            ),
            (
                "Nytt møtested for møtet 12. januar er Rikshospitalet",
                Some("Rikshospitalet"),
                None,
            ),
            (
                "Ny lenke til møtet 12. januar: https://teams.example/m/2",
                None,
                Some("https://teams.example/m/2"),
            ),
            (
                "Ny stad for møtet 12. januar: Haukeland og https://teams.example/m/3",
                Some("Haukeland"),
                Some("https://teams.example/m/3"),
            ),
            (
                "New place for the meeting on 12 January: Ullevål, building 2",
                Some("Ullevål, building 2"),
                None,
            ),
        ] {
            let Some(Command::Place(w)) = read_line(line) else {
                panic!("{line}")
            };
            assert_eq!(w.days, vec![day(12, 1)], "{line}");
            assert_eq!(w.place.as_deref(), place, "{line}");
            assert_eq!(w.link.as_deref(), link, "{line}");
            assert_eq!(w.reason, None, "{line}");
        }
    }

    #[test]
    fn days_resolve_to_the_next_one() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            day(12, 1).resolve(today),
            NaiveDate::from_ymd_opt(2027, 1, 12)
        );
        assert_eq!(
            day(1, 12).resolve(today),
            NaiveDate::from_ymd_opt(2026, 12, 1)
        );
        // The weekday must fit: 12 January 2027 is a Tuesday.
        let tue = Day {
            weekday: Some(Weekday::Tue),
            ..day(12, 1)
        };
        assert!(tue.resolve(today).is_some());
        let wed = Day {
            weekday: Some(Weekday::Wed),
            ..day(12, 1)
        };
        assert_eq!(wed.resolve(today), None);
        assert_eq!(day(31, 4).resolve(today), None);
    }

    #[test]
    fn rosters_name_their_council() {
        for (line, filter) in [
            ("Medlemsliste Utdanningsrådet", Some("Utdanningsrådet")),
            ("Ny medlemsliste", None),
            (
                "Ny medlemsliste for RegRåd anestesi",
                Some("RegRåd anestesi"),
            ),
            ("Roster", None),
            ("New roster: Utdanningsrådet", Some("Utdanningsrådet")),
        ] {
            assert_eq!(
                read_line(line),
                Some(Command::Roster {
                    filter: filter.map(str::to_string)
                }),
                "{line}"
            );
        }
        assert_eq!(
            read("SV: Medlemsliste", ""),
            Some(Command::Roster { filter: None })
        );
        assert_eq!(
            read_line("Medlemslisten er sendt til Helsedirektoratet i går, se vedlegg"),
            None
        );
    }

    #[test]
    fn ordinary_mail_is_no_command() {
        for line in [
            "Ja, jeg kommer",
            "Møtet 12. januar passer fint",
            "Nytt nummer til Kari er 22 11 33 44",
            "Forslag til sak: nytt møte om veilederen",
        ] {
            assert_eq!(read_line(line), None, "{line}");
        }
    }
}
