//! The mails about a meeting to one member, from their templates: receipts, questions,
//! and the text of summons and reminders.

use super::*;

/// What recording an answer commits besides the message's outcome.
pub(crate) struct Recorded {
    pub answer: NewAnswer,
    pub mails: Vec<OutgoingMail>,
    pub events: Vec<NewEvent>,
    pub changes: Vec<crate::store::Change>,
}

impl Daemon {
    /// An answer to record: the answer, its audit line, held mail about the same
    /// invitation settled by it, and the receipt when one is due (`forwarded_by` names
    /// who forwarded it). The substitute's summons and a bisitter's request are the
    /// caller's: they need the database.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_answer(
        &self,
        id: i64,
        u: &Understanding,
        d: &workflow::Decision,
        answer: &crate::domain::Answer,
        inv: &Invitation,
        m: &Meeting,
        received_at: DateTime<Utc>,
        forwarded_by: Option<String>,
    ) -> Result<Recorded> {
        let sender = u.from.clone().unwrap_or_default();
        let mut mails = Vec::new();
        if d.receipt {
            mails.push(self.receipt(m, inv, answer, u.message_id.as_deref(), id, forwarded_by)?);
        }
        Ok(Recorded {
            answer: NewAnswer {
                invitation_id: inv.id,
                answer: answer.clone(),
                source: d.source.into(),
                sender: sender.clone(),
                received_at,
            },
            mails,
            events: vec![NewEvent {
                actor: sender,
                kind: "answer".into(),
                meeting_id: Some(m.id),
                invitation_id: Some(inv.id),
                inbound_id: Some(id),
                detail: d.outcome.clone(),
            }],
            changes: vec![crate::store::Change::SettleHeld {
                invitation_id: inv.id,
                by_inbound: id,
            }],
        })
    }

    // ----- composing ----------------------------------------------------------------------

    pub(crate) fn meeting_text(
        &self,
        m: &Meeting,
        name: &str,
        asked: bool,
        lang: crate::domain::Language,
    ) -> Result<MeetingText> {
        let tz = self.tz(m)?;
        Ok(MeetingText {
            lang,
            council: m.council_name.clone(),
            title: m.title.clone(),
            starts: render::local_time(m.starts_at, tz),
            ends: render::local_time(m.ends_at, tz),
            room: m.place.room.clone(),
            link: m.place.digital_link.clone(),
            name: render::first_name(name),
            secretariat: self.cfg.secretariat.name.clone(),
            asked,
            agenda: Vec::new(),
            answer: None,
            readings: Vec::new(),
            tentative: false,
            stale_calendar: false,
            forwarded_by: None,
        })
    }

    /// A message from a template about a meeting, to one person, with the calendar
    /// entry and files it carries (if any).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn compose(
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
        let data = serde_json::to_value(ctx)
            .map_err(|e| render::RenderError::Example(template.to_string(), e.to_string()))?;
        let r = self
            .renderer
            .render_kind(ctx.lang, template, &self.common(to_name), &data)?;
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
            time_zone: self.cfg.secretariat.time_zone,
            calendar,
            attachments,
        })?;
        Ok((message_id, raw))
    }

    pub(crate) fn receipt(
        &self,
        m: &Meeting,
        inv: &Invitation,
        answer: &crate::domain::Answer,
        in_reply_to: Option<&str>,
        inbound_id: i64,
        forwarded_by: Option<String>,
    ) -> Result<OutgoingMail> {
        let lang = inv.member_language.unwrap_or(self.lang());
        let mut ctx = self.meeting_text(m, &inv.member_name, true, lang)?;
        ctx.forwarded_by = forwarded_by;
        // The forward's Message-ID means nothing to the member.
        let in_reply_to = if ctx.forwarded_by.is_some() {
            None
        } else {
            in_reply_to
        };
        ctx.answer = Some(answer.clone());
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
    pub(crate) fn reply_in_thread(
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
    pub(crate) fn question(
        &self,
        m: &Meeting,
        inv: &Invitation,
        d: &workflow::Decision,
        in_reply_to: Option<&str>,
        inbound_id: i64,
    ) -> Result<OutgoingMail> {
        let lang = inv.member_language.unwrap_or(self.lang());
        let mut ctx = self.meeting_text(m, &inv.member_name, true, lang)?;
        ctx.readings = d.readings.clone();
        ctx.stale_calendar = d.stale_calendar;
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
}
