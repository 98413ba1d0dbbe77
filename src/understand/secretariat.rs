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
    let negated = |i: usize| {
        i > 0
            && words
                .get(i - 1)
                .is_some_and(|w| ["ikke", "ikkje", "not"].contains(&w.as_str()))
    };
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
    } else if any(REJECT_WORDS) {
        Some(Decision::Reject)
    } else if any(&[
        "utsatt",
        "utsettes",
        "utset",
        "utsett",
        "utsette",
        "utsetjast",
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

/// The words that reject, as [`read_decision`] reads them.
const REJECT_WORDS: &[&str] = &[
    "avvist", "avvises", "avviser", "avslått", "rejected", "reject", "declined",
];

/// The reason a coordinator gives with a rejection, for the proposer: what follows the
/// decision word on its line ("Avvist – hører ikke hjemme i rådet", "avvist: se
/// HF-ets retningslinjer") and the lines after it. `None` when the reply is no
/// rejection or says nothing more. The reply text comes without quotes and signature;
/// a reason is capped at 1,000 characters.
pub fn rejection_reason(reply_text: &str) -> Option<String> {
    if read_decision(reply_text) != Some(Decision::Reject) {
        return None;
    }
    let text = reply_text.trim_start();
    let first_end = text.find('\n').unwrap_or(text.len());
    let first = text.get(..first_end).unwrap_or(text);
    // The end of the first rejection word on the first line.
    let mut after = None;
    let mut start = None;
    for (i, c) in first
        .char_indices()
        .chain(std::iter::once((first.len(), ' ')))
    {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let word = first.get(s..i).unwrap_or_default().to_lowercase();
                start = None;
                if REJECT_WORDS.contains(&word.as_str()) {
                    after = Some(i);
                    break;
                }
            }
            _ => {}
        }
    }
    let rest = text.get(after?..).unwrap_or_default();
    let reason: String = rest
        .trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, ':' | '.' | ',' | ';' | '-' | '–' | '—' | '!')
        })
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    let reason = reason.trim();
    if reason.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
        return None;
    }
    Some(match reason.char_indices().nth(1000) {
        Some((cut, _)) => format!("{}…", reason.get(..cut).unwrap_or(reason).trim_end()),
        None => reason.to_string(),
    })
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
            // "Forslag til saker" (the call's own subject) is not "Forslag til sak".
            if rest.chars().next().is_some_and(char::is_alphanumeric) {
                continue;
            }
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
            // A title is a line on the agenda: as the reply to the call, 200 characters.
            let title: String = title.chars().take(200).collect();
            // A body that repeats the subject on its first line ("Forslag til sak: X",
            // or just "X") says it once: the title is not part of the description.
            let text = reply_text.trim();
            let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
            let first_title = AGENDA_PREFIXES
                .iter()
                .find_map(|p| {
                    first
                        .trim()
                        .get(..p.len())
                        .filter(|h| h.eq_ignore_ascii_case(p))
                        .and_then(|_| first.trim().get(p.len()..))
                })
                .unwrap_or(first)
                .trim_start_matches([':', '-', '–', ' '])
                .trim();
            let description = if first_title.eq_ignore_ascii_case(&title) {
                rest.trim().to_string()
            } else {
                text.to_string()
            };
            return Some(AgendaItem { title, description });
        }
    }
    // A reply to the call for items ("SV: Forslag til saker: …"): the call asks for
    // the title on the first line and the background below it.
    let replied = s.len() < subject.trim().len();
    if replied
        && ["forslag til saker", "framlegg til saker", "agenda items"]
            .iter()
            .any(|c| lower.starts_with(c))
    {
        let text = reply_text.trim();
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        let title: String = first
            .trim()
            .trim_start_matches("Forslag til sak:")
            .trim()
            .chars()
            .take(200)
            .collect();
        if !title.is_empty() {
            return Some(AgendaItem {
                title,
                description: rest.trim().to_string(),
            });
        }
    }
    // The body may open with it instead: "Forslag til sak: …".
    let first = reply_text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let lower = first.to_lowercase();
    for p in AGENDA_PREFIXES.iter().take(3) {
        if let Some(rest) = lower.strip_prefix(p) {
            if rest.chars().next().is_some_and(char::is_alphanumeric) {
                continue;
            }
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
    "ingen merknad",
    "ikke noe å bemerke",
    "ikkje noko å merke",
    "ser bra ut",
    "ser fint ut",
    "no remarks",
    "no comments",
    "no corrections",
    "no changes",
    "nothing to add",
    "looks good",
    "looks fine",
];

/// Lines that open or close a mail, thank, or approve the rest: never a correction.
fn is_pleasantry(line: &str) -> bool {
    let l = line
        .trim()
        .trim_end_matches(['.', '!', ',', ':'])
        .to_lowercase();
    if l.is_empty() {
        return true;
    }
    let words: Vec<&str> = l.split_whitespace().collect();
    let first = words.first().copied().unwrap_or("");
    const OPENERS: &[&str] = &[
        "hei", "hallo", "heisann", "hi", "hello", "dear", "kjære", "god", "takk", "tusen",
        "thanks", "thank",
    ];
    if words.len() <= 4 && OPENERS.contains(&first) {
        return true;
    }
    const APPROVALS: &[&str] = &[
        "ellers ser det fint ut",
        "ellers ser det bra ut",
        "ellers ser alt fint ut",
        "ellers ser alt bra ut",
        "ellers fint",
        "ellers bra",
        "ellers ok",
        "ellers greitt",
        "elles fint",
        "elles ser det fint ut",
        "elles ser det bra ut",
        "resten ser fint ut",
        "resten ser bra ut",
        "otherwise it looks good",
        "otherwise it looks fine",
        "otherwise looks good",
        "otherwise fine",
        "otherwise ok",
        "the rest looks good",
        "takk for referatet",
        "takk for eit godt referat",
        "takk for et godt referat",
        "thanks for the minutes",
    ];
    APPROVALS.iter().any(|a| l.starts_with(a))
}

/// A sign-off ("Mvh Ola", "Vennlig hilsen", "Regards"): it and what follows it are the
/// signature.
fn is_sign_off(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    [
        "mvh",
        "m.v.h",
        "med vennlig hilsen",
        "vennlig hilsen",
        "venleg helsing",
        "beste hilsen",
        "hilsen",
        "helsing",
        "hilsn",
        "regards",
        "best regards",
        "kind regards",
        "best wishes",
        "cheers",
        "br,",
        "--",
    ]
    .iter()
    .any(|s| l == *s || l.starts_with(&format!("{s} ")) || l.starts_with(&format!("{s},")))
}

/// A line with a name alone ("Ola", "Kari Nordmann"): a signature without a sign-off.
fn is_name_only(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    !words.is_empty()
        && words.len() <= 3
        && words.iter().all(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                && w.chars().all(|c| c.is_alphabetic() || c == '-' || c == '.')
        })
}

