//! From a message body to what the person wrote: quoted text, quote headers and
//! signatures removed. Line-based and linear: no regular expressions, so pathological
//! quoting cannot make it slow.

/// The text a person wrote above (or between) quoted material, without signature.
pub fn reply_text(body: &str) -> String {
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = body.lines().collect();
    let end = quote_start(&lines).unwrap_or(lines.len());
    let mut kept: Vec<&str> = lines
        .get(..end)
        .unwrap_or_default()
        .iter()
        .copied()
        // Bottom-posting and interleaved replies: quoted lines never speak for the sender.
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect();
    let sig = signature_start(&kept);
    kept.truncate(sig);
    if kept.iter().all(|l| l.trim().is_empty()) && end < lines.len() {
        // Bottom-posting: nothing above the quote, so the answer is the unquoted text
        // below it (Thunderbird and mailing-list habit).
        let mut below: Vec<&str> = lines
            .get(end + 1..)
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|l| !l.trim_start().starts_with('>'))
            .collect();
        if let Some(next) = quote_start(&below) {
            below.truncate(next);
        }
        let sig = signature_start(&below);
        below.truncate(sig);
        return trim_blank(&below).join("\n");
    }
    trim_blank(&kept).join("\n")
}

/// Index of the first line of quoted material (a quote header, an original-message
/// separator, or a forwarded-message banner), if any.
pub fn quote_start(lines: &[&str]) -> Option<usize> {
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let lower = line.to_lowercase();
        if is_separator(&lower) {
            return Some(i);
        }
        // Gmail wraps a long attribution over two lines:
        // "Den tir. 5. jan. 2027 kl. 10:00 skrev Ola Nordmann <" / "ola@x.no>:".
        if lower.ends_with(':') && i > 0 {
            let prev = lines.get(i - 1).unwrap_or(&"").trim().to_lowercase();
            let joined = format!("{prev} {lower}");
            if !prev.is_empty() && starts_as_attribution(&prev) && ends_as_attribution(&joined) {
                return Some(i - 1);
            }
        }
        if ends_as_attribution(&lower) {
            return Some(i);
        }
        // Outlook: a header block "Fra: … / Sendt: … / Til: … / Emne: …"
        // (Outlook nb: Fra/Sendt/Til/Emne; nn: Frå/Sendt; en: From/Sent/To/Subject).
        if is_header_line(&lower, FROM_LABELS) {
            let window = lines.iter().skip(i + 1).take(4);
            let mut labels = 0;
            for l in window {
                let l = l.trim().to_lowercase();
                if is_header_line(&l, DATE_LABELS)
                    || is_header_line(&l, TO_LABELS)
                    || is_header_line(&l, SUBJECT_LABELS)
                {
                    labels += 1;
                }
            }
            if labels >= 2 {
                return Some(i);
            }
        }
    }
    None
}

const FROM_LABELS: &[&str] = &["fra", "frå", "from", "von", "de", "från"];
const DATE_LABELS: &[&str] = &["sendt", "sent", "dato", "date", "gesendet", "skickat"];
const TO_LABELS: &[&str] = &["til", "to", "an", "till", "kopi", "cc"];
const SUBJECT_LABELS: &[&str] = &["emne", "subject", "betreff", "ämne", "tittel"];

fn is_header_line(lower: &str, labels: &[&str]) -> bool {
    // "*Fra:* Ola" in Outlook's plain-text rendering of bold labels.
    let l = lower.trim_start_matches('*');
    labels.iter().any(|label| {
        l.strip_prefix(label)
            .map(|rest| {
                let rest = rest.trim_start_matches('*');
                rest.starts_with(':')
            })
            .unwrap_or(false)
    })
}

fn is_separator(lower: &str) -> bool {
    let t = lower.trim_matches(|c: char| c == '-' || c == ' ' || c == '_' || c == '=');
    let dashed = lower.starts_with("---") || lower.starts_with("___") || lower.starts_with("===");
    if lower.len() >= 20 && lower.chars().all(|c| c == '_') {
        // Outlook's underscore line above the quoted header block.
        return true;
    }
    if dashed {
        return [
            "original message",
            "opprinnelig melding",
            "opprinneleg melding",
            "originalmeldingen",
            "forwarded message",
            "videresendt melding",
            "vidaresendt melding",
            "videresendt e-post",
            "original meddelelse",
            "ursprüngliche nachricht",
        ]
        .iter()
        .any(|m| t.contains(m));
    }
    // Apple Mail: "Begin forwarded message:" / "Start på videresendt melding:".
    lower.starts_with("begin forwarded message")
        || lower.starts_with("start på videresendt melding")
        || lower.starts_with("start på vidaresendt melding")
}

