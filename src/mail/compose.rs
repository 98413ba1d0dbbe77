//! Building the bytes of an outgoing message. Pure: the date and the Message-ID are
//! given, so the same inputs give the same message.

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use rand::RngCore;

use crate::domain::Token;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("cannot use {0:?} as an address: {1}")]
    Address(String, lettre::address::AddressError),
    #[error("cannot use {0:?} as a content type: {1}")]
    ContentType(String, String),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("cannot use {0:?} in a header: it holds control characters or spaces")]
    Unsafe(String),
}

/// RFC 3834 `Auto-Submitted`.
#[derive(Debug, Clone)]
pub struct AutoSubmitted(pub &'static str);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(match s.trim() {
            "auto-replied" => AutoSubmitted("auto-replied"),
            "no" => AutoSubmitted("no"),
            _ => AutoSubmitted("auto-generated"),
        })
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.to_string())
    }
}

/// Marks mail `referent` sent, so it never answers itself.
#[derive(Debug, Clone)]
pub struct SentByReferent(pub String);

impl Header for SentByReferent {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Referent")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(SentByReferent(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Asks Exchange and Outlook not to send their own automatic replies to this mail.
#[derive(Debug, Clone)]
pub struct AutoResponseSuppress;

impl Header for AutoResponseSuppress {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoResponseSuppress)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "OOF, AutoReply".to_string())
    }
}

/// A new Message-ID (without angle brackets). For mail about an invitation it carries
/// the invitation's token, so a reply whose client dropped our plus-address still finds
/// its invitation; a random tail keeps every message's id unique.
pub fn new_message_id(kind: &str, token: Option<&Token>, domain: &str) -> String {
    let mut tail = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut tail);
    match token {
        Some(t) => format!("{kind}.{}.{}@{domain}", t.as_str(), hex::encode(tail)),
        None => format!("{kind}.{}@{domain}", hex::encode(tail)),
    }
}

/// The kind of one of our Message-IDs ("summons", "approval", "minutes" …), if it is one.
pub fn kind_in_message_id<'a>(message_id: &'a str, domain: &str) -> Option<&'a str> {
    let (local, dom) = message_id.rsplit_once('@')?;
    if !dom.eq_ignore_ascii_case(domain) {
        return None;
    }
    local.split('.').next()
}

/// The token inside one of our Message-IDs, if it is one.
pub fn token_in_message_id(message_id: &str, domain: &str) -> Option<Token> {
    let (local, dom) = message_id.rsplit_once('@')?;
    if !dom.eq_ignore_ascii_case(domain) {
        return None;
    }
    local.split('.').find_map(Token::parse)
}

/// Everything that goes into one outgoing text message.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub reply_to: Option<&'a str>,
    pub to_name: Option<&'a str>,
    pub to_address: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    /// `auto-generated` (summons, reminders) or `auto-replied` (receipts).
    pub auto_submitted: &'static str,
    pub kind: &'a str,
    pub date: DateTime<Utc>,
    /// The secretariat's time zone: the `Date:` header is written in it (with its
    /// offset, e.g. `+0100` in Oslo's winter), as a person's own mail client would.
    pub time_zone: chrono_tz::Tz,
    /// An iTIP entry: (method, the VCALENDAR text), sent as the `text/calendar`
    /// alternative that calendar clients act on, and as an `.ics` attachment.
    pub calendar: Option<(&'a str, String)>,
    /// Files sent along: (file name, content type, bytes).
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

/// A header value built from input (a name, a title, a file name): control characters
/// (CR and LF above all, which would start a new header) become spaces, runs of space
/// collapse, and the length is capped so one field cannot grow without end.
pub fn clean_header(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(512));
    let mut space = false;
    for c in value.chars() {
        let c = if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            ' '
        } else {
            c
        };
        if c.is_whitespace() {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
        if out.len() >= 400 {
            break;
        }
    }
    out.trim_end().to_string()
}

fn mailbox(name: Option<&str>, address: &str) -> Result<Mailbox, ComposeError> {
    if address.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ComposeError::Unsafe(address.to_string()));
    }
    let addr = address
        .parse()
        .map_err(|e| ComposeError::Address(address.to_string(), e))?;
    let name = name.map(clean_header).filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, addr))
}

