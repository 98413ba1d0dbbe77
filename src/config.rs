//! The configuration file (TOML, unknown keys rejected) and its validated form.
//!
//! Secrets may come from the environment instead of the file:
//! `REFERENT_DATABASE_URL`, `REFERENT_IMAP_PASSWORD`, `REFERENT_SMTP_PASSWORD`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::domain::{normalize_address, Language};
use crate::schedule::workdays::HolidayWeeks;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("cannot understand the configuration file {0}: {1}")]
    Parse(PathBuf, toml::de::Error),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// How the connection to a mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFile {
    /// `sqlite://path/to/file.db` or `postgres://user:password@host/db`.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapFile {
    pub host: String,
    pub port: Option<u16>,
    pub user: String,
    pub password: Option<String>,
    pub tls: Tls,
    #[serde(default = "default_folder")]
    pub folder: String,
    #[serde(default = "default_true")]
    pub idle: bool,
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaildirFile {
    pub path: PathBuf,
}

/// `[mailbox]`: `trusted_authserv_id` beside exactly one of `[mailbox.imap]` and
/// `[mailbox.maildir]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxFile {
    /// The authserv-id of the receiving server whose `Authentication-Results` header
    /// (RFC 8601) is believed, e.g. `mx.google.com`, a Postfix host name, or
    /// `microsoft365` for Exchange Online (which writes the header without an id).
    pub trusted_authserv_id: Option<String>,
    pub imap: Option<ImapFile>,
    pub maildir: Option<MaildirFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    pub host: String,
    pub port: Option<u16>,
    pub tls: Tls,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Send every message also to the mailbox's own `+sent` address, which confirms
    /// delivery to the server after a crash (default: true).
    pub copy_to_mailbox: Option<bool>,
    /// Connections open at once (default 2; Microsoft 365 allows 3).
    pub max_connections: Option<usize>,
    /// Messages a minute at most, evenly spaced (default: no limit; the server's
    /// throttling replies pace it). Microsoft 365: 30.
    pub max_per_minute: Option<u32>,
    /// How long all sending pauses when the server says a sending quota is used up
    /// (default 3600 seconds).
    pub quota_pause_secs: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxFile {
    pub maildir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretariatFile {
    pub name: String,
    pub address: String,
    #[serde(default)]
    pub language: Language,
    #[serde(default = "default_tz")]
    pub time_zone: String,
    /// The coordinator who signs the mail ("Eldbjørg Koordinator"), above the
    /// secretariat's name; without it mail is signed by the secretariat alone.
    pub signature_name: Option<String>,
    /// How to reach them, under the name ("tlf. 23 07 00 00 · eldbjorg@regut.no").
    pub signature_contact: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetsFile {
    pub summons_days_before: Option<u32>,
    pub reminder_days_before: Option<u32>,
    /// The call for agenda items goes out this many days before the meeting.
    pub call_days_before: Option<u32>,
    /// Proposals after this many days before the meeting are late.
    pub agenda_deadline_days_before: Option<u32>,
    /// The attendance list goes to the coordinators this many days before.
    pub attendance_days_before: Option<u32>,
    /// Days members have to correct draft minutes.
    pub correction_days: Option<u32>,
    /// Roster rule: at most this many representatives per organisation.
    pub max_per_organisation: Option<u32>,
    /// Roster rule: every organisation with representatives has a doctor among them.
    pub doctor_per_organisation: Option<bool>,
}

impl OffsetsFile {
    /// The offsets this section sets over `base`. An agenda deadline or call that is not
    /// set follows a summons moved earlier than them (a summons 30 days before gets its
    /// deadline 30 days and its call 37 days before), so a file that only moves the
    /// summons stays valid.
    fn offsets(&self, base: Offsets) -> Offsets {
        let summons = self.summons_days_before.unwrap_or(base.summons_days_before);
        let deadline = self
            .agenda_deadline_days_before
            .unwrap_or(base.agenda_deadline_days_before.max(summons));
        let call =
            self.call_days_before
                .unwrap_or(if deadline > base.agenda_deadline_days_before {
                    base.call_days_before.max(deadline + 7)
                } else {
                    base.call_days_before
                });
        Offsets {
            summons_days_before: summons,
            reminder_days_before: self
                .reminder_days_before
                .unwrap_or(base.reminder_days_before),
            call_days_before: call,
            agenda_deadline_days_before: deadline,
            attendance_days_before: self
                .attendance_days_before
                .unwrap_or(base.attendance_days_before),
            correction_days: self.correction_days.unwrap_or(base.correction_days),
            holiday_weeks: base.holiday_weeks,
        }
    }

    fn rules(&self, base: RosterRules) -> RosterRules {
        RosterRules {
            max_per_organisation: self.max_per_organisation.or(base.max_per_organisation),
            doctor_per_organisation: self
                .doctor_per_organisation
                .unwrap_or(base.doctor_per_organisation),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonFile {
    /// When the scheduler looks for due work: a cron expression with seconds,
    /// e.g. `"0 * * * * *"` (every minute).
    pub tick: Option<String>,
    /// Automatic receipts to one address in one hour, at most.
    pub receipts_per_hour: Option<u32>,
    /// Messages larger than this are stored and held for a coordinator, not read.
    pub max_message_bytes: Option<usize>,
    /// After a crash in the middle of a send, how long to wait for the message's copy
    /// before sending it again.
    pub send_confirm_secs: Option<u64>,
    /// Agenda proposals taken from one sender in a day; more are held.
    pub proposals_per_day: Option<u32>,
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Where relative paths in this file, and the default database, live.
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub database: Option<DatabaseFile>,
    pub mailbox: Option<MailboxFile>,
    pub smtp: Option<SmtpFile>,
    pub outbox: Option<OutboxFile>,
    pub secretariat: SecretariatFile,
    #[serde(default)]
    pub defaults: OffsetsFile,
    /// Per-council settings, by slug.
    #[serde(default)]
    pub council: BTreeMap<String, OffsetsFile>,
    #[serde(default)]
    pub daemon: DaemonFile,
    #[serde(default)]
    pub templates: TemplatesFile,
    #[serde(default)]
    pub calendar: CalendarFile,
    #[serde(default)]
    pub retention: RetentionFile,
}

/// `[retention]`: how long personal data in message bodies is kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    /// Months a message's body (what arrived, and what was sent) is kept; older ones are
    /// deleted once a day, the rows, outcomes and audit trail staying (default 12; at
    /// least 1).
    pub raw_months: Option<u32>,
}

/// Message bodies are kept this many months unless `[retention] raw_months` says otherwise.
pub const DEFAULT_RAW_MONTHS: u32 = 12;

/// `[calendar]`: when the secretariat is on holiday.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarFile {
    /// ISO week numbers of the summer holiday (default `[28, 29, 30]`, the
    /// fellesferie): a call for agenda items or a deadline that would fall in them, or
    /// in Christmas week (24 December to 1 January), is moved to the last working day
    /// before. `[]` turns it off.
    pub holiday_weeks: Option<Vec<u32>>,
}

/// `[templates]`: where a secretariat keeps its own wording.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesFile {
    /// A folder with `nb/`, `nn/` and `en/` subfolders; a `KIND.hbs` file there replaces
    /// the built-in template of that kind and language (`referent templates check`
    /// validates it, `referent templates show KIND` renders one).
    pub dir: Option<PathBuf>,
}

fn default_folder() -> String {
    "INBOX".into()
}
fn default_true() -> bool {
    true
}
fn default_poll() -> u64 {
    60
}
fn default_tz() -> String {
    "Europe/Oslo".into()
}

/// Validated IMAP settings.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub tls: Tls,
    pub folder: String,
    pub idle: bool,
    pub poll_interval: Duration,
}

#[derive(Debug, Clone)]
pub enum MailboxConfig {
    Imap(ImapConfig),
    Maildir(PathBuf),
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub credentials: Option<(String, String)>,
    pub copy_to_mailbox: bool,
    pub max_connections: usize,
    pub max_per_minute: Option<u32>,
    pub quota_pause: Duration,
}

#[derive(Debug, Clone)]
pub enum OutboundConfig {
    Smtp(SmtpConfig),
    Maildir(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    pub summons_days_before: u32,
    pub reminder_days_before: u32,
    pub call_days_before: u32,
    pub agenda_deadline_days_before: u32,
    pub attendance_days_before: u32,
    pub correction_days: u32,
    /// `[calendar] holiday_weeks`: no call for agenda items and no deadline in these
    /// ISO weeks (nor in Christmas week).
    pub holiday_weeks: HolidayWeeks,
}

impl Default for Offsets {
    fn default() -> Self {
        Offsets {
            summons_days_before: 14,
            reminder_days_before: 5,
            call_days_before: 28,
            agenda_deadline_days_before: 21,
            attendance_days_before: 2,
            correction_days: 7,
            holiday_weeks: HolidayWeeks::default(),
        }
    }
}

/// A council's composition rules; `member add/import` and `council show` warn when
/// they are broken. At most one leader and one deputy always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RosterRules {
    pub max_per_organisation: Option<u32>,
    pub doctor_per_organisation: bool,
}

#[derive(Debug, Clone)]
pub struct Secretariat {
    pub name: String,
    /// The mailbox's own address, e.g. `referent@council.example.no`.
    pub address: String,
    pub language: Language,
    pub time_zone: Tz,
    /// `signature_name`, `signature_contact`: see [`SecretariatFile`].
    pub signature_name: Option<String>,
    pub signature_contact: Option<String>,
}

impl Secretariat {
    /// The domain part of the secretariat's address, used in Message-IDs.
    pub fn domain(&self) -> &str {
        self.address
            .split_once('@')
            .map(|(_, d)| d)
            .unwrap_or("localhost")
    }

    /// The plus-address that receives our own copy of every message sent by SMTP.
    pub fn copy_address(&self) -> String {
        match self.address.split_once('@') {
            Some((local, domain)) => format!("{local}+sent@{domain}"),
            None => self.address.clone(),
        }
    }

    /// Whether `address` is one of the secretariat's own (any plus-address of it, the
    /// `+sent` copies included): never a member's, a vara's or a substitute's.
    pub fn is_own(&self, address: &str) -> bool {
        crate::domain::base_address(address).eq_ignore_ascii_case(&self.address)
    }

    /// Refuses the secretariat's own address for a person: mail to them would come back
    /// to the mailbox as if someone had written.
    pub fn refuse_own(&self, address: &str, as_what: &str) -> Result<(), String> {
        if self.is_own(address) {
            return Err(format!(
                "{address} is the secretariat's own address and cannot be {as_what}"
            ));
        }
        Ok(())
    }

    /// The plus-address that carries an invitation's token.
    pub fn reply_address(&self, token: &crate::domain::Token) -> String {
        match self.address.split_once('@') {
            Some((local, domain)) => format!("{local}+{}@{domain}", token.as_str()),
            None => self.address.clone(),
        }
    }
}

/// The validated configuration the program runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub mailbox: MailboxConfig,
    pub outbound: OutboundConfig,
    pub secretariat: Secretariat,
    pub defaults: Offsets,
    pub councils: BTreeMap<String, Offsets>,
    pub rules: BTreeMap<String, RosterRules>,
    pub default_rules: RosterRules,
    pub tick: cron::Schedule,
    pub tick_text: String,
    pub receipts_per_hour: u32,
    pub max_message_bytes: usize,
    pub send_confirm: Duration,
    /// See [`MailboxFile::trusted_authserv_id`]; `None` trusts no server verdict, so
    /// only replies carrying a key (and confirmations) authenticate a sender.
    pub trusted_authserv_id: Option<String>,
    pub proposals_per_day: u32,
    /// `[templates] dir`: templates that replace the built-in ones.
    pub templates_dir: Option<PathBuf>,
    /// `[retention] raw_months`: message bodies older than this are deleted.
    pub raw_months: u32,
}