/// "… wrote:" / "Den … skrev Ola <ola@…>:" / "… skreiv:" and the variants clients produce.
fn ends_as_attribution(lower: &str) -> bool {
    let l = lower.trim_end();
    if !l.ends_with(':') {
        return false;
    }
    has_attribution_verb(l) && (starts_as_attribution(l) || l.contains('@') || has_digit(l))
}

fn has_attribution_verb(l: &str) -> bool {
    const VERBS: &[&str] = &[
        " wrote",
        " skrev",
        " skreiv",
        " a écrit",
        " schrieb",
        " escribió",
        " kirjoitti",
        " napisał",
        " написал",
        " schreef",
        " escreveu",
        " ha scritto",
        " skrifade",
    ];
    VERBS.iter().any(|v| l.contains(v))
}

fn starts_as_attribution(lower: &str) -> bool {
    let starts = [
        "on ", "den ", "på ", "man. ", "tir. ", "ons. ", "tor. ", "fre. ", "lør. ", "søn. ", "am ",
        "le ", "el ",
    ];
    starts.iter().any(|s| lower.starts_with(s)) || has_digit(lower)
}

fn has_digit(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
}

/// Index of the first signature line of a reply (or the length when there is none).
pub fn signature_start(lines: &[&str]) -> usize {
    let n = lines.len();
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim_end();
        // RFC 3676 §4.3 signature separator; many clients drop the trailing space.
        if line == "-- " || line == "--" || line == "—" {
            return i;
        }
        let lower = line.trim().to_lowercase();
        if is_device_signature(&lower) {
            return i;
        }
        if is_valediction(&lower) && n - i <= 8 && i > 0 {
            return i;
        }
    }
    n
}