/// Corrections to minutes from what a person wrote. "Ingen merknader" gives none;
/// greetings, thanks, signatures and "ellers ser det fint ut" are left out. Each
/// correction keeps the agenda item it names ("Under sak 3/27 …", "Sak 3:"), or the
/// one a heading line above it named.
pub fn read_corrections(reply_text: &str) -> Vec<Correction> {
    let text = reply_text.trim();
    // The writer's own lines, without pleasantries and the signature.
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines() {
        if is_sign_off(line) {
            break;
        }
        if is_pleasantry(line) && !line.trim().is_empty() {
            continue;
        }
        lines.push(line);
    }
    while lines
        .last()
        .is_some_and(|l| l.trim().is_empty() || is_name_only(l.trim()))
    {
        lines.pop();
    }
    let first = lines
        .iter()
        .map(|l| l.trim().to_lowercase())
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    if first.is_empty() || NO_REMARKS.iter().any(|n| first.starts_with(n)) {
        return Vec::new();
    }
    // Units: paragraphs, or the lines of a paragraph that each name an item or are
    // bullets ("Sak 2: …\nSak 5: …").
    let mut units: Vec<String> = Vec::new();
    for para in lines.join("\n").split("\n\n") {
        let plines: Vec<&str> = para
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let starts_unit = |l: &str| {
            let lower = l.to_lowercase();
            lower.starts_with("sak ")
                || lower.starts_with("under sak")
                || lower.starts_with("item ")
                || lower.starts_with("agenda item")
                || l.starts_with(['-', '*', '•'])
        };
        if plines.len() > 1 && plines.iter().filter(|l| starts_unit(l)).count() >= 2 {
            let mut current = String::new();
            for l in plines {
                if starts_unit(l) && !current.is_empty() {
                    units.push(std::mem::take(&mut current));
                }
                if !current.is_empty() {
                    current.push('\n');
                }
                current.push_str(l.trim_start_matches(['-', '*', '•']).trim());
            }
            units.push(current);
        } else if !plines.is_empty() {
            units.push(plines.join("\n"));
        }
    }
    let mut out = Vec::new();
    let mut heading_item: Option<String> = None;
    for unit in units {
        let lower = unit.to_lowercase();
        let item = item_reference(&lower);
        // "Sak 3:" alone: the item for what follows.
        let rest_after_heading = unit
            .split_once(':')
            .map(|(_, r)| r.trim())
            .unwrap_or(unit.trim());
        if item.is_some() && (rest_after_heading.is_empty() || unit.trim().len() <= 12) {
            heading_item = item;
            continue;
        }
        let (before, after) = before_after(&unit);
        out.push(Correction {
            item: item.or_else(|| heading_item.clone()),
            before,
            after,
            text: unit,
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
    while let Some(line) = lines.get(i) {
        let Some(quoted) = line.trim_start().strip_prefix('>') else {
            i += 1;
            continue;
        };
        let quoted = quoted.trim_start_matches('>').trim();
        if let Some(found) = item_reference(&quoted.to_lowercase()) {
            item = Some(found);
        }
        // The writer's version follows, maybe after blank lines.
        let mut j = i + 1;
        while lines.get(j).is_some_and(|l| l.trim().is_empty()) {
            j += 1;
        }
        let next = lines.get(j).filter(|l| !l.trim_start().starts_with('>'));
        if let (Some(next), false) = (next, quoted.is_empty()) {
            let own = next.trim();
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

/// Edits made inside the quoted draft, found by comparing the quote with the draft
/// itself: every quoted line that is a changed version of a draft line becomes a
/// before/after pair, with the agenda item whose heading ("Sak 3/27 …") last came
/// above that line in the draft.
///
/// Outlook quotes without `>` markers, below `-----Opprinnelig melding-----` /
/// `-----Original Message-----` or a `Fra:/Sendt:/Til:/Emne:` (`From:/Sent:/To:/
/// Subject:`) header block, so the edits can only be told from the draft by comparing;
/// Gmail and Apple Mail quote with `>` and are read the same way (markers ignored).
///
/// How the daemon calls it: for a message understood as `Kind::MinutesCorrection`, take
/// `Understanding::minutes_reply_body` (the whole text body, quote included) and the
/// text of the minutes version the reply answers (the draft as sent, found through the
/// thread), and call `inline_edits_against(body, &draft_text)`. When the result is not
/// empty, use it in place of the free-text corrections that have neither an item nor a
/// `before` (those only introduce the edits: "se rettelser i teksten"), as `classify`
/// does with `read_inline_edits`.
pub fn inline_edits_against(reply_body: &str, draft: &str) -> Vec<Correction> {
    let norm = |l: &str| -> String {
        l.trim_start()
            .trim_start_matches(|c: char| c == '>' || c.is_whitespace())
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Draft lines with the item each falls under.
    let mut draft_lines: Vec<(String, Option<String>)> = Vec::new();
    let mut item = None;
    for l in draft.lines() {
        let n = norm(l);
        if n.is_empty() {
            continue;
        }
        if let Some(found) = heading_item(&n) {
            item = Some(found);
        }
        draft_lines.push((n, item.clone()));
    }
    let quoted = quoted_part(reply_body);
    let quoted: Vec<String> = quoted
        .iter()
        .map(|l| norm(l))
        .filter(|l| !l.is_empty())
        .collect();
    let in_quote: std::collections::HashSet<&str> = quoted.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    let mut cursor = 0;
    for q in &quoted {
        let rest = draft_lines.get(cursor..).unwrap_or(&[]);
        if let Some(k) = rest.iter().position(|(d, _)| d == q) {
            cursor += k + 1;
            continue;
        }
        // A changed line: the next draft line like it that the quote no longer has.
        let found = rest
            .iter()
            .position(|(d, _)| !in_quote.contains(d.as_str()) && similar(d, q));
        if let Some(k) = found {
            if let Some((d, item)) = rest.get(k) {
                out.push(Correction {
                    item: item.clone(),
                    before: Some(d.clone()),
                    after: Some(q.clone()),
                    text: q.clone(),
                });
            }
            cursor += k + 1;
        }
    }
    out
}

/// The item a draft heading names: "Sak 3/27 Kurs i akuttmedisin", "3/27 Kurs …".
fn heading_item(line: &str) -> Option<String> {
    let lower = line.to_lowercase();
    if lower.starts_with("sak") || lower.starts_with("item") || lower.starts_with("agenda item") {
        return item_reference(&lower);
    }
    let number: String = line
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '/')
        .collect();
    (number.contains('/') && number.len() >= 3).then(|| number.trim_end_matches('/').to_string())
}

/// The quoted part of a reply: below Outlook's separator or header block when there is
/// one (its header lines skipped), else the `>` lines.
fn quoted_part(body: &str) -> Vec<&str> {
    let lines: Vec<&str> = body.lines().collect();
    let is_header = |l: &str, names: &[&str]| {
        let t = l.trim_start_matches(['>', ' ', '*']).to_lowercase();
        names.iter().any(|n| t.starts_with(n))
    };
    const FROM: &[&str] = &["fra:", "from:", "frå:"];
    const SENT: &[&str] = &["sendt:", "sent:", "date:", "dato:"];
    let start = lines.iter().enumerate().find_map(|(i, l)| {
        let t = l.trim().trim_start_matches(['>', ' ']).to_lowercase();
        if t.starts_with("-----") && (t.contains("opprinnelig") || t.contains("original")) {
            return Some(i + 1);
        }
        // "Fra: …" with "Sendt: …" among the next lines.
        if is_header(l, FROM) && lines.iter().skip(i + 1).take(3).any(|n| is_header(n, SENT)) {
            return Some(i);
        }
        None
    });
    match start {
        Some(s) => {
            let mut rest: Vec<&str> = lines.get(s..).unwrap_or(&[]).to_vec();
            // Skip the header block: up to the first blank line.
            if let Some(blank) = rest
                .iter()
                .position(|l| l.trim_start_matches(['>', ' ']).trim().is_empty())
            {
                rest.drain(..blank);
            }
            rest
        }
        None => lines
            .into_iter()
            .filter(|l| l.trim_start().starts_with('>'))
            .collect(),
    }
}

/// Whether two lines are versions of each other: what they share at the start and the
/// end covers at least half of the longer one.
fn similar(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a
        .get(prefix..)
        .unwrap_or_default()
        .iter()
        .rev()
        .zip(b.get(prefix..).unwrap_or_default().iter().rev())
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

/// Phrases after which the new wording follows, each with the words that must also be in
/// the sentence for it to count (" til " only after "endre": "endre «B» til «A»").
const AFTER_MARKERS: &[(&str, &[&str])] = &[
    ("skal det stå", &[]),
    ("det skal stå", &[]),
    ("skal stå", &[]),
    ("skulle stått", &[]),
    ("bør det stå", &[]),
    ("bør stå", &[]),
    ("skal det være", &[]),
    ("skal det vere", &[]),
    ("skal være", &[]),
    ("skal vere", &[]),
    ("endres til", &[]),
    ("endrast til", &[]),
    ("rettes til", &[]),
    ("rettast til", &[]),
    (" til ", &["endre", "rett ", "bytt"]),
    (" med ", &["erstatt", "bytt ut"]),
    ("should say", &[]),
    ("should read", &[]),
    ("should be", &[]),
    ("should state", &[]),
    (" to ", &["change", "correct"]),
    (" with ", &["replace"]),
];

/// Where the text now in the draft is named after the new wording ("…, ikke B").
const NEGATIONS: &[&str] = &[
    ", og ikke ",
    " og ikke ",
    ", ikke ",
    " ikke ",
    ", og ikkje ",
    " og ikkje ",
    ", ikkje ",
    " ikkje ",
    ", and not ",
    ", not ",
    " not ",
    " rather than ",
    " i stedet for ",
    " i staden for ",
    " istedenfor ",
    " istadenfor ",
    " instead of ",
];

/// Phrases that name the draft's text before the new wording ("i stedet for B …").
const INSTEAD_OF: &[&str] = &[
    "i stedet for",
    "i staden for",
    "istedenfor",
    "istadenfor",
    "instead of",
    "står det",
    "står det nå",
    "it says",
    "it currently says",
];

/// The verbs that name the draft's text right after them ("endre B til A").
const CHANGE_VERBS: &[&str] = &[
    "endre", "rett", "bytt ut", "bytt", "erstatt", "change", "correct", "replace",
];

/// The text now in the draft (`before`) and what it should say (`after`), read the
/// right way round whatever the phrasing: "skal det stå «A», ikke «B»", "i stedet for
/// B skal det stå A", "B skal være A", "endre B til A", "A skal endres til B" (B is the
/// new text there), Nynorsk "skal det stå A, ikkje B", English "it should say A, not
/// B", "change B to A", "replace B with A", "instead of B it should read A".
fn before_after(para: &str) -> (Option<String>, Option<String>) {
    // ASCII lowercasing keeps every byte offset, so positions found in `lower` are
    // positions in `para` (a full lowercase would not: `İ` grows).
    let lower = para.to_ascii_lowercase();
    let quoted = quoted_spans(para);
    let marker = AFTER_MARKERS
        .iter()
        .filter(|(_, gate)| gate.is_empty() || gate.iter().any(|g| lower.contains(g)))
        .filter_map(|(m, _)| lower.find(m).map(|p| (p, p + m.len(), *m)))
        .min_by_key(|(p, _, _)| *p);
    let Some((m_start, m_end, m)) = marker else {
        return (None, None);
    };
    // The new wording: the first quotation after the marker, else the words after it.
    let after_quote = quoted.iter().position(|(s, _, _)| *s >= m_end);
    let mut after = after_quote
        .and_then(|i| quoted.get(i))
        .map(|(_, _, t)| t.clone());
    let mut before = quoted
        .iter()
        .enumerate()
        .find(|(i, _)| Some(*i) != after_quote)
        .map(|(_, (_, _, t))| t.clone());
    if after.is_some() && before.is_some() {
        return (before, after);
    }
    // Plain words: "skal det stå seks kurs, ikke fem kurs."
    let tail = para.get(m_end..).unwrap_or("");
    let tail_lower = lower.get(m_end..).unwrap_or("");
    let end = sentence_end(tail);
    let negation = NEGATIONS
        .iter()
        .filter_map(|n| {
            tail_lower
                .get(..end)
                .and_then(|t| t.find(n))
                .map(|p| (p, n.len()))
        })
        .min_by_key(|(p, _)| *p);
    if after.is_none() {
        let cut = negation.map(|(p, _)| p).unwrap_or(end);
        after = clean(tail.get(..cut).unwrap_or(""));
    }
    if before.is_none() {
        if let Some((p, n)) = negation {
            before = clean(tail.get(p + n..end).unwrap_or(""));
        }
    }
    if before.is_none() {
        let head_lower = lower.get(..m_start).unwrap_or("");
        let from = INSTEAD_OF
            .iter()
            .filter_map(|w| head_lower.rfind(w).map(|p| p + w.len()))
            .max()
            .or_else(|| {
                if m.starts_with(' ') {
                    CHANGE_VERBS
                        .iter()
                        .filter_map(|v| head_lower.rfind(v).map(|p| p + v.len()))
                        .max()
                        .map(|p| {
                            // Past the rest of the verb ("endres", "changed").
                            p + head_lower.get(p..).unwrap_or("").find(' ').unwrap_or(0)
                        })
                } else {
                    // "B skal være A": from the start of the clause.
                    head_lower
                        .rfind([':', '.', '\n', ';'])
                        .map(|p| p + 1)
                        .or(Some(0))
                }
            });
        if let Some(from) = from {
            let mut b = para.get(from..m_start).unwrap_or("").trim();
            // "instead of B it should read A", "i stedet for B, det skal stå A".
            for tail in [" it", " det", ",", " så"] {
                b = b.strip_suffix(tail).unwrap_or(b).trim();
            }
            before = clean(strip_item_lead(b));
        }
    }
    (before, after)
}

/// Where the sentence ends: a full stop followed by a space or the end, a line break.
fn sentence_end(text: &str) -> usize {
    let mut end = text.len();
    for (i, c) in text.char_indices() {
        if c == '\n' || c == ';' {
            end = i;
            break;
        }
        if c == '.' {
            let next = text.get(i + 1..).and_then(|r| r.chars().next());
            if next.is_none_or(char::is_whitespace) {
                end = i;
                break;
            }
        }
    }
    end
}

/// "under sak 3/27 fem" → "fem": an item reference opening a clause is not draft text.
fn strip_item_lead(text: &str) -> &str {
    let lower = text.to_ascii_lowercase();
    for lead in [
        "under sak ",
        "i sak ",
        "sak ",
        "in item ",
        "under item ",
        "item ",
    ] {
        if lower.starts_with(lead) {
            let rest = text.get(lead.len()..).unwrap_or("");
            let skip = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '/'))
                .unwrap_or(rest.len());
            return rest
                .get(skip..)
                .unwrap_or("")
                .trim_start_matches([':', ','])
                .trim();
        }
    }
    text
}

fn clean(text: &str) -> Option<String> {
    let t = text
        .trim()
        .trim_matches(|c: char| c.is_whitespace() || "«»\"“”„'‘’,.:;".contains(c))
        .trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Quoted passages with where they start and end in `text`: «…», "…", “…”, „…“, '…'
/// (the first kind that occurs).
fn quoted_spans(text: &str) -> Vec<(usize, usize, String)> {
    let pairs = [('«', '»'), ('"', '"'), ('“', '”'), ('„', '“'), ('\'', '\'')];
    let mut out = Vec::new();
    for (open, close) in pairs {
        let mut at = 0;
        while let Some(s) = text.get(at..).and_then(|r| r.find(open)) {
            let start = at + s + open.len_utf8();
            let Some(e) = text.get(start..).and_then(|r| r.find(close)) else {
                break;
            };
            if e > 0 {
                out.push((
                    start,
                    start + e,
                    text.get(start..start + e).unwrap_or("").to_string(),
                ));
            }
            at = start + e + close.len_utf8();
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
    fn a_title_repeated_on_the_first_line_is_said_once() {
        let a = read_agenda_request(
            "Forslag til sak: Nasjonale kompetansemål",
            "Forslag til sak: Nasjonale kompetansemål\nDirektoratet vil orientere.",
        )
        .unwrap();
        assert_eq!(a.title, "Nasjonale kompetansemål");
        assert_eq!(a.description, "Direktoratet vil orientere.");
        let b = read_agenda_request(
            "Forslag til sak: Parkering",
            "parkering\nDet er for få plasser.",
        )
        .unwrap();
        assert_eq!(b.description, "Det er for få plasser.");
        let c =
            read_agenda_request("Forslag til sak: Parkering", "Det er for få plasser.").unwrap();
        assert_eq!(c.description, "Det er for få plasser.");
    }

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
            rejection_reason("Avvist – hører ikke hjemme i rådet"),
            Some("hører ikke hjemme i rådet".into())
        );
        assert_eq!(
            rejection_reason("avvist: se HF-ets retningslinjer.\n\nDette tas i linjen."),
            Some("se HF-ets retningslinjer.\n\nDette tas i linjen.".into())
        );
        assert_eq!(
            rejection_reason("Avvist.\n\nRejected because it is a matter for the trust."),
            Some("Rejected because it is a matter for the trust.".into())
        );
        assert_eq!(rejection_reason("Avvist."), None);
        assert_eq!(rejection_reason("Godkjent, fint forslag"), None);
        assert_eq!(rejection_reason("Utsatt til neste møte"), None);
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

    fn pair(text: &str) -> (Option<String>, Option<String>) {
        let c = read_corrections(text);
        assert_eq!(c.len(), 1, "{text}: {c:?}");
        let c = c.into_iter().next().unwrap();
        (c.before, c.after)
    }

    fn ba(before: &str, after: &str) -> (Option<String>, Option<String>) {
        (Some(before.to_string()), Some(after.to_string()))
    }

    #[test]
    fn corrections_read_the_right_way_round_bokmaal() {
        assert_eq!(
            pair("Under sak 3/27 skal det stå «seks kurs», ikke «fem kurs»."),
            ba("fem kurs", "seks kurs")
        );
        assert_eq!(
            pair("Skal det stå seks kurs, ikke fem kurs."),
            ba("fem kurs", "seks kurs")
        );
        assert_eq!(
            pair("«fem kurs» skal endres til «seks kurs»."),
            ba("fem kurs", "seks kurs")
        );
        assert_eq!(
            pair("I stedet for «fem kurs» skal det stå «seks kurs»."),
            ba("fem kurs", "seks kurs")
        );
        assert_eq!(
            pair("i stedet for fem kurs skal det stå seks kurs"),
            ba("fem kurs", "seks kurs")
        );
        assert_eq!(
            pair("Sak 4: «Sykehuset Østfold» skal være «Sykehuset Innlandet»."),
            ba("Sykehuset Østfold", "Sykehuset Innlandet")
        );
        assert_eq!(
            pair("Sak 4: Sykehuset Østfold skal være Sykehuset Innlandet."),
            ba("Sykehuset Østfold", "Sykehuset Innlandet")
        );
        assert_eq!(
            pair("Endre «fem» til «seks» under sak 3."),
            ba("fem", "seks")
        );
        assert_eq!(pair("Endre fem til seks."), ba("fem", "seks"));
        assert_eq!(
            pair("Under sak 3/27 står det «fem kurs», det skal stå «seks kurs»."),
            ba("fem kurs", "seks kurs")
        );
    }

    #[test]
    fn corrections_read_the_right_way_round_nynorsk() {
        assert_eq!(
            pair("Under sak 4 skal det stå «Sjukehuset Innlandet» og ikkje «Sykehuset Innlandet»."),
            ba("Sykehuset Innlandet", "Sjukehuset Innlandet")
        );
        assert_eq!(
            pair("Skal det stå seks kurs, ikkje fem kurs."),
            ba("fem kurs", "seks kurs")
        );
        assert_eq!(
            pair("I staden for «fem» skal det stå «seks»."),
            ba("fem", "seks")
        );
        assert_eq!(pair("«fem» skal vere «seks»."), ba("fem", "seks"));
    }

    #[test]
    fn corrections_read_the_right_way_round_english() {
        assert_eq!(
            pair("Item 3: it should say \"six courses\", not \"five courses\"."),
            ba("five courses", "six courses")
        );
        assert_eq!(
            pair("It should say six courses, not five courses."),
            ba("five courses", "six courses")
        );
        assert_eq!(
            pair("Please change \"five\" to \"six\"."),
            ba("five", "six")
        );
        assert_eq!(pair("Change five to six."), ba("five", "six"));
        assert_eq!(
            pair("Replace \"Oslo\" with \"Bergen\"."),
            ba("Oslo", "Bergen")
        );
        assert_eq!(pair("Replace Oslo with Bergen."), ba("Oslo", "Bergen"));
        assert_eq!(
            pair("Instead of \"five\" it should read \"six\"."),
            ba("five", "six")
        );
        assert_eq!(
            pair("Instead of five it should read six."),
            ba("five", "six")
        );
    }

    #[test]
    fn pleasantries_are_not_corrections() {
        assert!(read_corrections("Ingen merknader.\n\nMvh Ola").is_empty());
        assert!(read_corrections("Hei!\n\nIngen merknader fra meg.\n\nOla").is_empty());
        assert!(read_corrections("No remarks.\n\nRegards,\nJohn").is_empty());
        assert!(read_corrections("Takk for referatet. Ellers ser det fint ut.\n\nOla").is_empty());
        let c = read_corrections(
            "Hei\n\nSak 3: «fem» skal være «seks».\n\nEllers ser det fint ut.\n\nMvh Ola\nOverlege",
        );
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].item.as_deref(), Some("3"));
        let c = read_corrections("Hi,\n\nItem 2: change \"Oslo\" to \"Bergen\".\n\nOtherwise it looks good.\n\nThanks\nJohn Smith");
        assert_eq!(c.len(), 1, "{c:?}");
        let c = read_corrections("Hei\n\nSak 2: Jeg var til stede.\n\nellers fint\n\nOla");
        assert_eq!(c.len(), 1, "{c:?}");
    }

    #[test]
    fn the_item_is_kept() {
        let c =
            read_corrections("Sak 3:\nEndre «fem» til «seks».\n\nSak 5/27: navnet er feilstavet.");
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].item.as_deref(), Some("3"));
        assert_eq!(c[0].after.as_deref(), Some("seks"));
        assert_eq!(c[1].item.as_deref(), Some("5/27"));
        let c = read_corrections("Sak 2: Jeg var til stede.\nSak 4: «fem» skal være «seks».");
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[1].item.as_deref(), Some("4"));
    }

    const DRAFT: &str = "Referat fra møte i Utdanningsrådet 12. januar 2027\n\nSak 1/27 Godkjenning av innkalling\nInnkallingen ble godkjent.\n\nSak 3/27 Kurs i akuttmedisin\nRådet vedtok fem kurs i 2027.\nAnsvar: RegUt.\n";

    #[test]
    fn outlook_edits_without_markers_are_found_against_the_draft() {
        let body = "Se rettelser i teksten.\n\nMvh Kari\n\n-----Opprinnelig melding-----\nFra: Sekretariatet <referent@council.no>\nSendt: 13. januar 2027 09:00\nTil: Kari Nordmann <kari@hf.example.no>\nEmne: Utkast til referat\n\nReferat fra møte i Utdanningsrådet 12. januar 2027\n\nSak 1/27 Godkjenning av innkalling\nInnkallingen ble godkjent.\n\nSak 3/27 Kurs i akuttmedisin\nRådet vedtok seks kurs i 2027.\nAnsvar: RegUt.\n";
        let c = inline_edits_against(body, DRAFT);
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
        // The header block alone (no separator), English Outlook.
        let en = "See my edits.\n\nFrom: Secretariat <referent@council.no>\nSent: 13 January 2027 09:00\nTo: John\nSubject: Draft minutes\n\nSak 3/27 Kurs i akuttmedisin\nRådet vedtok fem kurs i 2028.\nAnsvar: RegUt.\n";
        let c = inline_edits_against(en, DRAFT);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].after.as_deref(), Some("Rådet vedtok fem kurs i 2028."));
        // Gmail markers are ignored; an unchanged quote gives nothing.
        let gmail = "Ingen merknader.\n\nDen 13. jan. 2027 skrev Sekretariatet:\n> Sak 3/27 Kurs i akuttmedisin\n> Rådet vedtok fem kurs i 2027.\n";
        assert!(inline_edits_against(gmail, DRAFT).is_empty());
        let gmail_edit = "Se under.\n\nDen 13. jan. 2027 skrev Sekretariatet:\n> Sak 3/27 Kurs i akuttmedisin\n> Rådet vedtok  seks kurs i 2027.\n";
        let c = inline_edits_against(gmail_edit, DRAFT);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            c[0].before.as_deref(),
            Some("Rådet vedtok fem kurs i 2027.")
        );
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