pub const DEFAULT_DATA_DIR: &str = "referent-data";
/// SMTP connections open at once unless `[smtp] max_connections` says otherwise.
pub const DEFAULT_SMTP_CONNECTIONS: usize = 2;

impl Config {
    /// Loads and validates a file, with secrets from the environment taking precedence.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
        let file: ConfigFile =
            toml::from_str(&text).map_err(|e| ConfigError::Parse(path.into(), e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_file(file, base, &|k| std::env::var(k).ok())
    }

    /// The embedded default: everything under `dir` (SQLite file, Maildir inbox and
    /// outbox), used when no `--config` is given.
    pub fn embedded(dir: &Path) -> Config {
        let file = ConfigFile {
            data_dir: Some(dir.to_path_buf()),
            database: None,
            mailbox: None,
            smtp: None,
            outbox: None,
            secretariat: SecretariatFile {
                name: "Sekretariatet".into(),
                address: "referent@localhost.localdomain".into(),
                language: Language::Nb,
                time_zone: default_tz(),
                signature_name: None,
                signature_contact: None,
            },
            defaults: OffsetsFile::default(),
            council: BTreeMap::new(),
            daemon: DaemonFile::default(),
            templates: TemplatesFile::default(),
            calendar: CalendarFile::default(),
            retention: RetentionFile::default(),
        };
        // Every value above is known to be valid, so this cannot fail; a fallback keeps
        // the no-panic rule without hiding a real error.
        match Self::from_file(file, Path::new("."), &|k| std::env::var(k).ok()) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("embedded configuration rejected: {e}");
                Self::minimal(dir)
            }
        }
    }

    fn minimal(dir: &Path) -> Config {
        Config {
            data_dir: dir.to_path_buf(),
            database_url: sqlite_url(&dir.join("referent.db")),
            mailbox: MailboxConfig::Maildir(dir.join("inbox")),
            outbound: OutboundConfig::Maildir(dir.join("outbox")),
            secretariat: Secretariat {
                name: "Sekretariatet".into(),
                address: "referent@localhost.localdomain".into(),
                language: Language::Nb,
                time_zone: chrono_tz::Europe::Oslo,
                signature_name: None,
                signature_contact: None,
            },
            defaults: Offsets::default(),
            councils: BTreeMap::new(),
            rules: BTreeMap::new(),
            default_rules: RosterRules::default(),
            tick: every_minute(),
            tick_text: "0 * * * * *".into(),
            receipts_per_hour: 6,
            max_message_bytes: 25 * 1024 * 1024,
            send_confirm: Duration::from_secs(600),
            trusted_authserv_id: None,
            proposals_per_day: 5,
            templates_dir: None,
            raw_months: DEFAULT_RAW_MONTHS,
        }
    }

    pub fn from_file(
        file: ConfigFile,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(m);
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let data_dir = resolve(
            file.data_dir
                .as_deref()
                .unwrap_or(Path::new(DEFAULT_DATA_DIR)),
        );
        let database_url = env("REFERENT_DATABASE_URL")
            .or(file.database.and_then(|d| d.url))
            .unwrap_or_else(|| sqlite_url(&data_dir.join("referent.db")));
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(invalid(format!(
                "[database] url must start with sqlite: or postgres://, not {database_url:?}"
            )));
        }

        let mailbox_file = file.mailbox.unwrap_or_default();
        let trusted_authserv_id = match mailbox_file.trusted_authserv_id {
            Some(id) if id.trim().is_empty() || id.contains(';') || id.contains(char::is_whitespace) => {
                return Err(invalid(format!(
                    "[mailbox] trusted_authserv_id {id:?} is not an authserv-id (one word, such as mx.google.com)"
                )))
            }
            Some(id) => Some(id.to_ascii_lowercase()),
            None => None,
        };
        let mailbox = match (mailbox_file.imap, mailbox_file.maildir) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "give either [mailbox.imap] or [mailbox.maildir], not both".into(),
                ))
            }
            (None, None) => MailboxConfig::Maildir(data_dir.join("inbox")),
            (None, Some(m)) => MailboxConfig::Maildir(resolve(&m.path)),
            (Some(i), None) => {
                let password = env("REFERENT_IMAP_PASSWORD")
                    .or(i.password)
                    .ok_or_else(|| {
                        invalid(
                            "[mailbox.imap] needs a password (or REFERENT_IMAP_PASSWORD)".into(),
                        )
                    })?;
                if i.poll_interval_secs == 0 {
                    return Err(invalid(
                        "[mailbox.imap] poll_interval_secs must be at least 1".into(),
                    ));
                }
                MailboxConfig::Imap(ImapConfig {
                    port: i.port.unwrap_or(match i.tls {
                        Tls::Tls => 993,
                        _ => 143,
                    }),
                    host: i.host,
                    user: i.user,
                    password,
                    tls: i.tls,
                    folder: i.folder,
                    idle: i.idle,
                    poll_interval: Duration::from_secs(i.poll_interval_secs),
                })
            }
        };

        let outbound = match (file.smtp, file.outbox) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "give either [smtp] or [outbox], not both: mail leaves one way".into(),
                ))
            }
            (None, None) => OutboundConfig::Maildir(data_dir.join("outbox")),
            (None, Some(o)) => OutboundConfig::Maildir(resolve(&o.maildir)),
            (Some(s), None) => {
                let password = env("REFERENT_SMTP_PASSWORD").or(s.password);
                let credentials = match (s.user, password) {
                    (Some(u), Some(p)) => Some((u, p)),
                    (None, None) => None,
                    (Some(_), None) => {
                        return Err(invalid(
                            "[smtp] user is set but no password (or REFERENT_SMTP_PASSWORD)".into(),
                        ))
                    }
                    (None, Some(_)) => {
                        return Err(invalid("[smtp] password is set but no user".into()))
                    }
                };
                if s.max_connections == Some(0) {
                    return Err(invalid("[smtp] max_connections must be at least 1".into()));
                }
                if s.max_per_minute == Some(0) {
                    return Err(invalid(
                        "[smtp] max_per_minute must be at least 1 (leave it out for no limit)"
                            .into(),
                    ));
                }
                if s.quota_pause_secs == Some(0) {
                    return Err(invalid("[smtp] quota_pause_secs must be at least 1".into()));
                }
                OutboundConfig::Smtp(SmtpConfig {
                    port: s.port.unwrap_or(match s.tls {
                        Tls::Tls => 465,
                        Tls::Starttls => 587,
                        Tls::None => 25,
                    }),
                    host: s.host,
                    tls: s.tls,
                    credentials,
                    copy_to_mailbox: s.copy_to_mailbox.unwrap_or(true),
                    max_connections: s.max_connections.unwrap_or(DEFAULT_SMTP_CONNECTIONS),
                    max_per_minute: s.max_per_minute,
                    quota_pause: Duration::from_secs(s.quota_pause_secs.unwrap_or(3600)),
                })
            }
        };

        let time_zone = Tz::from_str(&file.secretariat.time_zone).map_err(|_| {
            invalid(format!(
                "[secretariat] time_zone {:?} is not a known time zone (e.g. Europe/Oslo)",
                file.secretariat.time_zone
            ))
        })?;
        let address = normalize_address(&file.secretariat.address)
            .map_err(|e| invalid(format!("[secretariat] address: {e}")))?;
        if address.contains('+') {
            return Err(invalid(
                "[secretariat] address must not contain '+': referent adds its own plus-addresses"
                    .into(),
            ));
        }

        let raw_months = file.retention.raw_months.unwrap_or(DEFAULT_RAW_MONTHS);
        // 1200 months: a century, past which the date arithmetic has no use.
        if !(1..=1200).contains(&raw_months) {
            return Err(invalid(format!(
                "[retention] raw_months must be from 1 to 1200, not {raw_months}"
            )));
        }

        let holiday_weeks = match &file.calendar.holiday_weeks {
            None => HolidayWeeks::default(),
            Some(weeks) => {
                let set = HolidayWeeks::new(weeks).ok_or_else(|| {
                    invalid(format!(
                        "[calendar] holiday_weeks {weeks:?}: a week is a number from 1 to 53"
                    ))
                })?;
                // Calls and deadlines must have somewhere to go.
                if set.len() > 26 {
                    return Err(invalid(format!(
                        "[calendar] holiday_weeks names {} weeks; at most 26 can be holidays",
                        set.len()
                    )));
                }
                set
            }
        };
        let defaults = file.defaults.offsets(Offsets {
            holiday_weeks,
            ..Offsets::default()
        });
        let default_rules = file.defaults.rules(RosterRules::default());
        let mut councils = BTreeMap::new();
        let mut rules = BTreeMap::new();
        for (slug, o) in file.council {
            councils.insert(slug.clone(), o.offsets(defaults));
            rules.insert(slug, o.rules(default_rules));
        }
        for (name, o) in std::iter::once(("defaults".to_string(), &defaults))
            .chain(councils.iter().map(|(k, v)| (format!("council.{k}"), v)))
        {
            if o.agenda_deadline_days_before > o.call_days_before
                || o.summons_days_before > o.agenda_deadline_days_before
            {
                return Err(invalid(format!(
                    "[{name}] the call for agenda items ({} days before), its deadline ({} days before) and the summons ({} days before) must come in that order",
                    o.call_days_before, o.agenda_deadline_days_before, o.summons_days_before
                )));
            }
            if o.correction_days == 0 {
                return Err(invalid(format!(
                    "[{name}] correction_days must be at least 1"
                )));
            }
            if o.reminder_days_before >= o.summons_days_before {
                return Err(invalid(format!(
                    "[{name}] the reminder ({} days before) must come after the summons ({} days before)",
                    o.reminder_days_before, o.summons_days_before
                )));
            }
        }

        let tick_text = file.daemon.tick.unwrap_or_else(|| "0 * * * * *".into());
        let tick = cron::Schedule::from_str(&tick_text).map_err(|e| {
            invalid(format!(
                "[daemon] tick {tick_text:?} is not a cron expression with seconds: {e}"
            ))
        })?;

        Ok(Config {
            data_dir,
            database_url,
            mailbox,
            outbound,
            secretariat: Secretariat {
                name: file.secretariat.name,
                address,
                language: file.secretariat.language,
                time_zone,
                signature_name: signature(file.secretariat.signature_name),
                signature_contact: signature(file.secretariat.signature_contact),
            },
            defaults,
            councils,
            rules,
            default_rules,
            tick,
            tick_text,
            receipts_per_hour: file.daemon.receipts_per_hour.unwrap_or(6),
            max_message_bytes: file.daemon.max_message_bytes.unwrap_or(25 * 1024 * 1024),
            send_confirm: Duration::from_secs(file.daemon.send_confirm_secs.unwrap_or(600)),
            trusted_authserv_id,
            proposals_per_day: file.daemon.proposals_per_day.unwrap_or(5),
            templates_dir: file.templates.dir.as_deref().map(resolve),
            raw_months,
        })
    }

    /// The roster rules for a council: its own section, else the defaults.
    pub fn rules(&self, council_slug: &str) -> RosterRules {
        self.rules
            .get(council_slug)
            .copied()
            .unwrap_or(self.default_rules)
    }

    /// The offsets for a council: its own section, else the defaults.
    pub fn offsets(&self, council_slug: &str) -> Offsets {
        self.councils
            .get(council_slug)
            .copied()
            .unwrap_or(self.defaults)
    }
}

