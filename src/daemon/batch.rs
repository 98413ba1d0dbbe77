//! Inbound in batches: a fetched batch is read on every core, what its messages need
//! from the database is loaded in a few queries, each answer is decided purely, and
//! the outcomes of up to [`GROUP`] messages commit in one transaction, before any of
//! them is marked handled on the server.
//!
//! Only the common case goes this way: an answer found by its key (a reply to a
//! summons, a calendar reply with a personal UID) that needs nothing but its receipt
//! or one question. Anything else — a forward, a bounce, an automatic reply, a reply
//! about agenda items, minutes or confirmations, an answer needing a confirmation or
//! naming a substitute, a message that failed before — is acted on alone
//! (`act_on_stored`), in its place in the batch, so the order of arrival still decides.
//! A message whose sender or invitation is already in the group waits for the next
//! group, which is decided over what the first one committed.

use std::collections::{HashMap, HashSet};

use super::*;

/// Most messages whose outcomes commit in one transaction.
const GROUP: usize = 100;

/// Kinds of our Message-IDs whose replies are about agenda items, minutes, bisitters
/// or the call for items (`year::thread`), never answers acted on in a batch.
const YEAR_KINDS: &[&str] = &["approval", "minutes", "digest", "extra_request", "call"];

/// A stored message, read off the async threads.
pub(crate) struct Prepared {
    pub id: i64,
    pub raw: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub u: Understanding,
    pub check: crate::trust::SenderCheck,
    /// False when reading it failed in a way the batch must not absorb (a fault
    /// injected for the crash tests): it is acted on alone, where tries are counted.
    pub batchable: bool,
}

/// What a batch's messages need from the database.
#[derive(Default)]
pub(crate) struct Lookups {
    /// Of the Message-IDs the messages carry, the ones referent sent, each with the
    /// invitation it was sent for and the address it went to.
    sent: HashMap<String, (Option<i64>, String)>,
    invitations: HashMap<i64, Invitation>,
    by_token: HashMap<String, i64>,
    /// Tokens that are personal keys (replies about the year's work, `year::thread`).
    keys: HashSet<String>,
    meetings: HashMap<i64, Meeting>,
    /// The senders' coordinator memberships.
    coordinators: HashMap<String, Vec<Member>>,
    /// Receipts sent to each sender in the last hour.
    receipts: HashMap<String, i64>,
}

/// What the keys a message carries say about the invitation it answers.
pub(crate) enum Keyed {
    /// Found by a key: the invitation, and the address the key was sent to (the
    /// member's, or a substitute's whose summons it was).
    Found(Box<Invitation>, String),
    /// A personal calendar UID whose reply names an attendee who is neither the
    /// invitee nor their substitute: an extra attendee's, or nobody's answer.
    OtherAttendee,
    /// No key of ours names an invitation.
    None,
}

/// A stored message to act on: its id, its bytes and when it arrived.
pub(crate) type Stored = (i64, Vec<u8>, DateTime<Utc>);

/// One message's outcome, decided in a batch and waiting for the group's commit.
struct Decided {
    index: usize,
    sender: String,
    invitation_id: i64,
    outcome: InboundOutcome,
    answer: Option<NewAnswer>,
    mails: Vec<OutgoingMail>,
    events: Vec<NewEvent>,
    changes: Vec<crate::store::Change>,
}

/// The tokens of our own Message-IDs a message replies to, and of the plus-addresses
/// it was sent to.
fn reply_tokens(u: &Understanding, domain: &str, secretariat: &str) -> Vec<String> {
    let mut out: Vec<String> = u
        .thread_ids
        .iter()
        .filter_map(|id| token_in_message_id(id, domain))
        .map(|t| t.as_str().to_string())
        .collect();
    out.extend(
        u.recipients
            .iter()
            .filter(|a| base_address(a) == secretariat)
            .filter_map(|a| address_detail(a).and_then(Token::parse))
            .map(|t| t.as_str().to_string()),
    );
    out
}

