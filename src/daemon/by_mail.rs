//! A coordinator's change to a meeting by mail: "Nytt møte i Utdanningsrådet 12. januar
//! kl. 10–12 på Ullevål, bygg 1", "Flytt møtet 12. januar til 19. januar kl. 12–14",
//! "Avlys møtet 12. januar: for få påmeldte". `workflow::by_mail` decides what the
//! words mean; anything unclear is asked back at the coordinator's registered address.
//! What is understood is never done at once: the coordinator is asked to confirm it
//! by one word («bekreft»), at their registered address, whether the message was
//! authenticated or not — a change reaches every member, and a misread date should be
//! seen before it does. A forger's "nytt møte" thus only makes the real coordinator
//! get the request. On «bekreft» (`act` again, as confirmed) it does what `meeting
//! add`, `meeting move` and `meeting cancel` do.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::trusted::Asked;
use super::year::{Handled, Notice};
use super::{Daemon, Result};
use crate::domain::MeetingStatus;
use crate::store::{Meeting, Member, NewEvent};
use crate::trust::Trust;
use crate::understand::command::Command;
use crate::understand::{strip_subject_prefixes, Understanding};
use crate::workflow::by_mail::{self as flow, Change};

/// How far ahead a meeting by mail may be.
const AHEAD_DAYS: i64 = 3 * 366;

fn action(c: &Change) -> &'static str {
    match c {
        Change::Add { .. } => "meeting_add",
        Change::Move { .. } => "meeting_move",
        Change::Cancel { .. } => "meeting_cancel",
        Change::Place { .. } => "meeting_place",
    }
}

/// The meeting's place with what is given replaced.
fn merged(
    m: Option<&Meeting>,
    room: &Option<String>,
    digital_link: &Option<String>,
) -> crate::domain::Place {
    crate::domain::Place {
        room: room
            .clone()
            .or_else(|| m.and_then(|m| m.place.room.clone())),
        digital_link: digital_link
            .clone()
            .or_else(|| m.and_then(|m| m.place.digital_link.clone())),
    }
}

