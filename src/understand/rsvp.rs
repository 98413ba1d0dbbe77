//! What an answer to an invitation says: accepted, declined or tentative; in person or
//! digital; a substitute. Bokmål, Nynorsk and English.
//!
//! The text is cut into clauses (sentences, lines, commas, "men"/"but"); each clause may
//! carry a signal, and the last clause with one decides, so a change of mind ("sa ja, men
//! må trekke meg") ends where the writer ended.

use crate::domain::{Answer, Attendance, Response, Substitute};

/// Reads an answer from what a person wrote (quotes and signature already removed).
/// Only the first this many bytes of a reply are read for an answer: people answer in a
/// line or two, and a long text is a report or a forwarded document, not an answer.
const MAX_ANSWER_TEXT: usize = 4096;

pub fn read_answer(text: &str) -> Option<Answer> {
    let mut end = text.len().min(MAX_ANSWER_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    if let Some(sub) = find_substitute(text) {
        return Some(Answer {
            response: Response::Declined,
            attendance: None,
            substitute: Some(sub),
        });
    }
    let normalized = normalize(text);
    let mut response = None;
    let mut digital = false;
    let mut in_person = false;
    for clause in clauses(&normalized) {
        let words: Vec<&str> = clause.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if let Some(r) = clause_response(&words) {
            response = Some(r);
        }
        match clause_attendance(&words) {
            Some(Attendance::Digital) => {
                digital = true;
                in_person = false;
            }
            Some(Attendance::InPerson) => {
                in_person = true;
                digital = false;
            }
            None => {}
        }
    }
    let attendance = if digital {
        Some(Attendance::Digital)
    } else if in_person {
        Some(Attendance::InPerson)
    } else {
        None
    };
    let response = match (response, attendance) {
        (Some(r), _) => r,
        // "Digitalt." / "På Teams" alone is a yes.
        (None, Some(_)) => Response::Accepted,
        (None, None) => return None,
    };
    Some(Answer {
        response,
        attendance: if response == Response::Declined {
            None
        } else {
            attendance
        },
        substitute: None,
    })
}

/// Lower case, typographic apostrophes straightened, punctuation that ends a clause
/// turned into newlines, other punctuation into spaces.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '’' | '‘' | '`' | '´' => out.push('\''),
            '.' | '!' | '?' | ';' | ',' | '\n' | ':' | '(' | ')' | '–' | '—' => out.push('\n'),
            c if c.is_alphanumeric() || c == '\'' || c == '@' || c == '-' => {
                out.extend(c.to_lowercase())
            }
            _ => out.push(' '),
        }
    }
    out
}

fn clauses(normalized: &str) -> impl Iterator<Item = String> + '_ {
    normalized.lines().flat_map(|line| {
        // "men"/"but"/"likevel" start a new clause: what follows overrides what came before.
        let mut parts = Vec::new();
        let mut current = String::new();
        for w in line.split_whitespace() {
            if matches!(
                w,
                "men" | "but" | "however" | "likevel" | "likevel," | "though"
            ) {
                parts.push(std::mem::take(&mut current));
            } else {
                current.push_str(w);
                current.push(' ');
            }
        }
        parts.push(current);
        parts
    })
}

const NEGATIONS: &[&str] = &[
    "ikke", "ikkje", "ikkje", "aldri", "not", "never", "can't", "cannot", "cant", "won't", "wont",
    "don't", "dont", "unable", "couldn't", "wouldn't", "isn't", "shan't", "no", "inte",
];

