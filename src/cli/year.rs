//! Commands for the council's year: the yearly calendar, agenda decisions, minutes,
//! what goes out when, and the audit log.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::json;

use crate::config::Config;
use crate::council::add_meeting;
use crate::daemon::Daemon;
use crate::domain::roster::{self, Seat};
use crate::domain::Place;
use crate::schedule::calendar;
use crate::store::{Meeting, Store};
use crate::understand::Decision;

#[derive(Subcommand, Debug)]
pub enum CalendarCommand {
    /// Propose a year's meeting dates from a rule; `--apply` stores them.
    Generate {
        #[arg(long)]
        council: String,
        #[arg(long)]
        year: i32,
        #[arg(long, default_value_t = 6)]
        count: u32,
        /// A weekday and a time span, e.g. "Tuesday 10:00-12:00" or "tirsdag 10:00-12:00".
        #[arg(long)]
        rule: String,
        /// The room, for every meeting.
        #[arg(long)]
        place: Option<String>,
        #[arg(long)]
        digital_link: Option<String>,
        /// Store the proposed meetings (without it, only print them).
        #[arg(long)]
        apply: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AgendaCommand {
    /// Proposals and agenda items.
    List {
        #[arg(long)]
        council: Option<String>,
        #[arg(long)]
        meeting: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Put a proposal on its meeting's agenda.
    Approve { id: i64 },
    /// Leave a proposal off the agenda; the proposer is told the reason, when given.
    Reject {
        id: i64,
        /// Why, in your words: sent to the proposer and the other coordinators.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Move a proposal to the next meeting.
    Defer { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum MinutesCommand {
    /// Send draft minutes (a .md or .txt file, or a .docx/.pdf sent as an attachment)
    /// to those who attended and the coordinators, for corrections.
    Submit { meeting: i64, file: PathBuf },
    /// Versions of a meeting's minutes and the corrections to each.
    Show {
        meeting: i64,
        #[arg(long)]
        json: bool,
    },
    /// Approve the current draft after its deadline and send the final minutes to all.
    Approve { meeting: i64 },
}

/// Who runs a command, for the audit log.
pub fn operator() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("command line ({user})")
}

pub async fn calendar_cmd(
    cmd: &CalendarCommand,
    cfg: &Config,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<()> {
    let CalendarCommand::Generate {
        council,
        year,
        count,
        rule,
        place,
        digital_link,
        apply,
        json,
    } = cmd;
    let c = store
        .council_by_slug(council)
        .await?
        .ok_or_else(|| anyhow!("no council {council:?}; see `referent council list`"))?;
    let rule: calendar::Rule = rule.parse()?;
    let proposal = calendar::generate(*year, *count, &rule)?;
    let tz = cfg.secretariat.time_zone;
    let mut times = Vec::new();
    for d in &proposal.dates {
        let s =
            crate::domain::parse_local_time(&format!("{}T{}", d, rule.starts.format("%H:%M")), tz)?;
        let e =
            crate::domain::parse_local_time(&format!("{}T{}", d, rule.ends.format("%H:%M")), tz)?;
        times.push((s, e));
    }
    if *apply && place.is_none() && digital_link.is_none() {
        bail!("give --place (a room), --digital-link, or both, so the summons can say where");
    }
    let mut added = Vec::new();
    if *apply {
        for (i, (s, e)) in times.iter().enumerate() {
            if *s <= now {
                bail!(
                    "{} is in the past; nothing stored after it",
                    s.with_timezone(&tz).format("%Y-%m-%d")
                );
            }
            let title = format!("Møte {}/{} i {}", i + 1, year, c.name);
            let (id, _) = add_meeting(
                store,
                cfg,
                c.id,
                &c.slug,
                title,
                *s,
                *e,
                Place {
                    room: place.clone(),
                    digital_link: digital_link.clone(),
                },
                now,
            )
            .await?;
            added.push(id);
        }
    }
    if *json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "council": c.slug,
                "dates": times.iter().map(|(s, e)| json!({"starts": s, "ends": e})).collect::<Vec<_>>(),
                "skipped": proposal.skipped.iter().map(|s| json!({"date": s.date, "reason": s.reason})).collect::<Vec<_>>(),
                "applied": *apply,
                "meetings": added,
            }))?
        );
        return Ok(());
    }
    outln!(
        "{} {} meeting(s) for {} in {year}:",
        if *apply { "Stored" } else { "Proposed" },
        times.len(),
        c.name
    );
    for (i, (s, e)) in times.iter().enumerate() {
        let date = crate::render::format_date(cfg.secretariat.language, *s, tz);
        let id = added
            .get(i)
            .map(|id| format!("  (meeting {id})"))
            .unwrap_or_default();
        outln!(
            "  {date} {}{id}",
            crate::render::format_time_range(*s, *e, tz)
        );
    }
    let holidays: Vec<String> = proposal
        .skipped
        .iter()
        .filter(|s| s.reason != "juli" && s.reason != "jul")
        .map(|s| format!("{} ({})", s.date, s.reason))
        .collect();
    if !holidays.is_empty() {
        outln!("Skipped public holidays: {}", holidays.join(", "));
    }
    if !*apply {
        outln!("Nothing stored. Run again with --apply and --place/--digital-link to add them.");
    }
    Ok(())
}

pub async fn agenda_cmd(cmd: &AgendaCommand, daemon: &Daemon) -> Result<()> {
    let store = &daemon.store;
    let decision = match cmd {
        AgendaCommand::List {
            council,
            meeting,
            json,
        } => {
            let items = match (meeting, council) {
                (Some(m), _) => store.agenda_items(*m).await?,
                (None, Some(c)) => {
                    let c = store
                        .council_by_slug(c)
                        .await?
                        .ok_or_else(|| anyhow!("no council {c:?}; see `referent council list`"))?;
                    store.council_agenda(c.id).await?
                }
                (None, None) => bail!("give --meeting ID or --council SLUG"),
            };
            if *json {
                outln!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                for i in items {
                    outln!(
                        "{:>4} {:<9} {:<8} {:<10} {}{}{}",
                        i.id,
                        i.label().unwrap_or_default(),
                        i.meeting_id
                            .map(|m| format!("m{m}"))
                            .unwrap_or_else(|| "-".into()),
                        i.state,
                        i.title,
                        i.proposer_email
                            .map(|p| format!(" ({p})"))
                            .unwrap_or_default(),
                        if i.late { " [late]" } else { "" }
                    );
                }
            }
            return Ok(());
        }
        AgendaCommand::Approve { id } => (*id, Decision::Approve, None),
        AgendaCommand::Reject { id, reason } => (*id, Decision::Reject, reason.as_deref()),
        AgendaCommand::Defer { id } => (*id, Decision::Defer, None),
    };
    let outcome = daemon
        .cli_decide_item(decision.0, decision.1, &operator(), decision.2)
        .await?;
    outln!("{outcome}");
    Ok(())
}

pub async fn minutes_cmd(cmd: &MinutesCommand, daemon: &Daemon) -> Result<()> {
    let store = &daemon.store;
    match cmd {
        MinutesCommand::Submit { meeting, file } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "referat".into());
            let lower = name.to_lowercase();
            let (body, attachment) = if lower.ends_with(".md") || lower.ends_with(".txt") {
                let text = String::from_utf8(bytes)
                    .map_err(|_| anyhow!("{} is not UTF-8 text", file.display()))?;
                (text, None)
            } else {
                let ct = match lower.rsplit('.').next() {
                    Some("pdf") => "application/pdf",
                    Some("docx") => {
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
                    }
                    Some("odt") => "application/vnd.oasis.opendocument.text",
                    _ => bail!("minutes are a .md, .txt, .docx, .odt or .pdf file (got {name})"),
                };
                (String::new(), Some((name, ct.to_string(), bytes)))
            };
            if body.trim().is_empty() && attachment.is_none() {
                bail!("{} is empty", file.display());
            }
            let outcome = daemon
                .cli_submit_minutes(*meeting, &body, attachment, &operator())
                .await?;
            outln!("{outcome}");
        }
        MinutesCommand::Show { meeting, json } => {
            store.meeting(*meeting).await?;
            let mut versions = Vec::new();
            for mi in store.minutes(*meeting).await? {
                let corrections = store.corrections(mi.id).await?;
                versions.push((mi, corrections));
            }
            if *json {
                let versions: Vec<_> = versions
                    .iter()
                    .map(|(mi, c)| json!({ "minutes": mi, "corrections": c }))
                    .collect();
                outln!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({ "meeting": meeting, "versions": versions })
                    )?
                );
            } else {
                for (mi, corrections) in &versions {
                    outln!(
                        "version {} ({}), corrections until {}",
                        mi.version,
                        mi.state,
                        mi.deadline_at
                    );
                    for c in corrections {
                        match (c.no_remarks, &c.before, &c.after) {
                            (true, _, _) => outln!("  {}: no remarks", c.author),
                            (false, Some(b), Some(a)) => outln!("  {}: «{b}» → «{a}»", c.author),
                            _ => outln!("  {}: {}", c.author, c.text),
                        }
                    }
                }
                if versions.is_empty() {
                    outln!("no minutes yet");
                }
            }
        }
        MinutesCommand::Approve { meeting } => {
            let outcome = daemon.cli_approve_minutes(*meeting, &operator()).await?;
            outln!("{outcome}");
        }
    }
    Ok(())
}

