//! A small fixed council for fuzzing the whole act path (`fuzz/fuzz_targets/act.rs`):
//! a coordinator, a member and an observer, a meeting whose summons went out, a
//! proposal awaiting approval. Not for the daemon.
//!
//! Inputs may hold placeholders that become this state's real keys, so the fuzzer
//! reaches the paths behind them: `@@TOKEN@@` (the member's invitation token),
//! `@@UID@@` (the member's personal calendar UID), `@@KEY@@` (the coordinator's
//! personal approval key), `@@SELF@@` (the secretariat's address).

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Daemon, Report};
use crate::clock::FixedClock;
use crate::config::{Config, ConfigFile};
use crate::domain::{Place, Role};
use crate::store::{NewInbound, NewMember, Store};

/// The daemon on a fixed state, and the keys that state gave out.
pub struct ActHarness {
    pub rt: tokio::runtime::Runtime,
    pub daemon: Daemon,
    token: String,
    uid: String,
    key: String,
    n: std::sync::atomic::AtomicU64,
}

const CONFIG: &str = "data_dir = \".\"\n[secretariat]\nname = \"Sekretariatet\"\naddress = \"referent@regut.example\"\n[mailbox]\ntrusted_authserv_id = \"mx.regut.example\"\n";

impl ActHarness {
    /// Builds the state in `dir` (a fast file system is best: every input commits).
    pub fn new(dir: &Path) -> Result<ActHarness, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let now: DateTime<Utc> = "2027-03-01T09:00:00Z".parse().map_err(|e| format!("{e}"))?;
        let file: ConfigFile = toml::from_str(CONFIG).map_err(|e| e.to_string())?;
        let cfg = Config::from_file(file, dir, &|_| None).map_err(|e| e.to_string())?;
        let daemon = rt.block_on(async {
            let store = Store::open(&cfg.database_url)
                .await
                .map_err(|e| e.to_string())?;
            let cid = store
                .add_council("ur", "Utdanningsrådet", now)
                .await
                .map_err(|e| e.to_string())?;
            let people = [
                (
                    "Eldbjørg Koordinator",
                    "koord@hf.example",
                    Role::Coordinator,
                ),
                ("Ola Nordmann", "ola@hf.example", Role::Member),
                ("Kari Leder", "kari@hf.example", Role::Leader),
                ("Hdir", "hdir@hdir.example", Role::Observer),
            ];
            let members: Vec<NewMember> = people
                .iter()
                .map(|(name, email, role)| NewMember {
                    name: name.to_string(),
                    email: email.to_string(),
                    organisation: Some("HF".into()),
                    role: *role,
                    doctor: false,
                    language: None,
                    vara: None,
                })
                .collect();
            store
                .add_members(cid, &members, now)
                .await
                .map_err(|e| e.to_string())?;
            let starts = "2027-03-09T09:00:00Z".parse().map_err(|e| format!("{e}"))?;
            crate::council::add_meeting(
                &store,
                &cfg,
                cid,
                "ur",
                "Møte".into(),
                starts,
                starts + chrono::Duration::hours(2),
                Place {
                    room: Some("Ullevål".into()),
                    digital_link: Some("https://teams.example/m".into()),
                },
                now,
            )
            .await
            .map_err(|e| e.to_string())?;
            let daemon = Daemon::new(cfg.clone(), store, Arc::new(FixedClock(now)))
                .await
                .map_err(|e| e.to_string())?;
            let mut report = Report::default();
            daemon.tick(&mut report).await.map_err(|e| e.to_string())?;
            Ok::<Daemon, String>(daemon)
        })?;
        let (token, uid, key) = rt.block_on(async {
            let inv = daemon
                .store
                .invitations(1)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|i| i.member_email == "ola@hf.example")
                .ok_or("no invitation")?;
            let m = daemon.store.meeting(1).await.map_err(|e| e.to_string())?;
            let uid = crate::mail::ics::personal_uid(Some(&inv.token), &m.uid);
            // A proposal, so an approval key exists.
            let raw = b"From: Ola Nordmann <ola@hf.example>\r\nTo: referent@regut.example\r\nSubject: Forslag til sak: Kurs\r\nMessage-ID: <p@hf.example>\r\n\r\nForslag til sak: Kurs\r\n";
            let mut report = Report::default();
            let (id, _) = daemon
                .store
                .store_inbound(&NewInbound {
                    dedup_key: "seed-proposal".into(),
                    message_id: Some("p@hf.example".into()),
                    content_hash: "seed".into(),
                    raw,
                    source: "fuzz".into(),
                    received_at: now,
                })
                .await
                .map_err(|e| e.to_string())?;
            daemon.act(id, raw, now, &mut report, None).await.map_err(|e| e.to_string())?;
            let key = daemon
                .store
                .outbox()
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|o| o.kind == "approval")
                .and_then(|o| {
                    crate::mail::compose::token_in_message_id(&o.message_id, "regut.example")
                })
                .map(|t| t.as_str().to_string())
                .unwrap_or_default();
            Ok::<_, String>((inv.token, uid, key))
        })?;
        Ok(ActHarness {
            rt,
            daemon,
            token,
            uid,
            key,
            n: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The input with its placeholders filled in.
    pub fn fill(&self, data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        for (p, v) in [
            (&b"@@TOKEN@@"[..], self.token.as_bytes()),
            (b"@@UID@@", self.uid.as_bytes()),
            (b"@@KEY@@", self.key.as_bytes()),
            (b"@@SELF@@", b"referent@regut.example"),
        ] {
            let mut i = 0;
            while let Some(pos) = out
                .get(i..)
                .and_then(|s| s.windows(p.len()).position(|w| w == p))
            {
                let at = i + pos;
                out.splice(at..at + p.len(), v.iter().copied());
                i = at + v.len();
            }
        }
        out
    }

    /// Stores one message and acts on it, panics not caught: a panic is a finding.
    /// Errors (a refused action, a store conflict) are outcomes, not findings.
    pub fn act(&self, data: &[u8]) {
        let raw = self.fill(data);
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = self.daemon.clock.now();
        let _ = self.rt.block_on(async {
            let (id, _) = self
                .daemon
                .store
                .store_inbound(&NewInbound {
                    dedup_key: format!("fuzz-{n}"),
                    message_id: None,
                    content_hash: n.to_string(),
                    raw: &raw,
                    source: "fuzz".into(),
                    received_at: now,
                })
                .await?;
            let mut report = Report::default();
            self.daemon.act(id, &raw, now, &mut report, None).await?;
            // Scheduled work too, as the daemon would run it next.
            self.daemon.tick(&mut report).await
        });
    }
}
