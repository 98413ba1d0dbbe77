//! The Maildir transport: each message is a file in `new/` of a local folder, named by
//! its outbox row, so writing it again after a crash replaces it.

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;

use super::{CheckError, Outgoing, SendError, Stage, Transport, TransportError, Verdict};
use crate::mail::inbound::maildir;

pub struct MaildirTransport {
    root: PathBuf,
}

impl MaildirTransport {
    pub fn open(root: &Path) -> Result<Self, TransportError> {
        maildir::ensure_maildir(root).map_err(|e| TransportError::Maildir(root.into(), e))?;
        Ok(MaildirTransport { root: root.into() })
    }
}

impl Transport for MaildirTransport {
    fn send<'a>(&'a self, mail: Outgoing<'a>) -> BoxFuture<'a, Result<(), SendError>> {
        let root = self.root.clone();
        let raw = mail.raw.to_vec();
        let name = mail.name.to_string();
        Box::pin(async move {
            // A folder that cannot be written fails every message alike: the
            // dispatcher waits for it, the way it waits for a server.
            let fail = |e: String| {
                SendError::local(
                    Stage::Connect,
                    Verdict::Throttled,
                    format!("cannot write to the outbox folder: {e}"),
                )
            };
            tokio::task::spawn_blocking(move || maildir::deliver(&root, &name, &raw))
                .await
                .map_err(|e| fail(e.to_string()))?
                .map_err(|e| fail(e.to_string()))?;
            Ok(())
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), CheckError>> {
        Box::pin(async move {
            maildir::ensure_maildir(&self.root).map_err(|e| CheckError {
                message: format!("cannot use the outbox folder {}: {e}", self.root.display()),
                fatal: true,
            })
        })
    }

    fn describe(&self) -> String {
        format!("maildir {}", self.root.display())
    }
}