/// The bytes of a message, ready for the outbox.
pub fn build(d: &Draft<'_>) -> Result<Vec<u8>, ComposeError> {
    let mut b = Message::builder()
        .from(mailbox(Some(d.from_name), d.from_address)?)
        .to(mailbox(d.to_name, d.to_address)?)
        .subject(clean_header(d.subject))
        .message_id(Some(format!("<{}>", clean_header(d.message_id))))
        .date(d.date.into())
        .header(AutoSubmitted(d.auto_submitted))
        .header(AutoResponseSuppress)
        .header(SentByReferent(clean_header(d.kind)));
    if let Some(r) = d.reply_to {
        b = b.reply_to(mailbox(Some(d.from_name), r)?);
    }
    if let Some(irt) = d.in_reply_to {
        b = b
            .in_reply_to(format!("<{}>", clean_header(irt)))
            .references(format!("<{}>", clean_header(irt)));
    }
    if d.calendar.is_none() && d.attachments.is_empty() {
        let raw = b
            .header(ContentType::TEXT_PLAIN)
            .body(d.body.to_string())?
            .formatted();
        return Ok(local_date(raw, d.date, d.time_zone));
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(d.body.to_string());
    let mut mixed = match &d.calendar {
        Some((method, ics)) => {
            let ct = content_type(&format!("text/calendar; charset=utf-8; method={method}"))?;
            let alt = MultiPart::alternative()
                .singlepart(text)
                .singlepart(SinglePart::builder().header(ct.clone()).body(ics.clone()));
            let file = Attachment::new("invite.ics".to_string()).body(ics.clone(), ct);
            MultiPart::mixed().multipart(alt).singlepart(file)
        }
        None => MultiPart::mixed().singlepart(text),
    };
    for (name, ct, bytes) in &d.attachments {
        let ct = content_type(ct).or_else(|_| content_type("application/octet-stream"))?;
        let name = match clean_header(name).replace(['"', '\\'], "") {
            n if n.is_empty() => "vedlegg".to_string(),
            n => n,
        };
        mixed = mixed.singlepart(Attachment::new(name).body(bytes.clone(), ct));
    }
    Ok(local_date(
        b.multipart(mixed)?.formatted(),
        d.date,
        d.time_zone,
    ))
}

/// Rewrites the `Date:` header lettre wrote (always UTC, `+0000`) in the time zone
/// `tz`: the same instant, as RFC 5322 §3.3 allows, so a reader's client that shows the
/// raw header shows the secretariat's own time. A message without the header (never, in
/// practice) is returned as it is.
fn local_date(raw: Vec<u8>, date: DateTime<Utc>, tz: chrono_tz::Tz) -> Vec<u8> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = raw.get(..head_end).unwrap_or(&raw);
    let start = if head.starts_with(b"Date: ") {
        Some(0)
    } else {
        head.windows(8)
            .position(|w| w == b"\r\nDate: ")
            .map(|p| p + 2)
    };
    let Some(start) = start else { return raw };
    let value_start = start + "Date: ".len();
    let value_end = head
        .get(value_start..)
        .and_then(|rest| rest.windows(2).position(|w| w == b"\r\n"))
        .map_or(head_end, |p| value_start + p);
    let local = date
        .with_timezone(&tz)
        .format("%a, %d %b %Y %H:%M:%S %z")
        .to_string();
    let mut out = Vec::with_capacity(raw.len() + 8);
    out.extend_from_slice(raw.get(..value_start).unwrap_or_default());
    out.extend_from_slice(local.as_bytes());
    out.extend_from_slice(raw.get(value_end..).unwrap_or_default());
    out
}

fn content_type(s: &str) -> Result<ContentType, ComposeError> {
    ContentType::parse(s).map_err(|e| ComposeError::ContentType(s.to_string(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_line_breaks_cannot_add_headers() {
        let raw = build(&Draft {
            from_name: "Sekretariatet",
            from_address: "referent@council.no",
            reply_to: None,
            to_name: Some("Eve\r\nBcc: victim@example.no\r\n\r\nbody"),
            to_address: "eve@example.no",
            subject: "Mottatt: sak\r\nX-Evil: 1",
            body: "Hei\n",
            message_id: "receipt.1@council.no",
            in_reply_to: Some("a>\r\nX-Evil: 2"),
            auto_submitted: "auto-replied",
            kind: "receipt",
            date: "2027-01-01T10:00:00Z".parse().unwrap(),
            time_zone: chrono_tz::Europe::Oslo,
            calendar: None,
            attachments: vec![("a\r\nb.pdf".into(), "application/pdf".into(), b"x".to_vec())],
        })
        .unwrap();
        let text = String::from_utf8_lossy(&raw);
        let head = text.split("\r\n\r\n").next().unwrap();
        assert!(!head.contains("\r\nBcc:"), "{head}");
        assert!(!text.contains("\r\nX-Evil"), "{text}");
        assert!(build(&Draft {
            to_address: "eve@example.no\r\nBcc: x@y.no",
            ..Draft {
                from_name: "S",
                from_address: "referent@council.no",
                reply_to: None,
                to_name: None,
                to_address: "",
                subject: "s",
                body: "b",
                message_id: "m@council.no",
                in_reply_to: None,
                auto_submitted: "auto-replied",
                kind: "receipt",
                date: "2027-01-01T10:00:00Z".parse().unwrap(),
                time_zone: chrono_tz::Europe::Oslo,
                calendar: None,
                attachments: Vec::new(),
            }
        })
        .is_err());
    }

    #[test]
    fn builds_and_reads_back() {
        let token = Token::generate();
        let id = new_message_id("summons", Some(&token), "council.no");
        assert_eq!(token_in_message_id(&id, "council.no"), Some(token.clone()));
        assert_eq!(token_in_message_id(&id, "other.no"), None);
        assert_eq!(kind_in_message_id(&id, "council.no"), Some("summons"));
        assert_eq!(kind_in_message_id(&id, "other.no"), None);
        let reply_to = format!("referent+{}@council.no", token.as_str());
        let raw = build(&Draft {
            from_name: "Sekretariatet",
            from_address: "referent@council.no",
            reply_to: Some(&reply_to),
            to_name: Some("Ola Nordmann"),
            to_address: "ola@example.no",
            subject: "Innkalling: Utdanningsrådet",
            body: "Hei Ola,\n\nVelkommen.\n",
            message_id: &id,
            in_reply_to: None,
            auto_submitted: "auto-generated",
            kind: "summons",
            date: "2027-01-01T10:00:00Z".parse().unwrap(),
            time_zone: chrono_tz::Europe::Oslo,
            calendar: None,
            attachments: Vec::new(),
        })
        .unwrap();
        let u = crate::understand::understand(&raw, Default::default());
        assert!(u.sent_by_referent);
        assert_eq!(u.message_id.as_deref(), Some(id.as_str()));
        assert_eq!(u.subject, "Innkalling: Utdanningsrådet");
        assert!(u.auto_reply.is_some(), "our own mail is automatic");
        // 10:00 UTC on 1 January is 11:00 in Oslo (winter time, +0100).
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.contains("\r\nDate: Fri, 01 Jan 2027 11:00:00 +0100\r\n"),
            "{text}"
        );
    }
}
