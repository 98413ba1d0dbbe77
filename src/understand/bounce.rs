//! Which address bounced, and whether for good: read from the machine-readable part of a
//! delivery status notification (RFC 3464) when there is one, else from the text that
//! the MTAs which send no DSN (Exchange 5.5/2003, GroupWise, qmail, Exim, gateways) write
//! above or beside the failed address.

/// What one bounce says about one recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    pub recipient: Option<String>,
    pub status: Option<String>,
    /// `Some(true)`: given up; `Some(false)`: delayed, still trying; `None`: not said.
    pub permanent: Option<bool>,
}

/// The raw message as text, followed by the decoded text of its `message/delivery-status`
/// parts: some MTAs (Amazon WorkMail) send the DSN quoted-printable, where a field name
/// is split by a soft line break and cannot be read from the raw text.
pub fn report_text(msg: &mail_parser::Message<'_>, raw_text: &str) -> String {
    use mail_parser::MimeHeaders;
    let mut out = raw_text.to_string();
    for part in msg.parts.iter().take(50) {
        let is_dsn = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("delivery-status")
                        || s.eq_ignore_ascii_case("global-delivery-status")
                })
        });
        let encoded = part
            .content_transfer_encoding()
            .is_some_and(|e| !e.eq_ignore_ascii_case("7bit") && !e.eq_ignore_ascii_case("8bit"));
        if is_dsn && encoded {
            out.push_str("\n\n");
            out.push_str(&String::from_utf8_lossy(part.contents()));
            out.push_str("\n\n");
        }
    }
    out
}

/// One per-recipient block of a `message/delivery-status` part (RFC 3464 §2.3).
#[derive(Debug, Default)]
struct DsnBlock {
    original: Option<String>,
    final_: Option<String>,
    action: Option<String>,
    status: Option<String>,
}

/// The per-recipient blocks found anywhere in the raw message. The fields are looked for
/// in the raw text so that a DSN part sent with an odd content type (`text/plain`,
/// `message/delivery-status; name=…`) is still read.
fn dsn_blocks(raw_text: &str, has_head: bool) -> (Vec<DsnBlock>, Option<String>) {
    let mut blocks = Vec::new();
    let mut current = DsnBlock::default();
    let mut x_failed = None;
    let flush = |b: &mut DsnBlock, blocks: &mut Vec<DsnBlock>| {
        if b.original.is_some() || b.final_.is_some() {
            blocks.push(std::mem::take(b));
        } else if b.action.is_some() || b.status.is_some() {
            // Fields without a recipient (McAfee writes only `Original-Recipient:` with
            // no type, which is read above; others none): keep them for the last block.
            if let Some(last) = blocks.last_mut() {
                let last: &mut DsnBlock = last;
                if last.action.is_none() {
                    last.action = b.action.take();
                }
                if last.status.is_none() {
                    last.status = b.status.take();
                }
            }
            *b = DsnBlock::default();
        }
    };
    // In the bounce's own header block only Exim's `X-Failed-Recipients` counts:
    // receiving servers stamp their own `Original-Recipient:` there (Sun Messaging
    // Server), which names us.
    let mut in_head = has_head;
    for line in raw_text.lines() {
        let l = line.trim();
        if in_head {
            if l.is_empty() {
                in_head = false;
            } else if let Some((name, value)) = l.split_once(':') {
                if x_failed.is_none() && name.trim().eq_ignore_ascii_case("x-failed-recipients") {
                    x_failed = email(value);
                }
            }
            continue;
        }
        if l.is_empty() || l.starts_with("--") {
            flush(&mut current, &mut blocks);
            continue;
        }
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "original-recipient" => {
                // "rfc822;ola@example.no" — the address as first given, before any alias
                // expansion: the one we sent to, so the one to report.
                let v = value.rsplit(';').next().unwrap_or(value);
                if current.original.is_some() {
                    flush(&mut current, &mut blocks);
                }
                current.original = email(v);
            }
            "final-recipient" => {
                let v = value.rsplit(';').next().unwrap_or(value);
                if current.final_.is_some() {
                    flush(&mut current, &mut blocks);
                }
                current.final_ = email(v);
            }
            "action" => current.action = Some(value.trim().to_ascii_lowercase()),
            "status" => current.status = find_status_code(value),
            "x-failed-recipients" if x_failed.is_none() => {
                x_failed = email(value);
            }
            _ => {}
        }
    }
    flush(&mut current, &mut blocks);
    (blocks, x_failed)
}

