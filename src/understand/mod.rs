//! From a raw message to what it means: who wrote it, what they wrote (without quotes
//! and signatures), in which language, and whether it is an answer, an autoresponder
//! or a bounce. Pure: no I/O, no clock, no database. The daemon adds threading
//! (`In-Reply-To`/`References`/token) on top of this.

pub mod auto;
mod bounce;
pub mod command;
pub mod forward;
pub mod itip;
mod legacy_zone;
pub mod rsvp;
pub mod secretariat;
pub mod sheet;
pub mod text;

use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::Datelike;

use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use serde::Serialize;

pub use auto::{AutoReply, Bounce};
pub use itip::CalendarReply;
pub use secretariat::{AgendaItem, Correction, Decision};

use crate::domain::{normalize_address, Answer, Attendance, Response, Substitute};

/// Limits that keep one hostile message from costing more than it should.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages larger than this are not parsed: kept, marked, shown to a coordinator.
    pub max_bytes: usize,
    /// Text longer than this (in bytes) is cut before reading it for an answer.
    pub max_text: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 25 * 1024 * 1024,
            max_text: 256 * 1024,
        }
    }
}

/// What a message is, as far as the message alone can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Rsvp,
    AgendaRequest,
    MinutesCorrection,
    CoordinatorDecision,
    MinutesDraft,
    /// "status" / "oversikt": a coordinator asks for the state of their councils.
    Status,
    /// "Nytt møte …" / "Flytt møtet …" / "Avlys møtet …": a change to a meeting.
    MeetingChange,
    /// "Medlemsliste …" with a file: a council's roster to compare and apply.
    Roster,
    AutoReply,
    Bounce,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Nb,
    Nn,
    En,
}

/// How sure the reading of an answer is. Only a sure answer may be applied without
/// asking; an unsure one (conflicting words with no clear last word, a double negation)
/// is asked back with a one-word question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    #[default]
    Sure,
    Unsure,
}

/// Everything the daemon needs from one message.
#[derive(Debug, Clone, Default)]
pub struct Understanding {
    pub message_id: Option<String>,
    /// `In-Reply-To` then `References`, newest first, without angle brackets.
    pub thread_ids: Vec<String>,
    pub from: Option<String>,
    pub from_name: Option<String>,
    /// Every address the message was sent to (To, Cc, Delivered-To, X-Original-To).
    pub recipients: Vec<String>,
    pub subject: String,
    pub kind: Option<Kind>,
    pub language: Option<Lang>,
    pub reply_text: String,
    /// The best reading of an answer; see `confidence` before applying it.
    pub answer: Option<Answer>,
    /// `Sure` when `answer` can be applied as read (and when there is no answer).
    pub confidence: Confidence,
    /// When `Unsure`: the competing readings, in the order they appear in the text
    /// (`answer` holds the one the writer ended on). Empty when `Sure`.
    pub readings: Vec<Response>,
    pub auto_reply: Option<AutoReply>,
    pub bounce: Option<Bounce>,
    pub is_list: bool,
    /// Set by `referent` on every message it sends.
    pub sent_by_referent: bool,
    /// When forwarded: the original sender, whose words these are.
    pub on_behalf_of: Option<String>,
    pub on_behalf_of_name: Option<String>,
    /// A calendar client's iTIP reply, when the message carries one.
    pub calendar: Option<CalendarReply>,
    pub agenda_item: Option<AgendaItem>,
    pub corrections: Vec<Correction>,
    /// For a reply to draft minutes: the whole text body, quote included, for
    /// `secretariat::inline_edits_against` with the draft as sent.
    pub minutes_reply_body: Option<String>,
    pub decision: Option<Decision>,
    pub problems: Vec<String>,
    pub date: Option<chrono::NaiveDate>,
    /// Files attached (those of a forwarded message included), calendar parts and
    /// forwarded messages themselves left out.
    pub attachments: Vec<FileInfo>,
    /// An extra attendee (bisitter) announced in an answer.
    pub extra_attendee: Option<crate::domain::Substitute>,
    /// A coordinator's command ("status", "nytt møte …"), as written.
    pub command: Option<command::Command>,
}

/// An attached file: what it is called, its type, its size, and its text when it is
/// plain text or Markdown (minutes are often sent that way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    pub name: String,
    pub content_type: String,
    pub size: usize,
    #[serde(skip)]
    pub text: Option<String>,
}

