//! The command line: set-up commands for coordinators, `run` for the daemon, `inspect`
//! for looking at one message, `demo` for a first run.

/// `println!` for command output that ends quietly when the reader goes away
/// (`referent meeting show --json | head`), as Unix tools do, instead of panicking on
/// the broken pipe. Any other write error is reported and ends the command.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::cli::output_failed(e);
        }
    }};
}
pub(crate) use outln;

/// Where a failed write to standard output ends the process.
pub(crate) fn output_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write the output: {e}");
    std::process::exit(1);
}

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, ShiftedClock, SystemClock};
use crate::config::{Config, DEFAULT_DATA_DIR};
pub use crate::council::{add_meeting, meeting_show, parse_members_csv, print_attendance};
use crate::daemon::Daemon;
use crate::domain::{normalize_address, parse_local_time, Place};
use crate::store::{NewMember, Store};
use crate::understand::{self, Inspection};

mod privacy;
mod report;
mod year;

use year::{AgendaCommand, CalendarCommand, MinutesCommand};

#[derive(Parser, Debug)]
#[command(
    name = "referent",
    version,
    about = "The council secretariat that lives in a mailbox"
)]
pub struct Cli {
    /// Configuration file (TOML). Without it everything lives under ./referent-data/.
    #[arg(long, global = true, env = "REFERENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Act as if it were this time (e.g. 2027-01-05T09:00, local time of the
    /// secretariat, or RFC 3339). For tests and catching up after an outage.
    #[arg(long, global = true)]
    pub now: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// What a coordinator does with a held message; each is written to the audit trail.
#[derive(Debug, Subcommand)]
pub enum InboxAction {
    /// Act on the message as this member's own mail (its sender is vouched for).
    Apply {
        id: i64,
        #[arg(long = "as")]
        as_address: String,
        /// Who vouches, for the audit trail.
        #[arg(long, default_value = "a coordinator on the command line")]
        by: String,
    },
    /// Set the message aside: nothing is done with it.
    Dismiss {
        id: i64,
        #[arg(long, default_value = "a coordinator on the command line")]
        by: String,
    },
    /// Try the message again from the start (after a fix, or a quarantine).
    Retry {
        id: i64,
        #[arg(long, default_value = "a coordinator on the command line")]
        by: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the database and the mail folders.
    Init,
    /// Councils.
    Council {
        #[command(subcommand)]
        command: CouncilCommand,
    },
    /// Members of a council.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// Meetings.
    Meeting {
        #[command(subcommand)]
        command: MeetingCommand,
    },
    /// The yearly calendar of a council.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// Agenda proposals and items: list, approve, reject, defer.
    Agenda {
        #[command(subcommand)]
        command: AgendaCommand,
    },
    /// Minutes: submit a draft, show versions and corrections, approve.
    Minutes {
        #[command(subcommand)]
        command: MinutesCommand,
    },
    /// Every pending scheduled send (with --now: what will have gone out by then).
    Schedule {
        #[arg(long)]
        json: bool,
    },
    /// Reports over a year: `report attendance --council S --year 2027 [--json|--csv]`.
    Report {
        #[command(subcommand)]
        command: report::ReportCommand,
    },
    /// Everything stored about one person, as JSON: memberships, invitations, answers,
    /// the mail they sent (with its body while it is kept) and were sent, the agenda
    /// items they proposed, the audit events that name them.
    Export {
        /// The person's email address.
        #[arg(long)]
        person: String,
    },
    /// Replaces one person (who has left) by a placeholder in every table and deletes
    /// the bodies of their mail; counts and the audit trail stay. Prints what changed.
    Erase {
        /// The person's email address.
        #[arg(long)]
        person: String,
        /// Erase them even though they are still a council member.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Each council's next meetings with who comes, open proposals, failing
    /// addresses, and the held mail: what a coordinator gets by writing "status".
    Status {
        #[arg(long)]
        council: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The audit log: every answer, proposal, decision, correction and send.
    Log {
        #[arg(long)]
        meeting: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Run the daemon: watch the mailbox, send what is due.
    Run {
        /// Do one pass (mailbox, schedule, outbox) and exit.
        #[arg(long)]
        once: bool,
    },
    /// Show what referent understands of messages, without touching the database. Takes
    /// files and folders (every .eml in a folder, recursively); with --json and more than
    /// one message, prints one JSON object per line (JSON Lines) with its "file".
    Inspect {
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Messages received, with what became of them (held ones need a coordinator), and
    /// what a coordinator does with a held one.
    Inbox {
        #[command(subcommand)]
        action: Option<InboxAction>,
        /// Only messages in this state: new, processed, held, ignored.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Mail sent and waiting to be sent: per kind what is queued, sent and failed, and
    /// when the queue should be done at the pace; then what waits or failed, and why.
    Outbox {
        /// Every row, as JSON.
        #[arg(long)]
        json: bool,
        /// List sent rows too.
        #[arg(long)]
        all: bool,
    },
    /// The wording of every mail: check a folder of your own templates, or show one
    /// kind rendered with example data.
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
    },
    /// A first run on the embedded default, in ./referent-demo/.
    Demo {
        /// Where to put the demo (it must not exist yet).
        #[arg(long, default_value = "referent-demo")]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum TemplatesCommand {
    /// Every kind of mail, with where its template comes from in each language.
    List,
    /// Checks a template folder (default: `[templates] dir`): every file compiles,
    /// has a known name, starts with a Subject line and uses only the variables its
    /// kind is given. Prints what it replaces.
    Check {
        /// A folder with nb/, nn/ and en/ subfolders of KIND.hbs files.
        dir: Option<PathBuf>,
    },
    /// Renders one kind with example data, as it would be sent.
    Show {
        kind: String,
        /// nb, nn or en (default: the secretariat's language).
        #[arg(long)]
        lang: Option<String>,
        /// A template folder to use instead of `[templates] dir`.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print the example data (the variables the template can use) instead.
        #[arg(long)]
        variables: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum CouncilCommand {
    Add {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change a council's name, or whether a declining member's vara is invited
    /// automatically (on by default).
    Update {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        /// on or off.
        #[arg(long, value_parser = parse_yes_no)]
        auto_vara: Option<bool>,
    },
    /// A council with its members and the roster rules it breaks.
    Show {
        slug: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    Add {
        #[arg(long)]
        council: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        org: Option<String>,
        /// member, leader, deputy, observer or coordinator.
        #[arg(long, default_value = "member")]
        role: String,
        #[arg(long)]
        doctor: bool,
        /// The language of the member's mail: nb, nn or en (default: the secretariat's).
        #[arg(long)]
        language: Option<String>,
        /// The member's personal substitute (vara), invited in their place when they
        /// decline without naming anyone.
        #[arg(long)]
        vara: Option<String>,
    },
    /// Correct a member's details (each one given; the rest stay). A new address is no
    /// longer failing, and the mail of meetings ahead goes to it.
    Update {
        /// The member's address now.
        address: String,
        #[arg(long)]
        council: String,
        #[command(flatten)]
        details: MemberDetails,
    },
    /// A member leaves: no more mail to them; their invitations to meetings ahead are
    /// withdrawn with a cancelled calendar entry. Their answers and the log stay.
    Remove {
        address: String,
        #[arg(long)]
        council: String,
    },
    /// A new member takes OLD's seat (role and organisation unless given): OLD's
    /// invitations ahead are withdrawn, and NEW gets the summons of every meeting ahead.
    Replace {
        old: String,
        /// The new member's address.
        #[arg(long = "by")]
        new: String,
        #[arg(long)]
        council: String,
        #[command(flatten)]
        details: MemberDetails,
    },
    /// Import members from a CSV file with the header name,email,org,role,doctor
    /// (and optionally language: nb, nn or en, and vara: the personal substitute's
    /// address).
    Import {
        #[arg(long)]
        council: String,
        file: PathBuf,
    },
    List {
        #[arg(long)]
        council: String,
        #[arg(long)]
        json: bool,
    },
}

/// A member's details as `member update` and `member replace` take them.
#[derive(clap::Args, Debug, Default)]
pub struct MemberDetails {
    #[arg(long)]
    name: Option<String>,
    /// A new address.
    #[arg(long)]
    email: Option<String>,
    /// The organisation ("" for none).
    #[arg(long, alias = "org")]
    organisation: Option<String>,
    /// member, leader, deputy, observer or coordinator.
    #[arg(long)]
    role: Option<String>,
    /// Whether the member is a doctor: yes or no.
    #[arg(long, value_parser = parse_yes_no)]
    doctor: Option<bool>,
    /// nb, nn or en.
    #[arg(long)]
    language: Option<String>,
    /// The personal substitute's address ("" for none).
    #[arg(long)]
    vara: Option<String>,
}

fn parse_yes_no(s: &str) -> std::result::Result<bool, String> {
    match s.trim().to_lowercase().as_str() {
        "yes" | "ja" | "true" | "on" | "1" | "y" | "j" => Ok(true),
        "no" | "nei" | "false" | "off" | "0" | "n" => Ok(false),
        other => Err(format!("yes or no (ja/nei), not {other:?}")),
    }
}

impl MemberDetails {
    /// The details checked and normalised.
    fn update(&self) -> Result<crate::daemon::people::MemberUpdate> {
        let text = |v: &Option<String>, what: &str| -> Result<Option<String>> {
            match v.as_deref().map(str::trim) {
                Some(t) if t.chars().any(char::is_control) => {
                    bail!("the {what} cannot hold a line break or another control character")
                }
                other => Ok(other.map(str::to_string)),
            }
        };
        let name = text(&self.name, "name")?;
        if name.as_deref() == Some("") {
            bail!("a member needs a name");
        }
        Ok(crate::daemon::people::MemberUpdate {
            name,
            email: self.email.as_deref().map(normalize_address).transpose()?,
            organisation: text(&self.organisation, "organisation")?
                .map(|o| (!o.is_empty()).then_some(o)),
            role: self.role.as_deref().map(str::parse).transpose()?,
            doctor: self.doctor,
            language: match &self.language {
                None => None,
                Some(l) => Some(
                    crate::domain::Language::parse(l)
                        .ok_or_else(|| anyhow!("--language must be nb, nn or en, not {l:?}"))?,
                ),
            },
            vara: match self.vara.as_deref().map(str::trim) {
                None => None,
                Some("") => Some(None),
                Some(v) => Some(Some(normalize_address(v)?)),
            },
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum MeetingCommand {
    Add {
        #[arg(long)]
        council: String,
        /// Local start time, e.g. 2027-01-12T10:00.
        #[arg(long)]
        starts: String,
        /// Local end time (default: two hours after the start).
        #[arg(long)]
        ends: Option<String>,
        /// The room, e.g. "Ullevål sykehus, bygg 1, møterom 3".
        #[arg(long)]
        place: Option<String>,
        #[arg(long)]
        digital_link: Option<String>,
        #[arg(long)]
        title: Option<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a meeting; everyone invited gets a cancelled calendar entry.
    Cancel {
        id: i64,
        /// Why, in the notice to the members ("For få påmeldte.").
        #[arg(long)]
        reason: Option<String>,
    },
    /// A meeting at a new place or with a new link (the other is kept unless given);
    /// everyone invited gets an updated calendar entry.
    Place {
        id: i64,
        #[arg(long)]
        place: Option<String>,
        #[arg(long)]
        digital_link: Option<String>,
    },
    /// Change a meeting's room, digital link or title; everyone invited gets an
    /// updated calendar entry. "" removes a room or a link.
    Update {
        id: i64,
        #[arg(long, alias = "place")]
        room: Option<String>,
        #[arg(long, alias = "digital-link")]
        link: Option<String>,
        #[arg(long)]
        title: Option<String>,
    },
    /// Move a meeting; everyone invited gets an updated calendar entry.
    Move {
        id: i64,
        /// New local start time, e.g. 2027-01-19T10:00.
        #[arg(long)]
        starts: String,
        /// New local end time (default: as long as before).
        #[arg(long)]
        ends: Option<String>,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REFERENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn load_config(cli: &Cli) -> Result<Config> {
    match &cli.config {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::embedded(Path::new(DEFAULT_DATA_DIR))),
    }
}

fn make_clock(cli: &Cli, cfg: &Config) -> Result<Arc<dyn Clock>> {
    match &cli.now {
        None => Ok(Arc::new(SystemClock)),
        Some(text) => {
            let t: DateTime<Utc> = match DateTime::parse_from_rfc3339(text) {
                Ok(t) => t.with_timezone(&Utc),
                Err(_) => parse_local_time(text, cfg.secretariat.time_zone)?,
            };
            Ok(Arc::new(ShiftedClock::starting_at(t)))
        }
    }
}

/// `referent templates …`: needs neither the database nor the mailbox.
fn templates(cmd: &TemplatesCommand, cfg: &Config) -> Result<()> {
    use crate::render::{kinds, Renderer, LANGUAGES};
    match cmd {
        TemplatesCommand::List => {
            let r = Renderer::with_overrides(cfg.templates_dir.as_deref())?;
            for kind in kinds() {
                let origins: Vec<String> = LANGUAGES
                    .iter()
                    .map(|l| format!("{}: {}", l.as_str(), r.origin(*l, kind).unwrap_or("-")))
                    .collect();
                outln!("{kind:<20} {}", origins.join("  "));
            }
            Ok(())
        }
        TemplatesCommand::Check { dir } => {
            let Some(dir) = dir.as_deref().or(cfg.templates_dir.as_deref()) else {
                bail!("no folder to check: name one (`referent templates check DIR`) or set [templates] dir");
            };
            let r = Renderer::with_overrides(Some(dir))
                .with_context(|| format!("the templates in {} cannot be used", dir.display()))?;
            let mut replaced = 0;
            for kind in kinds() {
                for lang in LANGUAGES {
                    if let Some(origin) = r.origin(lang, kind).filter(|o| *o != "embedded") {
                        outln!("ok  {}/{kind}  ({origin})", lang.as_str());
                        replaced += 1;
                    }
                }
            }
            outln!(
                "{} template(s) in {} compile and render with their example data; the rest are built in",
                replaced,
                dir.display()
            );
            Ok(())
        }
        TemplatesCommand::Show {
            kind,
            lang,
            dir,
            variables,
        } => {
            let lang = match lang {
                None => cfg.secretariat.language,
                Some(l) => crate::domain::Language::parse(l)
                    .ok_or_else(|| anyhow::anyhow!("--lang must be nb, nn or en, not {l:?}"))?,
            };
            let r = Renderer::with_overrides(dir.as_deref().or(cfg.templates_dir.as_deref()))?;
            if !kinds().contains(&kind.as_str()) {
                bail!(
                    "no mail kind {kind:?}; the kinds are: {}",
                    kinds().join(", ")
                );
            }
            if *variables {
                outln!("{}", serde_json::to_string_pretty(&r.example(kind)?)?);
                return Ok(());
            }
            let out = r.show(lang, kind)?;
            outln!("Subject: {}\n\n{}", out.subject, out.body);
            Ok(())
        }
    }
}

async fn open_store(cfg: &Config) -> Result<Store> {
    Store::open(&cfg.database_url)
        .await
        .context("cannot open the database")
}

pub async fn execute(cli: Cli) -> Result<()> {
    if let Command::Inspect { json, files } = &cli.command {
        return inspect_all(files, *json);
    }
    if let Command::Demo { dir } = &cli.command {
        return crate::demo::run(dir).await;
    }
    let cfg = load_config(&cli)?;
    if let Command::Templates { command } = &cli.command {
        return templates(command, &cfg);
    }
    if cli.config.is_none() && !Path::new(DEFAULT_DATA_DIR).exists() {
        eprintln!(
            "referent: no --config (nor REFERENT_CONFIG): using the embedded default in ./{DEFAULT_DATA_DIR}/, created now{}",
            if Path::new("referent-demo/referent.toml").exists() {
                "; the demo's is --config referent-demo/referent.toml"
            } else {
                ""
            }
        );
    }
    let clock = make_clock(&cli, &cfg)?;
    let now = clock.now();
    let store = open_store(&cfg).await?;
    if cli.now.is_some() {
        if let Some(last) = store.last_now().await? {
            // A run at `--now` T records T plus the time it took; the same `--now`
            // again (a script's next step) is not going backwards. Only an instant
            // before the last one by more than a run could take is refused.
            if now + chrono::Duration::minutes(2) < last {
                let tz = cfg.secretariat.time_zone;
                store.close().await;
                bail!(
                    "--now {} is earlier than the last time referent acted ({}): time never runs backwards",
                    now.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z"),
                    last.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
                );
            }
        }
    }
    let result = dispatch(&cli, cfg, store.clone(), clock, now).await;
    store.close().await;
    result
}

async fn dispatch(
    cli: &Cli,
    cfg: Config,
    store: Store,
    clock: Arc<dyn Clock>,
    now: DateTime<Utc>,
) -> Result<()> {
    match &cli.command {
        Command::Init => {
            if let crate::config::MailboxConfig::Maildir(p) = &cfg.mailbox {
                crate::mail::inbound::maildir::ensure_maildir(p)?;
                outln!("inbox:    {}", p.display());
            }
            if let crate::config::OutboundConfig::Maildir(p) = &cfg.outbound {
                crate::mail::inbound::maildir::ensure_maildir(p)?;
                outln!("outbox:   {}", p.display());
            }
            outln!("database: {}", redact_url(&cfg.database_url));
            Ok(())
        }
        Command::Council {
            command:
                CouncilCommand::Update {
                    slug,
                    name,
                    auto_vara,
                },
        } => {
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            outln!(
                "{}",
                daemon
                    .cli_council_update(slug, name.as_deref(), *auto_vara, &year::operator())
                    .await?
            );
            Ok(())
        }
        Command::Council { command } => match command {
            CouncilCommand::Add { slug, name } => {
                validate_slug(slug)?;
                let id = store.add_council(slug, name, now).await?;
                outln!("council {slug} added (id {id})");
                Ok(())
            }
            // Handled above, through the daemon.
            CouncilCommand::Update { .. } => Ok(()),
            CouncilCommand::Show { slug, json } => {
                year::council_show(&store, &cfg, slug, *json).await
            }
            CouncilCommand::List { json } => {
                let councils = store.councils().await?;
                if *json {
                    outln!("{}", serde_json::to_string_pretty(&councils)?);
                } else {
                    for c in councils {
                        outln!("{:<24} {}", c.slug, c.name);
                    }
                }
                Ok(())
            }
        },
        Command::Member {
            command:
                MemberCommand::Update {
                    address,
                    council,
                    details,
                },
        } => {
            let update = details.update()?;
            let daemon = Daemon::new(cfg.clone(), store.clone(), clock).await?;
            let address = normalize_address(address)?;
            outln!(
                "{}",
                daemon
                    .cli_member_update(council, &address, &update, &year::operator())
                    .await?
            );
            if let Some(c) = store.council_by_slug(council).await? {
                for w in year::roster_warnings(&store, &cfg, c.id, council).await? {
                    eprintln!("warning: {w}");
                }
            }
            Ok(())
        }
        Command::Member {
            command: MemberCommand::Remove { address, council },
        } => {
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            let address = normalize_address(address)?;
            outln!(
                "{}",
                daemon
                    .cli_member_remove(council, &address, &year::operator())
                    .await?
            );
            Ok(())
        }
        Command::Member {
            command:
                MemberCommand::Replace {
                    old,
                    new,
                    council,
                    details,
                },
        } => {
            let update = details.update()?;
            if details.email.is_some() {
                bail!("the new member's address is --by; --email is for `member update`");
            }
            let daemon = Daemon::new(cfg.clone(), store.clone(), clock).await?;
            outln!(
                "{}",
                daemon
                    .cli_member_replace(
                        council,
                        &normalize_address(old)?,
                        &normalize_address(new)?,
                        &update,
                        &year::operator()
                    )
                    .await?
            );
            if let Some(c) = store.council_by_slug(council).await? {
                for w in year::roster_warnings(&store, &cfg, c.id, council).await? {
                    eprintln!("warning: {w}");
                }
            }
            Ok(())
        }
        Command::Member { command } => member(command, &cfg, &store, now).await,
        Command::Meeting {
            command: MeetingCommand::Cancel { id, reason },
        } => {
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            let m = store.meeting(*id).await?;
            outln!(
                "{}",
                daemon
                    .change_meeting_because(&m, None, reason.as_deref(), &year::operator())
                    .await?
            );
            Ok(())
        }
        Command::Meeting {
            command:
                MeetingCommand::Place {
                    id,
                    place,
                    digital_link,
                },
        } => {
            if place.is_none() && digital_link.is_none() {
                bail!("give --place (a room), --digital-link, or both");
            }
            let m = store.meeting(*id).await?;
            let new = Place {
                room: place.clone().or_else(|| m.place.room.clone()),
                digital_link: digital_link
                    .clone()
                    .or_else(|| m.place.digital_link.clone()),
            };
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            outln!("{}", daemon.change_place(&m, new, &year::operator()).await?);
            Ok(())
        }
        Command::Meeting {
            command: MeetingCommand::Move { id, starts, ends },
        } => {
            let m = store.meeting(*id).await?;
            let tz = cfg.secretariat.time_zone;
            let starts_at = parse_local_time(starts, tz)?;
            let ends_at = match ends {
                Some(e) => parse_local_time(e, tz)?,
                None => starts_at + (m.ends_at - m.starts_at),
            };
            if ends_at <= starts_at {
                bail!("the meeting must end after it starts");
            }
            if starts_at <= now {
                bail!("a meeting cannot move into the past");
            }
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            outln!(
                "{}",
                daemon
                    .change_meeting(&m, Some((starts_at, ends_at)), &year::operator())
                    .await?
            );
            Ok(())
        }
        Command::Meeting {
            command:
                MeetingCommand::Update {
                    id,
                    room,
                    link,
                    title,
                },
        } => {
            if room.is_none() && link.is_none() && title.is_none() {
                bail!("give --room, --link or --title");
            }
            let m = store.meeting(*id).await?;
            let clean = |v: &Option<String>, what: &str| -> Result<Option<Option<String>>> {
                match v.as_deref().map(str::trim) {
                    None => Ok(None),
                    Some(t) if t.chars().any(char::is_control) => {
                        bail!("the {what} cannot hold a line break or another control character")
                    }
                    Some("") => Ok(Some(None)),
                    Some(t) => Ok(Some(Some(t.to_string()))),
                }
            };
            let place = Place {
                room: clean(room, "room")?.unwrap_or_else(|| m.place.room.clone()),
                digital_link: clean(link, "link")?.unwrap_or_else(|| m.place.digital_link.clone()),
            };
            let title = match clean(title, "title")? {
                Some(None) => bail!("a meeting needs a title"),
                Some(Some(t)) => Some(t),
                None => None,
            };
            if m.starts_at <= now {
                bail!("meeting {id} has started or taken place; it cannot be changed");
            }
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            outln!(
                "{}",
                daemon
                    .update_meeting_details(&m, title.as_deref(), place, &year::operator())
                    .await?
            );
            Ok(())
        }
        Command::Meeting { command } => meeting(command, &cfg, &store, now).await,
        Command::Calendar { command } => year::calendar_cmd(command, &cfg, &store, now).await,
        Command::Agenda { command } => {
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            year::agenda_cmd(command, &daemon).await
        }
        Command::Minutes { command } => {
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            year::minutes_cmd(command, &daemon).await
        }
        Command::Schedule { json } => year::schedule_cmd(&store, &cfg, now, *json).await,
        Command::Report { command } => report::report_cmd(command, &cfg, &store, now).await,
        Command::Log { meeting, json } => year::log_cmd(&store, *meeting, *json).await,
        Command::Export { person } => privacy::export_cmd(&store, person, now).await,
        Command::Erase {
            person,
            force,
            json,
        } => privacy::erase_cmd(&store, person, *force, *json, now).await,
        Command::Status { council, json } => {
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            let status = daemon.cli_status(council.as_deref()).await?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                outln!("{}", crate::workflow::status::text(&status).trim_end());
            }
            Ok(())
        }
        Command::Run { once } => {
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            if *once {
                let report = daemon.run_once().await?;
                outln!("{}", serde_json::to_string(&report)?);
                return Ok(());
            }
            let cancel = CancellationToken::new();
            let c = cancel.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stopping: finishing work in progress");
                c.cancel();
            });
            tracing::info!(tick = %daemon.cfg.tick_text, "referent running");
            Arc::new(daemon).run(cancel).await?;
            Ok(())
        }
        Command::Inbox {
            action: Some(action),
            ..
        } => {
            let daemon = Daemon::new(cfg, store.clone(), clock).await?;
            let said = match action {
                InboxAction::Apply { id, as_address, by } => {
                    daemon
                        .cli_apply(*id, &normalize_address(as_address)?, by)
                        .await?
                }
                InboxAction::Dismiss { id, by } => daemon.cli_dismiss(*id, by).await?,
                InboxAction::Retry { id, by } => daemon.cli_retry(*id, by).await?,
            };
            outln!("{said}");
            Ok(())
        }
        Command::Inbox {
            action: None,
            state,
            json,
        } => {
            let rows = store.inbound_list(state.as_deref()).await?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    outln!(
                        "{:>5} {:<9} {:<12} {:<32} {}",
                        r.id,
                        r.state,
                        r.kind.unwrap_or_default(),
                        r.sender.unwrap_or_default(),
                        r.outcome.unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        Command::Outbox { json, all } => {
            if *json {
                // Row by row: the outbox keeps every sent mail, so it is never loaded whole.
                use serde::ser::{SerializeSeq, Serializer};
                let mut out = serde_json::Serializer::pretty(std::io::stdout());
                let mut seq = out.serialize_seq(None)?;
                let mut failed = None;
                store
                    .each_outbox_row(false, |r| {
                        if failed.is_none() {
                            failed = seq.serialize_element(&r).err();
                        }
                    })
                    .await?;
                if let Some(e) = failed {
                    return Err(e.into());
                }
                seq.end()?;
                outln!();
                return Ok(());
            }
            let pacing = crate::daemon::outbox::Pacing::from_config(&cfg);
            let p = crate::daemon::outbox::progress(&store, pacing, now).await?;
            let tz = cfg.secretariat.time_zone;
            let when = |t: Option<DateTime<Utc>>| match t {
                Some(t) => format!(
                    "{} (in {} min)",
                    t.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                    (t - now).num_minutes().max(0)
                ),
                None => String::new(),
            };
            let line = |kind: &str, q: i64, s: i64, f: i64, done: Option<DateTime<Utc>>| {
                let l = format!("{kind:<16} {q:>7} {s:>7} {f:>7}  {}", when(done));
                outln!("{}", l.trim_end());
            };
            outln!(
                "{:<16} {:>7} {:>7} {:>7}  done by",
                "kind",
                "queued",
                "sent",
                "failed"
            );
            for k in &p.kinds {
                line(&k.kind, k.queued, k.sent, k.failed, k.done_by);
            }
            line("total", p.queued, p.sent, p.failed, p.done_by);
            match (p.queued, p.per_minute, pacing.max_per_minute) {
                (0, ..) => {}
                (_, Some(_), Some(n)) => outln!("pace: {n} a minute ([smtp] max_per_minute)"),
                (_, Some(r), None) => outln!("pace: {r:.1} a minute (the last ten minutes)"),
                (_, None, _) => {
                    outln!("pace: not known yet (nothing sent in the last ten minutes)")
                }
            }
            if let Some((until, why)) = &p.paused_until {
                println!(
                    "sending paused until {}: {why}",
                    until.with_timezone(&tz).format("%Y-%m-%d %H:%M")
                );
            }
            let mut first = true;
            store
                .each_outbox_row(!*all, |r| {
                    if std::mem::take(&mut first) {
                        println!();
                    }
                    println!(
                        "{:>5} {:<8} {:<9} {:<32} attempts={} {}",
                        r.id,
                        r.state,
                        r.kind,
                        r.recipient,
                        r.attempts,
                        r.last_error.as_deref().unwrap_or_default()
                    );
                })
                .await?;
            Ok(())
        }
        Command::Inspect { .. } | Command::Demo { .. } | Command::Templates { .. } => Ok(()),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

fn validate_slug(slug: &str) -> Result<()> {
    if slug.is_empty()
        || !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bail!("a council slug is lower-case letters, digits and '-', e.g. utdanningsradet (got {slug:?})");
    }
    Ok(())
}

/// The messages named: files as given, folders read for `.eml` files (sorted, recursively).
fn inspect_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the folder {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml")) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// One line of `inspect --json` over many messages: the file, then the inspection.
#[derive(serde::Serialize)]
struct InspectionLine<'a> {
    file: String,
    #[serde(flatten)]
    inspection: &'a Inspection,
}

fn inspect_all(paths: &[PathBuf], json: bool) -> Result<()> {
    let files = inspect_paths(paths)?;
    // One file named as a file: the output as it always was (pretty JSON or text).
    if let ([file], [given]) = (files.as_slice(), paths) {
        if !given.is_dir() {
            return inspect(file, json);
        }
    }
    let mut failed = 0usize;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for file in &files {
        let raw = match std::fs::read(file) {
            Ok(raw) => raw,
            Err(e) => {
                // One unreadable file does not stop the rest; it is counted and said.
                eprintln!("cannot read {}: {e}", file.display());
                failed += 1;
                continue;
            }
        };
        let u = understand::understand(&raw, understand::Limits::default());
        let i = Inspection::from(&u);
        if json {
            let line = InspectionLine {
                file: file.display().to_string(),
                inspection: &i,
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
        } else {
            writeln!(out, "== {}", file.display())?;
            write_inspection(&mut out, &i)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    if failed > 0 {
        bail!("{failed} of {} files could not be read", files.len());
    }
    Ok(())
}

fn inspect(file: &Path, json: bool) -> Result<()> {
    let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let u = understand::understand(&raw, understand::Limits::default());
    let i = Inspection::from(&u);
    if json {
        outln!("{}", serde_json::to_string_pretty(&i)?);
    } else {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        write_inspection(&mut out, &i)?;
    }
    Ok(())
}

fn write_inspection(out: &mut impl Write, i: &Inspection) -> Result<()> {
    writeln!(
        out,
        "kind:      {}",
        serde_json::to_value(i.kind)?.as_str().unwrap_or("?")
    )?;
    writeln!(out, "sender:    {}", i.sender.as_deref().unwrap_or("-"))?;
    writeln!(
        out,
        "language:  {}",
        i.language
            .map(|l| format!("{l:?}").to_lowercase())
            .unwrap_or("-".into())
    )?;
    if let Some(r) = &i.rsvp {
        writeln!(out, "answer:    {}", serde_json::to_string(r)?)?;
        let how = serde_json::to_value(i.confidence)?;
        if i.readings.is_empty() {
            writeln!(out, "sure:      {}", how.as_str().unwrap_or("?"))?;
        } else {
            writeln!(
                out,
                "sure:      {} (could be {})",
                how.as_str().unwrap_or("?"),
                serde_json::to_string(&i.readings)?
            )?;
        }
    }
    if let Some(x) = &i.extra_attendee {
        writeln!(out, "bisitter:  {}", serde_json::to_string(x)?)?;
    }
    if let Some(a) = &i.auto_reply {
        writeln!(
            out,
            "auto-reply until: {}",
            a.until.map(|d| d.to_string()).unwrap_or("-".into())
        )?;
    }
    if let Some(b) = &i.bounce {
        writeln!(out, "bounce:    {}", serde_json::to_string(b)?)?;
    }
    writeln!(out, "text:\n{}", i.reply_text)?;
    for p in &i.problems {
        writeln!(out, "problem:   {p}")?;
    }
    Ok(())
}

async fn council_id(store: &Store, slug: &str) -> Result<i64> {
    store
        .council_by_slug(slug)
        .await?
        .map(|c| c.id)
        .ok_or_else(|| anyhow!("no council {slug:?}; see `referent council list`"))
}

async fn member(
    cmd: &MemberCommand,
    cfg: &Config,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<()> {
    match cmd {
        MemberCommand::Add {
            council,
            name,
            email,
            org,
            role,
            doctor,
            language,
            vara,
        } => {
            let cid = council_id(store, council).await?;
            let language = match language {
                None => None,
                Some(l) => Some(crate::domain::Language::parse(l).ok_or_else(|| {
                    anyhow::anyhow!("--language must be nb, nn or en, not {l:?}")
                })?),
            };
            let m = NewMember {
                name: name.trim().to_string(),
                email: normalize_address(email)?,
                organisation: org.clone().filter(|o| !o.trim().is_empty()),
                role: role.parse()?,
                doctor: *doctor,
                language,
                vara: vara.as_deref().map(normalize_address).transpose()?,
            };
            if m.vara.as_deref() == Some(m.email.as_str()) {
                bail!("{} cannot be their own vara", m.email);
            }
            cfg.secretariat
                .refuse_own(&m.email, "a member")
                .map_err(|e| anyhow!(e))?;
            if let Some(v) = &m.vara {
                cfg.secretariat
                    .refuse_own(v, "a vara")
                    .map_err(|e| anyhow!(e))?;
            }
            if m.name.is_empty() {
                bail!("a member needs a name");
            }
            if m.name
                .chars()
                .chain(m.organisation.iter().flat_map(|o| o.chars()))
                .any(char::is_control)
            {
                bail!(
                    "a name or organisation cannot hold a line break or another control character"
                );
            }
            store.add_members(cid, &[m], now).await?;
            outln!("{name} <{}> added to {council}", normalize_address(email)?);
            for w in year::roster_warnings(store, cfg, cid, council).await? {
                eprintln!("warning: {w}");
            }
            Ok(())
        }
        MemberCommand::Import { council, file } => {
            let cid = council_id(store, council).await?;
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let members = parse_members_csv(&text)
                .and_then(|members| {
                    let own = crate::council::own_addresses(&members, &cfg.secretariat);
                    if own.is_empty() {
                        Ok(members)
                    } else {
                        Err(own)
                    }
                })
                .map_err(|errors| {
                    anyhow!(
                        "nothing imported; {} problem(s) in {}:\n  {}",
                        errors.len(),
                        file.display(),
                        errors.join("\n  ")
                    )
                })?;
            store
                .add_members(cid, &members, now)
                .await
                .context("nothing imported")?;
            outln!("{} member(s) imported into {council}", members.len());
            for w in year::roster_warnings(store, cfg, cid, council).await? {
                eprintln!("warning: {w}");
            }
            Ok(())
        }
        // Handled in `dispatch`: they go through the daemon (mail, one transaction).
        MemberCommand::Update { .. }
        | MemberCommand::Remove { .. }
        | MemberCommand::Replace { .. } => Ok(()),
        MemberCommand::List { council, json } => {
            let cid = council_id(store, council).await?;
            let members = store.members(cid).await?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&members)?);
            } else {
                for m in members {
                    outln!(
                        "{:<28} {:<36} {:<12} {:<24} {}",
                        m.name,
                        m.email,
                        m.role.as_str(),
                        m.organisation.unwrap_or_default(),
                        if m.doctor { "lege" } else { "" }
                    );
                }
            }
            Ok(())
        }
    }
}

async fn meeting(
    cmd: &MeetingCommand,
    cfg: &Config,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<()> {
    match cmd {
        MeetingCommand::Add {
            council,
            starts,
            ends,
            place,
            digital_link,
            title,
        } => {
            let c = store
                .council_by_slug(council)
                .await?
                .ok_or_else(|| anyhow!("no council {council:?}; see `referent council list`"))?;
            let tz = cfg.secretariat.time_zone;
            let starts_at = parse_local_time(starts, tz)?;
            let ends_at = match ends {
                Some(e) => parse_local_time(e, tz)?,
                None => starts_at + chrono::Duration::hours(2),
            };
            if ends_at <= starts_at {
                bail!("the meeting must end after it starts");
            }
            if place.is_none() && digital_link.is_none() {
                bail!("give --place (a room), --digital-link, or both");
            }
            let title = title
                .clone()
                .unwrap_or_else(|| format!("Møte i {}", c.name));
            let (id, jobs) = add_meeting(
                store,
                cfg,
                c.id,
                &c.slug,
                title,
                starts_at,
                ends_at,
                Place {
                    room: place.clone(),
                    digital_link: digital_link.clone(),
                },
                now,
            )
            .await?;
            outln!(
                "meeting {id} added: {} {}",
                c.slug,
                starts_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
            );
            for (kind, due) in jobs {
                let when = if due <= now {
                    "at the next run".to_string()
                } else {
                    due.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
                };
                outln!("  {kind:<9} {when}");
            }
            Ok(())
        }
        MeetingCommand::List { json } => {
            let meetings = store.meetings().await?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&meetings)?);
            } else {
                for m in meetings {
                    let tz: chrono_tz::Tz = m.time_zone.parse().unwrap_or(chrono_tz::Europe::Oslo);
                    outln!(
                        "{:>4} {:<20} {} {:<10} {}",
                        m.id,
                        m.council_slug,
                        m.starts_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                        m.status,
                        m.place
                            .room
                            .as_deref()
                            .or(m.place.digital_link.as_deref())
                            .unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        MeetingCommand::Show { id, json } => {
            let value = meeting_show(store, cfg, *id).await?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print_attendance(&value, &mut std::io::stdout())?;
            }
            Ok(())
        }
        // Handled in `dispatch`: they send mail, so they need the daemon.
        MeetingCommand::Cancel { .. }
        | MeetingCommand::Move { .. }
        | MeetingCommand::Update { .. } => Ok(()),
        MeetingCommand::Place { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    #[test]
    fn inspect_takes_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        for p in [
            dir.path().join("b.eml"),
            sub.join("a.eml"),
            dir.path().join("c.json"),
        ] {
            std::fs::write(&p, "From: a@b.no\r\n\r\nJa\r\n").unwrap();
        }
        let one = dir.path().join("x.txt");
        std::fs::write(&one, "From: a@b.no\r\n\r\nJa\r\n").unwrap();
        let found = inspect_paths(&[dir.path().to_path_buf(), one.clone()]).unwrap();
        assert_eq!(
            found,
            vec![dir.path().join("b.eml"), sub.join("a.eml"), one]
        );
        let line = InspectionLine {
            file: "m.eml".into(),
            inspection: &Inspection::from(&understand::understand(
                b"From: a@b.no\r\nSubject: SV: Innkalling\r\n\r\nKommer.\r\n",
                understand::Limits::default(),
            )),
        };
        let text = serde_json::to_string(&line).unwrap();
        assert!(!text.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["file"], "m.eml");
        assert_eq!(v["rsvp"]["attendance"], "in_person");
        assert_eq!(v["confidence"], "sure");
    }

    #[test]
    fn csv_import_reports_every_bad_line() {
        let ok = "name,email,org,role,doctor\nOla Nordmann,ola@ous-hf.no,OUS,leader,ja\nKari,kari@ahus.no,,,\n";
        let m = parse_members_csv(ok).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].role, Role::Leader);
        assert!(m[0].doctor);
        let bad = "name,email,org,role,doctor\nOla,ola@ous-hf.no,,,\nKari,not-an-address,,,\nPer,per@x.no,,boss,\nOla2,OLA@ous-hf.no,,,\n";
        let e = parse_members_csv(bad).unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("line 3:"));
        assert!(e[1].starts_with("line 4:"));
        assert!(e[2].starts_with("line 5:"));
        assert!(parse_members_csv("navn,epost\n").is_err());
    }
}