/// Infinitives and participles: they are answers only after a modal ("kan komme",
/// "får ikke deltatt", "will attend"), because "møte" is also the noun "meeting".
const VERBS_AFTER_MODAL: &[&str] = &[
    "komme",
    "kome",
    "koma",
    "delta",
    "møte",
    "stille",
    "deltatt",
    "kommet",
    "møtt",
    "stilt",
    "attend",
    "come",
    "join",
    "make",
    "participate",
    "be",
];
const MODALS: &[&str] = &[
    "kan", "vil", "skal", "får", "fått", "rekker", "rekk", "klarer", "greier", "har", "å", "må",
    "blir", "will", "can", "could", "would", "shall", "'ll", "i'll", "to", "able", "should", "be",
    "am", "fikk", "kunne", "ville", "hadde", "mogleg", "mulig",
];
/// Finite verbs that answer on their own ("kommer", "deltek", "attending").
const FINITE_VERBS: &[&str] = &[
    "kommer",
    "kjem",
    "deltar",
    "deltek",
    "møter",
    "stiller",
    "attending",
    "coming",
    "joining",
    "attend",
    "participating",
    "kjem",
    "møtar",
];
const ACCEPT_WORDS: &[&str] = &[
    "ja",
    "jada",
    "jepp",
    "japp",
    "yes",
    "yep",
    "sure",
    "gjerne",
    "bekrefter",
    "bekreftar",
    "bekreftet",
    "confirm",
    "confirmed",
    "confirming",
    "accept",
    "accepted",
    "accepts",
    "godtatt",
    "godtar",
    "påmeldt",
];
const DECLINE_WORDS: &[&str] = &[
    "forfall",
    "nei",
    "decline",
    "declined",
    "declines",
    "declining",
    "avslår",
    "avslått",
    "regrets",
    "apologies",
    "absent",
    "forhindret",
    "forhindra",
    "fraværende",
    "fråverande",
    "opptatt",
    "oppteken",
    "busy",
    "avmeld",
    "avmelding",
];
const SORRY_WORDS: &[&str] = &[
    "dessverre",
    "desverre",
    "diverre",
    "dverre",
    "unfortunately",
    "regrettably",
    "beklageligvis",
];
const TENTATIVE_PHRASES: &[&[&str]] = &[
    &["kanskje"],
    &["muligens"],
    &["moglegvis"],
    &["usikker"],
    &["usikkert"],
    &["uvisst"],
    &["vet", "ikke"],
    &["veit", "ikkje"],
    &["veit", "ikke"],
    &["vet", "ennå", "ikke"],
    &["ikke", "sikker"],
    &["ikkje", "sikker"],
    &["foreløpig"],
    &["førebels"],
    &["om", "mulig"],
    &["hvis", "mulig"],
    &["om", "mogleg"],
    &["dersom", "mulig"],
    &["prøver", "å"],
    &["prøvar", "å"],
    &["skal", "prøve"],
    &["maybe"],
    &["perhaps"],
    &["possibly"],
    &["tentative"],
    &["tentatively"],
    &["not", "sure"],
    &["unsure"],
    &["might"],
    &["if", "possible"],
    &["will", "try"],
    &["i'll", "try"],
    &["hope", "to"],
    &["håper", "å"],
];
const DECLINE_PHRASES: &[&[&str]] = &[
    &["trekke", "meg"],
    &["trekker", "meg"],
    &["trekkje", "meg"],
    &["stå", "over"],
    &["står", "over"],
    &["har", "ikke", "anledning"],
    &["har", "ikkje", "høve"],
    &["ikke", "anledning"],
    &["ikkje", "anledning"],
    &["ikkje", "høve"],
    &["ikke", "mulighet"],
    &["ikkje", "moglegheit"],
    &["ikke", "mulig"],
    &["ikkje", "mogleg"],
    &["blir", "ikke", "med"],
    &["blir", "ikkje", "med"],
    &["make", "it"],
    &["be", "there"],
    &["be", "present"],
    &["be", "attending"],
];
const ACCEPT_PHRASES: &[&[&str]] = &[
    &["blir", "med"],
    &["er", "med"],
    &["til", "stede"],
    &["tilstades"],
    &["på", "plass"],
    &["count", "me", "in"],
    &["see", "you"],
    &["sees"],
    &["be", "there"],
    &["make", "it"],
    &["be", "present"],
    &["be", "attending"],
    &["delighted", "to"],
    &["happy", "to", "attend"],
];

fn has_phrase(words: &[&str], phrase: &[&str]) -> Option<usize> {
    if phrase.is_empty() || words.len() < phrase.len() {
        return None;
    }
    (0..=words.len() - phrase.len()).find(|&i| words[i..i + phrase.len()] == *phrase)
}

fn negated_near(words: &[&str], at: usize, before: usize, after: usize) -> bool {
    let lo = at.saturating_sub(before);
    let hi = (at + after + 1).min(words.len());
    (lo..hi).any(|i| i != at && NEGATIONS.contains(&words[i]) || words[i].ends_with("n't"))
}