/// The attachments of a message, and of a message forwarded inside it.
fn list_attachments(msg: &mail_parser::Message<'_>, out: &mut Vec<FileInfo>, depth: usize) {
    for a in msg.attachments() {
        if let Some(inner) = a.message() {
            if depth < 3 {
                list_attachments(inner, out, depth + 1);
            }
            continue;
        }
        let content_type = a
            .content_type()
            .map(|ct| {
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")).to_lowercase()
            })
            .unwrap_or_else(|| "application/octet-stream".into());
        let name = a.attachment_name().unwrap_or("vedlegg").to_string();
        let lower = name.to_lowercase();
        if content_type == "text/calendar" || lower.ends_with(".ics") {
            continue;
        }
        let is_text =
            lower.ends_with(".md") || lower.ends_with(".txt") || content_type == "text/markdown";
        // A roster from a spreadsheet program: UTF-8, or (Excel's "CSV" on Norwegian
        // Windows) Windows-1252, whose æ, ø and å are where Latin-1 has them.
        let is_csv = lower.ends_with(".csv") || content_type == "text/csv";
        out.push(FileInfo {
            size: a.contents().len(),
            // A spreadsheet roster is read as the CSV text of its first sheet (what
            // cannot be read is left without text; the roster reply says so).
            text: if sheet::is_readable_sheet(&lower) {
                sheet::first_sheet_as_csv(a.contents()).ok()
            } else if is_csv {
                Some(match std::str::from_utf8(a.contents()) {
                    Ok(t) => t.to_string(),
                    Err(_) => a.contents().iter().map(|b| char::from(*b)).collect(),
                })
            } else {
                is_text.then(|| {
                    a.text_contents()
                        .map(str::to_string)
                        .unwrap_or_else(|| String::from_utf8_lossy(a.contents()).into_owned())
                })
            },
            name,
            content_type,
        });
        if out.len() >= 100 {
            return;
        }
    }
}

/// The bytes of an attachment by its name, for passing a document on (draft minutes
/// as .docx or .pdf). The message was read once already; a parser panic is contained.
pub fn attachment_bytes(raw: &[u8], name: &str) -> Option<(String, Vec<u8>)> {
    fn find(msg: &mail_parser::Message<'_>, name: &str, depth: usize) -> Option<(String, Vec<u8>)> {
        for a in msg.attachments() {
            if let Some(inner) = a.message() {
                if depth < 3 {
                    if let Some(found) = find(inner, name, depth + 1) {
                        return Some(found);
                    }
                }
                continue;
            }
            if a.attachment_name() == Some(name) {
                let ct = a
                    .content_type()
                    .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")))
                    .unwrap_or_else(|| "application/octet-stream".into());
                return Some((ct, a.contents().to_vec()));
            }
        }
        None
    }
    std::panic::catch_unwind(|| {
        let msg = MessageParser::default().parse(raw)?;
        find(&msg, name, 0)
    })
    .ok()
    .flatten()
}

impl Understanding {
    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::Unknown)
    }

    /// Whether answering this message could start a loop or send backscatter
    /// (RFC 3834 §2): autoresponders, bounces, lists, and mail `referent` sent itself.
    pub fn must_not_be_answered(&self) -> bool {
        self.auto_reply.is_some() || self.bounce.is_some() || self.is_list || self.sent_by_referent
    }
}

/// The header `referent` puts on everything it sends.
pub const SENT_BY_HEADER: &str = "X-Referent";

/// Reads a raw message. Never panics and never fails: what cannot be read is listed in
/// `problems`, and the caller keeps the raw bytes whatever happens here.
pub fn understand(raw: &[u8], limits: Limits) -> Understanding {
    let raw = &*legacy_zone::fix_ut_zone(raw);
    if raw.len() > limits.max_bytes {
        // Read only the header block of a huge message, so it can still be attributed.
        let head_end = find_header_end(raw).unwrap_or(raw.len().min(64 * 1024));
        let head = raw.get(..head_end.min(64 * 1024)).unwrap_or(raw);
        let mut u = guarded(head, limits);
        u.problems.push(format!(
            "the message is {} bytes, more than the {} bytes referent reads; kept unread for a coordinator",
            raw.len(),
            limits.max_bytes
        ));
        u.kind = Some(Kind::Unknown);
        u.answer = None;
        return u;
    }
    guarded(raw, limits)
}