impl Daemon {
    /// A change to a meeting by mail. `None` when the sender coordinates no council:
    /// the message goes on as any other (held for a coordinator).
    pub(crate) async fn meeting_by_mail(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        trust: &Trust,
    ) -> Result<Option<Handled>> {
        let Some(cmd) = &u.command else {
            return Ok(None);
        };
        let roles = self.coordinator_roles(from).await?;
        let Some(me) = roles.first() else {
            return Ok(None);
        };
        let now = self.clock.now();
        let tz = self.cfg.secretariat.time_zone;
        let mut councils = Vec::new();
        let mut stored: Vec<Meeting> = Vec::new();
        for r in &roles {
            let c = self.store.council(r.council_id).await?;
            stored.extend(
                self.store
                    .meetings_between(
                        c.id,
                        now - Duration::days(1),
                        now + Duration::days(AHEAD_DAYS),
                    )
                    .await?,
            );
            councils.push(flow::Council {
                id: c.id,
                slug: c.slug,
                name: c.name,
            });
        }
        let meetings: Vec<flow::Meeting> = stored
            .iter()
            .map(|m| flow::Meeting {
                id: m.id,
                council_id: m.council_id,
                starts_at: m.starts_at,
                ends_at: m.ends_at,
                status: m.status,
            })
            .collect();
        let Some(resolved) = flow::resolve(cmd, &councils, &meetings, now, tz) else {
            return Ok(None);
        };
        let line = match cmd {
            Command::Add(w) | Command::Move(w) | Command::Cancel(w) | Command::Place(w) => {
                w.line.clone()
            }
            Command::Status { .. } | Command::Roster { .. } => String::new(),
        };
        let subject = strip_subject_prefixes(&u.subject).to_string();
        let subject = if subject.trim().is_empty() {
            line.clone()
        } else {
            subject
        };
        let change = match resolved {
            Ok(c) => c,
            Err(problem) => {
                let recent = self
                    .store
                    .count_recent(&me.email, "meeting_request", now - Duration::hours(1))
                    .await?;
                let what = format!(
                    "a change to a meeting by mail from {from} ({}), unclear: {}",
                    trust.describe(),
                    serde_json::to_value(problem)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                );
                if recent >= i64::from(self.cfg.receipts_per_hour) {
                    return Ok(Some(Handled::done(format!(
                        "{what}; not asked (too many this hour)"
                    ))));
                }
                let data = json!({
                    "state": "unclear",
                    "problem": problem,
                    "action": match cmd {
                        Command::Move(_) => "meeting_move",
                        Command::Cancel(_) => "meeting_cancel",
                        Command::Place(_) => "meeting_place",
                        _ => "meeting_add",
                    },
                    "subject": subject,
                    "line": line,
                    "councils": councils.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                    "council": null,
                    "starts": null,
                    "ends": null,
                    "room": null,
                    "link": null,
                    "reason": null,
                });
                let mut h = Handled::done(format!("{what}; asked {}", me.email));
                h.mails.push(self.reply_to_coordinator(
                    "meeting_request",
                    format!("meeting_request:ask:{inbound_id}"),
                    inbound_id,
                    u,
                    me,
                    data,
                )?);
                return Ok(Some(h));
            }
        };
        let council_name = |id: i64| {
            councils
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.name.clone())
                .unwrap_or_default()
        };
        let local = |t: DateTime<Utc>| crate::render::local_time(t, tz);
        let meeting = |id: i64| stored.iter().find(|m| m.id == id);
        let mut data = json!({
            "action": action(&change),
            "council": null,
            "starts": null,
            "ends": null,
            "old_starts": null,
            "old_ends": null,
            "room": null,
            "link": null,
            "reason": null,
        });
        let fill = match &change {
            Change::Add {
                council_id,
                starts_at,
                ends_at,
                place,
            } => json!({
                "council": council_name(*council_id),
                "starts": local(*starts_at),
                "ends": local(*ends_at),
                "room": place.room,
                "link": place.digital_link,
            }),
            Change::Move {
                meeting_id,
                starts_at,
                ends_at,
            } => json!({
                "council": meeting(*meeting_id).map(|m| m.council_name.clone()),
                "starts": local(*starts_at),
                "ends": local(*ends_at),
                "old_starts": meeting(*meeting_id).map(|m| local(m.starts_at)),
                "old_ends": meeting(*meeting_id).map(|m| local(m.ends_at)),
            }),
            Change::Place {
                meeting_id,
                room,
                digital_link,
            } => {
                let place = merged(meeting(*meeting_id), room, digital_link);
                json!({
                    "council": meeting(*meeting_id).map(|m| m.council_name.clone()),
                    "starts": meeting(*meeting_id).map(|m| local(m.starts_at)),
                    "ends": meeting(*meeting_id).map(|m| local(m.ends_at)),
                    "room": place.room,
                    "link": place.digital_link,
                })
            }
            Change::Cancel { meeting_id, reason } => json!({
                "council": meeting(*meeting_id).map(|m| m.council_name.clone()),
                "starts": meeting(*meeting_id).map(|m| local(m.starts_at)),
                "ends": meeting(*meeting_id).map(|m| local(m.ends_at)),
                "reason": reason,
            }),
        };
        if let (Some(d), Some(f)) = (data.as_object_mut(), fill.as_object()) {
            d.extend(f.clone());
        }
        let by = match trust {
            Trust::Confirmed(by) => by.clone(),
            _ => {
                // Authenticated, the change still waits for the coordinator's word;
                // not, it is a possible forgery, held as any unverified message.
                let reason = crate::domain::HeldReason::until_confirmed(trust.is_authenticated());
                return self
                    .confirm_first_because(
                        inbound_id,
                        u,
                        &me.email,
                        Asked::MeetingChange(data),
                        &format!(
                            "a change to a meeting by mail from {from} ({})",
                            action(&change)
                        ),
                        trust,
                        reason,
                    )
                    .await
                    .map(Some);
            }
        };
        // Confirmed: what the command line does.
        let mut h = match &change {
            Change::Add {
                council_id,
                starts_at,
                ends_at,
                place,
            } => {
                // Acting on the same message again (a crash before it was marked done)
                // finds the meeting it added.
                let same = stored.iter().find(|m| {
                    m.council_id == *council_id
                        && m.starts_at == *starts_at
                        && m.status == MeetingStatus::Scheduled
                });
                let id = match same {
                    Some(m) => m.id,
                    None => {
                        let c = self.store.council(*council_id).await?;
                        let (id, _) = crate::council::add_meeting(
                            &self.store,
                            &self.cfg,
                            c.id,
                            &c.slug,
                            format!("Møte i {}", c.name),
                            *starts_at,
                            *ends_at,
                            place.clone(),
                            now,
                        )
                        .await
                        .map_err(|e| super::DaemonError::Refused(e.to_string()))?;
                        id
                    }
                };
                let mut h = Handled::done(format!(
                    "meeting {id} added by mail from {from}, confirmed by {by}"
                ));
                h.events.push(NewEvent::new(
                    &by,
                    "meeting_added",
                    Some(id),
                    Some(inbound_id),
                    h.outcome.clone(),
                ));
                h
            }
            Change::Move {
                meeting_id,
                starts_at,
                ends_at,
            } => {
                let m = self.store.meeting(*meeting_id).await?;
                self.plan_meeting_change(
                    &m,
                    Some((*starts_at, *ends_at)),
                    None,
                    &by,
                    Some(inbound_id),
                )
                .await?
            }
            Change::Place {
                meeting_id,
                room,
                digital_link,
            } => {
                let m = self.store.meeting(*meeting_id).await?;
                let place = merged(Some(&m), room, digital_link);
                self.plan_place_change(&m, place, &by, Some(inbound_id))
                    .await?
            }
            Change::Cancel { meeting_id, reason } => {
                let m = self.store.meeting(*meeting_id).await?;
                self.plan_meeting_change(&m, None, reason.as_deref(), &by, Some(inbound_id))
                    .await?
            }
        };
        if h.state == crate::store::InboundState::Held {
            return Ok(Some(h));
        }
        if let Some(d) = data.as_object_mut() {
            d.insert("state".into(), "done".into());
            d.insert("problem".into(), serde_json::Value::Null);
            d.insert("subject".into(), subject.into());
            d.insert("line".into(), line.into());
            d.insert("councils".into(), json!([]));
            d.remove("old_starts");
            d.remove("old_ends");
        }
        h.mails.push(self.reply_to_coordinator(
            "meeting_request",
            format!("meeting_request:done:{inbound_id}"),
            inbound_id,
            u,
            me,
            data,
        )?);
        Ok(Some(h))
    }

    /// The answer to a coordinator's command by mail (a status, a change, a roster):
    /// from the template named `kind`, to their registered address whatever the
    /// message says about where to answer, in their language, once per `effect_key`.
    pub(super) fn reply_to_coordinator(
        &self,
        kind: &'static str,
        effect_key: String,
        inbound_id: i64,
        u: &Understanding,
        me: &Member,
        data: serde_json::Value,
    ) -> Result<crate::store::OutgoingMail> {
        self.notice(Notice {
            kind,
            effect_key,
            to_name: &me.name,
            to_address: &me.email,
            template: Some(kind),
            data,
            lang: Some(self.lang_of(me)),
            inbound_id: Some(inbound_id),
            in_reply_to: u.message_id.as_deref(),
            auto_submitted: "auto-replied",
            ..Notice::BLANK
        })
    }
}