/// A signature line as written: trimmed, and none when empty.
fn signature(line: Option<String>) -> Option<String> {
    line.map(|l| l.trim().to_string()).filter(|l| !l.is_empty())
}

fn every_minute() -> cron::Schedule {
    // A literal known to be valid; the fallback arm is unreachable in practice but keeps
    // the no-panic rule.
    cron::Schedule::from_str("0 * * * * *").unwrap_or_else(|_| every_minute_fallback())
}

#[allow(clippy::unwrap_used)]
fn every_minute_fallback() -> cron::Schedule {
    cron::Schedule::from_str("0 0 * * * *").unwrap()
}

/// The sqlx URL of an SQLite file, created when missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| ConfigError::Parse("t".into(), e))?;
        Config::from_file(file, Path::new("/srv"), &|_| None)
    }

    #[test]
    fn full_file() {
        let c = parse(
            r#"
            [database]
            url = "postgres://u:p@localhost/referent"
            [mailbox.imap]
            host = "imap.example.no"
            user = "referent"
            password = "x"
            tls = "tls"
            [smtp]
            host = "smtp.example.no"
            tls = "starttls"
            user = "referent"
            password = "y"
            [secretariat]
            name = "RegUt HSØ"
            address = "Referent@Example.no"
            language = "en"
            [council.utdanningsradet]
            summons_days_before = 21
            [daemon]
            tick = "*/30 * * * * *"
            "#,
        )
        .unwrap();
        assert_eq!(c.secretariat.address, "referent@example.no");
        assert!(matches!(c.mailbox, MailboxConfig::Imap(ref i) if i.port == 993 && i.idle));
        assert!(
            matches!(c.outbound, OutboundConfig::Smtp(ref s) if s.port == 587
            && s.max_connections == 2 && s.max_per_minute.is_none()
            && s.quota_pause == Duration::from_secs(3600))
        );
        assert_eq!(c.offsets("utdanningsradet").summons_days_before, 21);
        assert_eq!(c.offsets("utdanningsradet").reminder_days_before, 5);
        assert_eq!(c.offsets("other").summons_days_before, 14);
        assert_eq!(c.offsets("other").call_days_before, 28);
    }

    #[test]
    fn the_secretariats_own_addresses_are_nobodys() {
        let c =
            parse("[secretariat]\nname = \"S\"\naddress = \"referent@regut.example\"\n").unwrap();
        let s = &c.secretariat;
        for own in [
            "referent@regut.example",
            "Referent+sent@RegUt.example",
            "referent+0123@regut.example",
        ] {
            assert!(s.refuse_own(own, "a vara").is_err(), "{own}");
        }
        assert!(s.refuse_own("kari@regut.example", "a vara").is_ok());
    }

    #[test]
    fn an_earlier_summons_takes_the_agenda_deadline_along() {
        let base = "[secretariat]\nname = \"S\"\naddress = \"s@example.no\"\n";
        let c = parse(&format!("{base}[council.ur]\nsummons_days_before = 30\n")).unwrap();
        let o = c.offsets("ur");
        assert_eq!(
            (
                o.call_days_before,
                o.agenda_deadline_days_before,
                o.summons_days_before
            ),
            (37, 30, 30)
        );
        let e = parse(&format!(
            "{base}[defaults]\nsummons_days_before = 30\nagenda_deadline_days_before = 21\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("in that order"), "{e}");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let base = "[secretariat]\nname = \"S\"\naddress = \"s@example.no\"\n";
        assert!(parse(base).is_ok());
        let e = parse(&format!("{base}colour = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = parse(&format!("{base}[daemon]\ntick = \"every minute\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cron"), "{e}");
        let e = parse(&format!(
            "{base}[mailbox.imap]\nhost=\"h\"\nuser=\"u\"\ntls=\"none\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("password"), "{e}");
        let smtp = "[smtp]\nhost = \"h\"\ntls = \"none\"\n";
        let c = parse(&format!(
            "{base}{smtp}max_connections = 3\nmax_per_minute = 30\n"
        ))
        .unwrap();
        assert!(matches!(c.outbound, OutboundConfig::Smtp(ref s)
            if s.max_connections == 3 && s.max_per_minute == Some(30)));
        let e = parse(&format!("{base}{smtp}max_per_minute = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_per_minute"), "{e}");
        let e = parse(&format!("{base}{smtp}max_conections = 3\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_conections"), "{e}");
        let e = parse(&format!("{base}[defaults]\nreminder_days_before = 20\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("reminder"), "{e}");
    }

    #[test]
    fn holiday_weeks() {
        let base = "[secretariat]\nname = \"S\"\naddress = \"s@example.no\"\n";
        let c = parse(base).unwrap();
        assert_eq!(c.offsets("any").holiday_weeks.weeks(), [28, 29, 30]);
        let c = parse(&format!(
            "{base}[calendar]\nholiday_weeks = [27, 28, 29, 30, 31]\n[council.ur]\nsummons_days_before = 21\n"
        ))
        .unwrap();
        assert_eq!(c.offsets("ur").holiday_weeks.weeks(), [27, 28, 29, 30, 31]);
        assert_eq!(
            c.offsets("other").holiday_weeks.weeks(),
            [27, 28, 29, 30, 31]
        );
        let c = parse(&format!("{base}[calendar]\nholiday_weeks = []\n")).unwrap();
        assert!(c.defaults.holiday_weeks.is_empty());
        let e = parse(&format!("{base}[calendar]\nholiday_weeks = [54]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("holiday_weeks"), "{e}");
        let e = parse(&format!("{base}[calendar]\nholiday_weks = [28]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("holiday_weks"), "{e}");
    }
}