fn guarded(raw: &[u8], limits: Limits) -> Understanding {
    // The MIME parser has had fuzzer-found panics: contain them so one message cannot
    // take the daemon down.
    match catch_unwind(AssertUnwindSafe(|| understand_inner(raw, limits))) {
        Ok(u) => u,
        Err(_) => {
            // Read the header block alone, so the message can still be attributed.
            let head = raw
                .get(..find_header_end(raw).unwrap_or(0))
                .unwrap_or_default();
            let mut u = catch_unwind(AssertUnwindSafe(|| understand_inner(head, limits)))
                .unwrap_or_default();
            u.kind = Some(Kind::Unknown);
            u.answer = None;
            u.reply_text.clear();
            u.problems.push(
                "the MIME parser failed on this message's body; kept raw for a coordinator".into(),
            );
            u
        }
    }
}

/// The understanding without its panic guard, for the fuzzer: a panic here must reach
/// it rather than be caught. Not for the daemon.
#[doc(hidden)]
pub fn understand_unguarded(raw: &[u8], limits: Limits) -> Understanding {
    understand_inner(raw, limits)
}

fn find_header_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
}

fn text_list(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn header_text(v: &HeaderValue<'_>) -> Option<String> {
    match v {
        HeaderValue::Text(t) => Some(t.to_string()),
        HeaderValue::TextList(l) => Some(l.join(", ")),
        HeaderValue::Address(a) => a.first().and_then(|x| x.address()).map(str::to_string),
        HeaderValue::Empty => Some(String::new()),
        _ => None,
    }
}

fn understand_inner(raw: &[u8], limits: Limits) -> Understanding {
    let mut u = Understanding::default();
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        u.problems.push("the message is empty".into());
        u.kind = Some(Kind::Unknown);
        return u;
    }
    let Some(msg) = MessageParser::default().parse(raw) else {
        u.problems.push("cannot parse the message as MIME".into());
        u.kind = Some(Kind::Unknown);
        return u;
    };
    if msg.headers().is_empty() {
        u.problems.push("the message has no header fields".into());
    }

    u.message_id = msg
        .message_id()
        .map(|m| m.trim_matches(['<', '>']).to_string());
    let mut ids = text_list(msg.in_reply_to());
    let mut refs = text_list(msg.references());
    refs.reverse();
    ids.append(&mut refs);
    let mut seen = std::collections::HashSet::new();
    u.thread_ids = ids
        .into_iter()
        .map(|i| i.trim_matches(['<', '>', ' ']).to_string())
        .filter(|i| !i.is_empty() && seen.insert(i.clone()))
        .collect();

    match msg.from().and_then(|a| a.first()) {
        Some(addr) => {
            u.from_name = addr.name().map(str::to_string);
            match addr.address().map(normalize_address) {
                Some(Ok(a)) => u.from = Some(a),
                Some(Err(_)) | None => u
                    .problems
                    .push("cannot read the sender's address (From:)".into()),
            }
        }
        None => u.problems.push("the message has no From: address".into()),
    }
    for list in [msg.to(), msg.cc()].into_iter().flatten() {
        for a in list.iter() {
            if let Some(Ok(addr)) = a.address().map(normalize_address) {
                u.recipients.push(addr);
            }
        }
    }
    for name in ["Delivered-To", "X-Original-To", "Envelope-To"] {
        for v in msg.header_values(name) {
            if let Some(Ok(a)) = header_text(v).as_deref().map(normalize_address) {
                u.recipients.push(a);
            }
        }
    }
    // A subject is a line: what is kept of it (and quoted back in questions,
    // confirmation requests and digests) is capped, so a huge one is not mailed on.
    u.subject = capped(msg.subject().unwrap_or(""), MAX_SUBJECT);
    u.date = msg.date().and_then(|d| {
        chrono::NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
    });
    u.sent_by_referent = msg.header(SENT_BY_HEADER).is_some();

    let get = |name: &str| msg.header(name).and_then(header_text);
    let content_type = msg
        .root_part()
        .content_type()
        .map(|ct| {
            let mut s = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
            if let Some(rt) = ct.attribute("report-type") {
                s.push_str("; report-type=");
                s.push_str(rt);
            }
            s
        })
        .unwrap_or_default();
    let from = u.from.clone().unwrap_or_default();
    let headers = auto::Headers {
        get: &get,
        subject: &u.subject,
        from: &from,
        content_type: &content_type,
    };

    // The body as text: text/plain preferred, else HTML rendered with quotes cut.
    let body = if let Some(t) = msg.text_bodies().next().filter(|p| !p.is_text_html()) {
        t.text_contents().unwrap_or("").to_string()
    } else if let Some(h) = msg.html_bodies().next() {
        text::html_to_text(h.text_contents().unwrap_or(""))
    } else {
        String::new()
    };
    let body = cut(&body, limits.max_text);
    if body.contains('\u{fffd}') {
        u.problems
            .push("part of the text could not be decoded (unknown or broken charset)".into());
    }

    let raw_text =
        String::from_utf8_lossy(raw.get(..raw.len().min(limits.max_text * 4)).unwrap_or(raw));
    if let Some(b) = auto::read_bounce(&headers, &bounce::report_text(&msg, &raw_text), body) {
        u.bounce = Some(b);
        u.kind = Some(Kind::Bounce);
    } else if auto::is_automatic(&headers) && !auto::is_list(&headers)
        || is_auto_subject_only(&headers)
    {
        u.reply_text = text::reply_text(body);
        let reference = u.date.unwrap_or(chrono::NaiveDate::MIN);
        u.auto_reply = Some(AutoReply {
            // Without a Date: header only a date with its year can be trusted.
            until: auto::return_date(&u.reply_text, reference).filter(|d| d.year() > 1900),
        });
        u.kind = Some(Kind::AutoReply);
    } else {
        u.is_list = auto::is_list(&headers) || auto::is_automatic(&headers);
        classify(&msg, &mut u, body);
        list_attachments(&msg, &mut u.attachments, 0);
    }
    u.language = detect_language(if u.reply_text.is_empty() {
        body
    } else {
        &u.reply_text
    });
    u
}

