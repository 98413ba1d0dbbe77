//! The yearly attendance report: in January, to each coordinator of every council that
//! met the year before, in their language, with the table attached as CSV. Once per
//! council and year (recorded with the mail in one transaction), however many
//! processes run the schedule.

use chrono::{Datelike, NaiveDate, NaiveTime};

use super::year::Notice;
use super::*;
use crate::schedule::workdays;

/// The kind of mail, and of the yearly record that keeps it to once a year.
const KIND: &str = "attendance_report";

impl Daemon {
    /// Sends the attendance reports for last year that are due and not sent: from 08:00
    /// on the first working day of the year (2 January at the earliest). Returns how
    /// many councils got theirs.
    pub(crate) async fn yearly_reports(&self) -> Result<usize> {
        let now = self.clock.now();
        let tz = self.cfg.secretariat.time_zone;
        let this_year = now.with_timezone(&tz).year();
        let Some(new_year) = NaiveDate::from_ymd_opt(this_year, 1, 1) else {
            return Ok(0);
        };
        let eight = NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN);
        let due = workdays::at_local(workdays::working_day_on_or_after(new_year), eight, tz);
        if now < due {
            return Ok(0);
        }
        let year = this_year - 1;
        let Some((from, to)) = crate::report::year_bounds(year, tz) else {
            return Ok(0);
        };
        let mut sent = 0;
        for council_id in self.store.councils_due_report(KIND, year, from, to).await? {
            if self.stopping.is_cancelled() {
                break;
            }
            let council = self.store.council(council_id).await?;
            let report = self
                .store
                .attendance_report(&council, year, tz, now)
                .await?;
            let coordinators = self.store.coordinators(council_id).await?;
            // Writing CSV into memory does not fail in practice; if it did, the table
            // in the text still goes, without the spreadsheet.
            let csv = match crate::report::to_csv(&report) {
                Ok(csv) => Some(csv),
                Err(e) => {
                    tracing::error!(council = %council.slug, error = %e, "cannot write the attendance CSV; the report goes without it");
                    None
                }
            };
            let attachment = csv
                .as_ref()
                .map(|_| format!("oppmote-{}-{year}.csv", council.slug));
            let data = serde_json::json!({
                "council": report.council,
                "year": report.year,
                "meetings": report.meetings,
                "attachment": attachment,
                "members": report.members.iter().map(|m| serde_json::json!({
                    "name": m.name,
                    "organisation": m.organisation,
                    "invited": m.invited,
                    "in_person": m.in_person,
                    "digital": m.digital,
                    "substitute": m.substitute,
                    "absent": m.absent,
                    "tentative": m.tentative,
                    "no_answer": m.no_answer,
                })).collect::<Vec<_>>(),
            });
            let mut mails = Vec::new();
            for c in coordinators.iter().filter(|c| c.failing_since.is_none()) {
                mails.push(self.notice(Notice {
                    kind: KIND,
                    effect_key: format!("{KIND}:{council_id}:{year}:{}", c.id),
                    to_name: &c.name,
                    to_address: &c.email,
                    template: Some(KIND),
                    data: data.clone(),
                    lang: Some(self.lang_of(c)),
                    attachments: match (&attachment, &csv) {
                        (Some(name), Some(csv)) => vec![(
                            name.clone(),
                            "text/csv; charset=utf-8".to_string(),
                            csv.clone().into_bytes(),
                        )],
                        _ => Vec::new(),
                    },
                    ..Notice::BLANK
                })?);
            }
            let event = NewEvent::new(
                "scheduler",
                KIND,
                None,
                None,
                format!(
                    "attendance report for {} {year} ({} meeting(s), {} member(s)) to {} coordinator(s)",
                    council.slug,
                    report.meetings,
                    report.members.len(),
                    mails.len()
                ),
            );
            if self
                .store
                .record_report(council_id, KIND, year, &mails, &event, now)
                .await?
            {
                tracing::info!(council = %council.slug, year, "attendance report queued");
                sent += 1;
            }
        }
        Ok(sent)
    }
}
