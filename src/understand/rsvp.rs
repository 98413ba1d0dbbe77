//! What an answer to an invitation says: accepted, declined or tentative; in person or
//! digital; a substitute. Bokmål, Nynorsk and English.
//!
//! The text is cut into clauses (sentences, lines, commas, "men"/"but"); each clause may
//! carry a signal, and the last clause with one decides, so a change of mind ("sa ja, men
//! må trekke meg") ends where the writer ended.

use super::Confidence;
use crate::domain::{Answer, Attendance, Response, Substitute};

/// Reads an answer from what a person wrote (quotes and signature already removed).
/// Only the first this many bytes of a reply are read for an answer: people answer in a
/// line or two, and a long text is a report or a forwarded document, not an answer.
const MAX_ANSWER_TEXT: usize = 4096;

/// An answer as read, with how sure the reading is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reading {
    /// The best reading: where the writer ended.
    pub answer: Option<Answer>,
    pub confidence: Confidence,
    /// When unsure: the competing readings in the order written; else empty.
    pub readings: Vec<Response>,
}

/// The best reading of an answer, sure or not (see [`read`] for how sure).
pub fn read_answer(text: &str) -> Option<Answer> {
    read(text).answer
}

/// What one clause says about the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    One(Response),
    /// A double negation ("Jeg kan ikke si at jeg ikke kommer"): both readings stand.
    Both(Response, Response),
}

