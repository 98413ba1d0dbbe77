//! The agenda side of the council's year, at the edge: each function loads what its
//! decision needs from the store (a snapshot), lets `workflow::agenda` decide with the
//! time and fresh keys, renders the mail the plan names, and hands the result back to
//! be committed in one transaction with its cause.
//!
//! Longer than the ~600 lines a daemon file aims at: five flows (proposals, closing
//! the agenda, approval replies and digests, bisitters, the attendance list) share
//! their loading and rendering here; each is a few dozen lines of loading around its
//! `workflow::agenda` call. The bisitter flow is the one to move out first.

use chrono::{DateTime, Utc};

use super::year::Handled;
use super::Result;
use crate::daemon::Daemon;
use crate::domain::{Language, Token};
use crate::store::{AgendaItem, Change, Meeting, Member, NewAgendaItem, NewEvent, OutgoingMail};
use crate::understand::{Decision, Understanding};
use crate::workflow::agenda::{self as flow, State};
use crate::workflow::plan::{self, Person, Plan};

/// An agenda item as the workflow sees it.
pub(super) fn item_view(i: &AgendaItem) -> Result<flow::Item> {
    Ok(flow::Item {
        id: i.id,
        ref_key: i.ref_key.clone(),
        council_id: i.council_id,
        meeting_id: i.meeting_id,
        fixed: i.kind == crate::domain::ItemKind::Fixed,
        title: i.title.clone(),
        description: i.description.clone(),
        proposer_name: i.proposer_name.clone(),
        proposer_email: i.proposer_email.clone(),
        state: i.state,
        late: i.late,
        number: i.number,
        decided_at: i.decided_at,
    })
}

/// A workflow change as the store writes it.
fn change(c: flow::Change) -> Change {
    match c {
        flow::Change::NewFixed {
            ref_key,
            council_id,
            meeting_id,
            item,
            position,
            year,
            number,
        } => Change::NewAgendaItem(NewAgendaItem {
            ref_key,
            council_id,
            meeting_id: Some(meeting_id),
            kind: crate::domain::ItemKind::Fixed,
            position,
            // The code: the templates name the item in each reader's language.
            title: item.code().into(),
            description: String::new(),
            attachments: Vec::new(),
            proposer_name: None,
            proposer_email: None,
            forwarded_by: None,
            inbound_id: None,
            state: State::Fixed,
            late: false,
            year: Some(i64::from(year)),
            number: Some(number),
        }),
        flow::Change::NewProposal {
            ref_key,
            council_id,
            meeting_id,
            title,
            description,
            attachments,
            proposer_name,
            proposer_email,
            forwarded_by,
            inbound_id,
            late,
        } => Change::NewAgendaItem(NewAgendaItem {
            ref_key,
            council_id,
            meeting_id,
            kind: crate::domain::ItemKind::Proposal,
            position: 0,
            title,
            description,
            attachments,
            proposer_name: Some(proposer_name),
            proposer_email: Some(proposer_email),
            forwarded_by,
            inbound_id: Some(inbound_id),
            state: State::Proposed,
            late,
            year: None,
            number: None,
        }),
        flow::Change::Move { id, meeting_id } => Change::MoveAgendaItem { id, meeting_id },
        flow::Change::Decide {
            id,
            state,
            by,
            move_to,
        } => Change::DecideAgendaItem {
            id,
            state,
            by,
            move_to,
        },
        flow::Change::Number {
            id,
            year,
            number,
            position,
        } => Change::NumberAgendaItem {
            id,
            year: i64::from(year),
            number,
            position,
        },
        flow::Change::MarkRequested { ref_keys } => Change::MarkRequested { ref_keys },
        flow::Change::NewExtra {
            ref_key,
            invitation_id,
            name,
            email,
            inbound_id,
        } => Change::NewExtraAttendee {
            ref_key,
            invitation_id,
            name,
            email,
            inbound_id: Some(inbound_id),
        },
        flow::Change::DecideExtra { id, approved, by } => Change::DecideExtraAttendee {
            id,
            state: if approved {
                crate::domain::ExtraState::Approved
            } else {
                crate::domain::ExtraState::Rejected
            },
            by,
        },
    }
}

