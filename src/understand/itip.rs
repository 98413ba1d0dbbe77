//! iTIP (RFC 5546) replies from calendar clients: Outlook "Godtatt:"/"Avslått:", Google,
//! Apple. Only what an answer needs is read: METHOD, the attendee and PARTSTAT, the UID.
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
    Some(CalendarReply {
        method: method?,
        uid,
        attendee,
        response,
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
    }
}
