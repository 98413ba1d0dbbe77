//! A council's roster sent by mail: "Medlemsliste Utdanningsrådet" with a `.csv`
//! attached. The file is read with the import's reader (`council::parse_members_csv`:
//! every bad row named with its line), compared with the stored roster
//! (`workflow::roster::diff`) and shown to the coordinator at their registered
//! address with «Svar «bekreft»» — as every change by mail, whether the message was
//! authenticated or not, so a forger only makes the real coordinator get the request.
//! On «bekreft» (`act` again, as confirmed) the difference is applied as `member add`,
//! `member update` and `member remove` do, in the transaction of the message's
//! outcome. What cannot be read is answered with the `roster` template, never guessed.
//! A spreadsheet (.xlsx, .ods) is read as the CSV of its first sheet
//! (`understand::sheet`); one that cannot be read (.xls, .numbers, damaged, too big
//! unpacked) is answered with a request for CSV.

use chrono::Duration;
use serde_json::json;

use super::trusted::Asked;
use super::year::Handled;
use super::{Daemon, Result};
use crate::store::{Change, Member, NewEvent, NewMember};
use crate::trust::Trust;
use crate::understand::command::Command;
use crate::understand::{strip_subject_prefixes, Understanding};
use crate::workflow::roster::{self as flow, Columns, Person};

fn person(m: &Member) -> Person {
    Person {
        id: m.id,
        name: m.name.clone(),
        email: m.email.clone(),
        organisation: m.organisation.clone(),
        role: m.role,
        doctor: m.doctor,
        language: m.language,
        vara: m.vara.clone(),
    }
}

fn new_member(p: &Person) -> NewMember {
    NewMember {
        name: p.name.clone(),
        email: p.email.clone(),
        organisation: p.organisation.clone(),
        role: p.role,
        doctor: p.doctor,
        language: p.language,
        vara: p.vara.clone(),
    }
}

/// The council the words name, or the sender's only council.
fn council_of<'a>(
    filter: Option<&str>,
    councils: &'a [crate::store::Council],
) -> Option<&'a crate::store::Council> {
    match filter.map(str::to_lowercase) {
        None => match councils {
            [only] => Some(only),
            _ => None,
        },
        Some(f) => {
            let named: Vec<&crate::store::Council> = councils
                .iter()
                .filter(|c| {
                    let name = c.name.to_lowercase();
                    f.contains(&name)
                        || name.contains(&f)
                        || f.split(|ch: char| !ch.is_alphanumeric() && ch != '-')
                            .any(|w| w == c.slug.to_lowercase())
                })
                .collect();
            match (named.as_slice(), councils) {
                ([one], _) => Some(one),
                ([], [only]) => Some(only),
                _ => None,
            }
        }
    }
}