impl Daemon {
    /// A member as mail goes to them, in their language.
    pub(super) fn person(&self, m: &Member) -> Person {
        Person {
            id: m.id,
            name: m.name.clone(),
            email: m.email.clone(),
            lang: self.lang_of(m),
        }
    }

    fn membership(&self, m: &Member) -> flow::Membership {
        flow::Membership {
            council_id: m.council_id,
            role: m.role,
            name: m.name.clone(),
            lang: self.lang_of(m),
        }
    }

    /// A meeting as the workflow sees it.
    fn meeting_view(&self, m: &Meeting) -> Result<flow::Meeting> {
        Ok(flow::Meeting {
            id: m.id,
            council_id: m.council_id,
            council_name: m.council_name.clone(),
            starts_at: m.starts_at,
            tz: self.tz(m)?,
            scheduled: m.status == crate::domain::MeetingStatus::Scheduled,
        })
    }

    fn mails(&self, mails: Vec<plan::Mail>) -> Result<Vec<OutgoingMail>> {
        mails.into_iter().map(|m| self.plan_mail(m, None)).collect()
    }

    /// A plan, its mail rendered, as the commit takes it.
    pub(super) fn handled(&self, p: Plan<flow::Change>) -> Result<Handled> {
        self.handled_plan(p, |c| Some(change(c)))
    }

    /// The agenda lines of a meeting as the summons and the calendar entry show them,
    /// in `lang`: the numbered items through the `agenda` template.
    pub(crate) fn agenda_lines(&self, items: &[AgendaItem], lang: Language) -> Result<Vec<String>> {
        let entries: Vec<serde_json::Value> = items
            .iter()
            .filter(|i| i.number.is_some())
            .map(|i| {
                let code = (i.kind == crate::domain::ItemKind::Fixed)
                    .then(|| flow::FixedItem::parse(&i.title))
                    .flatten()
                    .map(flow::FixedItem::code);
                serde_json::json!({
                    "label": i.label().unwrap_or_default(),
                    "code": code,
                    "title": i.title,
                    "proposer": i.proposer_name,
                    "attachments": i.attachments,
                })
            })
            .collect();
        let r = self.renderer.render_kind(
            lang,
            "agenda",
            &self.common(""),
            &serde_json::json!({ "items": entries }),
        )?;
        Ok(r.body
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect())
    }

    /// The next scheduled meeting of a council after `after` (for deferred and late
    /// proposals).
    async fn next_meeting(&self, council_id: i64, after: DateTime<Utc>) -> Result<Option<Meeting>> {
        Ok(self
            .store
            .meetings()
            .await?
            .into_iter()
            .filter(|m| {
                m.council_id == council_id
                    && m.status == crate::domain::MeetingStatus::Scheduled
                    && m.starts_at > after
            })
            .min_by_key(|m| m.starts_at))
    }

