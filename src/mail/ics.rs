//! iTIP calendar entries (RFC 5545/5546) for summons, moves and cancellations: one per
//! recipient, so Outlook, Google and Apple show Accept/Decline and answer with a
//! `METHOD:REPLY` that names the meeting by its UID.

use chrono::{DateTime, Utc};

/// What a calendar entry says about a meeting.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// `REQUEST` (new or moved) or `CANCEL`.
    pub method: &'a str,
    pub uid: &'a str,
    pub sequence: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: chrono_tz::Tz,
    pub summary: &'a str,
    pub location: Option<&'a str>,
    pub description: &'a str,
    pub organizer_name: &'a str,
    pub organizer: &'a str,
    pub attendee_name: &'a str,
    pub attendee: &'a str,
    /// Whether the attendee is asked to answer (observers are not).
    pub rsvp: bool,
    pub stamp: DateTime<Utc>,
}

/// Europe/Oslo (and the other central European zones) since 1996: CET/CEST with the EU
/// rule. Other zones are written in UTC instead, which every client reads.
const VTIMEZONE_OSLO: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Oslo\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n";

/// The UID of a meeting's event for one invitation: the invitation's token before the
/// meeting's UID, so each recipient's calendar holds an event of its own.
pub fn personal_uid(token: Option<&str>, meeting_uid: &str) -> String {
    match token {
        Some(t) => format!("{t}.{meeting_uid}"),
        None => meeting_uid.to_string(),
    }
}

/// The invitation token in a personal UID, if it has one.
pub fn token_in_uid(uid: &str) -> Option<crate::domain::Token> {
    uid.split_once('.')
        .and_then(|(t, _)| crate::domain::Token::parse(t))
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value: quoted, without the characters a quoted value cannot hold.
fn param(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| !matches!(c, '"' | '\r' | '\n'))
        .collect();
    format!("\"{clean}\"")
}

/// Folds a content line at 75 octets (RFC 5545 §3.1), never inside a character.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The whole VCALENDAR object.
pub fn build(e: &Entry<'_>) -> String {
    let oslo = e.time_zone == chrono_tz::Europe::Oslo;
    let local = |t: DateTime<Utc>, name: &str| {
        if oslo {
            format!(
                "{name};TZID=Europe/Oslo:{}",
                t.with_timezone(&e.time_zone).format("%Y%m%dT%H%M%S")
            )
        } else {
            format!("{name}:{}", utc(t))
        }
    };
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "PRODID:-//referent//council secretariat//NO".to_string(),
        "VERSION:2.0".to_string(),
        "CALSCALE:GREGORIAN".to_string(),
        format!("METHOD:{}", e.method),
    ];
    let mut out = String::new();
    for l in lines.drain(..) {
        fold(&l, &mut out);
    }
    if oslo {
        out.push_str(VTIMEZONE_OSLO);
    }
    let cancel = e.method == "CANCEL";
    let mut ev = vec![
        "BEGIN:VEVENT".to_string(),
        format!("UID:{}", text(e.uid)),
        format!("SEQUENCE:{}", e.sequence),
        format!("DTSTAMP:{}", utc(e.stamp)),
        local(e.starts_at, "DTSTART"),
        local(e.ends_at, "DTEND"),
        format!("SUMMARY:{}", text(e.summary)),
        format!("DESCRIPTION:{}", text(e.description)),
        format!(
            "ORGANIZER;CN={}:mailto:{}",
            param(e.organizer_name),
            e.organizer
        ),
        format!(
            "ATTENDEE;CN={};ROLE={};PARTSTAT=NEEDS-ACTION;RSVP={}:mailto:{}",
            param(e.attendee_name),
            if e.rsvp {
                "REQ-PARTICIPANT"
            } else {
                "NON-PARTICIPANT"
            },
            if e.rsvp && !cancel { "TRUE" } else { "FALSE" },
            e.attendee
        ),
        format!("STATUS:{}", if cancel { "CANCELLED" } else { "CONFIRMED" }),
        "TRANSP:OPAQUE".to_string(),
    ];
    if let Some(l) = e.location {
        ev.push(format!("LOCATION:{}", text(l)));
    }
    ev.push("END:VEVENT".to_string());
    ev.push("END:VCALENDAR".to_string());
    for l in ev {
        fold(&l, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry with folded lines joined again.
    fn entry(method: &str) -> String {
        folded(method).replace("\r\n ", "")
    }

    fn folded(method: &str) -> String {
        build(&Entry {
            method,
            uid: "m1-abc@council.no",
            sequence: 2,
            starts_at: "2027-03-30T08:00:00Z".parse().unwrap(),
            ends_at: "2027-03-30T10:00:00Z".parse().unwrap(),
            time_zone: chrono_tz::Europe::Oslo,
            summary: "Utdanningsrådet, møte 2/2027",
            location: Some("Ullevål sykehus; bygg 1, møterom 3"),
            description: "Saksliste:\nSak 1/27 Godkjenning",
            organizer_name: "Sekretariatet",
            organizer: "referent@council.no",
            attendee_name: "Kari \"K\" Nordmann",
            attendee: "kari@hf.no",
            rsvp: true,
            stamp: "2027-03-01T08:00:00Z".parse().unwrap(),
        })
    }

    #[test]
    fn request_reads_back() {
        let ics = entry("REQUEST");
        assert!(ics.contains("METHOD:REQUEST\r\n"));
        assert!(
            ics.contains("DTSTART;TZID=Europe/Oslo:20270330T100000\r\n"),
            "{ics}"
        );
        assert!(ics.contains("SEQUENCE:2\r\n"));
        assert!(ics.contains("LOCATION:Ullevål sykehus\\; bygg 1\\, møterom 3"));
        assert!(ics.contains("RSVP=TRUE:mailto:kari@hf.no"));
        assert!(ics.contains("BEGIN:VTIMEZONE"));
        for line in folded("REQUEST").split("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        // The reader that takes calendar replies understands our own entries.
        let reply = ics
            .replace("METHOD:REQUEST", "METHOD:REPLY")
            .replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED");
        let r = crate::understand::itip::read(&reply).unwrap();
        assert_eq!(r.uid.as_deref(), Some("m1-abc@council.no"));
        assert_eq!(r.response, Some(crate::domain::Response::Accepted));
    }

    #[test]
    fn cancel() {
        let ics = entry("CANCEL");
        assert!(ics.contains("METHOD:CANCEL\r\n"));
        assert!(ics.contains("STATUS:CANCELLED\r\n"));
        assert!(ics.contains("RSVP=FALSE"));
    }
}
