//! A local Maildir as the mailbox: messages in `new/` and `cur/` are unhandled; handled
//! ones are moved to the `.Handled` subfolder (Maildir++), the local counterpart of a
//! batched IMAP MOVE. Nothing is ever deleted.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{InboundError, RawMessage};

pub struct MaildirSource {
    pub root: PathBuf,
    pub poll_interval: Duration,
}

fn io_err(p: &Path, e: std::io::Error) -> InboundError {
    InboundError::Maildir(p.display().to_string(), e)
}

/// Creates `tmp/`, `new/` and `cur/` under `root` when missing.
pub fn ensure_maildir(root: &Path) -> std::io::Result<()> {
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(root.join(sub))?;
    }
    Ok(())
}

impl MaildirSource {
    pub fn open(root: &Path, poll_interval: Duration) -> Result<Self, InboundError> {
        ensure_maildir(root).map_err(|e| io_err(root, e))?;
        ensure_maildir(&root.join(".Handled")).map_err(|e| io_err(root, e))?;
        Ok(MaildirSource {
            root: root.to_path_buf(),
            poll_interval,
        })
    }

    pub fn fetch(&mut self, max: usize) -> Result<Vec<RawMessage>, InboundError> {
        let mut entries = Vec::new();
        for sub in ["new", "cur"] {
            let dir = self.root.join(sub);
            for e in fs::read_dir(&dir).map_err(|e| io_err(&dir, e))? {
                let e = e.map_err(|e| io_err(&dir, e))?;
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with('.') {
                    continue;
                }
                let meta = e.metadata().map_err(|err| io_err(&e.path(), err))?;
                if !meta.is_file() {
                    continue;
                }
                let mtime = meta.modified().ok().map(DateTime::<Utc>::from);
                entries.push((mtime, format!("{sub}/{name}")));
            }
        }
        // Oldest first, so answers are applied in the order they arrived.
        entries.sort();
        let mut out = Vec::new();
        for (mtime, rel) in entries.into_iter().take(max) {
            let path = self.root.join(&rel);
            match fs::read(&path) {
                Ok(bytes) => out.push(RawMessage {
                    source_ref: rel,
                    bytes,
                    received_at: mtime,
                }),
                // Moved away by another reader between listing and reading.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path, e)),
            }
        }
        Ok(out)
    }

    pub fn mark_handled(&mut self, refs: &[String]) -> Result<(), InboundError> {
        let target = self.root.join(".Handled").join("cur");
        for rel in refs {
            let from = self.root.join(rel);
            let name = rel.rsplit('/').next().unwrap_or(rel);
            let to = target.join(name);
            match fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&from, e)),
            }
        }
        Ok(())
    }
}

/// Delivers a message into a Maildir the way an MTA does: written to `tmp/`, then
/// renamed into `new/`, so a reader never sees half a message.
pub fn deliver(root: &Path, unique: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    ensure_maildir(root)?;
    let tmp = root.join("tmp").join(unique);
    let new = root.join("new").join(unique);
    {
        use std::io::Write;
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &new)?;
    Ok(new)
}