fn clause_response(words: &[&str]) -> Option<Response> {
    // Tentative first: "vet ikke" and "not sure" contain negations that are not a no.
    if TENTATIVE_PHRASES
        .iter()
        .any(|p| has_phrase(words, p).is_some())
    {
        return Some(Response::Tentative);
    }
    for p in DECLINE_PHRASES {
        if let Some(at) = has_phrase(words, p) {
            let is_accept_phrase = ACCEPT_PHRASES.contains(p);
            // "make it"/"be there" are declines only when negated.
            if !is_accept_phrase || negated_near(words, at, 4, 0) {
                return Some(Response::Declined);
            }
        }
    }
    if words.iter().any(|w| DECLINE_WORDS.contains(w)) {
        // "ikke forfall" is rare enough to ignore; "nei" in a long clause is usually
        // "nei, så fint" — only short clauses count for "nei".
        let only_nei = !words
            .iter()
            .any(|w| DECLINE_WORDS.contains(w) && *w != "nei");
        if !only_nei || words.len() <= 4 {
            return Some(Response::Declined);
        }
    }
    for (i, w) in words.iter().enumerate() {
        let finite = FINITE_VERBS.contains(w);
        let after_modal = VERBS_AFTER_MODAL.contains(w)
            && words[i.saturating_sub(4)..i]
                .iter()
                .any(|m| MODALS.contains(m));
        if finite || after_modal {
            if negated_near(words, i, 4, 3) {
                return Some(Response::Declined);
            }
            return Some(Response::Accepted);
        }
    }
    for p in ACCEPT_PHRASES {
        if let Some(at) = has_phrase(words, p) {
            if negated_near(words, at, 4, 0) {
                return Some(Response::Declined);
            }
            return Some(Response::Accepted);
        }
    }
    let sorry = words.iter().any(|w| SORRY_WORDS.contains(w));
    let negated = words.iter().any(|w| NEGATIONS.contains(w) && *w != "no");
    if sorry && (negated || words.len() <= 2) {
        // "Kan dessverre ikke." / "Dessverre."
        return Some(Response::Declined);
    }
    if words.iter().any(|w| ACCEPT_WORDS.contains(w)) {
        return Some(Response::Accepted);
    }
    None
}

const DIGITAL_WORDS: &[&str] = &[
    "digitalt",
    "digital",
    "digitally",
    "teams",
    "zoom",
    "skype",
    "webex",
    "video",
    "videolink",
    "videomøte",
    "online",
    "remote",
    "remotely",
    "virtually",
    "virtuelt",
    "nett",
    "nettet",
    "lenke",
    "lenken",
    "link",
    "fjernmøte",
    "hjemmefra",
    "heimanfrå",
];
const IN_PERSON_PHRASES: &[&[&str]] = &[
    &["fysisk"],
    &["fysisk", "oppmøte"],
    &["møter", "opp"],
    &["in", "person"],
    &["on", "site"],
    &["onsite"],
    &["på", "stedet"],
    &["på", "staden"],
    &["på", "ullevål"],
    &["i", "møterommet"],
    &["in", "the", "room"],
];

fn clause_attendance(words: &[&str]) -> Option<Attendance> {
    for (i, w) in words.iter().enumerate() {
        if DIGITAL_WORDS.contains(w) {
            // "ikke digitalt" — the writer comes in person.
            if i > 0 && NEGATIONS.contains(&words[i - 1]) {
                return Some(Attendance::InPerson);
            }
            return Some(Attendance::Digital);
        }
    }
    for p in IN_PERSON_PHRASES {
        if let Some(at) = has_phrase(words, p) {
            if at > 0 && NEGATIONS.contains(&words[at - 1]) {
                return Some(Attendance::Digital);
            }
            return Some(Attendance::InPerson);
        }
    }
    None
}

/// Phrases after the substitute's name: "Kari Nordmann møter for meg".
const SUBSTITUTE_AFTER_NAME: &[&str] = &[
    "møter for meg",
    "møter i mitt sted",
    "møter i stedet for meg",
    "møter i staden for meg",
    "stiller for meg",
    "stiller i mitt sted",
    "stiller i stedet for meg",
    "kommer for meg",
    "kommer i mitt sted",
    "kommer i stedet for meg",
    "deltar for meg",
    "deltar i mitt sted",
    "deltar i stedet for meg",
    "kjem i staden for meg",
    "kjem for meg",
    "deltek for meg",
    "deltek i staden for meg",
    "møter som vara",
    "stiller som vara",
    "deltar som vara",
    "will attend in my place",
    "will attend instead of me",
    "will attend on my behalf",
    "will attend for me",
    "will replace me",
    "will stand in for me",
    "is attending for me",
    "is attending in my place",
    "will come instead",
    "will attend instead",
];
/// Phrases before the substitute's name: "vara er Kari Nordmann".
const SUBSTITUTE_BEFORE_NAME: &[&str] = &[
    "vara er",
    "varaen min er",
    "min vara er",
    "min vara,",
    "vara:",
    "varamedlem:",
    "varamedlem er",
    "vararepresentant er",
    "vararepresentant:",
    "i mitt sted møter",
    "i mitt sted kommer",
    "i staden for meg kjem",
    "sender vara,",
    "sender vara:",
    "my substitute is",
    "substitute:",
    "my deputy is",
    "in my place:",
];