impl Daemon {
    /// A roster by mail. `None` when the sender coordinates no council: the message
    /// goes on as any other (held for a coordinator).
    pub(crate) async fn roster_by_mail(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        trust: &Trust,
    ) -> Result<Option<Handled>> {
        let Some(Command::Roster { filter }) = &u.command else {
            return Ok(None);
        };
        let roles = self.coordinator_roles(from).await?;
        let Some(me) = roles.first() else {
            return Ok(None);
        };
        let mut councils = Vec::new();
        for r in &roles {
            councils.push(self.store.council(r.council_id).await?);
        }
        let subject = strip_subject_prefixes(&u.subject).to_string();
        let mut data = json!({
            "state": "unclear",
            "problem": null,
            "subject": subject,
            "council": null,
            "councils": councils.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            "file": null,
            "errors": [],
            "email": null,
            "added": 0,
            "changed": 0,
            "leaving": 0,
            "withdrawn": 0,
        });
        let set = |data: &mut serde_json::Value, k: &str, v: serde_json::Value| {
            if let Some(d) = data.as_object_mut() {
                d.insert(k.to_string(), v);
            }
        };
        let Some(council) = council_of(filter.as_deref(), &councils) else {
            set(&mut data, "problem", "which_council".into());
            return self
                .roster_question(inbound_id, u, me, from, trust, data)
                .await;
        };
        set(&mut data, "council", council.name.clone().into());
        let is_sheet = |name: &str| {
            let n = name.to_lowercase();
            [".xlsx", ".xls", ".ods", ".numbers"]
                .iter()
                .any(|e| n.ends_with(e))
        };
        // By its name first: a spreadsheet sent as text/csv is still a spreadsheet. An
        // .xlsx or .ods comes as the CSV text of its first sheet.
        let csv = u.attachments.iter().find(|a| {
            a.name.to_lowercase().ends_with(".csv")
                || (a.content_type == "text/csv" && !is_sheet(&a.name))
                || (crate::understand::sheet::is_readable_sheet(&a.name) && a.text.is_some())
        });
        let Some((file, text)) = csv.and_then(|a| a.text.as_ref().map(|t| (a, t))) else {
            // A spreadsheet that could not be read (or an .xls, .numbers): CSV is asked for.
            let sheet = u.attachments.iter().find(|a| is_sheet(&a.name));
            match sheet {
                Some(s) => {
                    set(&mut data, "problem", "spreadsheet".into());
                    set(&mut data, "file", s.name.clone().into());
                }
                None => set(&mut data, "problem", "no_file".into()),
            }
            return self
                .roster_question(inbound_id, u, me, from, trust, data)
                .await;
        };
        set(&mut data, "file", file.name.clone().into());
        // The secretariat's own addresses are nobody's, as on the command line.
        let rows = crate::council::parse_members_csv(text).and_then(|rows| {
            let own = crate::council::own_addresses(&rows, &self.cfg.secretariat);
            if own.is_empty() {
                Ok(rows)
            } else {
                Err(own)
            }
        });
        let rows = match rows {
            Ok(rows) => rows,
            Err(errors) => {
                set(&mut data, "problem", "bad_rows".into());
                set(&mut data, "errors", json!(errors));
                return self
                    .roster_question(inbound_id, u, me, from, trust, data)
                    .await;
            }
        };
        let cols = Columns::from_header(&crate::council::members_csv_columns(text));
        let file_people: Vec<Person> = rows
            .iter()
            .map(|m| Person {
                id: 0,
                name: m.name.clone(),
                email: m.email.clone(),
                organisation: m.organisation.clone(),
                role: m.role,
                doctor: m.doctor,
                language: m.language,
                vara: m.vara.clone(),
            })
            .collect();
        let stored = self.store.members(council.id).await?;
        let current: Vec<Person> = stored.iter().map(person).collect();
        let diff = match flow::diff(&current, &file_people, cols) {
            Ok(d) => d,
            Err(p) => {
                if let Ok(serde_json::Value::Object(o)) = serde_json::to_value(&p) {
                    if let Some(d) = data.as_object_mut() {
                        d.extend(o);
                    }
                }
                return self
                    .roster_question(inbound_id, u, me, from, trust, data)
                    .await;
            }
        };
        // Someone who was on the council and left keeps their row for the history; a
        // file cannot bring them back (`member add` refuses them too).
        for p in &diff.added {
            if self.store.member_row_exists(council.id, &p.email).await? {
                set(&mut data, "problem", "returning".into());
                set(&mut data, "email", p.email.clone().into());
                return self
                    .roster_question(inbound_id, u, me, from, trust, data)
                    .await;
            }
        }
        if diff.is_empty() {
            set(&mut data, "state", "same".into());
            return self
                .roster_question(inbound_id, u, me, from, trust, data)
                .await;
        }
        let asked = json!({
            "action": "roster",
            "council": council.name,
            "added": diff.added,
            "changed": diff.changed.iter().map(|c| json!({
                "name": c.after.name,
                "email": c.after.email,
                "changes": c.changes,
            })).collect::<Vec<_>>(),
            "leaving": diff.leaving,
            "kept": diff.kept,
        });
        let by = match trust {
            Trust::Confirmed(by) => by.clone(),
            _ => {
                let reason = crate::domain::HeldReason::until_confirmed(trust.is_authenticated());
                return self
                    .confirm_first_because(
                        inbound_id,
                        u,
                        &me.email,
                        Asked::Roster(asked),
                        &format!(
                            "a roster for {} by mail from {from}: {} added, {} changed, {} leaving",
                            council.slug,
                            diff.added.len(),
                            diff.changed.len(),
                            diff.leaving.len()
                        ),
                        trust,
                        reason,
                    )
                    .await
                    .map(Some);
            }
        };
        // Confirmed: what `member add`, `member update` and `member remove` do, in one
        // transaction with the message's outcome.
        let slug = &council.slug;
        let mut h = Handled::done("");
        for ch in &diff.changed {
            let new = new_member(&ch.after);
            self.check_person(&new)?;
            let Some(old) = stored.iter().find(|m| m.id == ch.before.id) else {
                continue;
            };
            h.events.push(NewEvent::new(
                &by,
                "member_updated",
                None,
                Some(inbound_id),
                format!(
                    "{} <{}> in {slug}: {}",
                    old.name,
                    old.email,
                    super::people::describe(old, &new)
                ),
            ));
            h.changes.push(Change::UpdateMember {
                id: old.id,
                member: new,
            });
        }
        let mut withdrawn = 0;
        for p in &diff.leaving {
            let Some(m) = stored.iter().find(|m| m.id == p.id) else {
                continue;
            };
            let w = self.withdraw(council, m, None, &by).await?;
            withdrawn += w.mails.len();
            h.mails.extend(w.mails);
            h.changes.extend(w.changes);
            h.events.extend(w.events);
            h.changes.push(Change::RemoveMember { id: m.id });
            h.events.push(NewEvent::new(
                &by,
                "member_removed",
                None,
                Some(inbound_id),
                format!("{} <{}> left {slug}", m.name, m.email),
            ));
        }
        for p in &diff.added {
            let new = new_member(p);
            self.check_person(&new)?;
            h.events.push(NewEvent::new(
                &by,
                "member_added",
                None,
                Some(inbound_id),
                format!("{} <{}> added to {slug}", new.name, new.email),
            ));
            h.changes.push(Change::AddMember {
                council_id: council.id,
                member: new,
            });
        }
        h.outcome = format!(
            "roster for {slug} by mail from {from}, confirmed by {by}: {} added, {} changed, {} removed; {withdrawn} invitation(s) withdrawn",
            diff.added.len(),
            diff.changed.len(),
            diff.leaving.len()
        );
        set(&mut data, "state", "done".into());
        set(&mut data, "added", diff.added.len().into());
        set(&mut data, "changed", diff.changed.len().into());
        set(&mut data, "leaving", diff.leaving.len().into());
        set(&mut data, "withdrawn", withdrawn.into());
        h.mails.push(self.reply_to_coordinator(
            "roster",
            format!("roster:done:{inbound_id}"),
            inbound_id,
            u,
            me,
            data,
        )?);
        Ok(Some(h))
    }

    /// What cannot be done yet, asked at the coordinator's registered address (no more
    /// than the hourly cap allows), or word that the file changes nothing.
    async fn roster_question(
        &self,
        inbound_id: i64,
        u: &Understanding,
        me: &Member,
        from: &str,
        trust: &Trust,
        data: serde_json::Value,
    ) -> Result<Option<Handled>> {
        let now = self.clock.now();
        let problem = data
            .get("problem")
            .and_then(|p| p.as_str())
            .unwrap_or("nothing to change")
            .to_string();
        let what = format!(
            "a roster by mail from {from} ({}): {problem}",
            trust.describe()
        );
        let recent = self
            .store
            .count_recent(&me.email, "roster", now - Duration::hours(1))
            .await?;
        if recent >= i64::from(self.cfg.receipts_per_hour) {
            return Ok(Some(Handled::done(format!(
                "{what}; not answered (too many this hour)"
            ))));
        }
        let mut h = Handled::done(format!("{what}; answered {}", me.email));
        h.mails.push(self.reply_to_coordinator(
            "roster",
            format!("roster:ask:{inbound_id}"),
            inbound_id,
            u,
            me,
            data,
        )?);
        Ok(Some(h))
    }
}
