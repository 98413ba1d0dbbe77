//! Setting a council up and showing a meeting: what the command line, the demo and the
//! fuzz harness share, so none of them imports another.

use std::io::Write;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::Config;
use crate::domain::{normalize_address, Language, Place, Role, Token};
use crate::schedule;
use crate::store::{NewMeeting, NewMember, Store};

/// Adds a meeting with its scheduled jobs.
#[allow(clippy::too_many_arguments)]
pub async fn add_meeting(
    store: &Store,
    cfg: &Config,
    council_id: i64,
    council_slug: &str,
    title: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    place: Place,
    now: DateTime<Utc>,
) -> Result<(i64, Vec<(crate::domain::JobKind, DateTime<Utc>)>)> {
    let jobs = schedule::jobs_for(
        starts_at,
        cfg.offsets(council_slug),
        cfg.secretariat.time_zone,
    );
    let uid = format!(
        "{}@{}",
        Token::generate().as_str(),
        cfg.secretariat.domain()
    );
    let id = store
        .add_meeting(
            &NewMeeting {
                council_id,
                title,
                starts_at,
                ends_at,
                time_zone: cfg.secretariat.time_zone.name().to_string(),
                place,
                uid,
            },
            &jobs,
            now,
        )
        .await?;
    Ok((id, jobs))
}

/// The separator: a comma, or the semicolon a spreadsheet writes where the comma is
/// the decimal sign (Excel on Norwegian settings), when the header has only those.
fn members_csv_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or("");
    if header.contains(';') && !header.contains(',') {
        b';'
    } else {
        b','
    }
}

/// The column names of a members CSV, lowercased (empty when it has no header).
pub fn members_csv_columns(text: &str) -> Vec<String> {
    let header = text.lines().next().unwrap_or("");
    let sep = char::from(members_csv_delimiter(text));
    header
        .split(sep)
        .map(|h| {
            h.trim()
                .trim_matches('"')
                .trim_start_matches('\u{feff}')
                .trim()
                .to_lowercase()
        })
        .collect()
}

/// Reads `name,email,org,role,doctor` rows. Every bad row is reported with its line
/// number, and then nothing is imported.
/// The rows of a roster that name the secretariat's own address as a member or a vara
/// (nobody's: mail to it would come back as if someone had written), as errors.
pub fn own_addresses(members: &[NewMember], s: &crate::config::Secretariat) -> Vec<String> {
    members
        .iter()
        .flat_map(|m| {
            let vara = m.vara.as_deref().map(|v| (v, "a vara"));
            std::iter::once((m.email.as_str(), "a member")).chain(vara)
        })
        .filter_map(|(a, what)| s.refuse_own(a, what).err())
        .collect()
}

