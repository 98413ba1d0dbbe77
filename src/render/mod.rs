//! Templates (handlebars, in `templates/{nb,en}/`) turned into a subject and a text
//! body. The templates are compiled into the binary and checked at start-up, so a broken
//! template stops the daemon before it sends anything.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use handlebars::Handlebars;
use serde::Serialize;

use crate::domain::{Answer, Attendance, Language, Response};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {0} does not compile: {1}")]
    Compile(String, Box<handlebars::TemplateError>),
    #[error("cannot render template {0}: {1}")]
    Render(String, Box<handlebars::RenderError>),
    #[error("template {0} must start with a \"Subject: …\" line and a blank line")]
    NoSubject(String),
}

const TEMPLATES: &[(&str, &str)] = &[
    ("nb/summons", include_str!("../../templates/nb/summons.hbs")),
    ("en/summons", include_str!("../../templates/en/summons.hbs")),
    ("nb/receipt", include_str!("../../templates/nb/receipt.hbs")),
    ("en/receipt", include_str!("../../templates/en/receipt.hbs")),
    (
        "nb/reminder",
        include_str!("../../templates/nb/reminder.hbs"),
    ),
    (
        "en/reminder",
        include_str!("../../templates/en/reminder.hbs"),
    ),
    ("nb/notice", include_str!("../../templates/nb/notice.hbs")),
    (
        "nb/question",
        include_str!("../../templates/nb/question.hbs"),
    ),
    (
        "en/question",
        include_str!("../../templates/en/question.hbs"),
    ),
    ("en/notice", include_str!("../../templates/en/notice.hbs")),
];

/// A rendered email text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

pub struct Renderer {
    hb: Handlebars<'static>,
}

impl Renderer {
    /// Compiles every template and renders each once with sample data, so a template
    /// that cannot work is found at start-up.
    pub fn new() -> Result<Renderer, RenderError> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(false);
        // Plain-text mail: no HTML escaping.
        hb.register_escape_fn(handlebars::no_escape);
        for (name, text) in TEMPLATES {
            hb.register_template_string(name, *text)
                .map_err(|e| RenderError::Compile(name.to_string(), Box::new(e)))?;
        }
        let r = Renderer { hb };
        let sample = MeetingText {
            council: "Utdanningsrådet".into(),
            title: "Møte".into(),
            date: "tirsdag 12. januar 2027".into(),
            time: "10:00–12:00".into(),
            room: Some("Ullevål".into()),
            link: None,
            name: "Ola".into(),
            secretariat: "Sekretariatet".into(),
            asked: true,
            agenda: vec![],
            understood: None,
            tentative: false,
            forwarded_by: None,
        };
        for lang in [Language::Nb, Language::En] {
            for t in ["summons", "receipt", "reminder"] {
                r.render(lang, t, &sample)?;
            }
            r.render(
                lang,
                "notice",
                &NoticeText {
                    subject: "x".into(),
                    name: "x".into(),
                    lines: vec!["x".into()],
                    secretariat: "x".into(),
                },
            )?;
        }
        Ok(r)
    }

    pub fn render<T: Serialize>(
        &self,
        lang: Language,
        template: &str,
        ctx: &T,
    ) -> Result<Rendered, RenderError> {
        let name = format!("{}/{template}", lang.as_str());
        let text = self
            .hb
            .render(&name, ctx)
            .map_err(|e| RenderError::Render(name.clone(), Box::new(e)))?;
        let (first, rest) = text
            .split_once('\n')
            .ok_or_else(|| RenderError::NoSubject(name.clone()))?;
        let subject = first
            .strip_prefix("Subject:")
            .ok_or_else(|| RenderError::NoSubject(name.clone()))?
            .trim()
            .to_string();
        let body = rest.strip_prefix('\n').unwrap_or(rest).to_string();
        Ok(Rendered { subject, body })
    }
}

/// A message to coordinators: what happened, in a few lines.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeText {
    pub subject: String,
    pub name: String,
    pub lines: Vec<String>,
    pub secretariat: String,
}

