//! iTIP (RFC 5546) replies from calendar clients: Outlook "Godtatt:"/"Avslått:", Google,
//! Apple. Only what an answer needs is read: METHOD, the attendee and PARTSTAT, the UID,
//! the SEQUENCE of the version answered, and for a proposal of a new time (`COUNTER`)
//! the proposed start and end and the comment.
//! A small line reader rather than a full iCalendar parser: RFC 5545 §3.1 unfolding,
//! parameters, and nothing else.

use serde::Serialize;

use crate::domain::Response;

/// An attendee's answer in a calendar reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarReply {
    pub method: String,
    pub uid: Option<String>,
    pub attendee: Option<String>,
    pub response: Option<Response>,
    /// The version of the entry answered (RFC 5545 SEQUENCE); absent: not said.
    pub sequence: Option<i64>,
    /// A `COUNTER`'s proposed start and end, as written (local unless `utc`).
    pub proposed_start: Option<CalendarTime>,
    pub proposed_end: Option<CalendarTime>,
    /// The attendee's comment (COMMENT), as written.
    pub comment: Option<String>,
}

/// A DATE-TIME as an entry writes it: `20270119T100000Z` (UTC) or a local time with a
/// TZID (`TZID=W. Europe Standard Time:20270119T100000`, as Outlook writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CalendarTime {
    pub time: chrono::NaiveDateTime,
    pub utc: bool,
}

impl CalendarTime {
    fn parse(value: &str) -> Option<CalendarTime> {
        let v = value.trim();
        let (v, utc) = match v.strip_suffix('Z').or_else(|| v.strip_suffix('z')) {
            Some(rest) => (rest, true),
            None => (v, false),
        };
        let time = chrono::NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M"))
            .ok()?;
        Some(CalendarTime { time, utc })
    }

    /// The instant, reading a local time in `tz` (the secretariat's: a council's
    /// members write from its time zone, whatever Windows calls it).
    pub fn instant(&self, tz: chrono_tz::Tz) -> Option<chrono::DateTime<chrono::Utc>> {
        use chrono::TimeZone;
        if self.utc {
            return Some(chrono::Utc.from_utc_datetime(&self.time));
        }
        tz.from_local_datetime(&self.time)
            .earliest()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

/// RFC 5545 §3.3.11: `\n`, `\,`, `\;` and `\\` in a TEXT value.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// RFC 5545 §3.1: a line starting with a space or tab continues the previous one.
fn unfold(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.push_str(rest);
                continue;
            }
        }
        out.push(line.to_string());
    }
    out
}

/// A content line: name, parameters, value.
type Property = (String, Vec<(String, String)>, String);

/// Splits `NAME;P1=V1;P2="V2":VALUE` into name, parameters, value.
fn split_property(line: &str) -> Option<Property> {
    // The value starts at the first ':' outside quotes.
    let mut in_quotes = false;
    let mut colon = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = head.split(';');
    let name = parts.next()?.trim().to_ascii_uppercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_uppercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    Some((name, params, value.trim().to_string()))
}

