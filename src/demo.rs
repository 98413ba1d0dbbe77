//! `referent demo`: the real daemon loop on the embedded default, in a fresh folder,
//! with an example council, a meeting, and realistic replies from its members.

use crate::cli::outln;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigFile};
use crate::daemon::Daemon;
use crate::domain::Place;
use crate::mail::inbound::maildir;
use crate::store::Store;

const CONFIG: &str = include_str!("../examples/referent.toml");
const COUNCIL: &str = include_str!("../examples/council.toml");
const MEMBERS: &str = include_str!("../examples/members.csv");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleCouncil {
    slug: String,
    name: String,
    place: String,
    digital_link: String,
    days_ahead: i64,
}

/// A reply a member (or someone else) sends, as their mail client would write it.
struct Reply {
    from: &'static str,
    name: &'static str,
    /// Which member's summons this answers (their address), or None for a stranger.
    answers: Option<&'static str>,
    subject_prefix: &'static str,
    extra_headers: &'static str,
    body: &'static str,
    /// Gmail ("skrev"), Outlook ("Fra:/Sendt:") or no quote.
    quote: Quote,
}

#[derive(Clone, Copy)]
enum Quote {
    Gmail,
    Outlook,
    None,
}

const REPLIES: &[Reply] = &[
    Reply {
        from: "kari.nordmann@ous.example",
        name: "Kari Nordmann",
        answers: Some("kari.nordmann@ous.example"),
        subject_prefix: "SV: ",
        extra_headers: "",
        body: "Hei,\n\nJa, jeg kommer.\n\nMvh\nKari",
        quote: Quote::Gmail,
    },
    Reply {
        from: "ola.hansen@ahus.example",
        name: "Ola Hansen",
        answers: Some("ola.hansen@ahus.example"),
        subject_prefix: "SV: ",
        extra_headers: "",
        body: "Må dessverre melde forfall denne gangen.\nPer Olsen <per.olsen@ahus.example> møter for meg.\n\nVennlig hilsen\nOla Hansen\nAkershus universitetssykehus",
        quote: Quote::Outlook,
    },
    Reply {
        from: "ingrid.berg@sykehuset-innlandet.example",
        name: "Ingrid Berg",
        answers: Some("ingrid.berg@sykehuset-innlandet.example"),
        subject_prefix: "SV: ",
        extra_headers: "",
        body: "Eg deltek digitalt.\n\nSendt fra min iPhone",
        quote: Quote::Outlook,
    },
    Reply {
        from: "john.smith@uio.example",
        name: "John Smith",
        answers: Some("john.smith@uio.example"),
        subject_prefix: "Re: ",
        extra_headers: "",
        body: "Hi,\n\nI'm afraid I can't make it this time.\n\nBest regards,\nJohn",
        quote: Quote::Gmail,
    },
    Reply {
        from: "sigrid.lie@vestreviken.example",
        name: "Sigrid Lie",
        answers: Some("sigrid.lie@vestreviken.example"),
        subject_prefix: "Automatisk svar: ",
        extra_headers: "Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n",
        body: "Jeg er på ferie og kommer ikke til å lese e-post før jeg er tilbake 4. januar.",
        quote: Quote::None,
    },
    Reply {
        from: "eve@unknown.example",
        name: "Eve",
        answers: None,
        subject_prefix: "",
        extra_headers: "",
        body: "Ja, jeg kommer!",
        quote: Quote::None,
    },
];