/// Reads what a person (or their calendar) wrote: forwards first, so a coordinator's
/// forward is understood as the original sender's message.
fn classify(msg: &mail_parser::Message<'_>, u: &mut Understanding, body: &str) {
    let subject_lower = u.subject.trim().to_lowercase();
    let is_forward = ["vs:", "fw:", "fwd:", "wg:", "tr:", "videresend:"]
        .iter()
        .any(|p| subject_lower.starts_with(p));
    // The calendar part speaks for the sender whatever the text says.
    for part in msg.parts.iter() {
        let is_calendar = part
            .content_type()
            .map(|ct| {
                ct.ctype().eq_ignore_ascii_case("text")
                    && ct
                        .subtype()
                        .is_some_and(|s| s.eq_ignore_ascii_case("calendar"))
            })
            .unwrap_or(false)
            || part
                .attachment_name()
                .is_some_and(|n| n.to_lowercase().ends_with(".ics"));
        if is_calendar {
            let text = match part.text_contents() {
                Some(t) => t.to_string(),
                None => String::from_utf8_lossy(part.contents()).to_string(),
            };
            if let Some(c) = itip::read(&text) {
                u.calendar = Some(c);
                break;
            }
        }
    }
    // A forwarded message: an attached message/rfc822, or a header block in the text.
    let mut effective_subject = u.subject.clone();
    let mut effective_body = body.to_string();
    let attached = msg.attachments().find_map(|a| a.message());
    if let Some(inner) = attached {
        if let Some(addr) = inner.from().and_then(|a| a.first()) {
            u.on_behalf_of = addr.address().and_then(|a| normalize_address(a).ok());
            u.on_behalf_of_name = addr.name().map(str::to_string);
        }
        effective_subject = capped(inner.subject().unwrap_or(""), MAX_SUBJECT);
        effective_body = inner
            .text_bodies()
            .next()
            .filter(|p| !p.is_text_html())
            .and_then(|p| p.text_contents().map(str::to_string))
            .or_else(|| {
                inner
                    .html_bodies()
                    .next()
                    .and_then(|h| h.text_contents())
                    .map(text::html_to_text)
            })
            .unwrap_or_default();
    } else if let Some(f) = forward::find(body, is_forward) {
        // `forward::find` only takes Outlook's "Original Message" separator and a bare
        // header block for a forward under a forward subject; under RE:/SV: they are
        // the quote of the message replied to (Outlook writes the same separator above
        // both), so a reply never becomes a forward of what it quotes.
        if f.from.is_some() || is_forward {
            u.on_behalf_of = f.from.clone();
            u.on_behalf_of_name = f.from_name.clone();
            effective_subject = f.subject.clone().unwrap_or_default();
            effective_body = f.body.clone();
        }
    }
    let forwarded = u.on_behalf_of.is_some() || attached.is_some();
    u.reply_text = text::reply_text(&effective_body);

    if let Some(c) = &u.calendar {
        if c.method == "REPLY" || c.method == "COUNTER" {
            if let Some(r) = c.response {
                u.answer = Some(Answer {
                    response: r,
                    attendance: None,
                    substitute: None,
                });
                u.kind = Some(Kind::Rsvp);
                return;
            }
        }
        // A proposal of a new time without an answer beside it: for the coordinators,
        // never read from the client's text ("Ny tid foreslått").
        if c.method == "COUNTER" {
            u.kind = Some(Kind::Rsvp);
            return;
        }
    }
    if !forwarded {
        // A command is read before an answer: "status" or "Nytt møte 12. januar kl. 10"
        // without a summons to refer to is never an answer to one.
        let command = command::read(&effective_subject, &u.reply_text).filter(|c| {
            // "Status: jeg kommer" is an answer with a word in front, not a request.
            !matches!(c, command::Command::Status { filter: Some(_) })
                || rsvp::read(&u.reply_text).answer.is_none()
        });
        if let Some(c) = command {
            u.kind = Some(match c {
                command::Command::Status { .. } => Kind::Status,
                command::Command::Roster { .. } => Kind::Roster,
                _ => Kind::MeetingChange,
            });
            u.command = Some(c);
            return;
        }
        if let Some(d) = secretariat::read_decision(&u.reply_text) {
            u.decision = Some(d);
            u.kind = Some(Kind::CoordinatorDecision);
            return;
        }
    }
    if let Some(item) = secretariat::read_agenda_request(&effective_subject, &u.reply_text) {
        u.agenda_item = Some(item);
        u.kind = Some(Kind::AgendaRequest);
        return;
    }
    if secretariat::is_minutes_subject(&effective_subject) {
        let replied =
            strip_subject_prefixes(&effective_subject).len() < effective_subject.trim().len();
        if replied {
            let mut corrections = secretariat::read_corrections(&u.reply_text);
            let inline = secretariat::read_inline_edits(&effective_body);
            if !inline.is_empty() {
                // The text above the quote only introduces the edits ("se rettelser i
                // teksten"): the edits are the corrections.
                corrections.retain(|c| c.before.is_some() || c.item.is_some());
                corrections.extend(inline);
            }
            u.corrections = corrections;
            u.minutes_reply_body = Some(effective_body.clone());
            u.kind = Some(Kind::MinutesCorrection);
        } else {
            u.kind = Some(Kind::MinutesDraft);
        }
        return;
    }
    // An answer is a reply (threading or a reply prefix) or a short note; a long message
    // that replies to nothing is a newsletter or a report, whatever words it contains.
    let replyish = !u.thread_ids.is_empty()
        || forwarded
        || strip_subject_prefixes(&effective_subject).len() < effective_subject.trim().len();
    if !replyish && u.reply_text.len() > 600 {
        u.kind = Some(Kind::Unknown);
        return;
    }
    let mut reading = rsvp::read(&u.reply_text);
    if reading.answer.is_none() && u.reply_text.trim().is_empty() {
        // An empty body: the subject may carry the answer ("Forfall 12. januar").
        reading = rsvp::read(strip_subject_prefixes(&effective_subject));
    }
    u.extra_attendee = rsvp::find_extra_attendee(&u.reply_text);
    if reading.answer.is_none() && u.extra_attendee.is_some() {
        // "Jeg tar med meg Per Olsen som bisitter": a bisitter comes with the member,
        // so announcing one says the member comes.
        reading.answer = Some(Answer {
            response: Response::Accepted,
            attendance: None,
            substitute: None,
        });
    }
    u.answer = reading.answer;
    u.confidence = reading.confidence;
    u.readings = reading.readings;
    u.kind = Some(
        if u.answer.is_some() || looks_like_invitation_reply(&effective_subject) {
            Kind::Rsvp
        } else {
            Kind::Unknown
        },
    );
}

