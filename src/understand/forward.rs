//! Forwarded mail: the header block clients put above the original (Outlook
//! "Fra:/Sendt:/Til:/Emne:" under `VS:`, Gmail "---------- Videresendt melding
//! ---------", Apple "Start på videresendt melding:") read into the original sender,
//! subject and text.

/// What a forward carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub subject: Option<String>,
    /// The original message's text (which may itself end in quoted material).
    pub body: String,
    /// What the forwarder wrote above it.
    pub note: String,
}

const FROM: &[&str] = &["from", "fra", "frå", "von", "de", "från", "van", "od", "da"];
const SUBJECT: &[&str] = &[
    "subject",
    "emne",
    "betreff",
    "ämne",
    "objet",
    "onderwerp",
    "asunto",
    "oggetto",
    "tittel",
];
const OTHER: &[&str] = &[
    "date", "sent", "sendt", "dato", "to", "til", "cc", "kopi", "datum", "gesendet", "an",
    "skickat", "till", "reply-to", "svar til",
];

fn label_value<'a>(line: &'a str, labels: &[&str]) -> Option<&'a str> {
    let l = line
        .trim()
        .trim_start_matches('*')
        .trim_start_matches('>')
        .trim();
    let (label, value) = l.split_once(':')?;
    let label = label.trim().trim_end_matches('*').to_lowercase();
    labels
        .contains(&label.as_str())
        .then(|| value.trim().trim_start_matches('*').trim())
}

/// Banners that say "forward" whatever the subject: Gmail's "Forwarded message",
/// Apple's "Begin forwarded message:", Outlook nb "Videresendt melding".
fn forward_banner(lower: &str) -> bool {
    let t = lower
        .trim()
        .trim_matches(|c: char| c == '-' || c == ' ' || c == '_');
    [
        "forwarded message",
        "videresendt melding",
        "vidaresendt melding",
        "videresendt e-post",
        "begin forwarded message:",
        "start på videresendt melding:",
        "start på vidaresendt melding:",
    ]
    .iter()
    .any(|b| t.starts_with(b))
}

/// Outlook desktop's "-----Original Message-----" / "-----Opprinnelig melding-----"
/// (and Samsung's "-------- Original message --------"): Outlook writes it above a
/// quoted reply (RE:/SV:) and above a forward (FW:/VS:) alike, so it is a forward
/// banner only when the subject says forward.
fn original_message_banner(lower: &str) -> bool {
    let t = lower
        .trim()
        .trim_matches(|c: char| c == '-' || c == ' ' || c == '_');
    [
        "original message",
        "opprinnelig melding",
        "opprinneleg melding",
    ]
    .iter()
    .any(|b| t.starts_with(b))
}

/// Finds a forwarded message in `body`. Without `subject_says_forward` (VS:/FW:/Fwd:)
/// only an explicit forward banner counts; with it, Outlook's "Original Message"
/// separator, its underscore line and a bare header block count too.
pub fn find(body: &str, subject_says_forward: bool) -> Option<Forwarded> {
    let text = body.replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    let mut start = None;
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_lowercase();
        if forward_banner(&lower) || subject_says_forward && original_message_banner(&lower) {
            start = Some((i, i + 1));
            break;
        }
        if subject_says_forward && label_value(line, FROM).is_some() {
            // An Outlook block: From/Fra followed by at least one more header line.
            let more = lines
                .iter()
                .skip(i + 1)
                .take(4)
                .filter(|l| label_value(l, OTHER).is_some() || label_value(l, SUBJECT).is_some())
                .count();
            if more >= 2 {
                start = Some((i, i));
                break;
            }
        }
        if lower
            .trim_start()
            .starts_with("________________________________")
            && subject_says_forward
        {
            start = Some((i, i + 1));
            break;
        }
    }
    let (banner_at, mut j) = start?;
    // Skip blank lines between the banner and the header block.
    while lines.get(j).is_some_and(|l| l.trim().is_empty()) {
        j += 1;
    }
    let mut from = None;
    let mut subject = None;
    let mut seen = 0;
    while let Some(&line) = lines.get(j) {
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = label_value(line, FROM) {
            from = Some(v.to_string());
        } else if let Some(v) = label_value(line, SUBJECT) {
            subject = Some(v.to_string());
        } else if label_value(line, OTHER).is_none() {
            // A wrapped header value ("To: a <a@x>,\n b <b@x>") continues; anything
            // else ends the block.
            if seen == 0 {
                break;
            }
        }
        seen += 1;
        j += 1;
    }
    if from.is_none() && subject.is_none() {
        return None;
    }
    let (from_name, from_address) = match &from {
        Some(f) => {
            let address = super::rsvp::find_email(f);
            let name = f
                .split('<')
                .next()
                .map(|n| n.trim().trim_matches('"').trim().to_string())
                .filter(|n| !n.is_empty() && !n.contains('@'))
                // Outlook without an address: "Fra: Nordmann, Kari" — the name only.
                .or_else(|| (address.is_none()).then(|| f.clone()));
            (name, address)
        }
        None => (None, None),
    };
    let body: Vec<&str> = lines.get(j..).unwrap_or_default().to_vec();
    Some(Forwarded {
        from: from_address,
        from_name,
        subject,
        body: body.join("\n").trim().to_string(),
        note: lines
            .get(..banner_at)
            .unwrap_or_default()
            .join("\n")
            .trim()
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_norwegian() {
        let body = "Se under.\n\n---------- Videresendt melding ---------\nFra: Ola Hansen <ola@ahus.example>\nDate: tir. 5. jan. 2027 kl. 10:00\nSubject: SV: Innkalling\nTo: Kari <kari@regut.example>\n\n\nMå dessverre melde forfall.\n";
        let f = find(body, false).unwrap();
        assert_eq!(f.from.as_deref(), Some("ola@ahus.example"));
        assert_eq!(f.from_name.as_deref(), Some("Ola Hansen"));
        assert_eq!(f.subject.as_deref(), Some("SV: Innkalling"));
        assert_eq!(f.body, "Må dessverre melde forfall.");
        assert_eq!(f.note, "Se under.");
    }

    #[test]
    fn outlook_block_needs_a_forward_subject() {
        let body = "\n\nFra: Ola Hansen <ola@ahus.example>\nSendt: tirsdag 5. januar 2027 10:00\nTil: Kari\nEmne: SV: Innkalling\n\nJeg kommer.";
        assert!(find(body, false).is_none());
        let f = find(body, true).unwrap();
        assert_eq!(f.body, "Jeg kommer.");
    }

    #[test]
    fn outlook_original_message_is_a_quote_under_a_reply_subject() {
        let body = "Thanks, I will attend in person.\n\n-----Original Message-----\nFrom: Sekretariatet <referent@regut.example>\nSent: Tuesday, January 5, 2027 10:00 AM\nTo: Ola <ola@ahus.example>\nSubject: Innkalling\n\nKari Nordmann (kari@ous-hf.no) møter for meg.";
        assert!(find(body, false).is_none());
        let nb = body.replace(
            "-----Original Message-----",
            "-----Opprinnelig melding-----",
        );
        assert!(find(&nb, false).is_none());
        let f = find(body, true).unwrap();
        assert_eq!(f.from.as_deref(), Some("referent@regut.example"));
    }

    #[test]
    fn apple() {
        let body = "\n\nBegin forwarded message:\n\nFrom: Ola <ola@ahus.example>\nSubject: Re: Summons\nDate: 5 January 2027\nTo: Kari\n\nYes, I'll be there.";
        assert_eq!(
            find(body, false).unwrap().from.as_deref(),
            Some("ola@ahus.example")
        );
    }
}
