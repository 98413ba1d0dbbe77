//! Mail in and out: the adapters (IMAP, Maildir, SMTP) and the building of messages.

pub mod compose;
pub mod ics;
pub mod inbound;
pub mod net;
pub mod outbound;