/// Reads an answer and how sure it is. The last clause with a signal decides; a
/// conflict ("Ja. Nei.") is unsure unless the writer marks the last word as a change of
/// mind ("men …", "likevel", "nei vent", "after all") — then it is sure.
pub fn read(text: &str) -> Reading {
    let mut end = text.len().min(MAX_ANSWER_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = text.get(..end).unwrap_or("");
    if let Some(sub) = find_substitute(text) {
        return Reading {
            answer: Some(Answer {
                response: Response::Declined,
                attendance: None,
                substitute: Some(sub),
            }),
            ..Reading::default()
        };
    }
    let normalized = normalize(text);
    let mut best: Option<Response> = None;
    let mut conflict = false;
    let mut seen: Vec<Response> = Vec::new();
    // Signals from clauses about something else (another meeting, leaving early):
    // used, unsure, only when nothing else speaks.
    let mut weak: Option<Response> = None;
    let mut digital = false;
    let mut in_person = false;
    let mut comes = false;
    // "Jeg er på reise, så jeg blir med på Teams": being away is why they join online,
    // not a refusal, when another clause says they take part digitally.
    let joins_online = clauses(&normalized).any(|(clause, _)| {
        let words: Vec<&str> = clause.split_whitespace().collect();
        clause_attendance(&words) == Some(Attendance::Digital)
            && matches!(
                clause_response(&words),
                None | Some(Signal::One(Response::Accepted))
            )
    });
    for (clause, after_contrast) in clauses(&normalized) {
        let words: Vec<&str> = clause.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if joins_online && only_away(&words) {
            continue;
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
        let Some(mut signal) = clause_response(&words) else {
            continue;
        };
        if signal == Signal::One(Response::Declined)
            && IN_PERSON_PHRASES
                .iter()
                .any(|p| has_phrase(&words, p).is_some())
        {
            // "Kan ikke komme fysisk": not coming to the room, but perhaps online.
            signal = Signal::Both(Response::Accepted, Response::Declined);
        }
        let side = match signal {
            Signal::One(r) => r != Response::Declined && (other_occasion(&words) || caveat(&words)),
            Signal::Both(..) => false,
        };
        if side {
            // "… men kommer gjerne på neste møte", "… men må kanskje gå tidlig".
            if let Signal::One(r) = signal {
                weak = Some(r);
            }
            continue;
        }
        let last = match signal {
            Signal::One(r) | Signal::Both(_, r) => r,
        };
        if last == Response::Accepted && has_coming_verb(&words) {
            comes = true;
        }
        let decisive = after_contrast || changes_mind(&words);
        let (first, last) = match signal {
            Signal::One(r) => (r, r),
            Signal::Both(a, b) => (a, b),
        };
        for r in [first, last] {
            if !seen.contains(&r) {
                seen.push(r);
            }
        }
        if decisive {
            conflict = first != last;
        } else if first != last || best.is_some_and(|b| b != first) {
            conflict = true;
        }
        best = Some(last);
    }
    let mut confidence = if conflict {
        Confidence::Unsure
    } else {
        Confidence::Sure
    };
    let response = match (best, weak, digital || in_person) {
        (Some(r), _, _) => r,
        (None, Some(r), _) => {
            confidence = Confidence::Unsure;
            seen = vec![r];
            r
        }
        // "Digitalt." / "På Teams" alone is a yes.
        (None, None, true) => Response::Accepted,
        (None, None, false) => return Reading::default(),
    };
    let attendance = if digital {
        Some(Attendance::Digital)
    } else if in_person || comes {
        // The summons offers «kommer» (in person) against «deltar digitalt»: coming
        // without a word about how is coming to the room.
        Some(Attendance::InPerson)
    } else {
        None
    };
    Reading {
        answer: Some(Answer {
            response,
            attendance: if response == Response::Declined {
                None
            } else {
                attendance
            },
            substitute: None,
        }),
        confidence,
        readings: if confidence == Confidence::Unsure {
            seen
        } else {
            Vec::new()
        },
    }
}

/// Verbs of coming (as opposed to taking part, which may be digital).
fn has_coming_verb(words: &[&str]) -> bool {
    // "I'll be there", "jeg skal være der": coming to the room.
    let there = words.windows(2).any(|w| {
        matches!(w, [a, b] if matches!(*a, "be" | "være" | "vere") && matches!(*b, "there" | "der"))
    });
    there
        || words.iter().any(|w| {
            matches!(
                *w,
                "kommer"
                    | "kjem"
                    | "komme"
                    | "kome"
                    | "koma"
                    | "møter"
                    | "møtar"
                    | "come"
                    | "coming"
                    | "attend"
                    | "attending"
            )
        })
}

/// Places one is away at, which say only that one is not in the room.
const AWAY_PHRASES: &[&[&str]] = &[
    &["på", "reise"],
    &["på", "ferie"],
    &["on", "holiday"],
    &["on", "vacation"],
    &["travelling"],
    &["traveling"],
    &["bortreist"],
];

/// A clause whose only point is being away ("jeg er på reise"): no negation, no verb of
/// coming or taking part.
fn only_away(words: &[&str]) -> bool {
    AWAY_PHRASES.iter().any(|p| has_phrase(words, p).is_some())
        && !words.iter().enumerate().any(|(i, _)| is_negation(words, i))
        && !has_coming_verb(words)
}

/// A clause about another occasion: "kommer gjerne på neste møte", "see you next time".
fn other_occasion(words: &[&str]) -> bool {
    words.windows(2).any(|w| {
        matches!(w, [a, b] if matches!(*a, "neste" | "next" | "senere" | "seinare" | "later" | "future" | "framtidige" | "fremtidige")
            && matches!(*b, "møte" | "møtet" | "møter" | "gang" | "gong" | "meeting" | "meetings" | "time" | "one"))
    })
}

/// A clause about arriving late or leaving early: not an answer to whether one comes.
fn caveat(words: &[&str]) -> bool {
    words.iter().any(|w| {
        matches!(
            *w,
            "tidlig"
                | "tidleg"
                | "early"
                | "earlier"
                | "forsinket"
                | "forseinka"
                | "delayed"
                | "late"
                | "sent"
                | "seint"
                | "før"
                | "before"
        )
    })
}

/// The writer says this clause replaces what came before.
fn changes_mind(words: &[&str]) -> bool {
    const MARKERS: &[&[&str]] = &[
        &["likevel"],
        &["allikevel"],
        &["vent"],
        &["ombestemt"],
        &["ombestemt", "meg"],
        &["endring"],
        &["rettelse"],
        &["after", "all"],
        &["actually"],
        &["wait"],
        &["changed", "my", "mind"],
        &["change", "of", "plans"],
        &["correction"],
        &["update"],
        &["second", "thought"],
        &["second", "thoughts"],
    ];
    MARKERS.iter().any(|m| has_phrase(words, m).is_some())
}

/// Lower case, typographic apostrophes straightened, punctuation that ends a clause
/// turned into newlines, other punctuation into spaces.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for token in line.split_inclusive(char::is_whitespace) {
            // An address or a link is a name, not words: "per.olsen@ahus.no" must not
            // become the clauses "per", "olsen", "no".
            let bare = token.trim();
            if bare.contains('@') || bare.contains("://") || bare.starts_with("www.") {
                let closes = bare.ends_with(['.', '!', '?', ';', ',', ')', '>']);
                out.push_str(if closes { "\n" } else { " " });
                continue;
            }
            for c in token.chars() {
                match c {
                    '’' | '‘' | '`' | '´' => out.push('\''),
                    '.' | '!' | '?' | ';' | ',' | ':' | '(' | ')' | '–' | '—' => out.push('\n'),
                    c if c.is_alphanumeric() || c == '\'' || c == '-' => {
                        out.extend(c.to_lowercase())
                    }
                    _ => out.push(' '),
                }
            }
        }
    }
    out
}