fn is_auto_subject_only(h: &auto::Headers<'_>) -> bool {
    auto::is_automatic(&auto::Headers {
        get: &|_| None,
        subject: h.subject,
        from: h.from,
        content_type: h.content_type,
    })
}

fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The subject without reply and forward prefixes ("SV: VS: Re: Fwd: …").
/// Characters of a subject kept: RFC 5322's line limit.
const MAX_SUBJECT: usize = 998;

/// `text` cut to at most `max` characters, with "…" when cut.
fn capped(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or(text)),
        None => text.to_string(),
    }
}

pub fn strip_subject_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let prefix = [
            "sv:", "re:", "vs:", "fw:", "fwd:", "aw:", "wg:", "vb:", "svar:", "ang:", "antw:",
        ]
        .iter()
        .find(|p| lower.starts_with(*p));
        match prefix {
            Some(p) => s = s.get(p.len()..).unwrap_or("").trim_start(),
            None => return s,
        }
    }
}

fn looks_like_invitation_reply(subject: &str) -> bool {
    let lower = subject.to_lowercase();
    let replied = strip_subject_prefixes(subject).len() < subject.trim().len();
    replied
        && [
            "innkalling",
            "invitasjon",
            "påminnelse",
            "summons",
            "invitation",
            "reminder",
            "møte",
            "meeting",
        ]
        .iter()
        .any(|w| lower.contains(w))
}