/// Reads the failed recipient and the outcome. `body` is the human-readable text,
/// `raw_text` the whole message as text, `ignore` the addresses that are never the
/// failed recipient (ours: the bounce's To, and the reporting daemon's From).
pub fn read(raw_text: &str, body: &str, ignore: &[String]) -> Reading {
    let (mut blocks, x_failed) = dsn_blocks(raw_text, true);
    if blocks.is_empty() {
        // DSN fields written into a quoted-printable text part (Amazon WorkMail).
        blocks = dsn_blocks(body, false).0;
    }
    // The block that failed for good first, then a delayed one, then any.
    let rank = |b: &DsnBlock| match b.action.as_deref() {
        Some(a) if a.starts_with("failed") || a.starts_with("expired") => 0,
        Some(a) if a.starts_with("delayed") => 1,
        Some(_) => 2,
        None => 1,
    };
    let chosen = blocks
        .iter()
        .filter(|b| rank(b) < 2)
        .min_by_key(|b| rank(b))
        .or_else(|| blocks.first());
    let mut reading = Reading::default();
    if let Some(b) = chosen {
        reading.recipient = b.original.clone().or_else(|| b.final_.clone());
        reading.status = b.status.clone();
        reading.permanent = match b.action.as_deref() {
            // SendGrid writes a non-standard `Action: expired`: given up all the same.
            Some(a) if a.starts_with("failed") || a.starts_with("expired") => Some(true),
            Some(a) if a.starts_with("delayed") => Some(false),
            _ => None,
        };
        // A DSN with only delivered/relayed/expanded blocks is no failure at all; the
        // caller still calls it a bounce (nothing answers it), but not a permanent one.
        if rank(b) == 2 {
            reading.permanent = Some(false);
        }
    }
    // Postfix writes both the DSN and "<expanded> (expanded from <original>)"; the DSN
    // may lack `Original-Recipient` (older Postfix, forwarded DSNs): the text knows.
    if let Some(original) = expanded_from(body, reading.recipient.as_deref()) {
        reading.recipient = Some(original);
    }
    if reading.recipient.is_none() {
        reading.recipient = x_failed;
    }
    if reading.recipient.is_none() {
        // A body the MIME parser could not find (a nested boundary it missed): the raw
        // text below the header block.
        let text = if body.trim().is_empty() {
            raw_text
                .split_once("\n\n")
                .or_else(|| raw_text.split_once("\r\n\r\n"))
                .map(|(_, rest)| rest)
                .unwrap_or("")
        } else {
            body
        };
        reading.recipient = from_text(text, ignore);
    }
    if reading.status.is_none() {
        // The code on the recipient's own line, else the first in the text.
        let own = reading.recipient.as_deref().and_then(|r| {
            body.lines()
                .filter(|l| l.to_ascii_lowercase().contains(r))
                .find_map(find_status_code)
        });
        reading.status = own.or_else(|| find_status_code(body));
    }
    reading
}

/// "<r@host> (expanded from <ola@example.no>)": the address as we sent it. When
/// `expanded` is known, only its own line counts; the note may wrap onto the next line.
fn expanded_from(body: &str, expanded: Option<&str>) -> Option<String> {
    let lines: Vec<&str> = body.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_ascii_lowercase();
        let Some(pos) = lower.find("(expanded from") else {
            continue;
        };
        if let Some(e) = expanded {
            if !lower.contains(e) {
                continue;
            }
        }
        let rest = line.get(pos + "(expanded from".len()..).unwrap_or("");
        let rest = rest.trim_start_matches(':');
        if let Some(a) = email(rest) {
            return Some(a);
        }
        if let Some(a) = lines.get(i + 1).and_then(|l| email(l)) {
            return Some(a);
        }
    }
    None
}

