//! The loop: fetch → store raw → understand → decide → commit (state + outbox in one
//! transaction) → mark handled; the scheduler tick; the outbox dispatcher; shutdown.
//! This is the composition root: the only place that names concrete adapters.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{Config, MailboxConfig};
use crate::domain::{address_detail, base_address, Token};
use crate::mail::compose::{self, token_in_message_id, Draft};
use crate::mail::inbound::{
    self, imap::ImapSource, maildir::MaildirSource, MailSource, RawMessage,
};
use crate::mail::outbound::{self, Transport};
use crate::render::{self, MeetingText, Renderer};
use crate::schedule;
use crate::store::{
    InboundOutcome, InboundState, Invitation, Meeting, Member, NewAnswer, NewEvent, NewInbound,
    NewInvitation, OutgoingMail, Store,
};
use crate::understand::{self, Limits, Understanding};
use crate::workflow::{self, InboundContext};

mod approvals;
#[doc(hidden)]
pub mod fuzzing;
mod held;
pub mod outbox;
mod trusted;
mod year;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Inbound(#[from] inbound::InboundError),
    #[error(transparent)]
    Transport(#[from] crate::mail::outbound::TransportError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error(transparent)]
    Compose(#[from] compose::ComposeError),
    #[error("the meeting's time zone {0:?} is unknown")]
    TimeZone(String),
    #[error("a background task failed: {0}")]
    Task(String),
}

pub type Result<T> = std::result::Result<T, DaemonError>;

/// Tries at acting on one inbound message before it is quarantined.
const MAX_TRIES: i64 = 3;
/// Inbound messages taken per pass.
const BATCH: usize = 50;

/// What one pass did, for `run --once` and the logs.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Report {
    pub received: usize,
    pub answers: usize,
    pub held: usize,
    pub ignored: usize,
    pub jobs: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Who a message is acted on for, when the message alone does not prove it: the
/// person it claims to be confirmed it, or a coordinator applied it on the command line.
#[derive(Debug, Clone)]
pub struct Acting {
    pub trust: crate::trust::Trust,
    /// Act on the message as this person's mail (`inbox apply --as`).
    pub as_address: Option<String>,
}

pub struct Daemon {
    pub cfg: Config,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub renderer: Renderer,
    /// How mail leaves, and at what pace (`daemon/outbox.rs`).
    pub outbox: outbox::Outbox,
    pub limits: Limits,
    /// Cancelled when the daemon stops: batch loops look at it between messages, so a
    /// stop finishes the message in flight and leaves the rest for the next start.
    pub stopping: CancellationToken,
}

/// The inbound dedup key: Message-ID plus a hash of the body. The body, not the whole
/// message: the same message delivered twice differs in its Received: lines.
pub fn dedup_key(raw: &[u8], message_id: Option<&str>) -> (String, String) {
    let body_start = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2));
    let hash = match (message_id, body_start) {
        (Some(_), Some(start)) => hex::encode(Sha256::digest(raw.get(start..).unwrap_or(raw))),
        _ => hex::encode(Sha256::digest(raw)),
    };
    let key = match message_id {
        Some(id) => format!("{id}|{hash}"),
        None => format!("|{hash}"),
    };
    (key, hash)
}

impl Daemon {
    /// Opens the adapters and checks what can be checked before the loop starts.
    pub async fn new(cfg: Config, store: Store, clock: Arc<dyn Clock>) -> Result<Daemon> {
        let transport = outbound::open(&cfg.outbound)?;
        Self::with_transport(cfg, store, clock, transport)
    }

    /// Like [`Daemon::new`], with a transport of the caller's (a stub in tests).
    pub fn with_transport(
        cfg: Config,
        store: Store,
        clock: Arc<dyn Clock>,
        transport: Arc<dyn Transport>,
    ) -> Result<Daemon> {
        let renderer = Renderer::new()?;
        let outbox = outbox::Outbox::new(transport, outbox::Pacing::from_config(&cfg));
        let limits = Limits {
            max_bytes: cfg.max_message_bytes,
            ..Limits::default()
        };
        Ok(Daemon {
            cfg,
            store,
            clock,
            renderer,
            outbox,
            limits,
            stopping: CancellationToken::new(),
        })
    }

    pub async fn open_source(&self) -> Result<MailSource> {
        Ok(match &self.cfg.mailbox {
            MailboxConfig::Maildir(p) => {
                MailSource::Maildir(MaildirSource::open(p, Duration::from_secs(2))?)
            }
            MailboxConfig::Imap(i) => {
                let cp = self
                    .store
                    .checkpoint(&ImapSource::checkpoint_name(i))
                    .await?;
                MailSource::Imap(Box::new(ImapSource::new(i.clone(), cp)))
            }
        })
    }

    fn tz(&self, m: &Meeting) -> Result<Tz> {
        m.time_zone
            .parse()
            .map_err(|_| DaemonError::TimeZone(m.time_zone.clone()))
    }

    // ----- inbound ----------------------------------------------------------------------

    /// One pass over the mailbox: everything fetched is stored, acted on, and marked.
    pub async fn inbound_pass(&self, src: &mut MailSource, report: &mut Report) -> Result<()> {
        // Messages stored by an earlier run that died before acting on them.
        for (id, received_at) in self.store.unprocessed_inbound().await? {
            if self.stopping.is_cancelled() {
                return Ok(());
            }
            let raw = self.store.inbound_raw(id).await?;
            self.act_on_stored(id, &raw, received_at, report).await;
        }
        loop {
            let batch = src.fetch(BATCH).await?;
            let n = batch.len();
            let mut handled = Vec::with_capacity(n);
            for msg in batch {
                // A stop leaves the rest unacknowledged: they are fetched again.
                if self.stopping.is_cancelled() {
                    break;
                }
                if self.receive(&msg, report).await? {
                    handled.push(msg.source_ref.clone());
                }
            }
            let all = handled.len() == n;
            src.mark_handled(&handled).await?;
            if let MailSource::Imap(s) = src {
                if let (Some((v, u)), MailboxConfig::Imap(i)) =
                    (s.take_checkpoint(), &self.cfg.mailbox)
                {
                    self.store
                        .set_checkpoint(&ImapSource::checkpoint_name(i), v, u, self.clock.now())
                        .await?;
                }
            }
            if n < BATCH || !all || self.stopping.is_cancelled() {
                return Ok(());
            }
        }
    }