/// Bokmål, Nynorsk or English, from marker words; `None` when nothing tells.
pub fn detect_language(text: &str) -> Option<Lang> {
    const NB: &[&str] = &[
        "jeg",
        "ikke",
        "kommer",
        "dessverre",
        "deltar",
        "hilsen",
        "vennlig",
        "møter",
        "hva",
        "hvordan",
        "fra",
        "være",
        "bare",
        "også",
        "anledning",
        "får",
        "takk",
        "skal",
        "mitt",
        "mvh",
        "forfall",
        "melde",
        "ja",
        "nei",
        "kan",
        "må",
        "til",
        "og",
        "det",
        "er",
        "vi",
        "svarer",
        "neste",
        "uke",
        "usikker",
        "gang",
        "gangen",
        "fysisk",
        "digitalt",
        "hei",
        "dessverre",
        "beklager",
        "møtet",
        "sak",
        "saken",
        "referat",
        "ikke",
        "noen",
        "hilsen",
        "min",
        "se",
        "rettelse",
        "rettelsen",
        "teksten",
        "står",
        "stå",
        "vedtok",
        "rådet",
    ];
    const NN: &[&str] = &[
        "eg", "ikkje", "kjem", "kome", "diverre", "deltek", "helsing", "venleg", "kva", "korleis",
        "frå", "vere", "berre", "høve", "me", "mykje", "noko", "dykk", "kven", "sjølv", "heilt",
        "møtar",
    ];
    const EN: &[&str] = &[
        "i",
        "the",
        "will",
        "not",
        "attend",
        "and",
        "be",
        "yes",
        "can't",
        "thanks",
        "regards",
        "unfortunately",
        "meeting",
        "you",
        "to",
        "am",
        "my",
        "is",
        "of",
        "for",
        "won't",
        "please",
        "sorry",
        "there",
    ];
    // Words Bokmål and Nynorsk share and English does not (or, for "i", shares with
    // "I": English text has its own markers beside it).
    const SHARED: &[&str] = &["i", "på", "med", "av", "om", "som", "har", "vil"];
    let mut counts = [0usize; 3];
    for w in text
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
        .filter(|w| !w.is_empty())
        .take(400)
    {
        let w = w.to_lowercase().replace('’', "'");
        // Nynorsk markers weigh double: Nynorsk shares most short words with Bokmål.
        if NN.contains(&w.as_str()) {
            counts[1] += 2;
        }
        if NB.contains(&w.as_str()) {
            counts[0] += 1;
        }
        if SHARED.contains(&w.as_str()) {
            counts[0] += 1;
            counts[1] += 1;
        }
        if EN.contains(&w.as_str()) {
            counts[2] += 1;
        }
    }
    let max = *counts.iter().max().unwrap_or(&0);
    if max == 0 {
        return None;
    }
    if counts[1] == max {
        Some(Lang::Nn)
    } else if counts[0] == max {
        Some(Lang::Nb)
    } else {
        Some(Lang::En)
    }
}