/// What the templates can say about a meeting and its recipient.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingText {
    pub council: String,
    pub title: String,
    pub date: String,
    pub time: String,
    pub room: Option<String>,
    pub link: Option<String>,
    pub name: String,
    pub secretariat: String,
    /// Whether the recipient is asked to answer (observers are not).
    pub asked: bool,
    pub agenda: Vec<String>,
    pub understood: Option<String>,
    /// The recipient said "maybe" before (reminders say so).
    pub tentative: bool,
    /// Who sent us the recipient's answer, when it came forwarded (receipts say so).
    pub forwarded_by: Option<String>,
}

/// The name to greet someone by: "Kari" for "Kari Nordmann", "Per" for Outlook's
/// "Hansen, Per". Norwegian mail greets by first name.
pub fn first_name(name: &str) -> String {
    let n = match name.split_once(',') {
        Some((_, given)) if !given.trim().is_empty() => given.trim(),
        _ => name.trim(),
    };
    n.split_whitespace().next().unwrap_or(n).to_string()
}

const NB_DAYS: [&str; 7] = [
    "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag",
];
const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const NB_MONTHS: [&str; 12] = [
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "tirsdag 12. januar 2027" / "Tuesday 12 January 2027", in the meeting's time zone.
pub fn format_date(lang: Language, t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    let wd = l.weekday().num_days_from_monday() as usize;
    let m = l.month0() as usize;
    match lang {
        // Weekday 0–6 and month 0–11 always index the tables; `get` keeps it so.
        Language::Nb => format!(
            "{} {}. {} {}",
            NB_DAYS.get(wd).unwrap_or(&""),
            l.day(),
            NB_MONTHS.get(m).unwrap_or(&""),
            l.year()
        ),
        Language::En => format!(
            "{} {} {} {}",
            EN_DAYS.get(wd).unwrap_or(&""),
            l.day(),
            EN_MONTHS.get(m).unwrap_or(&""),
            l.year()
        ),
    }
}

/// "10:00–12:00" in the meeting's time zone.
pub fn format_time_range(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    let s = start.with_timezone(&tz);
    let e = end.with_timezone(&tz);
    format!(
        "{:02}:{:02}–{:02}:{:02}",
        s.hour(),
        s.minute(),
        e.hour(),
        e.minute()
    )
}

/// One line saying what was understood of an answer, for the receipt.
/// One reading of an answer in a few words, for "we read it both as … and as …".
pub fn describe_response(lang: Language, r: Response) -> String {
    match (lang, r) {
        (Language::Nb, Response::Accepted) => "«kommer»",
        (Language::Nb, Response::Declined) => "«forfall»",
        (Language::Nb, Response::Tentative) => "«vet ikke ennå»",
        (Language::En, Response::Accepted) => "\"attending\"",
        (Language::En, Response::Declined) => "\"not attending\"",
        (Language::En, Response::Tentative) => "\"not sure yet\"",
    }
    .to_string()
}

/// An answer told about someone else ("Ola Hansen har forfall, og …"), for the
/// coordinator who confirms a forward.
pub fn describe_answer_of(lang: Language, who: &str, a: &Answer) -> String {
    if let Some(s) = &a.substitute {
        let sub = match &s.email {
            Some(e) => format!("{} <{}>", s.name, e),
            None => s.name.clone(),
        };
        return match lang {
            Language::Nb => format!("{who} har forfall, og {sub} møter i stedet"),
            Language::En => format!("{who} cannot attend, and {sub} attends instead"),
        };
    }
    match (lang, a.response, a.attendance) {
        (Language::Nb, Response::Accepted, Some(Attendance::Digital)) => {
            format!("{who} deltar digitalt")
        }
        (Language::Nb, Response::Accepted, _) => format!("{who} kommer"),
        (Language::Nb, Response::Declined, _) => format!("{who} har meldt forfall"),
        (Language::Nb, Response::Tentative, _) => format!("{who} vet ennå ikke om hen kan komme"),
        (Language::En, Response::Accepted, Some(Attendance::Digital)) => {
            format!("{who} attends online")
        }
        (Language::En, Response::Accepted, _) => format!("{who} will attend"),
        (Language::En, Response::Declined, _) => format!("{who} cannot attend"),
        (Language::En, Response::Tentative, _) => format!("{who} does not know yet"),
    }
}

pub fn describe_answer(lang: Language, a: &Answer) -> String {
    if let Some(s) = &a.substitute {
        let who = match &s.email {
            Some(e) => format!("{} <{}>", s.name, e),
            None => s.name.clone(),
        };
        return match (lang, &s.email) {
            (Language::Nb, Some(_)) => format!("Du har forfall, og {who} møter for deg."),
            (Language::En, Some(_)) => {
                format!("You cannot attend, and {who} attends in your place.")
            }
            (Language::Nb, None) => format!(
                "Du har forfall, og {who} møter for deg. Vi har ikke e-postadressen til {who}: svar med den, så sender vi innkallingen."
            ),
            (Language::En, None) => format!(
                "You cannot attend, and {who} attends in your place. We do not have {who}'s email address: reply with it, and we send them the summons."
            ),
        };
    }
    match (lang, a.response, a.attendance) {
        (Language::Nb, Response::Accepted, Some(Attendance::Digital)) => {
            "Du deltar digitalt.".into()
        }
        (Language::Nb, Response::Accepted, Some(Attendance::InPerson)) => {
            "Du kommer og møter fysisk.".into()
        }
        (Language::Nb, Response::Accepted, None) => "Du kommer.".into(),
        (Language::Nb, Response::Declined, _) => "Du har meldt forfall.".into(),
        (Language::Nb, Response::Tentative, _) => "Du vet ennå ikke om du kan komme.".into(),
        (Language::En, Response::Accepted, Some(Attendance::Digital)) => {
            "You will attend online.".into()
        }
        (Language::En, Response::Accepted, Some(Attendance::InPerson)) => {
            "You will attend in person.".into()
        }
        (Language::En, Response::Accepted, None) => "You will attend.".into(),
        (Language::En, Response::Declined, _) => "You cannot attend.".into(),
        (Language::En, Response::Tentative, _) => {
            "You do not know yet whether you can attend.".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders() {
        let r = Renderer::new().unwrap();
        let ctx = MeetingText {
            council: "Utdanningsrådet".into(),
            title: "Møte 1/2027".into(),
            date: "tirsdag 12. januar 2027".into(),
            time: "10:00–12:00".into(),
            room: Some("Ullevål sykehus, møterom 3".into()),
            link: Some("https://teams.example/x".into()),
            name: "Ola Nordmann".into(),
            secretariat: "RegUt HSØ".into(),
            asked: true,
            agenda: vec!["Sak 1/27 Godkjenning av innkalling og saksliste".into()],
            understood: Some("Du kommer.".into()),
            tentative: false,
            forwarded_by: None,
        };
        let s = r.render(Language::Nb, "summons", &ctx).unwrap();
        assert_eq!(
            s.subject,
            "Innkalling: Utdanningsrådet tirsdag 12. januar 2027"
        );
        assert!(s.body.contains("Sted:  Ullevål sykehus, møterom 3"));
        assert!(s.body.contains("Sak 1/27"));
        assert!(s.body.contains("Melder forfall"));
        assert!(
            s.body
                .contains("Digitalt: https://teams.example/x\n\nSaksliste:\n  Sak 1/27"),
            "{}",
            s.body
        );
        assert!(
            s.body.ends_with("\n\nMed vennlig hilsen\nRegUt HSØ\n"),
            "{}",
            s.body
        );
        let observer = MeetingText {
            asked: false,
            agenda: vec![],
            ..ctx.clone()
        };
        let o = r.render(Language::Nb, "summons", &observer).unwrap();
        assert!(o.body.contains("til orientering") && !o.body.contains("Melder forfall"));
        let e = r.render(Language::En, "receipt", &ctx).unwrap();
        assert!(e.body.contains("Du kommer."));
    }

    #[test]
    fn dates_in_oslo() {
        let t = "2027-01-12T09:00:00Z".parse().unwrap();
        let e = "2027-01-12T11:00:00Z".parse().unwrap();
        assert_eq!(
            format_date(Language::Nb, t, chrono_tz::Europe::Oslo),
            "tirsdag 12. januar 2027"
        );
        assert_eq!(
            format_time_range(t, e, chrono_tz::Europe::Oslo),
            "10:00–12:00"
        );
    }
}