/// Headings under which MTAs list the addresses that failed, on the lines below (or
/// after the heading on the same line).
const LIST_HEADINGS: &[&str] = &[
    // Exchange 5.5/2000/2003 and GroupWise: "did not reach the following recipient(s):"
    "did not reach the following recipient",
    "the following recipient(s) cannot be reached",
    "the following recipients cannot be reached",
    "following recipient(s) could not be reached",
    "could not be delivered to the following",
    "cannot be delivered to the following",
    // Exchange 2010+ / Office 365.
    "delivery has failed to these recipients or groups",
    "delivery is delayed to these recipients or groups",
    // GroupWise.
    "undeliverable to the following",
    // sendmail, McAfee, gateways, qmail, Exim, Gmail, OpenSMTPD.
    "the following addresses had permanent fatal errors",
    "the following addresses had delivery problems",
    "the following address(es) failed",
    "following recipients returned permanent errors",
    "delivery to the following recipient failed permanently",
    "delivery to the following recipients failed",
    "delivery to the following recipient has been delayed",
    "delivery to the following recipients has been delayed",
    "delivery to the following recipients was aborted",
    "deliver your message to the following",
    "deliver message to the following",
    "could not deliver to the following",
    "failed to deliver to the following",
    "following list of recipients",
    "the following recipients did not receive",
    "undeliverable recipients",
    "failed recipient",
    "følgende mottakere",
    // Gateways that repeat the envelope (Verizon, Apache James): "RCPT TO: <addr>".
    "rcpt to:",
];

/// Phrases followed on the same line by the failed address ("Could not be delivered
/// to: <a>", "There was an error delivering your mail to <a>").
const INLINE_HEADINGS: &[&str] = &[
    "could not be delivered to",
    "couldn't be delivered to",
    "your message to ",
    "error delivering your mail to",
    "permanent error delivering to",
    "your message was not delivered to",
    "kunne ikke leveres til",
    "ble ikke levert til",
    "nådde ikke frem til",
];

/// Words that sit on the failed address's own line in plain-text bounces.
const FAILURE_WORDS: &[&str] = &[
    "user unknown",
    "unknown user",
    "no such user",
    "no such recipient",
    "unknown recipient",
    "recipient unknown",
    "mailbox unavailable",
    "mailbox not found",
    "mailbox is full",
    "does not exist",
    "doesn't exist",
    "doesn't have a",
    "invalid recipient",
    "account is disabled",
    "user not found",
    "recipient rejected",
    "recipient address rejected",
];

/// The text after `phrase` on `line`, found in its lowercase copy `lower`; the offset
/// is used only when lowercasing kept the length (`İ` does not), else the whole line.
fn after_phrase<'a>(line: &'a str, lower: &str, phrase: &str) -> &'a str {
    if lower.len() != line.len() {
        return line;
    }
    lower
        .find(phrase)
        .and_then(|p| line.get(p + phrase.len()..))
        .unwrap_or(line)
}

/// The first address in `text`, without the colon or dot that MTAs write after it
/// ("userunknown@example.jp: 550 …").
fn email(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || "<>()[],;\"'".contains(c))
        .map(|w| w.trim_end_matches([':', '.']).trim_start_matches("mailto:"))
        .find_map(|w| crate::domain::normalize_address(w).ok())
}

