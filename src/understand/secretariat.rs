//! The secretariat's own kinds of mail: agenda proposals ("Forslag til sak"), minutes
//! ("Utkast til referat") and corrections to them, and a coordinator's one-word decision
//! ("godkjent" / "avvist" / "utsatt").

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
    Defer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgendaItem {
    pub title: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Correction {
    /// The agenda item it concerns, as written ("3", "3/27"), when it says.
    pub item: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub text: String,
}

/// A one-word (or nearly) decision on an approval request.
pub fn read_decision(reply_text: &str) -> Option<Decision> {
    let first = reply_text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let words: Vec<String> = first
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    // A decision is short ("Godkjent.", "Ok, godkjent", "Utsatt til neste møte") or
    // opens with the decision word ("Avvist – hører ikke hjemme i rådet").
    if words.is_empty() {
        return None;
    }
    if words.len() > 5 {
        let opening: Vec<String> = words.iter().take(1).cloned().collect();
        return read_decision(&opening.join(" "));
    }
    // "Ikke godkjent" is no approval; "Avvist – hører ikke hjemme her" is a rejection:
    // only a negation right before the decision word turns it.
    let negated = |i: usize| i > 0 && ["ikke", "ikkje", "not"].contains(&words[i - 1].as_str());
    let any = |set: &[&str]| {
        words
            .iter()
            .enumerate()
            .any(|(i, w)| set.contains(&w.as_str()) && !negated(i))
    };
    if words.iter().enumerate().any(|(i, _)| negated(i) && i < 2) {
        return None;
    }
    if any(&[
        "godkjent",
        "godkjennes",
        "godkjenner",
        "godkjend",
        "approved",
        "approve",
        "accepted",
        "innvilget",
    ]) {
        Some(Decision::Approve)
    } else if any(&[
        "avvist", "avvises", "avviser", "avslått", "rejected", "reject", "declined",
    ]) {
        Some(Decision::Reject)
    } else if any(&[
        "utsatt",
        "utsettes",
        "utset",
        "deferred",
        "defer",
        "postponed",
        "postpone",
    ]) {
        Some(Decision::Defer)
    } else {
        None
    }
}

const AGENDA_PREFIXES: &[&str] = &[
    "forslag til sak",
    "forslag til ny sak",
    "sak til neste møte",
    "sak til møtet",
    "ny sak",
    "innspill til sak",
    "framlegg til sak",
    "proposed agenda item",
    "agenda item",
    "proposal for the agenda",
    "item for the agenda",
];

/// "Forslag til sak: Felles kurs i akuttmedisin" → the title.
pub fn read_agenda_request(subject: &str, reply_text: &str) -> Option<AgendaItem> {
    let s = super::strip_subject_prefixes(subject);
    let lower = s.to_lowercase();
    for p in AGENDA_PREFIXES {
        if let Some(rest) = lower.strip_prefix(p) {
            let title = s
                .get(s.len() - rest.len()..)
                .unwrap_or("")
                .trim_start_matches([':', '-', '–', ' '])
                .trim();
            let title = if title.is_empty() {
                reply_text
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("")
                    .to_string()
            } else {
                title.to_string()
            };
            return Some(AgendaItem {
                title,
                description: reply_text.trim().to_string(),
            });
        }
    }
    // The body may open with it instead: "Forslag til sak: …".
    let first = reply_text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let lower = first.to_lowercase();
    for p in AGENDA_PREFIXES.iter().take(3) {
        if let Some(rest) = lower.strip_prefix(p) {
            let title = first
                .get(first.len() - rest.len()..)
                .unwrap_or("")
                .trim_start_matches([':', '-', ' '])
                .trim();
            if !title.is_empty() {
                let description = reply_text
                    .trim()
                    .split_once('\n')
                    .map(|(_, rest)| rest)
                    .unwrap_or("")
                    .trim()
                    .to_string();
                return Some(AgendaItem {
                    title: title.to_string(),
                    description,
                });
            }
        }
    }
    None
}

/// Whether a subject names minutes ("Referat …", "Utkast til referat …", "Minutes …").
pub fn is_minutes_subject(subject: &str) -> bool {
    let s = super::strip_subject_prefixes(subject).to_lowercase();
    [
        "utkast til referat",
        "referat",
        "draft minutes",
        "minutes",
        "protokoll",
        "møtereferat",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

const NO_REMARKS: &[&str] = &[
    "ingen merknader",
    "ingen merknad",
    "ingen kommentarer",
    "ingen innvendinger",
    "ingen rettelser",
    "ingen endringer",
    "ingen korreksjoner",
    "ingen merknadar",
    "ikke noe å bemerke",
    "ikkje noko å merke",
    "ser bra ut",
    "ser fint ut",
    "no remarks",
    "no comments",
    "no corrections",
    "no changes",
    "looks good",
    "looks fine",
];

/// Corrections to minutes from what a person wrote. "Ingen merknader" gives none.
pub fn read_corrections(reply_text: &str) -> Vec<Correction> {
    let text = reply_text.trim();
    let lower = text.to_lowercase();
    if text.is_empty()
        || NO_REMARKS
            .iter()
            .any(|n| lower.starts_with(n) || lower == *n)
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let plower = para.to_lowercase();
        // Greetings and thanks are not corrections.
        if para.lines().count() == 1
            && para.len() < 40
            && !plower.contains("sak")
            && !plower.contains("item")
        {
            let greeting = ["hei", "hallo", "takk", "thanks", "hi", "dear", "kjære"]
                .iter()
                .any(|g| plower.starts_with(g));
            if greeting {
                continue;
            }
        }
        let (before, after) = before_after(para);
        out.push(Correction {
            item: item_reference(&plower),
            before,
            after,
            text: para.to_string(),
        });
    }
    out
}

/// Edits made inside the quoted minutes: a quoted line followed by the writer's own
/// version of it ("> Rådet vedtok fem kurs." / "Rådet vedtok seks kurs.") becomes a
/// before/after pair. The item is the last "Sak N/YY" heading seen in the quote.
pub fn read_inline_edits(body: &str) -> Vec<Correction> {
    let lines: Vec<&str> = body.lines().collect();
    let mut out = Vec::new();
    let mut item: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let Some(quoted) = lines[i].trim_start().strip_prefix('>') else {
            i += 1;
            continue;
        };
        let quoted = quoted.trim_start_matches('>').trim();
        if let Some(found) = item_reference(&quoted.to_lowercase()) {
            item = Some(found);
        }
        // The writer's version follows, maybe after blank lines.
        let mut j = i + 1;
        while j < lines.len() && lines[j].trim().is_empty() {
            j += 1;
        }
        if j < lines.len() && !lines[j].trim_start().starts_with('>') && !quoted.is_empty() {
            let own = lines[j].trim();
            if own != quoted && similar(quoted, own) {
                out.push(Correction {
                    item: item_reference(&own.to_lowercase()).or_else(|| item.clone()),
                    before: Some(quoted.to_string()),
                    after: Some(own.to_string()),
                    text: own.to_string(),
                });
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Whether two lines are versions of each other: what they share at the start and the
/// end covers at least half of the longer one.
fn similar(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let longest = a.len().max(b.len());
    longest >= 8 && (prefix + suffix) * 2 >= longest
}

/// "sak 3", "sak 3/27", "item 4" → "3", "3/27", "4".
fn item_reference(lower: &str) -> Option<String> {
    for key in [
        "sak ",
        "sak nr. ",
        "sak nr ",
        "saksnr. ",
        "item ",
        "agenda item ",
    ] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(key) {
            let start = from + pos + key.len();
            let number: String = lower[start..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '/')
                .collect();
            let number = number.trim_end_matches('/');
            if number.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                return Some(number.to_string());
            }
            from = start;
        }
    }
    None
}

/// "står det «X», skal stå «Y»" / "endre «X» til «Y»" / "change "X" to "Y"".
fn before_after(para: &str) -> (Option<String>, Option<String>) {
    let quoted: Vec<String> = quoted_strings(para);
    let lower = para.to_lowercase();
    let has_change = [
        "skal stå",
        "skal det stå",
        "skal vere",
        "skal være",
        "endre",
        "endres",
        "rettes til",
        "erstatt",
        "change",
        "replace",
        "should read",
        "should be",
    ]
    .iter()
    .any(|k| lower.contains(k));
    if quoted.len() >= 2 && has_change {
        return (Some(quoted[0].clone()), Some(quoted[1].clone()));
    }
    if quoted.len() == 1 && has_change {
        return (None, Some(quoted[0].clone()));
    }
    (None, None)
}

fn quoted_strings(text: &str) -> Vec<String> {
    let pairs = [('«', '»'), ('"', '"'), ('“', '”'), ('\'', '\''), ('„', '“')];
    let mut out = Vec::new();
    for (open, close) in pairs {
        let mut rest = text;
        while let Some(s) = rest.find(open) {
            let after = &rest[s + open.len_utf8()..];
            match after.find(close) {
                Some(e) if e > 0 => {
                    out.push(after[..e].to_string());
                    rest = &after[e + close.len_utf8()..];
                }
                _ => break,
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        assert_eq!(
            read_decision("Godkjent.\n\nMvh Kari"),
            Some(Decision::Approve)
        );
        assert_eq!(read_decision("Avvist"), Some(Decision::Reject));
        assert_eq!(
            read_decision("Utsatt til neste møte"),
            Some(Decision::Defer)
        );
        assert_eq!(read_decision("Ikke godkjent"), None);
        assert_eq!(
            read_decision("Jeg har godkjent dette tidligere, men lurer på en ting her"),
            None
        );
    }

    #[test]
    fn agenda() {
        let a = read_agenda_request(
            "Forslag til sak: Felles kurs i akuttmedisin",
            "Vi foreslår …",
        )
        .unwrap();
        assert_eq!(a.title, "Felles kurs i akuttmedisin");
        let b = read_agenda_request("SV: Innkalling", "Forslag til sak: Veiledning\nMer tekst")
            .unwrap();
        assert_eq!(b.title, "Veiledning");
        assert_eq!(b.description, "Mer tekst");
    }

    #[test]
    fn corrections() {
        assert!(read_corrections("Ingen merknader.").is_empty());
        let c = read_corrections("Hei\n\nUnder sak 3/27 står det «fem», det skal stå «seks».\n\nSak 4: navnet mitt er feilstavet.");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].item.as_deref(), Some("3/27"));
        assert_eq!(c[0].before.as_deref(), Some("fem"));
        assert_eq!(c[0].after.as_deref(), Some("seks"));
        assert_eq!(c[1].item.as_deref(), Some("4"));
    }

    #[test]
    fn inline_edits() {
        let body = "Se mine rettelser i teksten.\n\n> Sak 3/27 Kurs i akuttmedisin\n> Rådet vedtok fem kurs i 2027.\nRådet vedtok seks kurs i 2027.\n> Ansvar: RegUt.\n";
        let c = read_inline_edits(body);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].item.as_deref(), Some("3/27"));
        assert_eq!(
            c[0].before.as_deref(),
            Some("Rådet vedtok fem kurs i 2027.")
        );
        assert_eq!(
            c[0].after.as_deref(),
            Some("Rådet vedtok seks kurs i 2027.")
        );
        assert!(read_inline_edits("> Hei\nJa, jeg kommer.\n").is_empty());
    }
}