fn is_device_signature(lower: &str) -> bool {
    [
        "sendt fra min ",
        "sendt frå min ",
        "sendt fra outlook",
        "sendt fra e-post",
        "sent from my ",
        "sent from outlook",
        "sent from mail for",
        "get outlook for ",
        "hent outlook for ",
        "skaff deg outlook for",
        "sendt fra samsung",
        "sent via ",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

fn is_valediction(lower: &str) -> bool {
    let l = lower.trim_end_matches([',', '.', '!']);
    const CLOSINGS: &[&str] = &[
        "mvh",
        "m.v.h",
        "med vennlig hilsen",
        "med venleg helsing",
        "vennlig hilsen",
        "venleg helsing",
        "vennleg helsing",
        "hilsen",
        "helsing",
        "beste hilsen",
        "beste helsing",
        "hilsen fra",
        "vh",
        "best regards",
        "kind regards",
        "warm regards",
        "regards",
        "best wishes",
        "best",
        "cheers",
        "thanks",
        "thank you",
        "takk",
        "tusen takk",
    ];
    CLOSINGS.iter().any(|c| {
        l == *c
            || l.strip_prefix(c)
                .map(|rest| {
                    // "Mvh Ola Nordmann", "Hilsen Kari": a closing followed by a name.
                    let rest = rest.trim_start_matches(',').trim();
                    !rest.is_empty()
                        && rest.split_whitespace().count() <= 4
                        && rest
                            .chars()
                            .next()
                            .map(|c| c.is_uppercase() || c.is_alphabetic())
                            .unwrap_or(false)
                        && l.get(c.len()..).is_some_and(|r| r.starts_with(' '))
                        && !["takk", "tusen takk", "thanks", "thank you", "best"].contains(c)
                })
                .unwrap_or(false)
    })
}

fn trim_blank<'a>(lines: &'a [&'a str]) -> &'a [&'a str] {
    let start = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map(|i| i + 1)
        .unwrap_or(start);
    lines.get(start..end.max(start)).unwrap_or_default()
}

/// A plain-text rendering of HTML good enough for reading a reply: tags dropped, block
/// elements as line breaks, quoted blocks (`blockquote`, Gmail's `gmail_quote`, Outlook's
/// `divRplyFwdMsg`) cut off, entities decoded.
pub fn html_to_text(html: &str) -> String {
    // ASCII lower-casing keeps every byte offset: the markers are ASCII, and offsets
    // found in this copy cut the original (`İ` lower-cases to three bytes).
    let lower = html.to_ascii_lowercase();
    // Cut at the first quoted block: what follows is the original message.
    let cut = [
        "<blockquote",
        "class=\"gmail_quote",
        "class=gmail_quote",
        "id=\"divrplyfwdmsg\"",
        "id=divrplyfwdmsg",
        "id=\"appendonsend\"",
        "class=\"moz-cite-prefix\"",
        "id=\"mail-editor-reference-message-container\"",
    ]
    .iter()
    .filter_map(|m| lower.find(m))
    .min();
    let html = match cut {
        // Back up to the start of the tag that holds the marker.
        Some(pos) => {
            let start = lower.get(..pos).and_then(|l| l.rfind('<')).unwrap_or(pos);
            html.get(..start).unwrap_or(html)
        }
        None => html,
    };
    let mut out = String::with_capacity(html.len() / 2);
    let mut chars = html.char_indices().peekable();
    let bytes_lower = html.to_ascii_lowercase();
    let mut skip_until: Option<&str> = None;
    while let Some((i, c)) = chars.next() {
        if c == '<' {
            // Find the end of the tag.
            let rest = &html[i..];
            let end = rest.find('>').map(|e| i + e).unwrap_or(html.len() - 1);
            let tag = bytes_lower.get(i + 1..end).unwrap_or("");
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if let Some(stop) = skip_until {
                if tag.starts_with('/') && name == stop {
                    skip_until = None;
                }
            } else if name == "style" || name == "script" || name == "head" || name == "title" {
                if !tag.starts_with('/') {
                    skip_until = Some(match name.as_str() {
                        "style" => "style",
                        "script" => "script",
                        "head" => "head",
                        _ => "title",
                    });
                }
            } else if matches!(
                name.as_str(),
                "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "h4" | "table"
            ) {
                out.push('\n');
            }
            while let Some(&(j, _)) = chars.peek() {
                if j > end {
                    break;
                }
                chars.next();
            }
            continue;
        }
        if skip_until.is_some() {
            continue;
        }
        if c == '&' {
            let rest = &html[i..];
            // An entity is short: look for its ';' in the next few bytes only, or a text
            // full of '&' would be read again and again.
            if let Some(semi) = rest.bytes().take(12).position(|b| b == b';') {
                let entity = &rest[1..semi];
                if let Some(decoded) = decode_entity(entity) {
                    out.push(decoded);
                    while let Some(&(j, _)) = chars.peek() {
                        if j > i + semi {
                            break;
                        }
                        chars.next();
                    }
                    continue;
                }
            }
        }
        out.push(if c == '\u{a0}' { ' ' } else { c });
    }
    // Collapse runs of blank lines and trailing spaces.
    let mut text = String::with_capacity(out.len());
    let mut blank = 0;
    for line in out.lines() {
        let l = line.trim_end();
        if l.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        text.push_str(l.trim_start_matches(' '));
        text.push('\n');
    }
    text
}

fn decode_entity(e: &str) -> Option<char> {
    Some(match e {
        "nbsp" => ' ',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "aelig" => 'æ',
        "oslash" => 'ø',
        "aring" => 'å',
        "AElig" => 'Æ',
        "Oslash" => 'Ø',
        "Aring" => 'Å',
        _ => {
            let num = e.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_norwegian_two_line_attribution() {
        let body = "Ja, jeg kommer.\n\nDen tir. 5. jan. 2027 kl. 10:00 skrev Sekretariatet <\nreferent@x.no>:\n> Innkalling\n";
        assert_eq!(reply_text(body), "Ja, jeg kommer.");
    }

    #[test]
    fn outlook_header_block() {
        let body = "Må dessverre melde forfall.\n\nMed vennlig hilsen\nOla\n\nFra: Sekretariatet <referent@x.no>\nSendt: tirsdag 5. januar 2027 10:00\nTil: Ola <ola@x.no>\nEmne: Innkalling\n\nVelkommen";
        assert_eq!(reply_text(body), "Må dessverre melde forfall.");
    }

    #[test]
    fn iphone_and_separator() {
        let body =
            "Deltar digitalt\n\nSendt fra min iPhone\n\n-----Opprinnelig melding-----\nFra: x";
        assert_eq!(reply_text(body), "Deltar digitalt");
    }

    #[test]
    fn letters_that_grow_when_lower_cased_do_not_break_the_cut() {
        let html = "<div>İİİİ kommer</div><div class=\"gmail_quote\">Den … skrev:<blockquote>Innkalling</blockquote></div>";
        assert_eq!(html_to_text(html).trim(), "İİİİ kommer");
    }

    #[test]
    fn html_quote_is_cut() {
        let html = "<div>Kommer gjerne&nbsp;p&aring; Teams</div><div class=\"gmail_quote\">Den … skrev:<blockquote>Innkalling</blockquote></div>";
        assert_eq!(html_to_text(html).trim(), "Kommer gjerne på Teams");
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn bottom_posting() {
        let body = "On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi\nHello\n\n-- \nBob";
        assert_eq!(reply_text(body), "Hello");
    }
}