    /// Stores one fetched message and acts on it. Returns whether it may be marked
    /// handled (its effects are committed). A database failure while storing stops the
    /// pass: nothing may be acknowledged that is not stored.
    async fn receive(&self, msg: &RawMessage, report: &mut Report) -> Result<bool> {
        let message_id = quick_message_id(&msg.bytes);
        let (key, hash) = dedup_key(&msg.bytes, message_id.as_deref());
        let received_at = msg.received_at.unwrap_or_else(|| self.clock.now());
        let (id, state) = self
            .store
            .store_inbound(&NewInbound {
                dedup_key: key,
                message_id,
                content_hash: hash,
                raw: &msg.bytes,
                source: self.cfg_source_name(),
                received_at,
            })
            .await?;
        report.received += 1;
        if state != InboundState::New {
            tracing::debug!(inbound = id, "seen before; marking handled");
            return Ok(true);
        }
        Ok(self
            .act_on_stored(id, &msg.bytes, received_at, report)
            .await)
    }

    fn cfg_source_name(&self) -> String {
        match &self.cfg.mailbox {
            MailboxConfig::Imap(i) => ImapSource::checkpoint_name(i),
            MailboxConfig::Maildir(p) => format!("maildir:{}", p.display()),
        }
    }

    /// Acts on a stored message. Each try is counted before it starts; a message whose
    /// processing fails or panics is tried again at the next pass, and after
    /// [`MAX_TRIES`] tries it is quarantined: held with the reason, for a coordinator,
    /// and the loop goes on. Returns whether the outcome is committed.
    pub(crate) async fn act_on_stored(
        &self,
        id: i64,
        raw: &[u8],
        received_at: DateTime<Utc>,
        report: &mut Report,
    ) -> bool {
        let tries = match self.store.bump_attempts(id).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(inbound = id, error = %e, "cannot count the try; will retry");
                return false;
            }
        };
        if tries > MAX_TRIES {
            return self.quarantine(id, raw, tries - 1, report).await;
        }
        let acted = std::panic::AssertUnwindSafe(self.act(id, raw, received_at, report, None))
            .catch_unwind()
            .await;
        match acted {
            Ok(Ok(())) => true,
            Ok(Err(DaemonError::Store(e))) if e.is_transient() => {
                // The database, not the message: this try does not count.
                tracing::error!(inbound = id, error = %e, "the database failed while acting on a message; it is tried again at the next pass");
                let _ = self.store.unbump_attempts(id).await;
                false
            }
            Ok(Err(e)) => {
                tracing::error!(inbound = id, attempt = tries, error = %e, "cannot act on a message; it is tried again at the next pass");
                false
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown".into());
                tracing::error!(inbound = id, attempt = tries, panic = %what, "acting on a message panicked; it is tried again at the next pass");
                false
            }
        }
    }

    /// Holds a message that failed every try, with the reason, so the loop goes on.
    async fn quarantine(&self, id: i64, raw: &[u8], tries: i64, report: &mut Report) -> bool {
        let head = crate::trust::check(raw, None);
        let outcome = InboundOutcome {
            state: InboundState::Held,
            kind: "quarantined".into(),
            sender: head.from.clone(),
            subject: String::new(),
            outcome: format!(
                "quarantined: acting on this message failed {tries} times (see the log); \
                 `referent inbox retry {id}` tries again, `referent inbox dismiss {id}` sets it aside"
            ),
            problems: vec![format!("failed {tries} times")],
            invitation_id: None,
        };
        let event = NewEvent::new(
            "referent",
            "quarantine",
            None,
            Some(id),
            outcome.outcome.clone(),
        );
        match self
            .store
            .finish_inbound(id, &outcome, None, &[], &[event], &[], self.clock.now())
            .await
        {
            Ok(()) => {
                tracing::error!(inbound = id, tries, "message quarantined for a coordinator");
                report.held += 1;
                true
            }
            Err(e) => {
                tracing::error!(inbound = id, error = %e, "cannot quarantine the message; will retry");
                false
            }
        }
    }

    /// Acts on one stored message. `acting` overrides what the message alone proves
    /// about its sender: a confirmation by the person it claims to be, or a
    /// coordinator's `inbox apply --as`.
    pub(crate) async fn act(
        &self,
        id: i64,
        raw: &[u8],
        received_at: DateTime<Utc>,
        report: &mut Report,
        acting: Option<&Acting>,
    ) -> Result<()> {
        fault_point(raw);
        let limits = self.limits;
        let bytes = raw.to_vec();
        // Parsing is CPU work on untrusted input: off the async threads, and a panic
        // inside is contained twice (catch_unwind in `understand`, and the task here).
        let mut u =
            match tokio::task::spawn_blocking(move || understand::understand(&bytes, limits)).await
            {
                Ok(u) => u,
                Err(e) => Understanding {
                    problems: vec![format!("reading the message failed: {e}")],
                    ..Default::default()
                },
            };
        let now = self.clock.now();
        let check = crate::trust::check(raw, self.cfg.trusted_authserv_id.as_deref());
        // Mail is our own only when its Message-ID is in the outbox: a header anyone can
        // write proves nothing.
        let own = match &u.message_id {
            Some(mid) => self.store.sent_message(mid).await?.is_some(),
            None => false,
        };
        u.sent_by_referent = own;
        if own {
            if let Some(mid) = &u.message_id {
                if self.store.confirm_sent(mid, now).await? {
                    tracing::info!(message_id = %mid, "the copy of an interrupted send came back: delivery confirmed");
                }
            }
        }
        // Mail is never sent on behalf of the secretariat itself.
        if u.on_behalf_of
            .as_deref()
            .is_some_and(|o| base_address(o) == self.cfg.secretariat.address)
        {
            u.on_behalf_of = None;
            u.on_behalf_of_name = None;
        }
        // Who the message says it is from, kept as its sender whatever it is acted as.
        let given_from = u.from.clone();
        if let Some(addr) = acting.and_then(|a| a.as_address.as_ref()) {
            u.from = Some(addr.clone());
            u.on_behalf_of = None;
            u.on_behalf_of_name = None;
        }
        let from_secretariat = u
            .from
            .as_deref()
            .is_some_and(|f| base_address(f) == self.cfg.secretariat.address);
        if !own && !from_secretariat && u.bounce.is_none() && u.auto_reply.is_none() && !u.is_list {
            if let Some(h) = Box::pin(self.act_on_year(id, &u, raw, &check, acting, report)).await?
            {
                match h.state {
                    InboundState::Held => report.held += 1,
                    InboundState::Ignored => report.ignored += 1,
                    _ => {}
                }
                tracing::info!(inbound = id, from = %u.from.clone().unwrap_or_default(), state = h.state.as_str(), "{}", h.outcome);
                let outcome = InboundOutcome {
                    state: h.state,
                    kind: kind_name(&u),
                    sender: given_from.clone(),
                    subject: u.subject.clone(),
                    outcome: h.outcome,
                    problems: u.problems.clone(),
                    invitation_id: None,
                };
                self.store
                    .finish_inbound(id, &outcome, None, &h.mails, &h.events, &h.changes, now)
                    .await?;
                return Ok(());
            }
        }
        let mut found = self.find_invitation(&u).await?;
        if let (None, Some(addr)) = (&found, acting.and_then(|a| a.as_address.as_ref())) {
            // Applied as someone's mail: their one upcoming invitation, as for a forward.
            found = self.only_upcoming(addr).await?.map(|i| (i, None));
        }
        let (invitation, key_owner) = match found {
            Some((i, owner)) => (Some(i), owner),
            None => (None, None),
        };
        let trust = match acting {
            Some(a) => a.trust.clone(),
            None => check.trust(key_owner.as_deref()),
        };
        let meeting = match &invitation {
            Some(i) => Some(self.store.meeting(i.meeting_id).await?),
            None => None,
        };
        let sender_is_coordinator = match (&u.from, &meeting) {
            (Some(from), Some(m)) => self.is_coordinator(from, m.council_id).await?,
            _ => false,
        };
        let receipts_recent = match &u.from {
            Some(f) => {
                self.store
                    .count_recent(f, "receipt", now - chrono::Duration::hours(1))
                    .await?
            }
            None => 0,
        };
        let mut d = workflow::decide(
            &u,
            &InboundContext {
                secretariat_address: &self.cfg.secretariat.address,
                invitation: invitation.as_ref(),
                meeting: meeting.as_ref(),
                sender_is_coordinator,
                receipts_recent,
                receipts_per_hour: self.cfg.receipts_per_hour,
                trust: &trust,
                now,
            },
        );
        let sender = u.from.clone().unwrap_or_default();
        let mut mails = Vec::new();
        let mut events = Vec::new();
        let mut changes = Vec::new();
        let mut new_answer = None;
        if let (Some(ask), Some(answer), Some(inv), Some(m)) =
            (&d.confirm, &d.answer, &invitation, &meeting)
        {
            let lang = self.cfg.secretariat.language;
            let mut what = if crate::trust::same_address(ask, &inv.member_email) {
                render::describe_answer(lang, answer)
            } else {
                render::describe_answer_of(lang, &inv.member_name, answer)
            };
            // Someone outside the council would be sent the summons and the link.
            if let Some(e) = answer.substitute.as_ref().and_then(|s| s.email.as_deref()) {
                if self.store.members_by_email(e).await?.is_empty() {
                    what.push_str(match lang {
                        crate::domain::Language::Nb => {
                            " (NB: denne personen er ikke medlem av rådet og får innkallingen og lenken hvis du bekrefter)"
                        }
                        crate::domain::Language::En => {
                            " (note: this person is not a member of the council and gets the summons and the link if you confirm)"
                        }
                    });
                }
            }
            let (mail, note) = self
                .confirmation_request(
                    id,
                    &u,
                    ask,
                    trusted::Asked::Answer {
                        member: &inv.member_name,
                        meeting: m,
                        what: &what,
                    },
                )
                .await?;
            mails.extend(mail);
            d.outcome.push_str(&note);
        } else if let (Some(answer), Some(inv), Some(m)) = (&d.answer, &invitation, &meeting) {
            let source = if u.calendar.as_ref().is_some_and(|c| c.response.is_some()) {
                "calendar"
            } else if u.on_behalf_of.is_some() {
                "forward"
            } else {
                "reply"
            };
            changes.push(crate::store::Change::SettleHeld {
                invitation_id: inv.id,
                by_inbound: id,
            });
            new_answer = Some(NewAnswer {
                invitation_id: inv.id,
                answer: answer.clone(),
                source: source.into(),
                sender: sender.clone(),
                received_at,
            });
            events.push(NewEvent {
                actor: sender.clone(),
                kind: "answer".into(),
                meeting_id: Some(m.id),
                invitation_id: Some(inv.id),
                inbound_id: Some(id),
                detail: d.outcome.clone(),
            });
            if d.receipt {
                // A forwarded answer: the member did not write to us, so the receipt
                // says who did.
                let forwarded_by = match &u.on_behalf_of {
                    Some(_) => match &u.from {
                        Some(f) => Some(
                            self.store
                                .members_by_email(f)
                                .await?
                                .into_iter()
                                .next()
                                .map(|m| m.name)
                                .unwrap_or_else(|| f.clone()),
                        ),
                        None => None,
                    },
                    None => None,
                };
                mails.push(self.receipt(
                    m,
                    inv,
                    answer,
                    u.message_id.as_deref(),
                    id,
                    forwarded_by,
                )?);
            }
            if let Some(crate::domain::Substitute {
                name,
                email: Some(email),
            }) = &answer.substitute
            {
                if m.starts_at > now && self.summons_sent(m.id).await? {
                    mails.push(self.substitute_summons(m, inv, name, email, id).await?);
                    // The coordinators see who comes in whose place, and whether that
                    // person is on the council at all.
                    let lang = self.cfg.secretariat.language;
                    let outsider = self.store.members_by_email(email).await?.is_empty();
                    let date = render::format_date(lang, m.starts_at, self.tz(m)?);
                    for c in self.store.coordinators(m.council_id).await? {
                        let mut line = match lang {
                            crate::domain::Language::Nb => format!(
                                "{} har forfall til møtet i {} {date}, og {name} <{email}> møter i stedet. {name} har fått innkallingen.",
                                inv.member_name, m.council_name
                            ),
                            crate::domain::Language::En => format!(
                                "{} cannot attend the meeting of {} on {date}; {name} <{email}> attends instead and has been sent the summons.",
                                inv.member_name, m.council_name
                            ),
                        };
                        if outsider {
                            line.push_str(match lang {
                                crate::domain::Language::Nb => {
                                    " Vedkommende er ikke medlem av rådet."
                                }
                                crate::domain::Language::En => {
                                    " They are not a member of the council."
                                }
                            });
                        }
                        mails.push(self.notice(year::Notice {
                            kind: "notice",
                            effect_key: format!("substitute-notice:{id}:{}", c.id),
                            to_name: &c.name,
                            to_address: &c.email,
                            subject: match lang {
                                crate::domain::Language::Nb => {
                                    format!("Vara: {name} for {}", inv.member_name)
                                }
                                crate::domain::Language::En => {
                                    format!("Substitute: {name} for {}", inv.member_name)
                                }
                            },
                            lines: vec![line],
                            meeting_id: Some(m.id),
                            inbound_id: Some(id),
                            ..year::Notice::BLANK
                        })?);
                    }
                }
            }
            // An extra attendee (bisitter) is held until the leader approves.
            if let (Some(extra), true) = (&u.extra_attendee, answer.substitute.is_none()) {
                let (change, requests) = self.announce_extra(m, inv, extra, id).await?;
                changes.push(change);
                mails.extend(requests);
            }
            report.answers += 1;
        }
        if let (true, Some(inv), Some(m)) = (d.ask, &invitation, &meeting) {
            mails.push(self.question(m, inv, &d, u.message_id.as_deref(), id)?);
        }
        if let Some((address, reason)) = &d.failing {
            let n = self.store.mark_failing(address, reason, now).await?;
            mails.extend(
                self.bounce_notices(address, reason, &id.to_string(), Some(id))
                    .await?,
            );
            events.push(NewEvent {
                actor: "mail system".into(),
                kind: "bounce".into(),
                meeting_id: None,
                invitation_id: None,
                inbound_id: Some(id),
                detail: format!("{address}: {reason} ({n} membership(s) marked failing)"),
            });
        }
        match d.state {
            InboundState::Held => report.held += 1,
            InboundState::Ignored => report.ignored += 1,
            _ => {}
        }
        let kind = kind_name(&u);
        tracing::info!(inbound = id, from = %sender, kind = %kind, state = d.state.as_str(), "{}", d.outcome);
        let outcome = InboundOutcome {
            state: d.state,
            kind,
            sender: given_from,
            subject: u.subject.clone(),
            outcome: d.outcome,
            problems: u.problems.clone(),
            invitation_id: invitation.as_ref().map(|i| i.id),
        };
        self.store
            .finish_inbound(
                id,
                &outcome,
                new_answer.as_ref(),
                &mails,
                &events,
                &changes,
                now,
            )
            .await?;
        Ok(())
    }

    /// The invitation a message answers, and the address its key was sent to when it
    /// was found by one: by the Message-IDs it replies to (ours carry the token), the
    /// plus-address it was sent to, or the personal UID of a calendar reply. Finding it
    /// authorises nothing by itself: the trust of the sender decides.
    async fn find_invitation(
        &self,
        u: &Understanding,
    ) -> Result<Option<(Invitation, Option<String>)>> {
        let domain = self.cfg.secretariat.domain();
        let keyed = |inv: Invitation| {
            let owner = inv.member_email.clone();
            Some((inv, Some(owner)))
        };
        for id in &u.thread_ids {
            if let Some(inv) = self.store.invitation_by_sent_message(id).await? {
                return Ok(keyed(inv));
            }
            if let Some(token) = token_in_message_id(id, domain) {
                if let Some(inv) = self.store.invitation_by_token(token.as_str()).await? {
                    return Ok(keyed(inv));
                }
            }
        }
        for addr in &u.recipients {
            if base_address(addr) != self.cfg.secretariat.address {
                continue;
            }
            if let Some(token) = address_detail(addr).and_then(Token::parse) {
                if let Some(inv) = self.store.invitation_by_token(token.as_str()).await? {
                    return Ok(keyed(inv));
                }
            }
        }
        if let Some(c) = &u.calendar {
            if let Some(uid) = &c.uid {
                // A personal UID names one invitation.
                if let Some(token) = crate::mail::ics::token_in_uid(uid) {
                    if let Some(inv) = self.store.invitation_by_token(token.as_str()).await? {
                        // A reply that names someone else as the attendee is not the
                        // invitee's own answer, whatever UID it carries.
                        let other = c
                            .attendee
                            .as_deref()
                            .is_some_and(|a| !crate::trust::same_address(a, &inv.member_email));
                        if other {
                            // Not an answer we can credit to anyone: held, nobody asked
                            // (a confirmation would record the wrong person).
                            tracing::warn!(uid = %uid, "a calendar reply whose attendee is not the invitee");
                            return Ok(None);
                        }
                        return Ok(keyed(inv));
                    }
                }
                // A meeting's shared UID (entries sent before UIDs were personal) names
                // the meeting only: the attendee is whoever the reply says, which proves
                // nothing, so no key is credited.
                if let Some(who) = c.attendee.as_ref().or(u.from.as_ref()) {
                    if let Some(m) = self.store.meeting_by_uid(uid).await? {
                        return Ok(self
                            .store
                            .invitation_for(m.id, who)
                            .await?
                            .map(|i| (i, None)));
                    }
                }
            }
        }
        // A new mail from a member (not a reply) with an answer: their one upcoming
        // invitation, found without a key, so the answer needs the server's verdict or
        // the member's confirmation.
        if let (None, Some(from), Some(_)) = (&u.on_behalf_of, &u.from, &u.answer) {
            if let Some(inv) = self.only_upcoming(from).await? {
                return Ok(Some((inv, None)));
            }
        }
        // A forwarded answer carries no threading of ours: the original sender's one
        // upcoming invitation is the one it answers. With several, a person decides.
        if let Some(original) = &u.on_behalf_of {
            return Ok(self.only_upcoming(original).await?.map(|i| (i, None)));
        }
        Ok(None)
    }

    /// A person's upcoming invitation when they have exactly one: the only one an
    /// answer without threading can be about. With several, a person decides.
    async fn only_upcoming(&self, address: &str) -> Result<Option<Invitation>> {
        let mut upcoming = self
            .store
            .upcoming_invitations(address, self.clock.now())
            .await?;
        Ok(match upcoming.len() {
            1 => upcoming.pop(),
            _ => None,
        })
    }

    /// Tells the coordinators of every council an address belongs to that mail to it
    /// bounces.
    async fn bounce_notices(
        &self,
        address: &str,
        reason: &str,
        cause: &str,
        inbound_id: Option<i64>,
    ) -> Result<Vec<OutgoingMail>> {
        let mut mails = Vec::new();
        let lang = self.cfg.secretariat.language;
        for member in self.store.members_by_email(address).await? {
            let council = self.store.council(member.council_id).await?;
            for c in self.store.coordinators(member.council_id).await? {
                if c.email == address {
                    continue;
                }
                let (subject, lines) = match lang {
                    crate::domain::Language::Nb => (
                        format!("E-post til {} kommer ikke fram", member.name),
                        vec![
                            format!("E-post til {} <{address}> i {} kan ikke leveres: {reason}.", member.name, council.name),
                            "Adressen er merket som feilende, og den får ikke flere utsendelser før den er rettet.".to_string(),
                        ],
                    ),
                    crate::domain::Language::En => (
                        format!("Mail to {} does not arrive", member.name),
                        vec![
                            format!("Mail to {} <{address}> in {} cannot be delivered: {reason}.", member.name, council.name),
                            "The address is marked as failing and gets no more mailings until it is corrected.".to_string(),
                        ],
                    ),
                };
                mails.push(self.notice(year::Notice {
                    kind: "notice",
                    effect_key: format!("bounce-notice:{cause}:{}", c.id),
                    to_name: &c.name,
                    to_address: &c.email,
                    subject,
                    lines,
                    inbound_id,
                    ..year::Notice::BLANK
                })?);
            }
        }
        Ok(mails)
    }

    /// A mail the submission server refused for good (5xx): the address is marked
    /// failing and the coordinators of its councils are told, in one transaction.
    async fn submission_refused(&self, row: &crate::store::OutboxRow, reason: &str) -> Result<()> {
        let now = self.clock.now();
        let reason = format!("the mail server refused it: {reason}");
        let n = self
            .store
            .mark_failing(&row.recipient, &reason, now)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let mails = self
            .bounce_notices(&row.recipient, &reason, &format!("outbox{}", row.id), None)
            .await?;
        let ev = NewEvent::new(
            "mail system",
            "refused",
            row.meeting_id,
            None,
            format!(
                "{}: {reason} ({n} membership(s) marked failing)",
                row.recipient
            ),
        );
        self.store.commit(&[], &mails, &[ev], now).await?;
        Ok(())
    }

    // ----- composing ----------------------------------------------------------------------

    fn meeting_text(&self, m: &Meeting, name: &str, asked: bool) -> Result<MeetingText> {
        let tz = self.tz(m)?;
        let lang = self.cfg.secretariat.language;
        Ok(MeetingText {
            council: m.council_name.clone(),
            title: m.title.clone(),
            date: render::format_date(lang, m.starts_at, tz),
            time: render::format_time_range(m.starts_at, m.ends_at, tz),
            room: m.place.room.clone(),
            link: m.place.digital_link.clone(),
            name: render::first_name(name),
            secretariat: self.cfg.secretariat.name.clone(),
            asked,
            agenda: Vec::new(),
            understood: None,
            tentative: false,
            forwarded_by: None,
        })
    }

    /// A message from a template about a meeting, to one person, with the calendar
    /// entry and files it carries (if any).
    #[allow(clippy::too_many_arguments)]
    fn compose(
        &self,
        template: &str,
        ctx: &MeetingText,
        to_name: &str,
        to_address: &str,
        token: Option<&Token>,
        in_reply_to: Option<&str>,
        auto_submitted: &'static str,
        calendar: Option<(&str, String)>,
        attachments: Vec<(String, String, Vec<u8>)>,
    ) -> Result<(String, Vec<u8>)> {
        let r = self
            .renderer
            .render(self.cfg.secretariat.language, template, ctx)?;
        let message_id = compose::new_message_id(template, token, self.cfg.secretariat.domain());
        let reply_to = token.map(|t| self.cfg.secretariat.reply_address(t));
        let raw = compose::build(&Draft {
            from_name: &self.cfg.secretariat.name,
            from_address: &self.cfg.secretariat.address,
            reply_to: reply_to.as_deref(),
            to_name: Some(to_name),
            to_address,
            subject: &r.subject,
            body: &r.body,
            message_id: &message_id,
            in_reply_to,
            auto_submitted,
            kind: template,
            date: self.clock.now(),
            calendar,
            attachments,
        })?;
        Ok((message_id, raw))
    }

    fn receipt(
        &self,
        m: &Meeting,
        inv: &Invitation,
        answer: &crate::domain::Answer,
        in_reply_to: Option<&str>,
        inbound_id: i64,
        forwarded_by: Option<String>,
    ) -> Result<OutgoingMail> {
        let mut ctx = self.meeting_text(m, &inv.member_name, true)?;
        ctx.forwarded_by = forwarded_by;
        // The forward's Message-ID means nothing to the member.
        let in_reply_to = if ctx.forwarded_by.is_some() {
            None
        } else {
            in_reply_to
        };
        ctx.understood = Some(render::describe_answer(
            self.cfg.secretariat.language,
            answer,
        ));
        self.reply_in_thread(
            "receipt",
            &ctx,
            m,
            inv,
            in_reply_to,
            format!("receipt:{inbound_id}"),
            inbound_id,
        )
    }

    /// An automatic reply to a member about their invitation (a receipt, a question):
    /// in the thread, with the invitation's token so their answer to it finds it, and
    /// counted with receipts, one budget of automatic replies per address.
    #[allow(clippy::too_many_arguments)]
    fn reply_in_thread(
        &self,
        template: &str,
        ctx: &MeetingText,
        m: &Meeting,
        inv: &Invitation,
        in_reply_to: Option<&str>,
        effect_key: String,
        inbound_id: i64,
    ) -> Result<OutgoingMail> {
        let token = Token::parse(&inv.token);
        let (message_id, raw) = self.compose(
            template,
            ctx,
            &inv.member_name,
            &inv.member_email,
            token.as_ref(),
            in_reply_to,
            // RFC 3834 §5: a response to a message is "auto-replied".
            "auto-replied",
            None,
            Vec::new(),
        )?;
        Ok(OutgoingMail {
            effect_key,
            message_id,
            kind: "receipt".into(),
            recipient: inv.member_email.clone(),
            envelope_from: self.cfg.secretariat.address.clone(),
            raw,
            meeting_id: Some(m.id),
            invitation_id: Some(inv.id),
            inbound_id: Some(inbound_id),
            grant: None,
        })
    }

    /// The one short question to a member whose reply could not be read for sure, in
    /// the thread and with the invitation's token, so the one-word reply finds it.
    fn question(
        &self,
        m: &Meeting,
        inv: &Invitation,
        d: &workflow::Decision,
        in_reply_to: Option<&str>,
        inbound_id: i64,
    ) -> Result<OutgoingMail> {
        let lang = self.cfg.secretariat.language;
        let mut ctx = self.meeting_text(m, &inv.member_name, true)?;
        if !d.readings.is_empty() {
            let words: Vec<String> = d
                .readings
                .iter()
                .map(|r| render::describe_response(lang, *r))
                .collect();
            let or = match lang {
                crate::domain::Language::Nb => " og som ",
                crate::domain::Language::En => " and as ",
            };
            ctx.understood = Some(words.join(or));
        }
        self.reply_in_thread(
            "question",
            &ctx,
            m,
            inv,
            in_reply_to,
            format!("question:{inbound_id}"),
            inbound_id,
        )
    }

    // ----- scheduled work -------------------------------------------------------------------

    /// Runs every job that is due, and invites members added after the summons went out.
    pub async fn tick(&self, report: &mut Report) -> Result<()> {
        let now = self.clock.now();
        // `--now` may not go back before this.
        self.store.advance_clock(now).await?;
        // One job that fails (a broken template, an unreadable document) does not keep
        // the others from running: it stays pending and is tried at the next tick.
        let mut first_error = None;
        for job in self.store.due_jobs(now).await? {
            if self.stopping.is_cancelled() {
                return Ok(());
            }
            match self.run_job(&job).await {
                Ok(true) => report.jobs += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(job = job.id, kind = %job.kind, meeting = job.meeting_id, error = %e, "a scheduled job failed; it is tried again at the next tick");
                    first_error.get_or_insert(e);
                }
            }
        }
        // Members added after the summons went out get theirs now.
        for m in self.store.meetings().await? {
            if m.status != "scheduled" || m.starts_at <= now {
                continue;
            }
            if self.summons_sent(m.id).await? {
                if let Err(e) = self.summons(&m, None).await {
                    tracing::error!(meeting = m.id, error = %e, "cannot send the summons to members added late; tried again at the next tick");
                    first_error.get_or_insert(e);
                }
            }
        }
        // Proposals that waited for the hourly approval digest.
        match self.approval_digest().await {
            Ok(n) => report.jobs += n,
            Err(e) => {
                tracing::error!(error = %e, "cannot send the approval digest; tried again at the next tick");
                first_error.get_or_insert(e);
            }
        }
        // Whatever is held reaches the coordinators.
        match self.held_digest().await {
            Ok(n) => report.jobs += n,
            Err(e) => {
                tracing::error!(error = %e, "cannot send the held-mail digest; tried again at the next tick");
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn run_job(&self, job: &crate::store::Job) -> Result<bool> {
        let meeting = self.store.meeting(job.meeting_id).await?;
        Ok(match job.kind.as_str() {
            schedule::SUMMONS => self.summons(&meeting, Some(job.id)).await?,
            schedule::REMINDER => self.reminder(&meeting, job.id).await?,
            schedule::CALL => self.call_for_items(&meeting, job.id).await?,
            schedule::ATTENDANCE => self.attendance_list(&meeting, job.id).await?,
            schedule::MINUTES_DEADLINE => self.corrections_digest(&meeting, job.id).await?,
            other => {
                tracing::warn!(job = job.id, kind = other, "unknown job kind; left pending");
                false
            }
        })
    }

    /// Creates the invitations and summons that are missing for a meeting, in one
    /// transaction with the job's completion. Returns false when another run did it.
    async fn summons(&self, m: &Meeting, job_id: Option<i64>) -> Result<bool> {
        let now = self.clock.now();
        if m.starts_at <= now || m.status != "scheduled" {
            let event = NewEvent::new(
                "scheduler",
                "summons_skipped",
                Some(m.id),
                None,
                "the meeting has started or is not scheduled; no summons sent",
            );
            return Ok(self
                .store
                .complete_job(job_id, &[], &[], Some(event), &[], now)
                .await?);
        }
        let invited: HashSet<i64> = self
            .store
            .invitations(m.id)
            .await?
            .iter()
            .map(|i| i.member_id)
            .collect();
        let members: Vec<Member> = self
            .store
            .members(m.council_id)
            .await?
            .into_iter()
            .filter(|mb| !invited.contains(&mb.id))
            .collect();
        if members.is_empty() && job_id.is_none() {
            return Ok(false);
        }
        // The first summons closes the agenda; later ones show it as it was closed.
        let (changes, agenda, mut agenda_events) = if job_id.is_some() {
            self.close_agenda(m).await?
        } else {
            (Vec::new(), self.store.agenda_items(m.id).await?, Vec::new())
        };
        let agenda_lines = Self::agenda_lines(&agenda, self.cfg.secretariat.language);
        let documents = self.agenda_documents(&agenda).await?;
        let mut invitations = Vec::with_capacity(members.len());
        for mb in &members {
            let token = Token::generate();
            let asked = mb.role.is_asked_to_answer();
            let mut ctx = self.meeting_text(m, &mb.name, asked)?;
            ctx.agenda = agenda_lines.clone();
            let ics = self.calendar_entry(
                m,
                "REQUEST",
                m.sequence,
                &mb.name,
                &mb.email,
                asked,
                &agenda_lines.join("\n"),
                Some(token.as_str()),
            )?;
            let (message_id, raw) = self.compose(
                "summons",
                &ctx,
                &mb.name,
                &mb.email,
                Some(&token),
                None,
                "auto-generated",
                Some(("REQUEST", ics)),
                documents.clone(),
            )?;
            invitations.push((
                NewInvitation {
                    meeting_id: m.id,
                    member_id: mb.id,
                    token: token.as_str().to_string(),
                },
                OutgoingMail {
                    effect_key: format!("summons:{}:{}", m.id, mb.id),
                    message_id,
                    kind: "summons".into(),
                    recipient: mb.email.clone(),
                    envelope_from: self.cfg.secretariat.address.clone(),
                    raw,
                    meeting_id: Some(m.id),
                    invitation_id: None,
                    inbound_id: None,
                    grant: None,
                },
            ));
        }
        let event = NewEvent::new(
            "scheduler",
            "summons",
            Some(m.id),
            None,
            format!("summons to {} member(s)", invitations.len()),
        );
        let done = self
            .store
            .complete_job(job_id, &invitations, &[], Some(event), &changes, now)
            .await?;
        if done && !agenda_events.is_empty() {
            // The agenda's audit lines, after the transaction that closed it.
            self.store
                .commit(&[], &[], &std::mem::take(&mut agenda_events), now)
                .await?;
        }
        if done {
            tracing::info!(meeting = m.id, count = invitations.len(), "summons queued");
        }
        Ok(done)
    }

    /// Reminds those asked to answer who have not.
    async fn reminder(&self, m: &Meeting, job_id: i64) -> Result<bool> {
        let now = self.clock.now();
        let mut mails = Vec::new();
        if m.starts_at > now && m.status == "scheduled" {
            let members = self.store.members(m.council_id).await?;
            for inv in self.store.invitations(m.id).await? {
                let failing = members
                    .iter()
                    .any(|mb| mb.id == inv.member_id && mb.failing_since.is_some());
                // Those who said "maybe" are reminded too: they promised to come back.
                let settled = inv.response.is_some()
                    && inv.response != Some(crate::domain::Response::Tentative);
                if settled || !inv.role.is_asked_to_answer() || failing {
                    continue;
                }
                let mut ctx = self.meeting_text(m, &inv.member_name, true)?;
                ctx.tentative = inv.response == Some(crate::domain::Response::Tentative);
                let token = Token::parse(&inv.token);
                let (message_id, raw) = self.compose(
                    "reminder",
                    &ctx,
                    &inv.member_name,
                    &inv.member_email,
                    token.as_ref(),
                    None,
                    "auto-generated",
                    None,
                    Vec::new(),
                )?;
                mails.push(OutgoingMail {
                    effect_key: format!("reminder:{}", inv.id),
                    message_id,
                    kind: "reminder".into(),
                    recipient: inv.member_email.clone(),
                    envelope_from: self.cfg.secretariat.address.clone(),
                    raw,
                    meeting_id: Some(m.id),
                    invitation_id: Some(inv.id),
                    inbound_id: None,
                    grant: None,
                });
            }
        }
        let detail = format!("reminder to {} member(s) who had not answered", mails.len());
        self.finish_job(m, job_id, "reminder", detail, &mails).await
    }

    /// One full pass: inbound, scheduled jobs, outbox. What `run --once` does.
    pub async fn run_once(&self) -> Result<Report> {
        let mut report = Report::default();
        let mut src = self.open_source().await?;
        let r = self.inbound_pass(&mut src, &mut report).await;
        src.close().await;
        r?;
        self.tick(&mut report).await?;
        self.dispatch(&mut report).await?;
        Ok(report)
    }

    /// Runs until `cancel` fires: three named tasks (inbound, scheduler, dispatcher),
    /// each joined on shutdown.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) -> Result<()> {
        // The way out is checked first: a refused login or a certificate that does
        // not verify needs a person; a server that is down only delays the mail.
        // A server that does not answer at all does not hold up the mailbox for long.
        let transport = &self.outbox.transport;
        match tokio::time::timeout(Duration::from_secs(20), transport.check()).await {
            Ok(Ok(())) => tracing::info!(transport = %transport.describe(), "outgoing mail ready"),
            Ok(Err(e)) if e.fatal => {
                return Err(DaemonError::Refused(format!("cannot send mail: {e}")));
            }
            Ok(Err(e)) => tracing::warn!(
                "the outgoing mail server does not answer yet ({e}); mail waits in the outbox"
            ),
            Err(_) => tracing::warn!(
                transport = %transport.describe(),
                "the outgoing mail server does not answer yet; mail waits in the outbox"
            ),
        }
        let wake = Arc::new(Notify::new());
        {
            let (c, s) = (cancel.clone(), self.stopping.clone());
            tokio::spawn(async move {
                c.cancelled().await;
                s.cancel();
            });
        }
        let mut tasks: Vec<(&str, JoinHandle<Result<()>>)> = Vec::new();

        let (d, c, w) = (self.clone(), cancel.clone(), wake.clone());
        tasks.push((
            "inbound",
            tokio::spawn(async move { d.inbound_task(c, w).await }),
        ));
        let (d, c, w) = (self.clone(), cancel.clone(), wake.clone());
        tasks.push((
            "scheduler",
            tokio::spawn(async move { d.scheduler_task(c, w).await }),
        ));
        let (d, c, w) = (self.clone(), cancel.clone(), wake.clone());
        tasks.push((
            "dispatcher",
            tokio::spawn(async move { d.dispatcher_task(c, w).await }),
        ));

        let mut failure = None;
        for (name, handle) in tasks {
            match handle.await {
                Ok(Ok(())) => tracing::info!(task = name, "stopped"),
                Ok(Err(e)) => {
                    tracing::error!(task = name, error = %e, "stopped with an error");
                    cancel.cancel();
                    failure.get_or_insert(DaemonError::Task(format!("{name}: {e}")));
                }
                Err(e) => {
                    tracing::error!(task = name, error = %e, "ended abnormally");
                    cancel.cancel();
                    failure.get_or_insert(DaemonError::Task(format!("{name}: {e}")));
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn inbound_task(&self, cancel: CancellationToken, wake: Arc<Notify>) -> Result<()> {
        let mut src = self.open_source().await?;
        tracing::info!(source = %src.describe(), "watching the mailbox");
        let mut failures = 0u32;
        while !cancel.is_cancelled() {
            let mut report = Report::default();
            match self.inbound_pass(&mut src, &mut report).await {
                Ok(()) => {
                    failures = 0;
                    if report.received > 0 {
                        wake.notify_one();
                    }
                }
                Err(DaemonError::Inbound(e)) if e.is_transient() => {
                    let delay = inbound::backoff(failures);
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, retry_in = ?delay, "mailbox unavailable");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
                Err(DaemonError::Store(e)) => {
                    // The database is down: nothing was acknowledged; try again later.
                    let delay = inbound::backoff(failures);
                    failures = failures.saturating_add(1);
                    tracing::error!(error = %e, retry_in = ?delay, "database unavailable");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
                Err(e) => {
                    src.close().await;
                    return Err(e);
                }
            }
            if let Err(e) = src.wait(&cancel).await {
                tracing::warn!(error = %e, "waiting for mail failed; reconnecting");
                if let MailSource::Imap(s) = &mut src {
                    s.reset();
                }
            }
        }
        src.close().await;
        Ok(())
    }

    async fn scheduler_task(&self, cancel: CancellationToken, wake: Arc<Notify>) -> Result<()> {
        loop {
            // Jobs that fell due while the daemon was down run at once.
            let mut report = Report::default();
            match self.tick(&mut report).await {
                Ok(()) => {
                    if report.jobs > 0 {
                        wake.notify_one();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "scheduler tick failed; trying again at the next tick")
                }
            }
            let now = self.clock.now();
            let next = schedule::next_tick(&self.cfg.tick, now)
                .unwrap_or(now + chrono::Duration::minutes(1));
            let wait = (next - now).to_std().unwrap_or(Duration::from_secs(1));
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Fault injection for the crash tests: with `REFERENT_FAULT_PANIC_ON` set, acting on a
/// message that contains its text panics, the way a bug would. Unset in real use.
#[allow(clippy::panic)]
fn fault_point(raw: &[u8]) {
    // Read once: this runs for every message.
    static MARKER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let marker = MARKER.get_or_init(|| {
        std::env::var("REFERENT_FAULT_PANIC_ON")
            .ok()
            .filter(|m| !m.is_empty())
    });
    if let Some(marker) = marker {
        if raw.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            panic!("fault injected for a test (REFERENT_FAULT_PANIC_ON)");
        }
    }
}

fn kind_name(u: &Understanding) -> String {
    serde_json::to_value(u.kind())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The Message-ID from the header block, read without the full MIME parser so a message
/// can be stored even when it cannot be parsed.
fn quick_message_id(raw: &[u8]) -> Option<String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len().min(256 * 1024));
    let head = String::from_utf8_lossy(raw.get(..head_end).unwrap_or(raw));
    let mut lines = head.lines().peekable();
    while let Some(line) = lines.next() {
        let is_id = line
            .get(..11)
            .is_some_and(|h| h.eq_ignore_ascii_case("message-id:"));
        if let (true, Some(rest)) = (is_id, line.get(11..)) {
            let mut value = rest.trim().to_string();
            // A folded header continues on indented lines.
            while let Some(next) = lines.peek() {
                if next.starts_with(' ') || next.starts_with('\t') {
                    value.push_str(next.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            let v = value.trim().trim_start_matches('<');
            let v = v.split('>').next().unwrap_or(v).trim();
            if !v.is_empty() && v.len() <= 998 {
                return Some(v.to_string());
            }
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_ignores_trace_headers() {
        let a = b"Received: from a\r\nMessage-ID: <x@y>\r\n\r\nJa\r\n";
        let b = b"Received: from b\r\nMessage-ID: <x@y>\r\n\r\nJa\r\n";
        assert_eq!(dedup_key(a, Some("x@y")).0, dedup_key(b, Some("x@y")).0);
        assert_eq!(quick_message_id(a).as_deref(), Some("x@y"));
        assert_eq!(
            quick_message_id(b"Message-Id:\r\n <folded@y>\r\n\r\n").as_deref(),
            Some("folded@y")
        );
        assert_eq!(
            quick_message_id(b"Subject: x\r\n\r\nMessage-ID: <no@y>"),
            None
        );
        assert_eq!(
            quick_message_id("Subject: Møtet\r\nMessage-ID: <a@b>\r\n\r\n".as_bytes()).as_deref(),
            Some("a@b")
        );
    }
}