/// Who a pending job will write to, as it stands now.
async fn job_recipients(
    store: &Store,
    m: &Meeting,
    kind: crate::domain::JobKind,
) -> Result<Vec<String>> {
    let members = store.members(m.council_id).await?;
    let invitations = store.invitations(m.id).await?;
    let ok = |e: &str| {
        members
            .iter()
            .any(|mb| mb.email == e && mb.failing_since.is_none())
    };
    Ok(match kind {
        // As `workflow::jobs::call` and `::reminders` choose.
        crate::domain::JobKind::Call => members
            .iter()
            .filter(|mb| mb.failing_since.is_none() && mb.role.is_asked_to_answer())
            .map(|mb| mb.email.clone())
            .collect(),
        crate::domain::JobKind::Summons => members
            .iter()
            .filter(|mb| !invitations.iter().any(|i| i.member_id == mb.id))
            .map(|mb| mb.email.clone())
            .collect(),
        crate::domain::JobKind::Reminder if invitations.is_empty() => members
            .iter()
            .filter(|mb| mb.role.is_asked_to_answer() && mb.failing_since.is_none())
            .map(|mb| mb.email.clone())
            .collect(),
        crate::domain::JobKind::Reminder => invitations
            .iter()
            .filter(|i| {
                matches!(i.response, None | Some(crate::domain::Response::Tentative))
                    && i.role.is_asked_to_answer()
                    && ok(&i.member_email)
            })
            .map(|i| i.member_email.clone())
            .collect(),
        _ => store
            .coordinators(m.council_id)
            .await?
            .into_iter()
            .map(|c| c.email)
            .collect(),
    })
}