/// The JSON that `referent inspect --json` prints.
#[derive(Debug, Serialize)]
pub struct Inspection {
    pub kind: Kind,
    pub language: Option<Lang>,
    pub sender: Option<String>,
    pub on_behalf_of: Option<String>,
    pub reply_text: String,
    pub rsvp: Option<RsvpJson>,
    /// "sure" or "unsure" (how the answer in `rsvp` was read).
    pub confidence: Confidence,
    /// When unsure: the competing readings, in the order written; else empty.
    pub readings: Vec<Response>,
    /// An extra attendee (bisitter) the member announced.
    pub extra_attendee: Option<Substitute>,
    pub agenda_item: Option<AgendaItem>,
    pub corrections: Vec<Correction>,
    pub decision: Option<Decision>,
    pub auto_reply: Option<AutoReply>,
    pub bounce: Option<Bounce>,
    /// A calendar client's reply as read: method, UID, attendee, response, the
    /// version answered, and a proposed time (left out when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarReply>,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RsvpJson {
    pub response: Response,
    pub attendance: Option<Attendance>,
    pub substitute: Option<Substitute>,
}

impl From<&Understanding> for Inspection {
    fn from(u: &Understanding) -> Self {
        Inspection {
            kind: u.kind(),
            language: u.language,
            sender: u.from.clone(),
            on_behalf_of: u.on_behalf_of.clone(),
            reply_text: u.reply_text.clone(),
            rsvp: u.answer.as_ref().map(|a| RsvpJson {
                response: a.response,
                attendance: a.attendance,
                substitute: a.substitute.clone(),
            }),
            confidence: u.confidence,
            readings: u.readings.clone(),
            extra_attendee: u.extra_attendee.clone(),
            agenda_item: u.agenda_item.clone(),
            corrections: u.corrections.clone(),
            decision: u.decision,
            auto_reply: u.auto_reply.clone(),
            bounce: u.bounce.clone(),
            calendar: u.calendar.clone(),
            problems: u.problems.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = "From: Ola Nordmann <Ola@Example.no>\r\nTo: referent+0123456789abcdef0123456789abcdef@council.no\r\nSubject: SV: Innkalling til møte\r\nMessage-ID: <r1@example.no>\r\nIn-Reply-To: <summons.x@council.no>\r\nReferences: <a@council.no> <summons.x@council.no>\r\n\r\nJa, jeg kommer.\r\n\r\nDen tir. 5. jan. 2027 kl. 10:00 skrev Sekretariatet <referent@council.no>:\r\n> Vi kaller inn til møte. Kan du ikke komme, meld forfall.\r\n";

    #[test]
    fn a_command_is_no_answer_and_an_answer_is_no_command() {
        let mail = |body: &str| {
            format!(
                "From: Kari <kari@hf.example>\r\nTo: referent@regut.example\r\nSubject: SV: Innkalling\r\n\
                 In-Reply-To: <summons.abc@regut.example>\r\nMessage-ID: <r1@hf.example>\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            )
        };
        let u = understand(mail("status").as_bytes(), Limits::default());
        assert_eq!(u.kind(), Kind::Status);
        assert!(u.answer.is_none());
        let u = understand(
            mail("Nytt møte i Utdanningsrådet 12. januar kl. 10–12 på Ullevål").as_bytes(),
            Limits::default(),
        );
        assert_eq!(u.kind(), Kind::MeetingChange);
        assert!(u.answer.is_none());
        let u = understand(mail("Status: jeg kommer").as_bytes(), Limits::default());
        assert_eq!(u.kind(), Kind::Rsvp);
    }

    #[test]
    fn a_huge_subject_is_kept_as_a_line() {
        let raw = format!(
            "From: ola@example.no\r\nTo: referent@council.no\r\nSubject: {}\r\n\r\nJeg kommer.\r\n",
            "Å".repeat(100_000)
        );
        let u = understand(raw.as_bytes(), Limits::default());
        assert_eq!(u.subject.chars().count(), MAX_SUBJECT + 1);
        assert!(u.subject.ends_with('…'));
        assert_eq!(capped("kort", 10), "kort");
    }

    #[test]
    fn reads_a_plain_answer() {
        let u = understand(REPLY.as_bytes(), Limits::default());
        assert_eq!(u.kind(), Kind::Rsvp);
        assert_eq!(u.from.as_deref(), Some("ola@example.no"));
        assert_eq!(u.thread_ids, vec!["summons.x@council.no", "a@council.no"]);
        assert_eq!(u.reply_text, "Ja, jeg kommer.");
        assert_eq!(u.answer.unwrap().response, Response::Accepted);
        assert_eq!(u.language, Some(Lang::Nb));
        assert!(u.problems.is_empty(), "{:?}", u.problems);
    }

    #[test]
    fn an_out_of_office_is_never_an_answer() {
        let raw = "From: kari@example.no\r\nTo: referent@council.no\r\nSubject: Automatisk svar: Innkalling\r\nAuto-Submitted: auto-replied\r\n\r\nJeg er på ferie og kommer ikke på møtet. Tilbake 12.01.2027.\r\n";
        let u = understand(raw.as_bytes(), Limits::default());
        assert_eq!(u.kind(), Kind::AutoReply);
        assert!(u.answer.is_none());
        assert!(u.must_not_be_answered());
        assert_eq!(
            u.auto_reply.unwrap().until,
            chrono::NaiveDate::from_ymd_opt(2027, 1, 12)
        );
    }

    #[test]
    fn garbage_and_huge_input_do_not_panic() {
        for raw in [
            &b""[..],
            b"\0\0\0",
            b"From: ::::::::\r\n\r\n",
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n",
        ] {
            let u = understand(raw, Limits::default());
            assert_eq!(u.kind(), Kind::Unknown);
        }
        let big = format!("From: a@b.no\r\nSubject: x\r\n\r\n{}", "a".repeat(2000));
        let u = understand(
            big.as_bytes(),
            Limits {
                max_bytes: 1000,
                max_text: 100,
            },
        );
        assert!(u.problems.iter().any(|p| p.contains("bytes")));
        assert_eq!(u.from.as_deref(), Some("a@b.no"));
    }

    #[test]
    fn subjects() {
        assert_eq!(
            strip_subject_prefixes("SV: VS: Re:Innkalling"),
            "Innkalling"
        );
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // timing printed for a person, never asserted
mod hostile {
    use super::*;

    fn nested(depth: usize) -> Vec<u8> {
        let mut m = String::from(
            "From: a@b.no\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n",
        );
        for i in 0..depth {
            m.push_str(&format!(
                "--b{i}\r\nContent-Type: multipart/mixed; boundary=\"b{}\"\r\n\r\n",
                i + 1
            ));
        }
        m.push_str("Ja\r\n");
        m.into_bytes()
    }

    #[test]
    fn ten_thousand_nested_parts() {
        let started = std::time::Instant::now();
        let u = understand(&nested(10_000), Limits::default());
        assert_eq!(u.from.as_deref(), Some("a@b.no"));
        eprintln!("10,000 nested parts: {:?}", started.elapsed());
    }

    #[test]
    fn colons_and_angle_brackets() {
        let mut m = String::from("From: ");
        m.push_str(&":".repeat(99_999));
        m.push_str("\r\nTo: ");
        m.push_str(&"<".repeat(50_000));
        m.push_str("\r\nSubject: ");
        m.push_str(&"=?utf-8?q?".repeat(10_000));
        m.push_str("\r\n\r\n");
        m.push_str(&"> ".repeat(100_000));
        let u = understand(m.as_bytes(), Limits::default());
        assert!(!u.problems.is_empty());
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // timing printed for a person, never asserted
mod timing {
    #[test]
    #[ignore]
    fn where_html_time_goes() {
        let mut html = String::from("<div>");
        for _ in 0..50_000 {
            html.push_str("<div><span>Kommer</span>&nbsp;&amp;<br></div>");
        }
        let t = std::time::Instant::now();
        let text = super::text::html_to_text(&html);
        eprintln!("html_to_text {:?} ({} bytes)", t.elapsed(), text.len());
        let text = super::cut(&text, 256 * 1024);
        let t = std::time::Instant::now();
        let r = super::text::reply_text(text);
        eprintln!("reply_text {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let _ = super::rsvp::read_answer(&r);
        eprintln!("read_answer {:?}", t.elapsed());
        let raw = format!("From: a@b.no\r\nSubject: SV: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}");
        let t = std::time::Instant::now();
        let m = mail_parser::MessageParser::default().parse(raw.as_bytes());
        eprintln!("mail-parser {:?} {}", t.elapsed(), m.is_some());
    }
}
