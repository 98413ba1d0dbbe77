//! Why a message is held. The stored outcome of a message is a sentence for the log
//! (English); the reason is kept beside it as a code at its start (`[held:no_summons] …`,
//! `[held:unverified_asked kari@hf.example] …` when someone was asked about it), so the
//! digest of held mail says it in each coordinator's language from the code, and never
//! has to read the sentence.

/// Why a message is held, as the digest's templates name it (`_held_reason.hbs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldReason {
    /// Acting on it failed every try.
    Quarantined,
    /// Reads as an answer, but refers to no summons of ours.
    NoSummons,
    /// Reads as an answer and refers to no summons, from someone invited to several
    /// upcoming meetings: which one it is for cannot be told.
    SeveralMeetings,
    /// Not understood at all.
    NotUnderstood,
    /// An answer to an invitation, from another address than the invitee's.
    NotInvitee,
    /// The sender may not do this (forward an answer, decide on an item, send minutes).
    NotCoordinator,
    /// A reply to a confirmation request, from another address than it went to.
    ConfirmWrongSender,
    /// A reply to a digest, from another address than it went to.
    DigestWrongSender,
    /// A reply to a request or digest whose key has expired.
    Expired,
    /// Nothing proves who sent it; the person it names is asked to confirm it.
    UnverifiedAsked,
    /// Nothing proves who sent it, and nobody could be asked (too many requests).
    Unverified,
    /// An answer that came after the meeting was over or cancelled.
    AfterMeeting,
    /// An answer naming the secretariat's own address as substitute; the member is asked.
    SecretariatSubstituteAsked,
    /// The same, and nobody could be asked.
    SecretariatSubstitute,
    /// A reply that reads several ways; the member is asked.
    AmbiguousAsked,
    /// The same, and nobody could be asked.
    Ambiguous,
    /// A reply to the summons without a readable answer; the member is asked.
    NoAnswerAsked,
    /// The same, and nobody could be asked.
    NoAnswer,
    /// Draft minutes, but the council has had no meeting.
    NoMeetingYet,
    /// More agenda proposals today than a sender may file.
    TooManyProposals,
    /// Draft minutes from a coordinator of several councils.
    MinutesSeveralCouncils,
    /// A reply in which no decision could be read.
    NoDecision,
    /// Mailing-list or bulk mail.
    MailingList,
    /// The sender is not a member of the council.
    NotMember,
    /// The sender is in several councils: which one is meant is unknown.
    SeveralCouncils,
    /// The sender's address cannot be read.
    NoSender,
    /// A delivery failure report whose failed address cannot be read.
    BounceUnreadable,
    /// The message (or its attachment) cannot be read.
    Unreadable,
    /// A decision on an agenda item that is already on a sent agenda.
    AlreadyOnAgenda,
    /// An agenda proposal with neither a title nor a document.
    NoTitle,
    /// Draft minutes for a meeting whose minutes are already approved.
    MinutesApproved,
    /// A reply about a version of the minutes that is no longer a draft.
    MinutesNotDraft,
    /// Draft minutes with neither text nor a readable document.
    EmptyMinutes,
    /// About a meeting that no longer exists.
    MeetingGone,
    /// A change to a meeting that is not scheduled (it is cancelled).
    NotScheduled,
    /// A meeting moved to a time it cannot have: ending before it starts, or in the past.
    ImpossibleTime,
    /// Minutes approved before their correction deadline.
    BeforeDeadline,
    /// A calendar answer to the time before a move; the person is asked again.
    StaleCalendarAsked,
    /// A calendar answer to the time before a move.
    StaleCalendar,
    /// A coordinator's change to a meeting by mail, waiting for their «bekreft».
    AwaitingConfirmation,
    /// A decision («godkjent», «avvist») that answers no request referent sent.
    DecisionWithoutRequest,
}

