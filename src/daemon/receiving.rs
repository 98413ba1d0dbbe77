//! Inbound: fetch → store raw → understand → decide → commit → mark handled. Each
//! message is stored before anything is acknowledged, acted on at most three times
//! (then quarantined for a coordinator), and committed in one transaction with all it
//! causes.
//!
//! Longer than the ~600 lines a daemon file aims at because `act` still turns an
//! answer's decision into mail here (receipt, question, substitute's summons, bounce
//! notices); those belong in a plan from `workflow::decide`, which will shorten it.

use std::collections::HashSet;

use super::*;

impl Daemon {
    // ----- inbound ----------------------------------------------------------------------

    /// One pass over the mailbox: everything fetched is stored, acted on, and marked.
    /// Returns whether mail was left for another try (a message whose acting failed,
    /// and what the mailbox holds after it): the caller comes back soon instead of
    /// waiting for new mail.
    pub async fn inbound_pass(&self, src: &mut MailSource, report: &mut Report) -> Result<bool> {
        // Messages stored by an earlier run that died before acting on them.
        let mut left = false;
        for (id, received_at) in self.store.unprocessed_inbound().await? {
            if self.stopping.is_cancelled() {
                return Ok(false);
            }
            let raw = self.store.inbound_raw(id).await?;
            left |= !self.act_on_stored(id, &raw, received_at, report).await;
        }
        let started = crate::clock::Stopwatch::start();
        let mut batches = 0u32;
        let received = report.received;
        // The next batch, fetched while the one before was acted on.
        let mut next: Option<Vec<RawMessage>> = None;
        // The batch before, committed but not yet marked handled on the server: it is
        // marked while this one is acted on.
        let mut unmarked: Vec<String> = Vec::new();
        loop {
            let fetch = crate::clock::Stopwatch::start();
            let batch = match next.take() {
                Some(b) => b,
                None => src.fetch(BATCH).await?,
            };
            tracing::debug!(count = batch.len(), ms = fetch.ms(), "fetched a batch");
            let n = batch.len();
            let mut handled = Vec::with_capacity(n);
            // The whole batch is stored first, in one transaction: nothing is
            // acknowledged that is not stored, and a crash from here on leaves the rest
            // to the next start (`unprocessed_inbound`).
            let stored = self.store_batch(&batch, report).await?;
            let mut fresh = Vec::new();
            let mut fresh_at = Vec::new();
            // The same message twice in one batch (delivered twice) is one row, acted
            // on once: the repeat is marked handled with the batch.
            let mut ids = HashSet::new();
            for (k, (msg, (id, state, received_at))) in batch.iter().zip(stored).enumerate() {
                if state == InboundState::New && ids.insert(id) {
                    fresh.push((id, msg.bytes.clone(), received_at));
                    fresh_at.push(k);
                } else {
                    tracing::debug!(inbound = id, "seen before; marking handled");
                    handled.push(msg.source_ref.clone());
                }
            }
            // A full batch means more may wait: while this one is decided and
            // committed, the one before is marked handled on the server and the next
            // one fetched (it is only stored and acknowledged after this one, and
            // dropped unread if this pass ends here).
            let before = std::mem::take(&mut unmarked);
            let (done, fetched) = if n == BATCH && !self.stopping.is_cancelled() {
                let refs: Vec<String> = batch.iter().map(|m| m.source_ref.clone()).collect();
                let (done, fetched) = tokio::join!(self.act_on_batch(fresh, report), async {
                    src.mark_handled(&before).await?;
                    src.fetch_skipping(BATCH, &refs).await
                });
                (done, Some(fetched))
            } else {
                src.mark_handled(&before).await?;
                (self.act_on_batch(fresh, report).await, None)
            };
            for (k, ok) in fresh_at.into_iter().zip(done) {
                if let (true, Some(msg)) = (ok, batch.get(k)) {
                    handled.push(msg.source_ref.clone());
                }
            }
            let all = handled.len() == n;
            batches += 1;
            let last = n < BATCH || !all || self.stopping.is_cancelled();
            // A failed mark or fetch ends the pass; what was committed and not marked
            // is fetched again, found stored and marked then.
            next = fetched.transpose()?;
            if last {
                src.mark_handled(&handled).await?;
            } else {
                unmarked = handled;
            }
            // Where the next search starts is kept at the end of a pass and every tenth
            // batch (one write for the disk less per batch): a checkpoint that lags only
            // makes the next search look at handled mail again, which it skips.
            if let (MailSource::Imap(s), true) = (&mut *src, last || batches.is_multiple_of(10)) {
                if let (Some((v, u)), MailboxConfig::Imap(i)) =
                    (s.take_checkpoint(), &self.cfg.mailbox)
                {
                    self.store
                        .set_checkpoint(&ImapSource::checkpoint_name(i), v, u, self.clock.now())
                        .await?;
                }
            }
            if last {
                left |= !all;
                let count = report.received - received;
                if count > 0 {
                    tracing::info!(count, ms = started.ms(), "inbound pass done");
                }
                return Ok(left);
            }
        }
    }