/// The failed address in a bounce without a DSN. Tried in order: under a heading that
/// lists failed recipients; Postfix's and qmail's "<addr>: …" at the start of a line; a
/// line with a failure word ("User unknown"); after "could not be delivered to" on
/// the same line; the first address in the text that is not ours or the daemon's.
fn from_text(body: &str, ignore: &[String]) -> Option<String> {
    let lines: Vec<&str> = body.lines().collect();
    // A postmaster can be the failed recipient (DragonFly: "error delivering your mail
    // to <postmaster@…>"); only the last guess below skips lines that name one, since
    // "please contact <postmaster@…>" is what most MTAs write.
    let usable = |a: &String| {
        !ignore.iter().any(|i| i == a)
            && !a.starts_with("mailer-daemon@")
            && !a.starts_with("mail-daemon@")
    };
    // Every address on the line in turn, skipping ours.
    let email_in = |l: &str| -> Option<String> {
        l.split(|c: char| c.is_whitespace() || "<>()[],;\"'".contains(c))
            .filter_map(email)
            .find(usable)
    };
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_lowercase();
        let Some(h) = LIST_HEADINGS.iter().find(|h| lower.contains(*h)) else {
            continue;
        };
        if let Some(a) = email_in(after_phrase(line, &lower, h)) {
            return Some(a);
        }
        // The lines below, up to the end of the list.
        let mut blanks = 0;
        for next in lines.iter().skip(i + 1).take(12) {
            if next.trim().is_empty() {
                blanks += 1;
                if blanks > 2 {
                    break;
                }
                continue;
            }
            let nl = next.trim_start().to_lowercase();
            // Exchange 5.5 repeats the original's header above the list.
            if ["to:", "cc:", "from:", "sent:", "subject:", "date:"]
                .iter()
                .any(|p| nl.starts_with(p))
            {
                continue;
            }
            if let Some(a) = email_in(next) {
                return Some(a);
            }
        }
    }
    // Postfix/qmail: "<ola@example.no>: host … said: 550 5.1.1 …".
    for line in &lines {
        let t = line.trim();
        if t.starts_with('<') && t.contains(">:") {
            if let Some(a) = email_in(t) {
                return Some(a);
            }
        }
    }
    for line in &lines {
        let lower = line.to_lowercase();
        if FAILURE_WORDS.iter().any(|w| lower.contains(w)) {
            if let Some(a) = email_in(line) {
                return Some(a);
            }
        }
    }
    for line in &lines {
        let lower = line.to_lowercase();
        if let Some(h) = INLINE_HEADINGS.iter().find(|h| lower.contains(*h)) {
            if let Some(a) = email_in(after_phrase(line, &lower, h)) {
                return Some(a);
            }
        }
    }
    lines
        .iter()
        .filter(|l| !l.to_lowercase().contains("postmaster"))
        .find_map(|l| email_in(l))
}

/// Words by which a report says it will try again: a delay, not a failure.
const DELAY_WORDS: &[&str] = &[
    "will continue",
    "will retry",
    "will be retried",
    "will keep trying",
    "will try again",
    "still trying",
    "still undelivered",
    "has been delayed",
    "have been delayed",
    "delivery delayed",
    "is delayed",
    "(delay)",
    "warning message only",
    "this is a warning only",
    "you do not need to resend",
    "not yet been delivered",
    "delivery warning",
    "forsinket",
    "prøver igjen",
    "vil fortsette",
];

/// Words by which a report says it has given up, whatever its status class: Exim's
/// "retry timeout exceeded" comes with a 4.x.x code, qmail's "I'm not going to try
/// again" with none.
const GIVEN_UP_WORDS: &[&str] = &[
    "permanent error",
    "permanently",
    "permanent fatal",
    "retry timeout exceeded",
    "giving up",
    "gave up",
    "not going to try again",
    "in the queue too long",
    "will not be retried",
];

/// Whether the report is final: the DSN's `Action` when it says; else the words of the
/// text (one that says it gave up is final, one that says it goes on trying is a delay);
/// else the status class (5 final, 4 transient); a failure text with none of these is
/// final.
pub fn is_permanent(reading: &Reading, subject: &str, body: &str) -> bool {
    if let Some(p) = reading.permanent {
        return p;
    }
    let text = format!("{subject}\n{body}").to_lowercase();
    let denied = text.contains("not a permanent") || text.contains("non-permanent");
    if !denied && GIVEN_UP_WORDS.iter().any(|w| text.contains(w)) {
        return true;
    }
    if DELAY_WORDS.iter().any(|w| text.contains(w)) {
        return false;
    }
    reading
        .status
        .as_deref()
        .map(|s| s.starts_with('5'))
        .unwrap_or(true)
}