    /// The first scheduled meeting of a council after `after` whose agenda is still
    /// open (its summons has not gone out).
    async fn next_open_meeting(
        &self,
        council_id: i64,
        after: DateTime<Utc>,
    ) -> Result<Option<Meeting>> {
        let mut candidates: Vec<Meeting> = self
            .store
            .meetings()
            .await?
            .into_iter()
            .filter(|m| {
                m.council_id == council_id
                    && m.status == crate::domain::MeetingStatus::Scheduled
                    && m.starts_at > after
            })
            .collect();
        candidates.sort_by_key(|m| m.starts_at);
        for m in candidates {
            if !self.summons_sent(m.id).await? {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    // ----- closing the agenda ---------------------------------------------------------------

    /// Closes a meeting's agenda (see [`flow::close_agenda`]). Returns the changes, the
    /// agenda as it will be, and the audit lines; an agenda closed before is returned as
    /// it is, with nothing to change.
    pub(crate) async fn close_agenda(
        &self,
        m: &Meeting,
    ) -> Result<(Vec<Change>, Vec<AgendaItem>, Vec<NewEvent>)> {
        let items = self.store.agenda_items(m.id).await?;
        if items.iter().any(|i| i.number.is_some()) {
            return Ok((Vec::new(), items, Vec::new()));
        }
        let meeting = self.meeting_view(m)?;
        let council_items = self.store.council_agenda(m.council_id).await?;
        let year = flow::agenda_year(m.starts_at, meeting.tz);
        let highest = self
            .store
            .highest_number(m.council_id, i64::from(year))
            .await?;
        let next = self.next_meeting(m.council_id, m.starts_at).await?;
        let own: Vec<flow::Item> = items.iter().map(item_view).collect::<Result<_>>()?;
        let council: Vec<flow::Item> =
            council_items.iter().map(item_view).collect::<Result<_>>()?;
        let Some(closed) = flow::close_agenda(&flow::Closing {
            meeting: &meeting,
            items: &own,
            council_items: &council,
            highest,
            next_meeting: next.map(|n| n.id),
            keys: [(); 3].map(|_| Token::generate().as_str().to_string()),
        }) else {
            return Ok((Vec::new(), items, Vec::new()));
        };
        let now = self.clock.now();
        let agenda = closed
            .agenda
            .iter()
            .filter_map(|p| {
                let mut a = match &p.slot {
                    flow::Slot::Item(id) => items
                        .iter()
                        .chain(council_items.iter())
                        .find(|i| i.id == *id)?
                        .clone(),
                    flow::Slot::Fixed { item, ref_key } => AgendaItem {
                        id: 0,
                        ref_key: ref_key.clone(),
                        council_id: m.council_id,
                        meeting_id: Some(m.id),
                        kind: crate::domain::ItemKind::Fixed,
                        position: 0,
                        title: item.code().into(),
                        description: String::new(),
                        attachments: Vec::new(),
                        proposer_name: None,
                        proposer_email: None,
                        forwarded_by: None,
                        inbound_id: None,
                        state: State::Fixed,
                        late: false,
                        year: None,
                        number: None,
                        decided_by: None,
                        decided_at: None,
                        created_at: now,
                    },
                };
                a.meeting_id = Some(m.id);
                a.year = Some(i64::from(p.year));
                a.number = Some(p.number);
                a.position = p.position;
                Some(a)
            })
            .collect();
        let changes = closed.plan.changes.into_iter().map(change).collect();
        let events = closed
            .plan
            .events
            .into_iter()
            .map(super::year::plan_event)
            .collect();
        Ok((changes, agenda, events))
    }

    // ----- the attendance list ------------------------------------------------------------------

    pub(crate) async fn attendance_list(&self, m: &Meeting, job_id: i64) -> Result<bool> {
        let invitees: Vec<flow::Invitee> = self
            .store
            .invitations(m.id)
            .await?
            .into_iter()
            .map(|inv| flow::Invitee {
                name: inv.member_name,
                email: inv.member_email,
                asked: inv.role.is_asked_to_answer(),
                response: inv.response,
                attendance: inv.attendance,
                substitute: inv.substitute.map(|s| s.name),
            })
            .collect();
        let extras: Vec<String> = self
            .store
            .extra_attendees(m.id)
            .await?
            .into_iter()
            .filter(|x| x.state == crate::domain::ExtraState::Approved)
            .map(|x| x.name)
            .collect();
        let coordinators: Vec<Person> = self
            .store
            .coordinators(m.council_id)
            .await?
            .iter()
            .map(|m| self.person(m))
            .collect();
        let p = flow::attendance_list(
            &self.meeting_view(m)?,
            &invitees,
            &extras,
            &coordinators,
            self.clock.now(),
        );
        let mails = self.mails(p.mails)?;
        self.finish_job(m, job_id, "attendance", p.outcome, &mails)
            .await
    }

    // ----- proposals ------------------------------------------------------------------------

    /// A proposal for the agenda, written directly or forwarded by a coordinator.
    pub(super) async fn proposal(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        call: Option<Meeting>,
        trust: &crate::trust::Trust,
    ) -> Result<Handled> {
        let now = self.clock.now();
        let proposer_address = u.on_behalf_of.as_deref().unwrap_or(from);
        let sender: Vec<flow::Membership> = self
            .store
            .members_by_email(from)
            .await?
            .iter()
            .map(|m| self.membership(m))
            .collect();
        let proposer: Vec<flow::Membership> = self
            .store
            .members_by_email(proposer_address)
            .await?
            .iter()
            .map(|m| self.membership(m))
            .collect();
        let proposals_today = self
            .store
            .count_events(
                proposer_address,
                "proposal",
                now - chrono::Duration::days(1),
            )
            .await?;
        let who = match flow::file_proposal(&flow::Filing {
            u,
            from,
            call_council: call.as_ref().map(|m| m.council_id),
            sender: &sender,
            proposer: &proposer,
            authenticated: trust.is_authenticated(),
            proposals_today,
            proposals_per_day: self.cfg.proposals_per_day,
            lang: self.lang(),
        }) {
            flow::Filed::Proposer(who) => who,
            flow::Filed::Held(reason, why) => return Ok(Handled::held_for(reason, &why)),
            flow::Filed::Confirm {
                coordinator,
                proposer,
                title,
            } => {
                return self
                    .confirm_first(
                        inbound_id,
                        u,
                        &coordinator,
                        super::trusted::Asked::ForwardedProposal {
                            proposer: &proposer,
                            title: &title,
                        },
                        &format!("an agenda proposal from {proposer} forwarded by {coordinator}"),
                        trust,
                    )
                    .await
            }
        };
        // Which meeting: the one the call was for while its agenda is open, else the next
        // one whose summons has not gone out.
        let call_reply = call.is_some();
        let mut target = match call {
            Some(m)
                if m.status == crate::domain::MeetingStatus::Scheduled
                    && !self.summons_sent(m.id).await? =>
            {
                Some(m)
            }
            _ => None,
        };
        if target.is_none() {
            target = self.next_open_meeting(who.council_id, now).await?;
        }
        let meeting = target.as_ref().map(|m| self.meeting_view(m)).transpose()?;
        let deadline = target
            .as_ref()
            .map(|m| {
                Ok::<_, super::DaemonError>(crate::schedule::agenda_deadline(
                    m.starts_at,
                    self.cfg.offsets(&m.council_slug),
                    self.tz(m)?,
                ))
            })
            .transpose()?;
        let council = self.store.council(who.council_id).await?;
        let coordinators = self.store.coordinators(who.council_id).await?;
        let receipts_recent = self
            .store
            .count_recent(&who.email, "receipt", now - chrono::Duration::hours(1))
            .await?;
        let approval_mails_last_hour = self.approval_mails_last_hour(&coordinators).await?;
        let key = Token::generate();
        let p = flow::propose(&flow::Proposing {
            u,
            inbound_id,
            proposer: &who,
            council_name: &council.name,
            target: meeting.as_ref(),
            deadline,
            call_reply,
            authenticated: trust.is_authenticated(),
            receipts_recent,
            receipts_per_hour: self.cfg.receipts_per_hour,
            coordinators: &coordinators
                .iter()
                .map(|m| self.person(m))
                .collect::<Vec<_>>(),
            approval_mails_last_hour,
            key: key.as_str(),
            now,
        });
        self.handled(p)
    }

    // ----- decisions on proposals -----------------------------------------------------------

    /// What a decision on `item` needs from the store, for `decision`.
    async fn deciding(&self, item: &AgendaItem, decision: Decision) -> Result<Deciding> {
        let now = self.clock.now();
        let own_meeting = match item.meeting_id {
            Some(id) => Some(self.store.meeting(id).await?),
            None => None,
        };
        let next_meeting = match decision {
            Decision::Defer => {
                let after = own_meeting.as_ref().map_or(now, |m| m.starts_at);
                self.next_meeting(item.council_id, after)
                    .await?
                    .map(|m| m.id)
            }
            _ => None,
        };
        let agenda_closed = match item.meeting_id {
            Some(id) => self.summons_sent(id).await?,
            None => true,
        };
        let next_open = match decision {
            Decision::Approve if agenda_closed => self
                .next_open_meeting(item.council_id, now)
                .await?
                .map(|m| m.id),
            _ => None,
        };
        let proposer_lang = match &item.proposer_email {
            Some(email) => self
                .store
                .members_by_email(email)
                .await?
                .iter()
                .find(|m| m.council_id == item.council_id)
                .map_or(self.lang(), |m| self.lang_of(m)),
            None => self.lang(),
        };
        Ok(Deciding {
            item: item_view(item)?,
            council_name: self.store.council(item.council_id).await?.name,
            next_meeting,
            agenda_closed,
            next_open,
            proposer_lang,
            coordinators: self
                .store
                .coordinators(item.council_id)
                .await?
                .iter()
                .map(|m| self.person(m))
                .collect(),
        })
    }

    /// A coordinator's decision on a proposal, from a reply or the command line, with
    /// their reason for a rejection.
    pub(crate) async fn decide_item(
        &self,
        item: &AgendaItem,
        decision: Decision,
        by: &str,
        inbound_id: Option<i64>,
        reason: Option<&str>,
    ) -> Result<Handled> {
        let d = self.deciding(item, decision).await?;
        self.handled(flow::decide_item(&flow::Deciding {
            reason,
            ..d.with(decision, by, inbound_id)
        }))
    }

    /// Decisions on several proposals from one message (a digest's numbered lines):
    /// each proposer told, and the other coordinators told once for all of them.
    pub(crate) async fn decide_items(
        &self,
        decisions: &[(AgendaItem, Decision, Option<String>)],
        by: &str,
        inbound_id: i64,
    ) -> Result<(Handled, Vec<String>)> {
        let mut all = Plan::done(String::new());
        let mut said = Vec::new();
        // Told per council: the coordinators, the council's name, what was decided.
        let mut told: std::collections::BTreeMap<i64, (Deciding, Vec<flow::Told>)> =
            Default::default();
        for (item, decision, reason) in decisions {
            let d = self.deciding(item, *decision).await?;
            let (p, t) = flow::decide(&flow::Deciding {
                reason: reason.as_deref(),
                ..d.with(*decision, by, Some(inbound_id))
            });
            said.push(p.outcome.clone());
            all.extend(p);
            if let Some(t) = t {
                told.entry(item.council_id)
                    .or_insert_with(|| (d, Vec::new()))
                    .1
                    .push(t);
            }
        }
        for (d, t) in told.values() {
            all.mails.extend(flow::tell_coordinators(
                &d.council_name,
                by,
                &d.coordinators,
                t,
                Some(inbound_id),
            ));
        }
        Ok((self.handled(all)?, said))
    }

    pub(super) async fn reply_to_approval(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        item: AgendaItem,
        trust: &crate::trust::Trust,
    ) -> Result<Handled> {
        let is_coordinator = self.is_coordinator(from, item.council_id).await?;
        let decision = u
            .decision
            .or_else(|| crate::understand::secretariat::read_decision(&u.reply_text));
        match flow::reply_to_approval(
            &item.title,
            from,
            is_coordinator,
            trust.is_authenticated(),
            decision,
        ) {
            flow::ApprovalReply::Held(reason, why) => Ok(Handled::held_for(reason, &why)),
            flow::ApprovalReply::Decide(d) => {
                let reason = crate::understand::secretariat::rejection_reason(&u.reply_text);
                self.decide_item(&item, d, from, Some(inbound_id), reason.as_deref())
                    .await
            }
            flow::ApprovalReply::Confirm(d) => {
                let word = State::of(d).as_str();
                self.confirm_first(
                    inbound_id,
                    u,
                    from,
                    super::trusted::Asked::Decision {
                        title: &item.title,
                        decision: d,
                    },
                    &format!("a decision ({word}) on \"{}\" from {from}", item.title),
                    trust,
                )
                .await
            }
        }
    }

    pub async fn cli_decide_item(
        &self,
        id: i64,
        decision: Decision,
        by: &str,
        reason: Option<&str>,
    ) -> Result<String> {
        let item = self.store.agenda_item(id).await?;
        let h = self.decide_item(&item, decision, by, None, reason).await?;
        self.commit_command(h).await
    }

    // ----- extra attendees ------------------------------------------------------------------

    /// Those who decide on an extra attendee: the council's leader, else its
    /// coordinators.
    async fn extra_deciders(&self, council_id: i64) -> Result<Vec<Person>> {
        let members: Vec<(crate::domain::Role, Person)> = self
            .store
            .members(council_id)
            .await?
            .iter()
            .map(|m| (m.role, self.person(m)))
            .collect();
        Ok(flow::extra_deciders(&members))
    }

    /// An extra attendee announced in an answer: held, and the leader asked.
    pub(crate) async fn announce_extra(
        &self,
        m: &Meeting,
        inv: &crate::store::Invitation,
        extra: &crate::domain::Substitute,
        inbound_id: i64,
    ) -> Result<(Change, Vec<OutgoingMail>)> {
        let key = Token::generate();
        let deciders = self.extra_deciders(m.council_id).await?;
        let (c, mails) = flow::announce_extra(
            &self.meeting_view(m)?,
            inv.id,
            &inv.member_name,
            extra,
            inbound_id,
            &deciders,
            key.as_str(),
        );
        Ok((change(c), self.mails(mails)?))
    }

    pub(super) async fn reply_about_extra(
        &self,
        inbound_id: i64,
        u: &Understanding,
        from: &str,
        x: crate::store::ExtraAttendee,
        trust: &crate::trust::Trust,
    ) -> Result<Handled> {
        let inv = self.store.invitation(x.invitation_id).await?;
        let m = self.store.meeting(inv.meeting_id).await?;
        let deciders = self.extra_deciders(m.council_id).await?;
        let extra = flow::Extra {
            id: x.id,
            name: x.name.clone(),
            email: x.email.clone(),
            approved: match x.state.as_str() {
                "approved" => Some(true),
                "rejected" => Some(false),
                _ => None,
            },
        };
        let member = Person {
            id: inv.member_id,
            name: inv.member_name.clone(),
            email: inv.member_email.clone(),
            lang: inv.member_language.unwrap_or(self.lang()),
        };
        let reply = flow::reply_about_extra(&flow::ExtraReplying {
            extra: &extra,
            meeting: &self.meeting_view(&m)?,
            member: &member,
            from,
            deciders: &deciders,
            authenticated: trust.is_authenticated(),
            decision: u
                .decision
                .or_else(|| crate::understand::secretariat::read_decision(&u.reply_text)),
            inbound_id,
            now: self.clock.now(),
        });
        match reply {
            flow::ExtraReply::Confirm => {
                self.confirm_first(
                    inbound_id,
                    u,
                    from,
                    super::trusted::Asked::ExtraAttendee {
                        extra: &x.name,
                        member: &inv.member_name,
                    },
                    &format!("a reply about the extra attendee {} from {from}", x.name),
                    trust,
                )
                .await
            }
            flow::ExtraReply::Plan { plan, summons } => {
                let mut h = self.handled(plan)?;
                if let (true, Some(email)) = (summons, &x.email) {
                    let mut mail = self
                        .substitute_summons(&m, &inv, &x.name, email, inbound_id)
                        .await?;
                    mail.effect_key = format!("extra-summons:{}", x.id);
                    h.mails.push(mail);
                }
                Ok(h)
            }
        }
    }
}

/// What a decision on one item needs, loaded; [`Deciding::with`] adds the decision.
struct Deciding {
    item: flow::Item,
    council_name: String,
    next_meeting: Option<i64>,
    agenda_closed: bool,
    next_open: Option<i64>,
    proposer_lang: Language,
    coordinators: Vec<Person>,
}

impl Deciding {
    fn with<'a>(
        &'a self,
        decision: Decision,
        by: &'a str,
        inbound_id: Option<i64>,
    ) -> flow::Deciding<'a> {
        flow::Deciding {
            item: &self.item,
            council_name: &self.council_name,
            decision,
            by,
            inbound_id,
            next_meeting: self.next_meeting,
            agenda_closed: self.agenda_closed,
            next_open: self.next_open,
            proposer_lang: self.proposer_lang,
            coordinators: &self.coordinators,
            reason: None,
        }
    }
}
