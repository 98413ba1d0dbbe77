//! `referent report …`: what happened over a year.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Datelike, Utc};
use clap::Subcommand;

use crate::config::Config;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Per member: meetings summoned to, and in person, online, by substitute,
    /// apologies, not sure, no answer (meetings held by now; cancelled ones left out).
    Attendance {
        #[arg(long)]
        council: String,
        /// The calendar year in the secretariat's time zone (default: this year).
        #[arg(long)]
        year: Option<i32>,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
}

pub async fn report_cmd(
    cmd: &ReportCommand,
    cfg: &Config,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<()> {
    match cmd {
        ReportCommand::Attendance {
            council,
            year,
            json,
            csv,
        } => {
            let tz = cfg.secretariat.time_zone;
            let Some(c) = store.council_by_slug(council).await? else {
                bail!("no council {council:?} (see `referent council list`)");
            };
            let year = year.unwrap_or_else(|| now.with_timezone(&tz).year());
            if !(1970..=9999).contains(&year) {
                bail!("--year {year} is not a year referent can count");
            }
            let r = store.attendance_report(&c, year, tz, now).await?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&r)?);
            } else if *csv {
                let text = crate::report::to_csv(&r).context("cannot write the CSV")?;
                outln!("{}", text.trim_end_matches('\n'));
            } else {
                outln!("{} {}: {} meeting(s) held", r.council, r.year, r.meetings);
                outln!(
                    "{:<32} {:>7} {:>9} {:>7} {:>10} {:>6} {:>9} {:>9}",
                    "member",
                    "invited",
                    "in_person",
                    "digital",
                    "substitute",
                    "absent",
                    "tentative",
                    "no_answer"
                );
                for m in &r.members {
                    outln!(
                        "{:<32} {:>7} {:>9} {:>7} {:>10} {:>6} {:>9} {:>9}",
                        m.name,
                        m.invited,
                        m.in_person,
                        m.digital,
                        m.substitute,
                        m.absent,
                        m.tentative,
                        m.no_answer
                    );
                }
            }
            Ok(())
        }
    }
}