    /// Stores a fetched batch; each message's id, state and arrival time.
    async fn store_batch(
        &self,
        batch: &[RawMessage],
        report: &mut Report,
    ) -> Result<Vec<(i64, InboundState, DateTime<Utc>)>> {
        let source = self.source_name();
        let rows: Vec<(NewInbound<'_>, DateTime<Utc>)> = batch
            .iter()
            .map(|msg| {
                let message_id = quick_message_id(&msg.bytes);
                let (key, hash) = dedup_key(&msg.bytes, message_id.as_deref());
                let received_at = msg.received_at.unwrap_or_else(|| self.clock.now());
                (
                    NewInbound {
                        dedup_key: key,
                        message_id,
                        content_hash: hash,
                        raw: &msg.bytes,
                        source: source.clone(),
                        received_at,
                    },
                    received_at,
                )
            })
            .collect();
        let news: Vec<NewInbound<'_>> = rows.iter().map(|(n, _)| n.clone()).collect();
        let stored = self.store.store_inbound_many(&news).await?;
        report.received += stored.len();
        Ok(stored
            .into_iter()
            .zip(rows.iter().map(|(_, at)| *at))
            .map(|((id, state), at)| (id, state, at))
            .collect())
    }

    pub(crate) fn source_name(&self) -> String {
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
    pub(crate) async fn quarantine(
        &self,
        id: i64,
        raw: &[u8],
        tries: i64,
        report: &mut Report,
    ) -> bool {
        let head = crate::trust::check(raw, None);
        // The subject, for the digest: reading never panics (the parser runs under
        // catch_unwind), whatever made acting on the message fail.
        let subject = understand::understand(raw, self.limits).subject;
        let outcome = InboundOutcome {
            state: InboundState::Held,
            kind: "quarantined".into(),
            sender: head.from.clone(),
            subject,
            outcome: Held::because(HeldReason::Quarantined).outcome(&format!(
                "quarantined: acting on this message failed {tries} times (see the log); \
                 `referent inbox retry {id}` tries again, `referent inbox dismiss {id}` sets it aside"
            )),
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
        // A substitute or an extra attendee answering the entry they were sent.
        let guest = match (&invitation, u.from.as_deref(), acting) {
            (Some(inv), Some(from), None)
                if u.on_behalf_of.is_none()
                    && !crate::trust::same_address(from, &inv.member_email) =>
            {
                self.guest_of(inv, from).await?
            }
            _ => None,
        };
        let trust = match (acting, &guest, &key_owner) {
            (Some(a), _, _) => a.trust.clone(),
            // Their copy carried the key as the member's did.
            (None, Some(g), Some(_)) => check.trust(Some(&g.email)),
            (None, _, _) => check.trust(key_owner.as_deref()),
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
        // Only an answer naming a substitute with an address needs to know (one query
        // less on the common path).
        // A member with a designated vara may have them invited by declining.
        let names_substitute = u
            .answer
            .as_ref()
            .and_then(|a| a.substitute.as_ref())
            .is_some_and(|s| s.email.is_some())
            || invitation.as_ref().is_some_and(|i| i.vara.is_some());
        let summons_sent = match &meeting {
            Some(m) if names_substitute => self.summons_sent(m.id).await?,
            _ => false,
        };
        // An answer that names no meeting: whether its sender has several to choose from.
        let upcoming = match (&invitation, &u.answer, u.from.as_deref()) {
            (None, Some(_), Some(from)) => self.store.upcoming_invitations(from, now).await?.len(),
            _ => 0,
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
                summons_sent,
                guest: guest.as_ref(),
                upcoming,
            },
        );
        let mut mails = Vec::new();
        let mut events = Vec::new();
        let mut changes = Vec::new();
        let mut new_answer = None;
        if let (Some(ask), Some(answer), Some(inv), Some(m)) =
            (&d.confirm, &d.answer, &invitation, &meeting)
        {
            // Someone outside the council would be sent the summons and the link.
            let outsider = match answer.substitute.as_ref().and_then(|s| s.email.as_deref()) {
                Some(e) => self.store.members_by_email(e).await?.is_empty(),
                None => false,
            };
            let (mail, note) = self
                .confirmation_request(
                    id,
                    &u,
                    ask,
                    trusted::Asked::Answer {
                        member: &inv.member_name,
                        meeting: m,
                        answer,
                        outsider,
                    },
                )
                .await?;
            if mail.is_none() {
                d.held = Some(Held::because(HeldReason::Unverified));
            }
            mails.extend(mail);
            d.outcome.push_str(&note);
        } else if let (Some(answer), Some(inv), Some(m)) = (&d.answer, &invitation, &meeting) {
            // A forwarded answer: the member did not write to us, so the receipt says
            // who did.
            let forwarded_by = match (&u.on_behalf_of, &u.from, d.receipt) {
                (Some(_), Some(f), true) => Some(
                    self.store
                        .members_by_email(f)
                        .await?
                        .into_iter()
                        .next()
                        .map(|m| m.name)
                        .unwrap_or_else(|| f.clone()),
                ),
                _ => None,
            };
            // A substitute named before who is not named now is not needed any more:
            // if they were summoned, their entry is cancelled and they are told.
            if let Some((old_name, old_email)) = inv
                .substitute
                .as_ref()
                .and_then(|s| s.email.clone().map(|e| (s.name.clone(), e)))
            {
                let kept = answer
                    .substitute
                    .as_ref()
                    .and_then(|s| s.email.as_deref())
                    .is_some_and(|e| crate::trust::same_address(e, &old_email));
                let summoned = self
                    .store
                    .effect_exists(&format!("substitute:{}:{old_email}", inv.id))
                    .await?;
                if !kept && summoned && m.starts_at > now {
                    // One who has already said they cannot come knows: no mail to them.
                    let declined = self.store.guest_declined(m.id, inv.id, &old_email).await?;
                    if !declined {
                        mails.push(
                            self.substitute_withdrawal(
                                m,
                                inv,
                                (&old_name, &old_email),
                                false,
                                Some(id),
                            )
                            .await?,
                        );
                    }
                    // The coordinators were told who comes in the member's place: they
                    // hear that it has changed.
                    let starts = render::local_time(m.starts_at, self.tz(m)?);
                    mails.extend(
                        self.coordinator_notices(
                            m,
                            "substitute_released",
                            serde_json::json!({
                                "member": inv.member_name,
                                "council": m.council_name,
                                "starts": starts,
                                "response": answer.response.as_str(),
                                "substitute": {"name": old_name, "email": old_email},
                                "told": !declined,
                            }),
                            "substitute-released",
                            id,
                        )
                        .await?,
                    );
                    events.push(NewEvent {
                        actor: u.from.clone().unwrap_or_default(),
                        kind: "substitute_withdrawn".into(),
                        meeting_id: Some(m.id),
                        invitation_id: Some(inv.id),
                        inbound_id: Some(id),
                        detail: format!(
                            "{old_email} no longer comes for {}: their entry is cancelled",
                            inv.member_email
                        ),
                    });
                }
            }
            let fx = self.record_answer(id, &u, &d, answer, inv, m, received_at, forwarded_by)?;
            new_answer = Some(fx.answer);
            mails.extend(fx.mails);
            events.extend(fx.events);
            changes.extend(fx.changes);
            if let Some((name, email)) = &d.summon_substitute {
                {
                    mails.push(self.substitute_summons(m, inv, name, email, id).await?);
                    // The coordinators see who comes in whose place, and whether that
                    // person is on the council at all.
                    let outsider = self.store.members_by_email(email).await?.is_empty();
                    let starts = render::local_time(m.starts_at, self.tz(m)?);
                    mails.extend(
                        self.coordinator_notices(
                            m,
                            "substitute_notice",
                            serde_json::json!({
                                "member": inv.member_name,
                                "council": m.council_name,
                                "starts": starts,
                                "substitute": {"name": name, "email": email},
                                "outsider": outsider,
                                "vara": d.vara,
                            }),
                            "substitute-notice",
                            id,
                        )
                        .await?,
                    );
                }
            }
            // An extra attendee (bisitter) is held until the leader approves.
            if let (Some(extra), true) = (&u.extra_attendee, d.announce_extra) {
                let (change, requests) = self.announce_extra(m, inv, extra, id).await?;
                changes.push(change);
                mails.extend(requests);
            }
            report.answers += 1;
        }
        if let (Some(response), Some(g), Some(inv), Some(m)) =
            (d.guest_answer, &guest, &invitation, &meeting)
        {
            events.push(NewEvent {
                actor: g.email.clone(),
                kind: "guest_answer".into(),
                meeting_id: Some(m.id),
                invitation_id: Some(inv.id),
                inbound_id: Some(id),
                detail: d.outcome.clone(),
            });
            if response != crate::domain::Response::Accepted {
                // What they wrote with it: the calendar's comment, or the reply's text.
                let comment = u
                    .calendar
                    .as_ref()
                    .and_then(|c| c.comment.clone())
                    .or_else(|| Some(u.reply_text.trim().to_string()))
                    .filter(|c| !c.is_empty())
                    .map(|c| c.chars().take(1000).collect::<String>());
                mails.extend(self.guest_notices(id, m, inv, g, response, comment).await?);
            }
        }
        if let (Some(c), Some(inv), Some(m)) = (&d.counter, &invitation, &meeting) {
            mails.extend(
                self.counter_notices(id, m, inv, c, d.answer.as_ref())
                    .await?,
            );
        }
        if let (true, Some(inv), Some(m)) = (d.ask, &invitation, &meeting) {
            mails.push(self.question(m, inv, &d, u.message_id.as_deref(), id)?);
        }
        if let Some((address, reason)) = &d.failing {
            // Marked in the same transaction as the message's outcome and the notices.
            let n = self.store.members_by_email(address).await?.len();
            changes.push(crate::store::Change::MarkFailing {
                address: address.clone(),
                reason: reason.clone(),
            });
            let failure = Failure::Bounce {
                status: u.bounce.as_ref().and_then(|b| b.status.clone()),
            };
            mails.extend(
                self.bounce_notices(address, &failure, &id.to_string(), Some(id))
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
        let outcome = answer_outcome(id, &u, d, given_from, invitation.as_ref());
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
    pub(crate) async fn find_invitation(
        &self,
        u: &Understanding,
    ) -> Result<Option<(Invitation, Option<String>)>> {
        let l = self.lookups(std::slice::from_ref(&u), false).await?;
        match self.keyed(u, &l) {
            batch::Keyed::Found(inv, owner) => return Ok(Some((*inv, Some(owner)))),
            batch::Keyed::OtherAttendee => {
                // Not an answer we can credit to anyone: held, nobody asked (a
                // confirmation would record the wrong person).
                tracing::warn!(uid = ?u.calendar.as_ref().and_then(|c| c.uid.as_deref()), "a calendar reply whose attendee is not the invitee");
                return Ok(None);
            }
            batch::Keyed::None => {}
        }
        // A guest's own entry (a substitute's, an extra attendee's): its key is derived
        // from the invitation's and the guest's address, and owned by the guest.
        if let Some(found) = self.guest_entry(u).await? {
            return Ok(Some(found));
        }
        if let Some(c) = &u.calendar {
            if let Some(uid) = &c.uid {
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

    /// The invitation whose guest's entry a calendar reply answers (`Token::for_guest`),
    /// and the guest's address, which owns that key.
    async fn guest_entry(&self, u: &Understanding) -> Result<Option<(Invitation, Option<String>)>> {
        let Some(c) = &u.calendar else {
            return Ok(None);
        };
        let (Some(uid), Some(attendee)) = (&c.uid, c.attendee.as_deref().or(u.from.as_deref()))
        else {
            return Ok(None);
        };
        let (Some(key), Some((_, meeting_uid))) =
            (crate::mail::ics::token_in_uid(uid), uid.split_once('.'))
        else {
            return Ok(None);
        };
        let Some(m) = self.store.meeting_by_uid(meeting_uid).await? else {
            return Ok(None);
        };
        for inv in self.store.invitations(m.id).await? {
            let Some(token) = Token::parse(&inv.token) else {
                continue;
            };
            if Token::for_guest(&token, attendee) != key {
                continue;
            }
            if let Some(g) = self.guest_of(&inv, attendee).await? {
                return Ok(Some((inv, Some(g.email))));
            }
        }
        Ok(None)
    }

    /// Who `address` is to an invitation when it is not the invitee's: its substitute
    /// (named with that address in the recorded answer) or an approved extra attendee.
    pub(crate) async fn guest_of(
        &self,
        inv: &Invitation,
        address: &str,
    ) -> Result<Option<workflow::GuestSender>> {
        if let Some(s) = &inv.substitute {
            if s.email
                .as_deref()
                .is_some_and(|e| crate::trust::same_address(e, address))
            {
                return Ok(Some(workflow::GuestSender {
                    name: s.name.clone(),
                    email: address.to_string(),
                    extra: false,
                }));
            }
        }
        Ok(self
            .store
            .extra_attendees(inv.meeting_id)
            .await?
            .into_iter()
            .find(|x| {
                x.invitation_id == inv.id
                    && x.state == crate::domain::ExtraState::Approved
                    && x.email
                        .as_deref()
                        .is_some_and(|e| crate::trust::same_address(e, address))
            })
            .map(|x| workflow::GuestSender {
                name: x.name,
                email: address.to_string(),
                extra: true,
            }))
    }

    /// A person's upcoming invitation when they have exactly one: the only one an
    /// answer without threading can be about. With several, a person decides.
    pub(crate) async fn only_upcoming(&self, address: &str) -> Result<Option<Invitation>> {
        let mut upcoming = self
            .store
            .upcoming_invitations(address, self.clock.now())
            .await?;
        Ok(match upcoming.len() {
            1 => upcoming.pop(),
            _ => None,
        })
    }

    /// Tells the coordinators that a substitute or an extra attendee cannot come (or is
    /// unsure), in their own language.
    async fn guest_notices(
        &self,
        id: i64,
        m: &Meeting,
        inv: &Invitation,
        g: &workflow::GuestSender,
        response: crate::domain::Response,
        comment: Option<String>,
    ) -> Result<Vec<OutgoingMail>> {
        let tz = self.tz(m)?;
        let data = serde_json::json!({
            "guest": {"name": g.name, "email": g.email},
            "member": inv.member_name,
            "extra": g.extra,
            "council": m.council_name,
            "starts": render::local_time(m.starts_at, tz),
            "response": response.as_str(),
            "comment": comment,
        });
        self.coordinator_notices(m, "guest_notice", data, "guest-notice", id)
            .await
    }

    /// Tells the coordinators that a member's calendar proposes another time for the
    /// meeting, with the time in the meeting's zone and the member's comment.
    async fn counter_notices(
        &self,
        id: i64,
        m: &Meeting,
        inv: &Invitation,
        c: &workflow::Counter,
        answer: Option<&crate::domain::Answer>,
    ) -> Result<Vec<OutgoingMail>> {
        let tz = self.tz(m)?;
        let data = serde_json::json!({
            "member": inv.member_name,
            "council": m.council_name,
            "starts": render::local_time(m.starts_at, tz),
            "ends": render::local_time(m.ends_at, tz),
            "proposed_start": c.start.map(|t| render::local_time(t, tz)),
            "proposed_end": c.end.map(|t| render::local_time(t, tz)),
            "response": answer.map(|a| a.response.as_str()),
            "comment": c.comment,
        });
        self.coordinator_notices(m, "counter_notice", data, "counter-notice", id)
            .await
    }

    /// One notice from a template to each coordinator of the meeting's council, in
    /// their language, caused by inbound message `id` (once each: `KEY:id:coordinator`).
    async fn coordinator_notices(
        &self,
        m: &Meeting,
        template: &'static str,
        data: serde_json::Value,
        key: &str,
        id: i64,
    ) -> Result<Vec<OutgoingMail>> {
        let mut mails = Vec::new();
        for co in self.store.coordinators(m.council_id).await? {
            mails.push(self.notice(year::Notice {
                kind: "notice",
                template: Some(template),
                lang: Some(self.lang_of(&co)),
                data: data.clone(),
                effect_key: format!("{key}:{id}:{}", co.id),
                to_name: &co.name,
                to_address: &co.email,
                meeting_id: Some(m.id),
                inbound_id: Some(id),
                ..year::Notice::BLANK
            })?);
        }
        Ok(mails)
    }

    /// Tells the coordinators of every council an address belongs to that mail to it
    /// does not arrive, each in their own language.
    pub(crate) async fn bounce_notices(
        &self,
        address: &str,
        failure: &Failure,
        cause: &str,
        inbound_id: Option<i64>,
    ) -> Result<Vec<OutgoingMail>> {
        let (template, why) = match failure {
            Failure::Bounce { status } => ("bounce", serde_json::json!({ "status": status })),
            Failure::Refused { reply } => ("refused", serde_json::json!({ "reply": reply })),
        };
        let mut mails = Vec::new();
        for member in self.store.members_by_email(address).await? {
            let council = self.store.council(member.council_id).await?;
            let mut data = serde_json::json!({
                "member": member.name,
                "member_first": render::first_name(&member.name),
                "address": address,
                "council": council.name,
            });
            if let (Some(d), Some(w)) = (data.as_object_mut(), why.as_object()) {
                d.extend(w.clone());
            }
            for c in self.store.coordinators(member.council_id).await? {
                if c.email == address {
                    continue;
                }
                mails.push(self.notice(year::Notice {
                    kind: "notice",
                    template: Some(template),
                    lang: Some(self.lang_of(&c)),
                    data: data.clone(),
                    effect_key: format!("bounce-notice:{cause}:{}", c.id),
                    to_name: &c.name,
                    to_address: &c.email,
                    inbound_id,
                    ..year::Notice::BLANK
                })?);
            }
        }
        Ok(mails)
    }
}

/// Fault injection for the crash tests: with `REFERENT_FAULT_PANIC_ON` set, acting on a
/// message that contains its text panics, the way a bug would. Unset in real use.
#[allow(clippy::panic)]
pub(crate) fn fault_point(raw: &[u8]) {
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

/// The stored outcome of a message read as an answer (or not), logged as it is made.
pub(crate) fn answer_outcome(
    id: i64,
    u: &Understanding,
    d: workflow::Decision,
    given_from: Option<String>,
    invitation: Option<&Invitation>,
) -> InboundOutcome {
    let kind = kind_name(u);
    tracing::info!(inbound = id, from = %u.from.as_deref().unwrap_or_default(), kind = %kind, state = d.state.as_str(), "{}", d.outcome);
    InboundOutcome {
        state: d.state,
        kind,
        sender: given_from,
        subject: u.subject.clone(),
        // Why it is held goes with the sentence, for the digest.
        outcome: match &d.held {
            Some(h) => h.outcome(&d.outcome),
            None => d.outcome,
        },
        problems: u.problems.clone(),
        invitation_id: invitation.map(|i| i.id),
    }
}

pub(crate) fn kind_name(u: &Understanding) -> String {
    serde_json::to_value(u.kind())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The Message-ID from the header block, read without the full MIME parser so a message
/// can be stored even when it cannot be parsed.
pub(crate) fn quick_message_id(raw: &[u8]) -> Option<String> {
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