/// The first enhanced status code (RFC 3463: class.subject.detail, class 4/5).
pub fn find_status_code(text: &str) -> Option<String> {
    text.split(|c: char| {
        c.is_whitespace() || c == '(' || c == ')' || c == ',' || c == '#' || c == '<' || c == '>'
    })
    .map(|w| w.trim_end_matches(['.', ':', ';']))
    .find(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        matches!(parts.as_slice(), [c, s, d]
            if matches!(*c, "4" | "5")
                && [s, d].iter().all(|p| !p.is_empty() && p.len() <= 3
                    && p.bytes().all(|b| b.is_ascii_digit())))
    })
    .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(dsn: &str, body: &str) -> Reading {
        let raw = format!("Subject: x\nOriginal-Recipient: rfc822;me@council.no\n\n{dsn}");
        read(&raw, body, &["me@council.no".to_string()])
    }

    #[test]
    fn dsn_original_over_final() {
        let raw = "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; r@p3.pool.example.jp\nOriginal-Recipient: rfc822;ola@example.no\nAction: failed\nStatus: 5.1.1\n";
        let r = reading(raw, "");
        assert_eq!(r.recipient.as_deref(), Some("ola@example.no"));
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        assert_eq!(r.permanent, Some(true));
    }

    #[test]
    fn dsn_failed_block_over_delayed_one() {
        let raw = "Final-Recipient: rfc822; slow@example.no\nAction: delayed\nStatus: 4.4.1\n\nOriginal-Recipient: rfc822;kari@example.no\nFinal-Recipient: rfc822; kari@example.no\nAction: failed\nStatus: 5.2.2\n";
        let r = reading(raw, "");
        assert_eq!(r.recipient.as_deref(), Some("kari@example.no"));
        assert_eq!(r.status.as_deref(), Some("5.2.2"));
    }

    #[test]
    fn dsn_delayed_is_not_permanent() {
        let raw = "Final-Recipient: rfc822; ola@example.no\nAction: delayed\nStatus: 4.4.7\nWill-Retry-Until: Fri, 30 Jan 2015 21:28:58 -0800\n";
        let r = reading(raw, "");
        assert_eq!(r.permanent, Some(false));
        assert!(!is_permanent(
            &r,
            "Delivery Status Notification (Delay)",
            ""
        ));
    }

    #[test]
    fn exchange_failed_recipient_block_not_the_first_address() {
        let body = "Your message\n\n  To:      Kari <kari@example.no>; ola@example.no\n  Subject: Innkalling\n  Sent:    Thu, 29 Apr 2027\n\ndid not reach the following recipient(s):\n\nola@example.no on Thu, 29 Apr 2027 10:00:00 +0200\n    The recipient name is not recognized\n";
        let r = reading(body, body);
        assert_eq!(r.recipient.as_deref(), Some("ola@example.no"));
    }

    #[test]
    fn postfix_expanded_alias_reports_the_original() {
        let body = "<r@p3.pool.example.jp> (expanded from <ola@example.no>): user unknown\n";
        assert_eq!(
            reading(body, body).recipient.as_deref(),
            Some("ola@example.no")
        );
        let wrapped =
            "<r@p3.pool.example.jp> (expanded from\n    <ola@example.no>): host said: 550 5.1.1\n";
        assert_eq!(
            reading(wrapped, wrapped).recipient.as_deref(),
            Some("ola@example.no")
        );
    }

    #[test]
    fn user_unknown_line_skips_our_own_address() {
        let body = "Your mail from me@council.no could not be sent.\n   ----- Transcript -----\n550 5.1.1 <ola@example.no>... User unknown\n";
        let r = reading(body, body);
        assert_eq!(r.recipient.as_deref(), Some("ola@example.no"));
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
    }

    #[test]
    fn delay_words_make_a_delay() {
        let r = Reading::default();
        assert!(!is_permanent(
            &r,
            "Delivery Warning",
            "Delivery attempts will continue to be made for 4 more days."
        ));
        assert!(is_permanent(
            &r,
            "Undeliverable: Innkalling",
            "Delivery has failed to these recipients or groups."
        ));
        let r5 = Reading {
            status: Some("4.4.1".into()),
            ..Reading::default()
        };
        assert!(!is_permanent(&r5, "Warning", ""));
        assert!(is_permanent(
            &r5,
            "Mail delivery failed",
            "retry timeout exceeded"
        ));
    }

    #[test]
    fn status_codes() {
        assert_eq!(
            find_status_code("550 5.1.1 <x@y>: user unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            find_status_code("4.4.1 (connection timed out)").as_deref(),
            Some("4.4.1")
        );
        assert_eq!(
            find_status_code("#5.1.1 smtp;550").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(find_status_code("version 1.2.3"), None);
    }
}