/// The clauses of a normalized text, each with whether it follows a contrast
/// ("men"/"but"/"however"/"though"): what follows a contrast overrides what came before.
fn clauses(normalized: &str) -> impl Iterator<Item = (String, bool)> + '_ {
    normalized.lines().flat_map(|line| {
        let mut parts = Vec::new();
        let mut current = String::new();
        let mut after_contrast = false;
        for w in line.split_whitespace() {
            if matches!(w, "men" | "but" | "however" | "though") {
                parts.push((std::mem::take(&mut current), after_contrast));
                after_contrast = true;
            } else {
                current.push_str(w);
                current.push(' ');
            }
        }
        parts.push((current, after_contrast));
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
    "kan",
    "vil",
    "skal",
    "får",
    "fått",
    "rekker",
    "rekk",
    "klarer",
    "greier",
    "har",
    "å",
    "må",
    "blir",
    "will",
    "can",
    "could",
    "would",
    "shall",
    "'ll",
    "i'll",
    "to",
    "able",
    "should",
    "be",
    "am",
    "fikk",
    "kunne",
    "ville",
    "hadde",
    "mogleg",
    "mulig",
    "can't",
    "cannot",
    "cant",
    "won't",
    "wont",
    "couldn't",
    "wouldn't",
    "shouldn't",
    "mustn't",
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
    "no",
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
    // Declines without a decline word: "det kolliderer med poliklinikken min".
    "kolliderer",
    "kolliderar",
    "kollisjon",
    "krasjer",
    "overlapper",
    "dobbeltbooket",
    "dobbeltbooka",
    "clash",
    "clashes",
    "conflict",
    "conflicts",
    "double-booked",
    "sykemeldt",
    "sykmeldt",
    "sjukmeld",
    "sjukmeldt",
    "bortreist",
    "forfallsmelding",
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
/// "Beklager" and "sorry" alone are often "sorry for the late answer": a no only with a
/// negation beside them.
const APOLOGY_WORDS: &[&str] = &["beklager", "sorry", "orsak", "apologise", "apologize"];
const TENTATIVE_PHRASES: &[&[&str]] = &[
    &["bekrefter", "senere"],
    &["bekrefte", "senere"],
    &["stadfestar", "seinare"],
    &["gir", "beskjed"],
    &["gi", "beskjed"],
    &["gjev", "beskjed"],
    &["kommer", "tilbake", "til"],
    &["confirm", "later"],
    &["will", "confirm"],
    &["let", "you", "know"],
    &["get", "back", "to"],
    &["depends"],
    &["avhenger"],
    &["kommer", "an", "på"],
    &["kjem", "an", "på"],
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
    &["rekker", "det", "ikke"],
    &["rekker", "ikke"],
    &["rekk", "det", "ikkje"],
    &["rekk", "ikkje"],
    &["går", "ikke"],
    &["går", "dessverre", "ikke"],
    &["passer", "ikke"],
    &["passer", "dessverre", "ikke"],
    &["går", "ikkje"],
    &["passar", "ikkje"],
    &["høver", "ikkje"],
    &["på", "ferie"],
    &["på", "reise"],
    &["i", "permisjon"],
    &["on", "holiday"],
    &["on", "vacation"],
    &["on", "leave"],
    &["doesn't", "work"],
    &["won't", "work"],
    &["not", "possible"],
    &["have", "to", "miss"],
    &["must", "miss"],
    &["will", "miss"],
    &["må", "droppe"],
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
/// Accepts without an accept word ("Takk for innkallingen, ser frem til møtet!"): only
/// when the meeting is what is looked forward to, not "hearing from you".
const LOOKING_FORWARD: &[&[&str]] = &[
    &["ser", "frem", "til"],
    &["ser", "fram", "til"],
    &["gleder", "meg", "til"],
    &["gler", "meg", "til"],
    &["looking", "forward", "to"],
    &["look", "forward", "to"],
];

fn looks_forward_to_the_meeting(words: &[&str]) -> bool {
    LOOKING_FORWARD.iter().any(|p| {
        has_phrase(words, p).is_some_and(|at| {
            words.iter().skip(at + p.len()).take(3).any(|w| {
                matches!(
                    *w,
                    "møtet" | "møte" | "møta" | "meeting" | "seeing" | "se" | "sjå" | "dagen"
                )
            })
        })
    })
}

fn has_phrase(words: &[&str], phrase: &[&str]) -> Option<usize> {
    if phrase.is_empty() || words.len() < phrase.len() {
        return None;
    }
    words.windows(phrase.len()).position(|w| w == phrase)
}

fn negated_near(words: &[&str], at: usize, before: usize, after: usize) -> bool {
    let lo = at.saturating_sub(before);
    let hi = (at + after + 1).min(words.len());
    words
        .iter()
        .enumerate()
        .take(hi)
        .skip(lo)
        .any(|(i, w)| i != at && NEGATIONS.contains(w) || w.ends_with("n't"))
}

/// A coming verb between a negation and a decline word takes the negation ("kan ikke
/// komme og melder forfall"); otherwise the negation turns the decline word ("melder
/// ikke forfall").
fn negates_decline_word(words: &[&str], at: usize) -> bool {
    let lo = at.saturating_sub(4);
    let Some(neg) = (lo..at).rev().find(|&i| is_negation(words, i)) else {
        return false;
    };
    !words
        .get(neg + 1..at)
        .unwrap_or(&[])
        .iter()
        .any(|w| FINITE_VERBS.contains(w) || VERBS_AFTER_MODAL.contains(w))
}

fn is_negation(words: &[&str], i: usize) -> bool {
    words
        .get(i)
        .is_some_and(|w| *w != "no" && (NEGATIONS.contains(w) || w.ends_with("n't")))
}

fn clause_response(words: &[&str]) -> Option<Signal> {
    use Signal::{Both, One};
    // Tentative first: "vet ikke" and "not sure" contain negations that are not a no.
    if TENTATIVE_PHRASES
        .iter()
        .any(|p| has_phrase(words, p).is_some())
    {
        return Some(One(Response::Tentative));
    }
    for p in DECLINE_PHRASES {
        if let Some(at) = has_phrase(words, p) {
            let is_accept_phrase = ACCEPT_PHRASES.contains(p);
            // "make it"/"be there" are declines only when negated.
            if !is_accept_phrase || negated_near(words, at, 4, 0) {
                return Some(One(Response::Declined));
            }
        }
    }
    if let Some(at) = words.iter().position(|w| DECLINE_WORDS.contains(w)) {
        // "nei" in a long clause is usually "nei, så fint", and "nei så hyggelig" is
        // no refusal: only short, plain clauses count for "nei".
        let only_nei = !words
            .iter()
            .any(|w| DECLINE_WORDS.contains(w) && !matches!(*w, "nei" | "no"));
        // "Nei så hyggelig", "No problem": not a refusal.
        let pleased = words.iter().any(|w| {
            matches!(
                *w,
                "hyggelig"
                    | "hyggeleg"
                    | "fint"
                    | "flott"
                    | "kjekt"
                    | "gøy"
                    | "artig"
                    | "problem"
                    | "problemo"
                    | "worries"
                    | "doubt"
            )
        });
        if only_nei {
            if words.len() <= 4 && !pleased {
                return Some(One(Response::Declined));
            }
        } else if negates_decline_word(words, at) {
            // "Jeg kommer ikke til å melde forfall", "har ikke forfall": most likely a
            // yes, but a negated no is asked, not assumed.
            return Some(Both(Response::Declined, Response::Accepted));
        } else {
            return Some(One(Response::Declined));
        }
    }
    for (i, w) in words.iter().enumerate() {
        let finite = FINITE_VERBS.contains(w);
        let after_modal = VERBS_AFTER_MODAL.contains(w)
            && words
                .get(i.saturating_sub(4)..i)
                .unwrap_or(&[])
                .iter()
                .any(|m| MODALS.contains(m));
        if finite || after_modal {
            let before = (0..i).filter(|&j| is_negation(words, j)).count();
            if before >= 2 {
                // "Jeg kan ikke si at jeg ikke kommer": a double negation leans to yes,
                // but is asked, not assumed.
                return Some(Both(Response::Declined, Response::Accepted));
            }
            if negated_near(words, i, 4, 3) {
                return Some(One(Response::Declined));
            }
            return Some(One(Response::Accepted));
        }
    }
    for p in ACCEPT_PHRASES {
        if let Some(at) = has_phrase(words, p) {
            if negated_near(words, at, 4, 0) {
                return Some(One(Response::Declined));
            }
            return Some(One(Response::Accepted));
        }
    }
    if looks_forward_to_the_meeting(words) {
        return Some(One(Response::Accepted));
    }
    let sorry = words.iter().any(|w| SORRY_WORDS.contains(w));
    let apology = sorry || words.iter().any(|w| APOLOGY_WORDS.contains(w));
    let negated = words.iter().any(|w| NEGATIONS.contains(w) && *w != "no");
    if apology && negated || sorry && words.len() <= 2 {
        // "Kan dessverre ikke." / "Dessverre." / "Beklager, kan ikke."
        return Some(One(Response::Declined));
    }
    if words.iter().any(|w| ACCEPT_WORDS.contains(w)) {
        return Some(One(Response::Accepted));
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
    "nettmøte",
    "videolenke",
    "teams-møtet",
    "teams-lenka",
    "teams-lenken",
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
    &["på", "møterommet"],
    &["på", "møtestaden"],
    &["in", "the", "room"],
    &["in", "the", "meeting", "room"],
    &["physically"],
    &["oppmøte"],
];

fn clause_attendance(words: &[&str]) -> Option<Attendance> {
    for (i, w) in words.iter().enumerate() {
        if DIGITAL_WORDS.contains(w) {
            // "ikke digitalt" — the writer comes in person.
            if i > 0 && words.get(i - 1).is_some_and(|p| NEGATIONS.contains(p)) {
                return Some(Attendance::InPerson);
            }
            return Some(Attendance::Digital);
        }
    }
    for p in IN_PERSON_PHRASES {
        if let Some(at) = has_phrase(words, p) {
            if at > 0 && words.get(at - 1).is_some_and(|p| NEGATIONS.contains(p)) {
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
    while start > 0 && words.get(start - 1).is_some_and(|w| is_name_word(w)) {
        start -= 1;
    }
    let name: Vec<&str> = words
        .get(start..)
        .unwrap_or_default()
        .iter()
        .map(|w| clean_word(w))
        .collect();
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
        assert_eq!(
            r("Ja, jeg kommer."),
            Some((Accepted, Some(Attendance::InPerson)))
        );
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
        assert_eq!(r("Eg kjem."), Some((Accepted, Some(Attendance::InPerson))));
        assert_eq!(
            r("Eg deltek digitalt."),
            Some((Accepted, Some(Attendance::Digital)))
        );
        assert_eq!(r("Har ikkje høve til å møte."), Some((Declined, None)));
    }

    #[test]
    fn english() {
        use Attendance::InPerson;
        use Response::*;
        assert_eq!(r("Yes, I'll be there."), Some((Accepted, Some(InPerson))));
        assert_eq!(
            r("I'm on holiday, so I'll join on Teams."),
            Some((Accepted, Some(Attendance::Digital)))
        );
        assert_eq!(r("I won't be able to attend."), Some((Declined, None)));
        assert_eq!(r("I can’t make it, sorry."), Some((Declined, None)));
        assert_eq!(
            r("I will attend remotely."),
            Some((Accepted, Some(Attendance::Digital)))
        );
        assert_eq!(r("Not sure yet."), Some((Tentative, None)));
    }

    fn sure(text: &str) -> (Response, Option<Attendance>, Confidence, Vec<Response>) {
        let reading = read(text);
        let a = reading
            .answer
            .unwrap_or_else(|| panic!("no answer in {text:?}"));
        (
            a.response,
            a.attendance,
            reading.confidence,
            reading.readings,
        )
    }

    #[test]
    fn readings_that_were_wrong() {
        use Attendance::*;
        use Confidence::*;
        use Response::*;
        // Away, and so online: a yes (an outside test's member wrote it).
        let online = (Accepted, Some(Digital), Sure, vec![]);
        assert_eq!(sure("Jeg er på reise, så jeg blir med på Teams."), online);
        assert_eq!(sure("Er på reise, deltar på Teams."), online);
        // Away, and not online either: still a no.
        assert_eq!(
            sure("Jeg er på reise og kan ikke delta digitalt."),
            (Declined, None, Sure, vec![])
        );
        assert_eq!(sure("Jeg er på reise."), (Declined, None, Sure, vec![]));
        let d = (Declined, None, Sure, vec![]);
        assert_eq!(
            sure("Jeg må dessverre melde forfall, men kommer gjerne på neste møte."),
            d
        );
        assert_eq!(sure("Jeg kommer likevel ikke."), d);
        assert_eq!(sure("Beklager, det kolliderer med poliklinikken min."), d);
        assert_eq!(
            sure("Jeg kommer. Nei vent, jeg må melde forfall likevel."),
            d
        );
        assert_eq!(
            sure("I might be able to join, will confirm later.").0,
            Tentative
        );
        assert_eq!(
            sure("Takk for innkallingen, ser frem til møtet!"),
            (Accepted, None, Sure, vec![])
        );
        assert_eq!(
            sure("Jeg kommer."),
            (Accepted, Some(InPerson), Sure, vec![])
        );
        assert_eq!(
            sure("Jeg kommer, men må kanskje gå tidlig."),
            (Accepted, Some(InPerson), Sure, vec![])
        );
        assert_eq!(
            sure("Jeg kommer hvis toget går."),
            (Accepted, Some(InPerson), Sure, vec![])
        );
    }

    #[test]
    fn conflicts_are_unsure() {
        use Confidence::*;
        use Response::*;
        let (r, _, c, readings) = sure("Jeg kommer. Jeg kommer ikke.");
        assert_eq!((r, c), (Declined, Unsure));
        assert_eq!(readings, vec![Accepted, Declined]);
        let (_, _, c, readings) = sure("Jeg kan ikke si at jeg ikke kommer.");
        assert_eq!(c, Unsure);
        assert_eq!(readings, vec![Declined, Accepted]);
        assert_eq!(sure("Ja. Nei.").2, Unsure);
        // A contrast marks the last word: sure.
        assert_eq!(sure("Jeg sa ja, men må dessverre trekke meg.").2, Sure);
    }

    #[test]
    fn not_in_person_alone_is_asked() {
        assert_eq!(sure("Kan ikke komme fysisk.").2, Confidence::Unsure);
        assert_eq!(
            sure("Jeg kommer ikke fysisk, men deltar digitalt."),
            (
                Response::Accepted,
                Some(Attendance::Digital),
                Confidence::Sure,
                vec![]
            )
        );
    }

    #[test]
    fn one_word_answers_are_sure() {
        use Attendance::*;
        use Confidence::*;
        use Response::*;
        for (w, r, a) in [
            ("kommer", Accepted, Some(InPerson)),
            ("Kommer.", Accepted, Some(InPerson)),
            ("digitalt", Accepted, Some(Digital)),
            ("forfall", Declined, None),
            ("attending", Accepted, Some(InPerson)),
            ("online", Accepted, Some(Digital)),
            ("decline", Declined, None),
            ("kjem", Accepted, Some(InPerson)),
            ("deltek digitalt", Accepted, Some(Digital)),
            ("kanskje", Tentative, None),
        ] {
            assert_eq!(sure(w), (r, a, Sure, vec![]), "{w}");
        }
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