pub async fn run(dir: &Path) -> Result<()> {
    if dir.exists() {
        bail!(
            "{} exists already; remove it, or choose another folder with --dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("referent.toml"), CONFIG)?;
    let file: ConfigFile = toml::from_str(CONFIG).context("examples/referent.toml")?;
    let cfg = Config::from_file(file, dir, &|k| std::env::var(k).ok())?;
    let council: ExampleCouncil = toml::from_str(COUNCIL).context("examples/council.toml")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let store = Store::open(&cfg.database_url).await?;

    // 1. The council, its members, one meeting.
    let cid = store.add_council(&council.slug, &council.name, now).await?;
    let members = crate::council::parse_members_csv(MEMBERS)
        .map_err(|e| anyhow::anyhow!("examples/members.csv: {}", e.join("; ")))?;
    store.add_members(cid, &members, now).await?;
    let tz = cfg.secretariat.time_zone;
    let day = (now.with_timezone(&tz) + Duration::days(council.days_ahead))
        .format("%Y-%m-%d")
        .to_string();
    let starts_at = crate::domain::parse_local_time(&format!("{day}T10:00"), tz)?;
    let (meeting_id, _) = crate::council::add_meeting(
        &store,
        &cfg,
        cid,
        &council.slug,
        format!("Møte i {}", council.name),
        starts_at,
        starts_at + Duration::hours(2),
        Place {
            room: Some(council.place.clone()),
            digital_link: Some(council.digital_link.clone()),
        },
        now,
    )
    .await?;
    outln!(
        "Council {} with {} members; meeting {meeting_id} on {day} 10:00.",
        council.name,
        members.len()
    );

    let daemon = Daemon::new(cfg.clone(), store.clone(), clock.clone()).await?;

    // 2. The daemon's first pass: the summons is due (the meeting is < 14 days away).
    let first = daemon.run_once().await?;
    outln!("First pass: {} summons written to the outbox.", first.sent);

    // 3. The members answer, as their mail clients would.
    let inbox = match &cfg.mailbox {
        crate::config::MailboxConfig::Maildir(p) => p.clone(),
        crate::config::MailboxConfig::Imap(_) => bail!("the demo runs on a Maildir inbox"),
    };
    let summonses = store.outbox().await?;
    for (n, reply) in REPLIES.iter().enumerate() {
        let summons = reply.answers.and_then(|a| {
            summonses
                .iter()
                .find(|o| o.kind == "summons" && o.recipient == a)
        });
        let raw = match summons {
            Some(s) => {
                let original = store.outbox_raw(s.id).await?;
                compose_reply(
                    reply,
                    Some((&s.message_id, &original)),
                    &cfg.secretariat.address,
                    now,
                )
            }
            None => compose_reply(reply, None, &cfg.secretariat.address, now),
        };
        maildir::deliver(
            &inbox,
            &format!("{}.demo{n}.localhost", now.timestamp()),
            raw.as_bytes(),
        )?;
    }
    outln!(
        "{} replies dropped into {}.",
        REPLIES.len(),
        inbox.join("new").display()
    );

    // 4. The second pass reads them.
    let second = daemon.run_once().await?;
    outln!(
        "Second pass: {} messages read, {} answers recorded, {} held for a coordinator, {} ignored, {} mails sent (receipts; the summons to a substitute; to the coordinator, the substitute's notice and the digest of held mail).\n",
        second.received, second.answers, second.held, second.ignored, second.sent
    );

    let v = crate::council::meeting_show(&store, &cfg, meeting_id).await?;
    crate::council::print_attendance(&v, &mut std::io::stdout())?;

    outln!("\nHeld for a coordinator:");
    for m in store.inbound_list(Some("held")).await? {
        outln!(
            "  {} — {}",
            m.sender.unwrap_or_default(),
            m.outcome.unwrap_or_default()
        );
    }
    outln!("Ignored (never answered):");
    for m in store.inbound_list(Some("ignored")).await? {
        outln!(
            "  {} — {}",
            m.sender.unwrap_or_default(),
            m.outcome.unwrap_or_default()
        );
    }
    let outbox_dir = match &cfg.outbound {
        crate::config::OutboundConfig::Maildir(p) => p.join("new"),
        crate::config::OutboundConfig::Smtp(_) => dir.to_path_buf(),
    };
    outln!(
        "\nEvery mail referent sent is a file in {}:",
        outbox_dir.display()
    );
    for o in store.outbox().await? {
        outln!("  {:<12} to {}", o.kind, o.recipient);
    }
    outln!(
        "\nLook further with:\n  referent --config {0} meeting show {meeting_id}\n  referent --config {0} inbox\n  referent --config {0} outbox",
        dir.join("referent.toml").display()
    );
    store.close().await;
    Ok(())
}

fn compose_reply(
    r: &Reply,
    summons: Option<(&String, &Vec<u8>)>,
    secretariat: &str,
    now: DateTime<Utc>,
) -> String {
    let date = now.to_rfc2822();
    let id = format!(
        "<{}.{}@{}>",
        now.timestamp_micros(),
        r.name.len(),
        r.from.split('@').nth(1).unwrap_or("x")
    );
    let (to, subject, threading, quoted) = match summons {
        Some((mid, original)) => {
            let u = crate::understand::understand(original, Default::default());
            let reply_to = original_reply_to(original).unwrap_or_else(|| secretariat.to_string());
            let body_start = original
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| p + 4)
                .unwrap_or(0);
            let body = String::from_utf8_lossy(original.get(body_start..).unwrap_or_default())
                .replace("\r\n", "\n");
            let quoted = match r.quote {
                Quote::Gmail => format!(
                    "\n\nDen {} skrev RegUt HSØ <{secretariat}>:\n{}",
                    now.format("%d.%m.%Y kl. %H:%M"),
                    body.lines()
                        .map(|l| format!("> {l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                Quote::Outlook => format!(
                    "\n\nFra: RegUt HSØ <{secretariat}>\nSendt: {}\nTil: {} <{}>\nEmne: {}\n\n{}",
                    now.format("%d. %B %Y %H:%M"),
                    r.name,
                    r.from,
                    u.subject,
                    body
                ),
                Quote::None => String::new(),
            };
            (
                reply_to,
                format!("{}{}", r.subject_prefix, u.subject),
                format!("In-Reply-To: <{mid}>\r\nReferences: <{mid}>\r\n"),
                quoted,
            )
        }
        None => (
            secretariat.to_string(),
            "Møtet".to_string(),
            String::new(),
            String::new(),
        ),
    };
    let text = format!("{}{}", r.body, quoted).replace('\n', "\r\n");
    format!(
        "From: {} <{}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: {id}\r\n{threading}{}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n",
        r.name, r.from, r.extra_headers
    )
}

fn original_reply_to(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .take_while(|l| !l.is_empty())
        .find(|l| l.to_ascii_lowercase().starts_with("reply-to:"))
        .and_then(crate::understand::rsvp::find_email)
}