/// Finds "X møter for meg" / "vara er X" with X's name and, when written, address.
pub fn find_substitute(text: &str) -> Option<Substitute> {
    for line in text.lines() {
        let lower = line.to_lowercase();
        // Positions in `lower` map to `line` only when lower-casing kept every length;
        // true for Norwegian and English letters, checked rather than assumed.
        if lower.len() != line.len() {
            continue;
        }
        for phrase in SUBSTITUTE_AFTER_NAME {
            if let Some(pos) = lower.find(phrase) {
                let (Some(before), Some(after)) = (line.get(..pos), line.get(pos..)) else {
                    continue;
                };
                let email = find_email(before).or_else(|| find_email(after));
                let name = trailing_name(&strip_emails(before));
                if let Some(name) = name {
                    return Some(Substitute { name, email });
                }
            }
        }
        for phrase in SUBSTITUTE_BEFORE_NAME {
            if let Some(pos) = lower.find(phrase) {
                let Some(after) = line.get(pos + phrase.len()..) else {
                    continue;
                };
                let email = find_email(after);
                let name = leading_name(&strip_emails(after));
                if let Some(name) = name {
                    return Some(Substitute { name, email });
                }
            }
        }
    }
    None
}

/// Phrases that introduce an extra attendee (bisitter) by name.
const EXTRA_BEFORE_NAME: &[&str] = &[
    "med bisitter",
    "bisitter:",
    "bisitter er",
    "med bisitjar",
    "bisitjar:",
    "accompanied by",
    "extra attendee:",
    "bringing along",
];
const EXTRA_AFTER_NAME: &[&str] = &[
    "som bisitter",
    "som bisitjar",
    "as an extra attendee",
    "as my adviser",
    "as my advisor",
];

/// Finds an extra attendee a member announces ("Jeg tar med bisitter Per Hansen
/// <per@…>", "Per Hansen blir med som bisitter"), with the address when written.
pub fn find_extra_attendee(text: &str) -> Option<Substitute> {
    for line in text.lines() {
        let lower = line.to_lowercase();
        if lower.len() != line.len() {
            continue;
        }
        for phrase in EXTRA_BEFORE_NAME {
            if let Some(pos) = lower.find(phrase) {
                let Some(after) = line.get(pos + phrase.len()..) else {
                    continue;
                };
                if let Some(name) = leading_name(&strip_emails(after)) {
                    return Some(Substitute {
                        name,
                        email: find_email(after),
                    });
                }
            }
        }
        for phrase in EXTRA_AFTER_NAME {
            if let Some(pos) = lower.find(phrase) {
                let Some(before) = line.get(..pos) else {
                    continue;
                };
                let before = before
                    .trim_end()
                    .trim_end_matches(" blir med")
                    .trim_end_matches(" kommer")
                    .trim_end_matches(" kjem")
                    .trim_end_matches(" comes");
                if let Some(name) = trailing_name(&strip_emails(before)) {
                    return Some(Substitute {
                        name,
                        email: find_email(line),
                    });
                }
            }
        }
    }
    None
}

fn is_name_word(w: &str) -> bool {
    let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '.');
    let mut chars = w.chars();
    match chars.next() {
        Some(c) if c.is_uppercase() => w.chars().all(|c| c.is_alphabetic() || c == '-' || c == '.'),
        _ => matches!(w, "van" | "von" | "de" | "af" | "av"),
    }
}

fn clean_word(w: &str) -> &str {
    w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '.')
        .trim_end_matches('.')
}

fn trailing_name(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut start = words.len();
    while start > 0 && is_name_word(words[start - 1]) {
        start -= 1;
    }
    let name: Vec<&str> = words[start..].iter().map(|w| clean_word(w)).collect();
    // Never "Jeg" or "Vi" alone: at least one word that is not a pronoun.
    let name: Vec<&str> = name
        .into_iter()
        .skip_while(|w| {
            matches!(
                *w,
                "Jeg" | "Eg" | "Vi" | "Me" | "I" | "Men" | "But" | "Og" | "And"
            )
        })
        .collect();
    (!name.is_empty()).then(|| name.join(" "))
}

fn leading_name(text: &str) -> Option<String> {
    let name: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| is_name_word(w))
        .map(clean_word)
        .filter(|w| !w.is_empty())
        .collect();
    (!name.is_empty()).then(|| name.join(" "))
}

