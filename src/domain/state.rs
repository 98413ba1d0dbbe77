//! The states and kinds rows are in, as enums: the store reads and writes their words
//! (`scheduled`, `done`, `summons`…), the rest of the code matches on variants.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::DomainError;

macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            /// The word stored in the database and shown in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, DomainError> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err(DomainError::Corrupt(format!(
                        concat!(stringify!($name), " {:?}"),
                        other
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words! {
    /// Where a meeting stands.
    MeetingStatus {
        Scheduled = "scheduled",
        Cancelled = "cancelled",
    }
}

words! {
    /// What a scheduled job does.
    JobKind {
        /// The call for agenda items.
        Call = "call",
        Summons = "summons",
        Reminder = "reminder",
        /// The attendance list to the coordinators.
        Attendance = "attendance",
        /// The end of the correction period of draft minutes: the digest.
        MinutesDeadline = "minutes_deadline",
    }
}

words! {
    /// Where a scheduled job stands.
    JobState {
        Pending = "pending",
        Done = "done",
        /// Its meeting was cancelled.
        Cancelled = "cancelled",
    }
}

words! {
    /// What became of a received message.
    InboundState {
        /// Stored, not yet acted on.
        New = "new",
        /// Acted on (an answer recorded, a bounce noted …).
        Processed = "processed",
        /// Kept for a coordinator: not understood, or not authorised.
        Held = "held",
        /// Deliberately not acted on (an autoresponder, a list, our own mail).
        Ignored = "ignored",
    }
}

words! {
    /// What an agenda item is.
    ItemKind {
        /// Proposed by someone, decided by the coordinators.
        Proposal = "proposal",
        /// An opening item or "Eventuelt", on every agenda.
        Fixed = "fixed",
    }
}

words! {
    /// Where an agenda item stands.
    ItemState {
        Proposed = "proposed",
        Approved = "approved",
        Rejected = "rejected",
        Deferred = "deferred",
        Fixed = "fixed",
    }
}

words! {
    /// Where a version of the minutes stands.
    MinutesState {
        Draft = "draft",
        Approved = "approved",
        /// A newer draft replaced it.
        Superseded = "superseded",
    }
}

words! {
    /// Where a request for an extra attendee (bisitter) stands.
    ExtraState {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
}

words! {
    /// Where a mail in the outbox stands.
    OutboxState {
        /// Waiting to be sent (again).
        Pending = "pending",
        /// Handed to the server; confirmed by its copy coming back, or sent again.
        Sending = "sending",
        Sent = "sent",
        /// Refused for good.
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_ones_are_refused() {
        for k in [
            JobKind::Call,
            JobKind::Summons,
            JobKind::Reminder,
            JobKind::Attendance,
            JobKind::MinutesDeadline,
        ] {
            assert_eq!(k.as_str().parse::<JobKind>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(
            "cancelled".parse::<MeetingStatus>().unwrap(),
            MeetingStatus::Cancelled
        );
        assert!("held".parse::<MeetingStatus>().is_err());
        assert!("".parse::<JobState>().is_err());
    }
}