/// Reads a calendar object; `None` when it has no METHOD.
pub fn read(text: &str) -> Option<CalendarReply> {
    let mut method = None;
    let mut uid = None;
    let mut attendee = None;
    let mut response = None;
    let mut sequence = None;
    let mut proposed_start = None;
    let mut proposed_end = None;
    let mut comment = None;
    let mut in_event = false;
    for line in unfold(text) {
        let Some((name, params, value)) = split_property(&line) else {
            continue;
        };
        match name.as_str() {
            "METHOD" => method = Some(value.to_ascii_uppercase()),
            "BEGIN" if value.eq_ignore_ascii_case("VEVENT") => in_event = true,
            "END" if value.eq_ignore_ascii_case("VEVENT") => in_event = false,
            "UID" if in_event && uid.is_none() => uid = Some(value),
            "SEQUENCE" if in_event && sequence.is_none() => sequence = value.trim().parse().ok(),
            "DTSTART" if in_event && proposed_start.is_none() => {
                proposed_start = CalendarTime::parse(&value)
            }
            "DTEND" if in_event && proposed_end.is_none() => {
                proposed_end = CalendarTime::parse(&value)
            }
            "COMMENT" if in_event && comment.is_none() => {
                let text = unescape(&value);
                let text = text.trim();
                if !text.is_empty() {
                    comment = Some(text.chars().take(2000).collect());
                }
            }
            "ATTENDEE" if in_event && attendee.is_none() => {
                let address = value
                    .strip_prefix("mailto:")
                    .or_else(|| value.strip_prefix("MAILTO:"))
                    .unwrap_or(&value);
                attendee = crate::domain::normalize_address(address).ok();
                response = params
                    .iter()
                    .find(|(k, _)| k == "PARTSTAT")
                    .and_then(|(_, v)| match v.to_ascii_uppercase().as_str() {
                        "ACCEPTED" => Some(Response::Accepted),
                        "DECLINED" => Some(Response::Declined),
                        "TENTATIVE" => Some(Response::Tentative),
                        _ => None,
                    });
            }
            _ => {}
        }
    }
    let method = method?;
    // Only a proposal's times are a proposal; a reply's repeat the entry's own.
    let counter = method == "COUNTER";
    Some(CalendarReply {
        method,
        uid,
        attendee,
        response,
        sequence,
        proposed_start: proposed_start.filter(|_| counter),
        proposed_end: proposed_end.filter(|_| counter),
        comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_outlook_reply() {
        let ics = "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nATTENDEE;PARTSTAT=ACCEPTED;CN=\"Nordmann, Kari\":mailto:Kari@OUS\r\n .example\r\nUID:abc@regut.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let r = read(ics).unwrap();
        assert_eq!(r.method, "REPLY");
        assert_eq!(r.attendee.as_deref(), Some("kari@ous.example"));
        assert_eq!(r.response, Some(Response::Accepted));
        assert_eq!(r.uid.as_deref(), Some("abc@regut.example"));
        assert!(read("BEGIN:VCALENDAR\r\nEND:VCALENDAR").is_none());
        assert_eq!(r.sequence, None);
        assert_eq!(r.proposed_start, None);
    }

    #[test]
    fn reads_the_sequence_of_the_version_answered() {
        let ics = "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:t.abc@regut.example\r\nSEQUENCE:1\r\nDTSTART:20270112T090000Z\r\nATTENDEE;PARTSTAT=DECLINED:mailto:kari@ous.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let r = read(ics).unwrap();
        assert_eq!(r.sequence, Some(1));
        assert_eq!(
            r.proposed_start, None,
            "a reply's times are the entry's own"
        );
    }

    #[test]
    fn reads_an_outlook_proposal_of_a_new_time() {
        let ics = "BEGIN:VCALENDAR\r\nMETHOD:COUNTER\r\nBEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nATTENDEE;PARTSTAT=TENTATIVE:mailto:kari@ous.example\r\nCOMMENT;LANGUAGE=nb-NO:Jeg har vakt til 12\\, kan vi ta det\\nen time senere?\r\nDTSTART;TZID=W. Europe Standard Time:20270119T130000\r\nDTEND;TZID=W. Europe Standard Time:20270119T150000\r\nSEQUENCE:0\r\nUID:t.abc@regut.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let r = read(ics).unwrap();
        assert_eq!(r.method, "COUNTER");
        assert_eq!(r.response, Some(Response::Tentative));
        let start = r.proposed_start.unwrap();
        assert!(!start.utc);
        assert_eq!(
            start.instant(chrono_tz::Europe::Oslo).unwrap().to_rfc3339(),
            "2027-01-19T12:00:00+00:00"
        );
        assert_eq!(
            r.proposed_end
                .unwrap()
                .instant(chrono_tz::Europe::Oslo)
                .unwrap()
                .to_rfc3339(),
            "2027-01-19T14:00:00+00:00"
        );
        assert_eq!(
            r.comment.as_deref(),
            Some("Jeg har vakt til 12, kan vi ta det\nen time senere?")
        );
    }
}