impl HeldReason {
    pub const ALL: [HeldReason; 41] = [
        HeldReason::Quarantined,
        HeldReason::NoSummons,
        HeldReason::SeveralMeetings,
        HeldReason::NotUnderstood,
        HeldReason::NotInvitee,
        HeldReason::NotCoordinator,
        HeldReason::ConfirmWrongSender,
        HeldReason::DigestWrongSender,
        HeldReason::Expired,
        HeldReason::UnverifiedAsked,
        HeldReason::Unverified,
        HeldReason::AfterMeeting,
        HeldReason::SecretariatSubstituteAsked,
        HeldReason::SecretariatSubstitute,
        HeldReason::AmbiguousAsked,
        HeldReason::Ambiguous,
        HeldReason::NoAnswerAsked,
        HeldReason::NoAnswer,
        HeldReason::NoMeetingYet,
        HeldReason::TooManyProposals,
        HeldReason::MinutesSeveralCouncils,
        HeldReason::NoDecision,
        HeldReason::MailingList,
        HeldReason::NotMember,
        HeldReason::SeveralCouncils,
        HeldReason::NoSender,
        HeldReason::BounceUnreadable,
        HeldReason::Unreadable,
        HeldReason::AlreadyOnAgenda,
        HeldReason::NoTitle,
        HeldReason::MinutesApproved,
        HeldReason::MinutesNotDraft,
        HeldReason::EmptyMinutes,
        HeldReason::MeetingGone,
        HeldReason::NotScheduled,
        HeldReason::ImpossibleTime,
        HeldReason::BeforeDeadline,
        HeldReason::StaleCalendarAsked,
        HeldReason::StaleCalendar,
        HeldReason::AwaitingConfirmation,
        HeldReason::DecisionWithoutRequest,
    ];

    /// The code stored in the outcome and given to the templates.
    pub fn as_str(self) -> &'static str {
        match self {
            HeldReason::Quarantined => "quarantined",
            HeldReason::NoSummons => "no_summons",
            HeldReason::SeveralMeetings => "several_meetings",
            HeldReason::NotUnderstood => "not_understood",
            HeldReason::NotInvitee => "not_invitee",
            HeldReason::NotCoordinator => "not_coordinator",
            HeldReason::ConfirmWrongSender => "confirm_wrong_sender",
            HeldReason::DigestWrongSender => "digest_wrong_sender",
            HeldReason::Expired => "expired",
            HeldReason::UnverifiedAsked => "unverified_asked",
            HeldReason::Unverified => "unverified",
            HeldReason::AfterMeeting => "after_meeting",
            HeldReason::SecretariatSubstituteAsked => "secretariat_substitute_asked",
            HeldReason::SecretariatSubstitute => "secretariat_substitute",
            HeldReason::AmbiguousAsked => "ambiguous_asked",
            HeldReason::Ambiguous => "ambiguous",
            HeldReason::NoAnswerAsked => "no_answer_asked",
            HeldReason::NoAnswer => "no_answer",
            HeldReason::NoMeetingYet => "no_meeting_yet",
            HeldReason::TooManyProposals => "too_many_proposals",
            HeldReason::MinutesSeveralCouncils => "minutes_several_councils",
            HeldReason::NoDecision => "no_decision",
            HeldReason::MailingList => "mailing_list",
            HeldReason::NotMember => "not_member",
            HeldReason::SeveralCouncils => "several_councils",
            HeldReason::NoSender => "no_sender",
            HeldReason::BounceUnreadable => "bounce_unreadable",
            HeldReason::Unreadable => "unreadable",
            HeldReason::AlreadyOnAgenda => "already_on_agenda",
            HeldReason::NoTitle => "no_title",
            HeldReason::MinutesApproved => "minutes_approved",
            HeldReason::MinutesNotDraft => "minutes_not_draft",
            HeldReason::EmptyMinutes => "empty_minutes",
            HeldReason::MeetingGone => "meeting_gone",
            HeldReason::NotScheduled => "not_scheduled",
            HeldReason::ImpossibleTime => "impossible_time",
            HeldReason::BeforeDeadline => "before_deadline",
            HeldReason::StaleCalendarAsked => "stale_calendar_asked",
            HeldReason::StaleCalendar => "stale_calendar",
            HeldReason::AwaitingConfirmation => "awaiting_confirmation",
            HeldReason::DecisionWithoutRequest => "decision_without_request",
        }
    }

    pub fn parse(code: &str) -> Option<HeldReason> {
        HeldReason::ALL.into_iter().find(|r| r.as_str() == code)
    }

    /// Why a coordinator's change by mail waits for their «bekreft»: an authenticated
    /// sender's only for their word, anyone else's as a possible forgery.
    pub fn until_confirmed(authenticated: bool) -> HeldReason {
        if authenticated {
            HeldReason::AwaitingConfirmation
        } else {
            HeldReason::Unverified
        }
    }

    /// The same reason when the person concerned was asked about it.
    pub fn asked(self) -> HeldReason {
        match self {
            HeldReason::Unverified => HeldReason::UnverifiedAsked,
            HeldReason::SecretariatSubstitute => HeldReason::SecretariatSubstituteAsked,
            HeldReason::Ambiguous => HeldReason::AmbiguousAsked,
            HeldReason::NoAnswer => HeldReason::NoAnswerAsked,
            HeldReason::StaleCalendar => HeldReason::StaleCalendarAsked,
            other => other,
        }
    }
}