pub async fn schedule_cmd(
    store: &Store,
    cfg: &Config,
    now: DateTime<Utc>,
    json: bool,
) -> Result<()> {
    let tz = cfg.secretariat.time_zone;
    let mut rows = Vec::new();
    for job in store.pending_jobs().await? {
        let m = store.meeting(job.meeting_id).await?;
        let recipients = job_recipients(store, &m, job.kind).await?;
        rows.push(json!({
            "meeting": m.id,
            "council": m.council_slug,
            "meeting_starts": m.starts_at,
            "kind": job.kind,
            "due_at": job.due_at,
            "by_now": job.due_at <= now,
            "recipients": recipients,
        }));
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({ "now": now, "jobs": rows }))?
        );
        return Ok(());
    }
    outln!(
        "As of {}:",
        now.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
    );
    for r in &rows {
        let due = r["due_at"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let n = r["recipients"].as_array().map(Vec::len).unwrap_or(0);
        outln!(
            "  {} meeting {:>3} {:<20} {:<17} {due}  {n} recipient(s)",
            if r["by_now"].as_bool() == Some(true) {
                "due "
            } else {
                "    "
            },
            r["meeting"],
            r["council"].as_str().unwrap_or(""),
            r["kind"].as_str().unwrap_or(""),
        );
    }
    if rows.is_empty() {
        outln!("  nothing scheduled");
    }
    Ok(())
}

pub async fn log_cmd(store: &Store, meeting: Option<i64>, json: bool) -> Result<()> {
    if let Some(m) = meeting {
        store.meeting(m).await?;
    }
    let events = store.events(meeting).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(());
    }
    for e in events {
        outln!(
            "{} {:<18} {:<32} {}{}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            e.kind,
            e.actor,
            e.detail,
            e.inbound_id
                .map(|i| format!(" [message {i}]"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// The warnings a council's roster gives under its rules.
pub async fn roster_warnings(
    store: &Store,
    cfg: &Config,
    council_id: i64,
    slug: &str,
) -> Result<Vec<String>> {
    let members = store.members(council_id).await?;
    let seats: Vec<Seat<'_>> = members
        .iter()
        .map(|m| Seat {
            name: &m.name,
            organisation: m.organisation.as_deref(),
            role: m.role,
            doctor: m.doctor,
        })
        .collect();
    Ok(roster::warnings(&seats, cfg.rules(slug)))
}

pub async fn council_show(store: &Store, cfg: &Config, slug: &str, json: bool) -> Result<()> {
    let c = store
        .council_by_slug(slug)
        .await?
        .ok_or_else(|| anyhow!("no council {slug:?}; see `referent council list`"))?;
    let members = store.members(c.id).await?;
    let warnings = roster_warnings(store, cfg, c.id, slug).await?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "council": c, "members": members, "warnings": warnings })
            )?
        );
        return Ok(());
    }
    outln!("{} ({}), {} member(s)", c.name, c.slug, members.len());
    for m in &members {
        outln!(
            "  {:<28} {:<36} {:<12} {:<24} {}",
            m.name,
            m.email,
            m.role.as_str(),
            m.organisation.clone().unwrap_or_default(),
            if m.doctor { "lege" } else { "" }
        );
    }
    for w in &warnings {
        outln!("warning: {w}");
    }
    Ok(())
}
