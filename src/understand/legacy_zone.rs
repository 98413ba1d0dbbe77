//! mail-parser 0.11 loses the header field that follows a `Date:` ending in the zone
//! `UT` (RFC 5322 §4.3 obsolete zone, still written by old MTAs and gateways): after
//! `Date: Thu, 5 Jan 2027 10:00:00 UT` the `From:` below it disappears. The same
//! instant written as `+0000` parses, so the top header block is rewritten before
//! parsing.

use std::borrow::Cow;

/// `raw` with a trailing ` UT` on the top-level `Date:` field (or its folded
/// continuation) replaced by ` +0000`; borrowed unchanged when there is none.
pub fn fix_ut_zone(raw: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut in_date = false;
    let mut start = 0;
    while start < raw.len() {
        let end = raw
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            .map(|p| start + p + 1)
            .unwrap_or(raw.len());
        let line = raw.get(start..end).unwrap_or(&[]);
        let content = strip_eol(line);
        if content.is_empty() {
            break; // end of the header block
        }
        let folded = matches!(content.first(), Some(b' ' | b'\t'));
        if !folded {
            in_date = content
                .get(..5)
                .is_some_and(|h| h.eq_ignore_ascii_case(b"date:"));
        }
        if in_date {
            let trimmed = trim_end(content);
            let n = trimmed.len();
            if n >= 3
                && trimmed
                    .get(n - 2..)
                    .is_some_and(|z| z.eq_ignore_ascii_case(b"ut"))
                && matches!(trimmed.get(n - 3), Some(b' ' | b'\t'))
            {
                let buf = out.get_or_insert_with(|| raw.to_vec());
                // The buffer holds the bytes before `start` unchanged in length
                // until the first replacement; later ones are shifted by `shift`.
                let shift = buf.len() - raw.len();
                let at = start + shift + n - 2;
                buf.splice(at..at + 2, b"+0000".iter().copied());
            }
        }
        start = end;
    }
    match out {
        Some(v) => Cow::Owned(v),
        None => Cow::Borrowed(raw),
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map(|p| p + 1)
        .unwrap_or(0);
    s.get(..n).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_ut_and_keeps_everything_else() {
        let raw = b"Date: Thu, 5 Jan 2027 10:00:00 UT\r\nFrom: Ola <ola@example.no>\r\nSubject: Ja\r\n\r\nDate: x UT\r\n";
        let fixed = fix_ut_zone(raw);
        assert_eq!(
            &*fixed,
            &b"Date: Thu, 5 Jan 2027 10:00:00 +0000\r\nFrom: Ola <ola@example.no>\r\nSubject: Ja\r\n\r\nDate: x UT\r\n"[..]
        );
        // Folded, LF only.
        let folded = b"Subject: x\nDate: Thu, 5 Jan 2027\n 10:00:00 UT \nFrom: a@b.no\n\nbody";
        assert_eq!(
            &*fix_ut_zone(folded),
            &b"Subject: x\nDate: Thu, 5 Jan 2027\n 10:00:00 +0000 \nFrom: a@b.no\n\nbody"[..]
        );
        // Nothing to do: borrowed.
        let plain = b"Date: Thu, 5 Jan 2027 10:00:00 +0100\r\nFrom: a@b.no\r\n\r\n";
        assert!(matches!(fix_ut_zone(plain), Cow::Borrowed(_)));
        // "OUT" is not the zone; neither is a subject that ends in UT.
        let other = b"Date: Thu, 5 Jan 2027 10:00:00 OUT\r\nSubject: UT\r\n\r\n";
        assert!(matches!(fix_ut_zone(other), Cow::Borrowed(_)));
        assert!(matches!(fix_ut_zone(b""), Cow::Borrowed(_)));
    }

    #[test]
    fn the_sender_after_a_ut_date_is_read() {
        let raw = b"Date: Thu, 5 Jan 2027 10:00:00 UT\r\nFrom: Ola Nordmann <ola@example.no>\r\nSubject: SV: Innkalling\r\n\r\nJa, jeg kommer.\r\n";
        let u = super::super::understand(raw, super::super::Limits::default());
        assert_eq!(u.from.as_deref(), Some("ola@example.no"));
        assert_eq!(u.date, chrono::NaiveDate::from_ymd_opt(2027, 1, 5));
    }
}