/// Every token that may name an invitation: the reply tokens and a personal UID's.
fn invitation_tokens(u: &Understanding, domain: &str, secretariat: &str) -> Vec<String> {
    let mut out = reply_tokens(u, domain, secretariat);
    if let Some(t) = u
        .calendar
        .as_ref()
        .and_then(|c| c.uid.as_deref())
        .and_then(crate::mail::ics::token_in_uid)
    {
        out.push(t.as_str().to_string());
    }
    out
}

impl Daemon {
    /// Reads stored messages on every core: parsing, the sender check, and the fault
    /// point of the crash tests, each contained.
    pub(crate) async fn prepare(&self, msgs: Vec<Stored>) -> Vec<Prepared> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = msgs.len().div_ceil(cores).max(1);
        let mut chunks: Vec<Vec<Stored>> = Vec::new();
        let mut rest = msgs.into_iter().peekable();
        while rest.peek().is_some() {
            chunks.push(rest.by_ref().take(per).collect());
        }
        let limits = self.limits;
        let authserv = self.cfg.trusted_authserv_id.clone();
        let tasks: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let authserv = authserv.clone();
                // Kept beside the task: should the task itself fail, its messages are
                // still acted on alone.
                let ids: Vec<(i64, DateTime<Utc>)> =
                    chunk.iter().map(|(id, _, at)| (*id, *at)).collect();
                let task = tokio::task::spawn_blocking(move || {
                    chunk
                        .into_iter()
                        .map(|(id, raw, received_at)| {
                            let batchable =
                                std::panic::catch_unwind(|| receiving::fault_point(&raw)).is_ok();
                            let u = understand::understand(&raw, limits);
                            let check = crate::trust::check(&raw, authserv.as_deref());
                            Prepared {
                                id,
                                raw,
                                received_at,
                                u,
                                check,
                                batchable,
                            }
                        })
                        .collect::<Vec<_>>()
                });
                (ids, task)
            })
            .collect();
        let mut out = Vec::new();
        for (ids, task) in tasks {
            match task.await {
                Ok(mut done) => out.append(&mut done),
                Err(e) => {
                    tracing::error!(error = %e, "reading a batch failed; its messages are acted on one by one");
                    for (id, received_at) in ids {
                        // The raw bytes went with the task: read them back.
                        let raw = self.store.inbound_raw(id).await.unwrap_or_default();
                        out.push(Prepared {
                            id,
                            raw,
                            received_at,
                            u: Understanding::default(),
                            check: crate::trust::SenderCheck::default(),
                            batchable: false,
                        });
                    }
                }
            }
        }
        out
    }

    /// What these messages need from the database, in a few queries. `full` adds what
    /// deciding in a batch needs beyond finding the invitation.
    pub(crate) async fn lookups(&self, us: &[&Understanding], full: bool) -> Result<Lookups> {
        let domain = self.cfg.secretariat.domain();
        let secretariat = self.cfg.secretariat.address.as_str();
        let mut message_ids: Vec<&str> = Vec::new();
        let mut tokens: Vec<String> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut senders: Vec<&str> = Vec::new();
        for u in us {
            message_ids.extend(u.thread_ids.iter().map(String::as_str));
            tokens.extend(invitation_tokens(u, domain, secretariat));
            if full {
                message_ids.extend(u.message_id.as_deref());
                keys.extend(reply_tokens(u, domain, secretariat));
                senders.extend(u.from.as_deref());
            }
        }
        // The invitations and their meetings, found through the Message-IDs; beside
        // them, on other connections, what only deciding in a batch needs.
        let found = async {
            let sent = self.store.sent_messages(&message_ids).await?;
            let ids: Vec<i64> = sent.values().filter_map(|(i, _)| *i).collect();
            let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
            let invitations = self.store.invitations_by(&ids, &tokens).await?;
            let meetings = if full {
                let ids: Vec<i64> = invitations.iter().map(|i| i.meeting_id).collect();
                self.store.meetings_by_ids(&ids).await?
            } else {
                Vec::new()
            };
            Ok::<_, crate::store::StoreError>((sent, invitations, meetings))
        };
        let rest = async {
            if !full {
                return Ok(Default::default());
            }
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let since = self.clock.now() - chrono::Duration::hours(1);
            tokio::try_join!(
                self.store.keys_present(&keys),
                self.store.coordinators_by_emails(&senders),
                self.store.counts_recent(&senders, "receipt", since),
            )
        };
        let ((sent, invitations, meetings), (keys, coordinators, receipts)) =
            tokio::try_join!(found, rest)?;
        let mut l = Lookups {
            sent,
            keys,
            coordinators,
            receipts,
            ..Lookups::default()
        };
        for inv in invitations {
            l.by_token.insert(inv.token.clone(), inv.id);
            l.invitations.insert(inv.id, inv);
        }
        for m in meetings {
            l.meetings.insert(m.id, m);
        }
        Ok(l)
    }

    /// The invitation a message's keys name: the Message-IDs it replies to (ours carry
    /// the token), the plus-address it was sent to, or a calendar reply's personal UID.
    pub(crate) fn keyed(&self, u: &Understanding, l: &Lookups) -> Keyed {
        let domain = self.cfg.secretariat.domain();
        let by_token = |t: &Token| {
            l.by_token
                .get(t.as_str())
                .and_then(|id| l.invitations.get(id))
        };
        for id in &u.thread_ids {
            // A reply to mail we sent: the key is that mail's, and so is its owner (a
            // substitute's summons is about the member's invitation, but it went to the
            // substitute, who cannot answer as the member with it).
            if let Some((inv, to)) = l
                .sent
                .get(id)
                .and_then(|(i, to)| i.and_then(|i| l.invitations.get(&i)).map(|inv| (inv, to)))
            {
                return Keyed::Found(Box::new(inv.clone()), to.clone());
            }
            if let Some(inv) = token_in_message_id(id, domain).as_ref().and_then(by_token) {
                return Keyed::Found(Box::new(inv.clone()), inv.member_email.clone());
            }
        }
        for addr in &u.recipients {
            if base_address(addr) != self.cfg.secretariat.address {
                continue;
            }
            if let Some(inv) = address_detail(addr)
                .and_then(Token::parse)
                .as_ref()
                .and_then(by_token)
            {
                return Keyed::Found(Box::new(inv.clone()), inv.member_email.clone());
            }
        }
        if let Some(c) = &u.calendar {
            // A personal UID names one invitation.
            if let Some(inv) = c
                .uid
                .as_deref()
                .and_then(crate::mail::ics::token_in_uid)
                .as_ref()
                .and_then(by_token)
            {
                // A reply that names someone else as the attendee is not the invitee's
                // own answer, whatever UID it carries (a guest's entry has a key of its
                // own, `Token::for_guest`).
                let other = c
                    .attendee
                    .as_deref()
                    .is_some_and(|a| !crate::trust::same_address(a, &inv.member_email));
                if other {
                    return Keyed::OtherAttendee;
                }
                return Keyed::Found(Box::new(inv.clone()), inv.member_email.clone());
            }
        }
        Keyed::None
    }

    /// Acts on freshly stored messages in order: answers in groups committed together,
    /// anything else alone. Returns, per message, whether its outcome is committed; a
    /// stop leaves the rest undone (they are fetched again).
    pub(crate) async fn act_on_batch(&self, msgs: Vec<Stored>, report: &mut Report) -> Vec<bool> {
        let n = msgs.len();
        let mut done = vec![false; n];
        let clock = crate::clock::Stopwatch::start();
        let prepared = self.prepare(msgs).await;
        tracing::debug!(count = n, ms = clock.ms(), "batch read");
        let mut start = 0;
        while start < n && !self.stopping.is_cancelled() {
            let now = self.clock.now();
            let rest: Vec<&Understanding> = prepared.iter().skip(start).map(|p| &p.u).collect();
            let lookups = match self.lookups(&rest, true).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load what the batch needs; acting on its messages one by one");
                    Lookups::default()
                }
            };
            tracing::debug!(ms = clock.ms(), "batch looked up");
            let mut group: Vec<Decided> = Vec::new();
            let mut senders = HashSet::new();
            let mut invitations = HashSet::new();
            let mut alone = None;
            let mut i = start;
            while i < n && group.len() < GROUP {
                let Some(p) = prepared.get(i) else { break };
                // A second message of a sender already in the group waits for the
                // commit, and is decided (and logged) once, over what it left.
                if p.u
                    .from
                    .as_deref()
                    .is_some_and(|f| senders.contains(&f.to_lowercase()))
                {
                    break;
                }
                let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.decide_in_batch(i, p, &lookups, now)
                }));
                match decided {
                    Ok(Ok(Some(d))) => {
                        // Decided over what was loaded before the group: a second
                        // message about the same invitation waits for the commit (one
                        // from the same sender did not get this far).
                        if invitations.contains(&d.invitation_id) {
                            break;
                        }
                        senders.insert(d.sender.to_lowercase());
                        invitations.insert(d.invitation_id);
                        group.push(d);
                        i += 1;
                    }
                    _ => {
                        alone = Some(i);
                        break;
                    }
                }
            }
            tracing::debug!(count = group.len(), ms = clock.ms(), "group decided");
            self.commit_group(group, &prepared, &mut done, now, report)
                .await;
            tracing::debug!(ms = clock.ms(), "group committed");
            if let Some(a) = alone {
                if self.stopping.is_cancelled() {
                    break;
                }
                if let Some(p) = prepared.get(a) {
                    let ok = self
                        .act_on_stored(p.id, &p.raw, p.received_at, report)
                        .await;
                    if let Some(slot) = done.get_mut(a) {
                        *slot = ok;
                    }
                }
                i = a + 1;
            }
            start = i;
        }
        done
    }

    /// Commits a group's outcomes in one transaction; should that fail, each message
    /// is acted on alone, where its tries are counted.
    async fn commit_group(
        &self,
        group: Vec<Decided>,
        prepared: &[Prepared],
        done: &mut [bool],
        now: DateTime<Utc>,
        report: &mut Report,
    ) {
        if group.is_empty() {
            return;
        }
        let finishes: Vec<crate::store::Finish<'_>> = group
            .iter()
            .filter_map(|d| {
                Some(crate::store::Finish {
                    inbound_id: prepared.get(d.index)?.id,
                    outcome: &d.outcome,
                    answer: d.answer.as_ref(),
                    mails: &d.mails,
                    events: &d.events,
                    changes: &d.changes,
                })
            })
            .collect();
        match self.store.finish_inbound_many(&finishes, now).await {
            Ok(()) => {
                for d in &group {
                    if let Some(slot) = done.get_mut(d.index) {
                        *slot = true;
                    }
                    if d.answer.is_some() {
                        report.answers += 1;
                    }
                    match d.outcome.state {
                        InboundState::Held => report.held += 1,
                        InboundState::Ignored => report.ignored += 1,
                        _ => {}
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, count = group.len(), "cannot commit a batch of answers; acting on them one by one");
                for d in &group {
                    if let (Some(p), Some(slot)) = (prepared.get(d.index), done.get_mut(d.index)) {
                        *slot = self
                            .act_on_stored(p.id, &p.raw, p.received_at, report)
                            .await;
                    }
                }
            }
        }
    }

    /// Decides one message of a batch purely over the batch's lookups. `None`: it is
    /// not the common case, and is acted on alone.
    fn decide_in_batch(
        &self,
        index: usize,
        p: &Prepared,
        l: &Lookups,
        now: DateTime<Utc>,
    ) -> Result<Option<Decided>> {
        let u = &p.u;
        let domain = self.cfg.secretariat.domain();
        let secretariat = self.cfg.secretariat.address.as_str();
        let Some(from) = u.from.as_deref() else {
            return Ok(None);
        };
        let own = u
            .message_id
            .as_ref()
            .is_some_and(|m| l.sent.contains_key(m));
        let plain = p.batchable
            && !own
            && base_address(from) != secretariat
            && u.on_behalf_of.is_none()
            && u.bounce.is_none()
            && u.auto_reply.is_none()
            && !u.is_list
            && !matches!(
                u.kind(),
                understand::Kind::AgendaRequest
                    | understand::Kind::MinutesDraft
                    | understand::Kind::Status
                    | understand::Kind::MeetingChange
                    | understand::Kind::Roster
            )
            && !u
                .thread_ids
                .iter()
                .filter_map(|id| compose::kind_in_message_id(id, domain))
                .any(|k| YEAR_KINDS.contains(&k))
            && !reply_tokens(u, domain, secretariat)
                .iter()
                .any(|t| l.keys.contains(t));
        if !plain {
            return Ok(None);
        }
        let Keyed::Found(inv, owner) = self.keyed(u, l) else {
            return Ok(None);
        };
        // Someone else's answer (a substitute's, an extra attendee's, a stranger's):
        // alone, where who they are is looked up. So is a new answer from a member
        // who named a substitute before (they may have to be told they are not needed).
        if !crate::trust::same_address(from, &inv.member_email)
            || inv.substitute.as_ref().is_some_and(|s| s.email.is_some())
        {
            return Ok(None);
        }
        let Some(m) = l.meetings.get(&inv.meeting_id) else {
            return Ok(None);
        };
        // Naming a substitute with an address needs to know whether the summons went
        // out, and may invite them: alone.
        if u.answer
            .as_ref()
            .and_then(|a| a.substitute.as_ref())
            .is_some_and(|s| s.email.is_some())
        {
            return Ok(None);
        }
        let trust = p.check.trust(Some(&owner));
        let sender_is_coordinator = l
            .coordinators
            .get(from)
            .is_some_and(|ms| ms.iter().any(|mb| mb.council_id == m.council_id));
        let d = workflow::decide(
            u,
            &InboundContext {
                secretariat_address: secretariat,
                invitation: Some(&inv),
                meeting: Some(m),
                sender_is_coordinator,
                receipts_recent: l.receipts.get(from).copied().unwrap_or(0),
                receipts_per_hour: self.cfg.receipts_per_hour,
                trust: &trust,
                now,
                summons_sent: false,
                guest: None,
                upcoming: 0,
            },
        );
        if d.confirm.is_some()
            || d.counter.is_some()
            || d.summon_substitute.is_some()
            || d.vara
            || d.failing.is_some()
            || (u.extra_attendee.is_some() && d.announce_extra)
        {
            return Ok(None);
        }
        let mut mails = Vec::new();
        let mut events = Vec::new();
        let mut changes = Vec::new();
        let mut answer = None;
        if let Some(a) = &d.answer {
            let r = self.record_answer(p.id, u, &d, a, &inv, m, p.received_at, None)?;
            answer = Some(r.answer);
            mails.extend(r.mails);
            events.extend(r.events);
            changes.extend(r.changes);
        }
        if d.ask {
            mails.push(self.question(m, &inv, &d, u.message_id.as_deref(), p.id)?);
        }
        let invitation_id = inv.id;
        let outcome = receiving::answer_outcome(p.id, u, d, u.from.clone(), Some(&inv));
        Ok(Some(Decided {
            index,
            sender: from.to_string(),
            invitation_id,
            outcome,
            answer,
            mails,
            events,
            changes,
        }))
    }
}