pub fn parse_members_csv(text: &str) -> std::result::Result<Vec<NewMember>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(members_csv_delimiter(text))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_lowercase())
            .collect::<Vec<_>>(),
        Err(e) => return Err(vec![format!("line 1: cannot read the header: {e}")]),
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(name_i), Some(email_i)) = (col("name"), col("email")) else {
        return Err(vec![format!(
            "line 1: the header must be name,email,org,role,doctor (got {})",
            headers.join(",")
        )]);
    };
    for h in &headers {
        if !["name", "email", "org", "role", "doctor", "language", "vara"].contains(&h.as_str()) {
            return Err(vec![format!(
                "line 1: unknown column {h:?} (expected name,email,org,role,doctor,language,vara)"
            )]);
        }
    }
    let (org_i, role_i, doctor_i, language_i, vara_i) = (
        col("org"),
        col("role"),
        col("doctor"),
        col("language"),
        col("vara"),
    );
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("line {line}: {e}"));
                continue;
            }
        };
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("").to_string();
        let name = get(Some(name_i));
        let email = get(Some(email_i));
        if name.is_empty() {
            errors.push(format!("line {line}: the name is empty"));
        }
        if name.chars().chain(get(org_i).chars()).any(char::is_control) {
            errors.push(format!(
                "line {line}: the name or organisation holds a line break or another control character"
            ));
        }
        let email = match normalize_address(&email) {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("line {line}: {e}"));
                continue;
            }
        };
        if let Some(first) = seen.insert(email.clone(), line) {
            errors.push(format!("line {line}: {email} is already on line {first}"));
        }
        let role: Role = match get(role_i).parse() {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let doctor = match get(doctor_i).to_lowercase().as_str() {
            "" | "no" | "nei" | "false" | "0" | "n" => false,
            "yes" | "ja" | "true" | "1" | "y" | "j" | "lege" => true,
            other => {
                errors.push(format!(
                    "line {line}: doctor must be yes/no (ja/nei), not {other:?}"
                ));
                continue;
            }
        };
        let language = match get(language_i).as_str() {
            "" => None,
            l => match Language::parse(l) {
                Some(l) => Some(l),
                None => {
                    errors.push(format!(
                        "line {line}: language must be nb, nn or en, not {l:?}"
                    ));
                    continue;
                }
            },
        };
        // The personal substitute (vara), by address; empty: none.
        let vara = match get(vara_i).as_str() {
            "" => None,
            v => match normalize_address(v) {
                Ok(v) if v == email => {
                    errors.push(format!("line {line}: {email} cannot be their own vara"));
                    continue;
                }
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push(format!("line {line}: vara: {e}"));
                    continue;
                }
            },
        };
        let org = get(org_i);
        out.push(NewMember {
            name,
            email,
            organisation: (!org.is_empty()).then_some(org),
            role,
            doctor,
            language,
            vara,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The meeting with every invitation: the current answer, and the history behind it.
pub async fn meeting_show(store: &Store, cfg: &Config, id: i64) -> Result<serde_json::Value> {
    let m = store.meeting(id).await?;
    let invitations = store.invitations(id).await?;
    let answers = store.answers(id).await?;
    let jobs = store.jobs(id).await?;
    let agenda = store.agenda_items(id).await?;
    let extra = store.extra_attendees(id).await?;
    let roster = store.members(m.council_id).await?;
    let failing = |email: &str| {
        roster.iter().find(|mb| mb.email == email).and_then(|mb| {
            mb.failing_since
                .map(|at| json!({"since": at, "reason": mb.failing_reason}))
        })
    };
    let members: Vec<serde_json::Value> = invitations
        .iter()
        .map(|inv| {
            let history: Vec<_> = answers
                .iter()
                .filter(|a| a.invitation_id == inv.id)
                .map(|a| {
                    json!({
                        "response": a.response,
                        "attendance": a.attendance,
                        "substitute": a.substitute,
                        "received_at": a.received_at,
                        "sender": a.sender,
                        "source": a.source,
                        "message_id": a.message_id,
                    })
                })
                .collect();
            let current = answers.iter().find(|a| Some(a.id) == inv.answer_id);
            json!({
                "name": inv.member_name,
                "email": inv.member_email,
                "role": inv.role,
                "response": inv.response,
                "attendance": inv.attendance,
                "substitute": inv.substitute,
                "answered_at": inv.answered_at,
                "message_id": current.and_then(|a| a.message_id.clone()),
                "failing": failing(&inv.member_email),
                "history": history,
            })
        })
        .collect();
    // The fixed items are stored by code; people read their words (the templates'),
    // in the secretariat's language. The code stays beside them.
    let renderer = crate::render::Renderer::with_overrides(cfg.templates_dir.as_deref())?;
    let agenda: Vec<serde_json::Value> = agenda
        .iter()
        .map(|i| {
            let mut v = serde_json::to_value(i).unwrap_or_default();
            let code = (i.kind == crate::domain::ItemKind::Fixed)
                .then(|| crate::workflow::agenda::FixedItem::parse(&i.title))
                .flatten()
                .map(|f| f.code());
            if let (Some(code), Some(obj)) = (code, v.as_object_mut()) {
                let label = i.label().unwrap_or_default();
                let line = renderer.render_kind(
                    cfg.secretariat.language,
                    "agenda",
                    &crate::render::Common {
                        name: String::new(),
                        full_name: String::new(),
                        secretariat: cfg.secretariat.name.clone(),
                        ..Default::default()
                    },
                    &json!({"items": [{"label": label, "code": code, "title": i.title,
                        "proposer": null, "attachments": []}]}),
                );
                if let Ok(r) = line {
                    let text = r.body.trim();
                    let words = text
                        .split_once(label.as_str())
                        .map(|(_, rest)| rest.trim())
                        .unwrap_or(text);
                    obj.insert("title".into(), json!(words));
                }
                obj.insert("code".into(), json!(code));
            }
            v
        })
        .collect();
    Ok(json!({
        "meeting": m,
        "jobs": jobs,
        "agenda": agenda,
        "extra_attendees": extra,
        "invitations": members,
    }))
}

/// The attendance table a person reads.
pub fn print_attendance(v: &serde_json::Value, out: &mut dyn Write) -> Result<()> {
    let m = &v["meeting"];
    let tz: chrono_tz::Tz = m["time_zone"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(chrono_tz::Europe::Oslo);
    let local = |field: &serde_json::Value| {
        field
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    writeln!(
        out,
        "{} — {} ({})",
        m["council_name"].as_str().unwrap_or(""),
        m["title"].as_str().unwrap_or(""),
        local(&m["starts_at"])
    )?;
    writeln!(
        out,
        "{:<24} {:<40} {:<10} {:<10} {:<22} answered",
        "member", "email", "answer", "how", "substitute"
    )?;
    for i in v["invitations"].as_array().into_iter().flatten() {
        let sub = match &i["substitute"] {
            serde_json::Value::Object(s) => s
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("")
                .to_string(),
            _ => String::new(),
        };
        let answer = match (i["response"].as_str(), i["role"].as_str()) {
            (Some(r), _) => r.to_string(),
            (None, Some("observer" | "coordinator")) => "(informed)".to_string(),
            (None, _) => "—".to_string(),
        };
        writeln!(
            out,
            "{:<24} {:<40} {:<10} {:<10} {:<22} {}",
            i["name"].as_str().unwrap_or(""),
            i["email"].as_str().unwrap_or(""),
            answer,
            i["attendance"].as_str().unwrap_or(""),
            sub,
            local(&i["answered_at"])
        )?;
    }
    for i in v["invitations"].as_array().into_iter().flatten() {
        if let Some(f) = i["failing"].as_object() {
            writeln!(
                out,
                "mail to {} fails: {}",
                i["email"].as_str().unwrap_or(""),
                f.get("reason").and_then(|r| r.as_str()).unwrap_or("")
            )?;
        }
    }
    for x in v["extra_attendees"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "extra attendee: {} {} ({})",
            x["name"].as_str().unwrap_or(""),
            x["email"].as_str().unwrap_or(""),
            x["state"].as_str().unwrap_or("")
        )?;
    }
    let agenda: Vec<&serde_json::Value> = v["agenda"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| !i["number"].is_null())
        .collect();
    if !agenda.is_empty() {
        writeln!(out, "\nAgenda:")?;
        for i in agenda {
            writeln!(
                out,
                "  Sak {} {}",
                crate::schedule::item_label(
                    i["number"].as_i64().unwrap_or(0),
                    i["year"].as_i64().unwrap_or(0) as i32
                ),
                i["title"].as_str().unwrap_or("")
            )?;
        }
    }
    Ok(())
}