/// A held message's reason, and the address asked to confirm it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub reason: HeldReason,
    /// Who was asked to confirm the message (the digest leaves it out for them).
    pub asked: Option<String>,
}

const TAG: &str = "[held:";

impl Held {
    pub fn because(reason: HeldReason) -> Held {
        Held {
            reason,
            asked: None,
        }
    }

    /// Held, and `address` is asked to confirm it.
    pub fn asking(reason: HeldReason, address: &str) -> Held {
        Held {
            reason: reason.asked(),
            asked: Some(address.to_string()),
        }
    }

    /// The outcome to store: the code, then the sentence for the log.
    pub fn outcome(&self, sentence: &str) -> String {
        match &self.asked {
            Some(a) => format!("{TAG}{} {a}] {sentence}", self.reason.as_str()),
            None => format!("{TAG}{}] {sentence}", self.reason.as_str()),
        }
    }

    /// The code at the start of a stored outcome, and the sentence after it. An
    /// outcome without a code (stored by an older version, or by a flow that does not
    /// give one) is all sentence.
    pub fn read(outcome: &str) -> (Option<Held>, &str) {
        let Some(rest) = outcome.strip_prefix(TAG) else {
            return (None, outcome);
        };
        let Some((tag, sentence)) = rest.split_once(']') else {
            return (None, outcome);
        };
        let mut words = tag.split_whitespace();
        let Some(reason) = words.next().and_then(HeldReason::parse) else {
            return (None, outcome);
        };
        let held = Held {
            reason,
            asked: words.next().map(str::to_string),
        };
        (Some(held), sentence.trim_start())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_survives_the_outcome_it_is_stored_in() {
        for r in HeldReason::ALL {
            let o = Held::because(r).outcome("something happened");
            assert_eq!(
                Held::read(&o),
                (Some(Held::because(r)), "something happened")
            );
        }
        let o = Held::asking(HeldReason::Unverified, "kari@hf.example").outcome("x; y");
        assert_eq!(o, "[held:unverified_asked kari@hf.example] x; y");
        let (h, s) = Held::read(&o);
        assert_eq!(h.and_then(|h| h.asked).as_deref(), Some("kari@hf.example"));
        assert_eq!(s, "x; y");
        assert_eq!(Held::read("not understood"), (None, "not understood"));
        assert_eq!(Held::read("[held:nonsense] x"), (None, "[held:nonsense] x"));
        assert_eq!(Held::read("[held:no_summons"), (None, "[held:no_summons"));
    }
}