/// The first thing in `text` that looks like an email address.
pub fn find_email(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || "<>()[],;\"'".contains(c))
        .map(|w| w.trim_end_matches('.').trim_start_matches("mailto:"))
        .find(|w| crate::domain::normalize_address(w).is_ok())
        .and_then(|w| crate::domain::normalize_address(w).ok())
}

fn strip_emails(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !w.contains('@'))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Option<(Response, Option<Attendance>)> {
        read_answer(text).map(|a| (a.response, a.attendance))
    }

    #[test]
    fn bokmaal() {
        use Response::*;
        assert_eq!(r("Ja, jeg kommer."), Some((Accepted, None)));
        assert_eq!(r("Må dessverre melde forfall."), Some((Declined, None)));
        assert_eq!(
            r("Jeg får ikke deltatt denne gangen."),
            Some((Declined, None))
        );
        assert_eq!(
            r("Deltar digitalt"),
            Some((Accepted, Some(Attendance::Digital)))
        );
        assert_eq!(
            r("Jeg kommer på Teams"),
            Some((Accepted, Some(Attendance::Digital)))
        );
        assert_eq!(r("Kan dessverre ikke."), Some((Declined, None)));
        assert_eq!(
            r("Jeg sa ja, men må dessverre trekke meg."),
            Some((Declined, None))
        );
        assert_eq!(
            r("Jeg kommer kanskje, vet ikke ennå."),
            Some((Tentative, None))
        );
        assert_eq!(r("Takk for innkallingen til møte."), None);
        assert_eq!(
            r("Kommer fysisk, ikke digitalt."),
            Some((Accepted, Some(Attendance::InPerson)))
        );
        assert_eq!(r("Dessverre kommer jeg ikke"), Some((Declined, None)));
    }

    #[test]
    fn nynorsk() {
        use Response::*;
        assert_eq!(r("Eg kan diverre ikkje kome."), Some((Declined, None)));
        assert_eq!(r("Eg kjem."), Some((Accepted, None)));
        assert_eq!(
            r("Eg deltek digitalt."),
            Some((Accepted, Some(Attendance::Digital)))
        );
        assert_eq!(r("Har ikkje høve til å møte."), Some((Declined, None)));
    }

    #[test]
    fn english() {
        use Response::*;
        assert_eq!(r("Yes, I'll be there."), Some((Accepted, None)));
        assert_eq!(r("I won't be able to attend."), Some((Declined, None)));
        assert_eq!(r("I can’t make it, sorry."), Some((Declined, None)));
        assert_eq!(
            r("I will attend remotely."),
            Some((Accepted, Some(Attendance::Digital)))
        );
        assert_eq!(r("Not sure yet."), Some((Tentative, None)));
    }

    #[test]
    fn extra_attendees() {
        let x = find_extra_attendee("Ja, jeg kommer, og tar med bisitter Per Hansen <per@hf.no>.")
            .unwrap();
        assert_eq!(x.name, "Per Hansen");
        assert_eq!(x.email.as_deref(), Some("per@hf.no"));
        let x =
            find_extra_attendee("Eg kjem. Per Hansen (per@hf.no) blir med som bisitjar.").unwrap();
        assert_eq!(x.name, "Per Hansen");
        assert_eq!(x.email.as_deref(), Some("per@hf.no"));
        let x =
            find_extra_attendee("I will attend, accompanied by Jane Doe <jane@x.org>.").unwrap();
        assert_eq!(x.name, "Jane Doe");
        assert_eq!(find_extra_attendee("Ja, jeg kommer. Tar med PC."), None);
        assert_eq!(find_extra_attendee("Ingen bisitter denne gangen."), None);
    }

    #[test]
    fn substitutes() {
        let a =
            read_answer("Jeg har forfall. Kari Nordmann <kari@ahus.no> møter for meg.").unwrap();
        assert_eq!(a.response, Response::Declined);
        let s = a.substitute.unwrap();
        assert_eq!(s.name, "Kari Nordmann");
        assert_eq!(s.email.as_deref(), Some("kari@ahus.no"));
        let a = read_answer("Vara er Per Hansen (per.hansen@sykehuset-innlandet.no)").unwrap();
        assert_eq!(a.substitute.unwrap().name, "Per Hansen");
        let a = read_answer("Jane Doe will attend in my place.").unwrap();
        assert_eq!(
            a.substitute.unwrap(),
            Substitute {
                name: "Jane Doe".into(),
                email: None
            }
        );
    }
}
