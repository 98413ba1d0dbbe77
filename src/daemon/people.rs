//! People who come and go, from the command line (and the daemon's own flows later):
//! a member's details corrected, a member who leaves, a member whose seat another
//! takes, a council's settings. Each commits its changes, its mail and its audit
//! lines in one transaction; the mail goes through the outbox like everything else.

use super::year::Handled;
use super::{Daemon, DaemonError, Result};
use crate::domain::{Language, Role};
use crate::store::{self, Change, Member, NewEvent, NewMember};
use crate::workflow::meeting as decide;
use crate::workflow::plan;

/// What `member update` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MemberUpdate {
    pub name: Option<String>,
    /// Already normalised.
    pub email: Option<String>,
    /// `Some(None)`: no organisation any more.
    pub organisation: Option<Option<String>>,
    pub role: Option<Role>,
    pub doctor: Option<bool>,
    pub language: Option<Language>,
    /// `Some(None)`: no vara any more. Already normalised.
    pub vara: Option<Option<String>>,
}

impl MemberUpdate {
    /// The member as they are to be.
    fn apply_to(&self, m: &Member) -> NewMember {
        NewMember {
            name: self.name.clone().unwrap_or_else(|| m.name.clone()),
            email: self.email.clone().unwrap_or_else(|| m.email.clone()),
            organisation: self
                .organisation
                .clone()
                .unwrap_or_else(|| m.organisation.clone()),
            role: self.role.unwrap_or(m.role),
            doctor: self.doctor.unwrap_or(m.doctor),
            language: self.language.or(m.language),
            vara: self.vara.clone().unwrap_or_else(|| m.vara.clone()),
        }
    }
}

impl Daemon {
    /// The council by slug, and the member with `address` on it.
    async fn seat(&self, slug: &str, address: &str) -> Result<(store::Council, Member)> {
        let c = self.council_named(slug).await?;
        let m = self
            .store
            .members(c.id)
            .await?
            .into_iter()
            .find(|m| crate::trust::same_address(&m.email, address))
            .ok_or_else(|| {
                DaemonError::Refused(format!(
                    "{address} is not a member of {slug}; see `referent member list --council {slug}`"
                ))
            })?;
        Ok((c, m))
    }

    async fn council_named(&self, slug: &str) -> Result<store::Council> {
        self.store.council_by_slug(slug).await?.ok_or_else(|| {
            DaemonError::Refused(format!("no council {slug:?}; see `referent council list`"))
        })
    }

    /// Refuses an address the council has had already: on it now, or removed (whose
    /// row stays for the history).
    async fn address_free(&self, council: &store::Council, address: &str) -> Result<()> {
        if self.store.member_row_exists(council.id, address).await? {
            return Err(DaemonError::Refused(format!(
                "{address} is (or was) a member of {} already; `referent member update` corrects a member's details",
                council.slug
            )));
        }
        Ok(())
    }

    /// `referent member update`: the member's details as given; a new address is no
    /// longer failing, and the mail of meetings ahead goes to it.
    pub async fn cli_member_update(
        &self,
        slug: &str,
        address: &str,
        update: &MemberUpdate,
        by: &str,
    ) -> Result<String> {
        let (c, m) = self.seat(slug, address).await?;
        let new = update.apply_to(&m);
        if !crate::trust::same_address(&new.email, &m.email) {
            self.address_free(&c, &new.email).await?;
        }
        self.check_person(&new)?;
        let mut h = Handled::done(format!("{} <{}> updated in {slug}", new.name, new.email));
        h.events.push(NewEvent::new(
            by,
            "member_updated",
            None,
            None,
            format!("{} <{}> in {slug}: {}", m.name, m.email, describe(&m, &new)),
        ));
        h.changes.push(Change::UpdateMember {
            id: m.id,
            member: new,
        });
        self.commit_command(h).await
    }

    /// `referent member remove`: the member gets no more mail; their invitations to
    /// meetings ahead are withdrawn, each with a cancelled calendar entry.
    pub async fn cli_member_remove(&self, slug: &str, address: &str, by: &str) -> Result<String> {
        let (c, m) = self.seat(slug, address).await?;
        let mut h = self.withdraw(&c, &m, None, by).await?;
        h.changes.push(Change::RemoveMember { id: m.id });
        h.events.push(NewEvent::new(
            by,
            "member_removed",
            None,
            None,
            format!("{} <{}> left {slug}", m.name, m.email),
        ));
        h.outcome = format!(
            "{} <{}> removed from {slug}; {} invitation(s) to meetings ahead withdrawn",
            m.name,
            m.email,
            h.mails.len()
        );
        self.commit_command(h).await
    }

    /// `referent member replace OLD --by NEW`: the new member takes the old one's seat
    /// (role, organisation, and whatever the update gives); the old one's invitations
    /// ahead are withdrawn with a cancelled entry, and the new one is summoned to each
    /// meeting whose summons has gone out at the next tick (as every member added late
    /// is), or with everyone else.
    pub async fn cli_member_replace(
        &self,
        slug: &str,
        old: &str,
        new_address: &str,
        update: &MemberUpdate,
        by: &str,
    ) -> Result<String> {
        let (c, m) = self.seat(slug, old).await?;
        if crate::trust::same_address(old, new_address) {
            return Err(DaemonError::Refused(
                "a member cannot replace themselves; `referent member update` corrects details"
                    .into(),
            ));
        }
        self.address_free(&c, new_address).await?;
        let mut new = update.apply_to(&m);
        new.email = new_address.to_string();
        // The seat, not the person: a new member is named, and their own language and
        // vara are theirs to give.
        if update.name.is_none() {
            return Err(DaemonError::Refused(
                "give the new member's name with --name".into(),
            ));
        }
        new.language = update.language;
        new.vara = update.vara.clone().flatten();
        self.check_person(&new)?;
        let mut h = self.withdraw(&c, &m, Some(&new.name), by).await?;
        let withdrawn = h.mails.len();
        h.changes.push(Change::RemoveMember { id: m.id });
        h.events.push(NewEvent::new(
            by,
            "member_replaced",
            None,
            None,
            format!(
                "{} <{}> takes the seat of {} <{}> in {slug}",
                new.name, new.email, m.name, m.email
            ),
        ));
        h.outcome = format!(
            "{} <{}> replaces {} <{}> in {slug}; {withdrawn} invitation(s) withdrawn from {}; the summons to meetings ahead goes to {} at the next run",
            new.name, new.email, m.name, m.email, m.name, new.name
        );
        h.changes.push(Change::AddMember {
            council_id: c.id,
            member: new,
        });
        self.commit_command(h).await
    }

    /// The invitations of `m` to meetings ahead, withdrawn: the changes and the mail
    /// (not committed).
    pub(super) async fn withdraw(
        &self,
        c: &store::Council,
        m: &Member,
        successor: Option<&str>,
        by: &str,
    ) -> Result<Handled> {
        let mut h = Handled::done("");
        let now = self.clock.now();
        for inv in self.store.upcoming_invitations(&m.email, now).await? {
            let meeting = self.store.meeting(inv.meeting_id).await?;
            if meeting.council_id != c.id || inv.member_id != m.id {
                continue;
            }
            let invited = decide::Invited {
                invitation_id: inv.id,
                asked: inv.role.is_asked_to_answer(),
                accepted: inv.response == Some(crate::domain::Response::Accepted),
                substitute: None,
                member: plan::Person {
                    id: m.id,
                    lang: self.lang_of(m),
                    name: m.name.clone(),
                    email: m.email.clone(),
                },
                token: inv.token.clone(),
            };
            let facts = self.meeting_facts(&meeting)?;
            let mail = crate::workflow::people::withdrawal(&facts, &invited, successor);
            h.mails.push(self.mail_out(&meeting, mail, None)?);
            // A substitute they named and who was summoned is told too, and their
            // entry cancelled: nobody comes to a seat that is gone.
            if let Some((name, email)) = inv
                .substitute
                .as_ref()
                .and_then(|s| s.email.clone().map(|e| (s.name.clone(), e)))
            {
                if self
                    .store
                    .effect_exists(&format!("substitute:{}:{email}", inv.id))
                    .await?
                {
                    h.mails.push(
                        self.substitute_withdrawal(&meeting, &inv, (&name, &email), true, None)
                            .await?,
                    );
                }
            }
            h.changes.push(Change::WithdrawInvitation { id: inv.id });
            h.events.push(NewEvent::new(
                by,
                "invitation_withdrawn",
                Some(meeting.id),
                None,
                format!(
                    "{} <{}>: invitation to meeting {} withdrawn",
                    m.name, m.email, meeting.id
                ),
            ));
        }
        Ok(h)
    }

    /// `referent council update`: its name, and whether a declining member's vara is
    /// invited by itself.
    pub async fn cli_council_update(
        &self,
        slug: &str,
        name: Option<&str>,
        auto_vara: Option<bool>,
        by: &str,
    ) -> Result<String> {
        let c = self.council_named(slug).await?;
        let was_auto = self.store.auto_vara(c.id).await?;
        let name = name.map(str::trim).unwrap_or(&c.name).to_string();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(DaemonError::Refused(
                "a council's name cannot be empty or hold a line break".into(),
            ));
        }
        let auto_vara = auto_vara.unwrap_or(was_auto);
        let mut h = Handled::done(format!(
            "{slug} updated: {name}; a declining member's vara is {}",
            if auto_vara {
                "invited automatically"
            } else {
                "not invited automatically"
            }
        ));
        h.events.push(NewEvent::new(
            by,
            "council_updated",
            None,
            None,
            format!(
                "{slug}: name {:?} -> {name:?}, auto_vara {was_auto} -> {auto_vara}",
                c.name
            ),
        ));
        h.changes.push(Change::UpdateCouncil {
            id: c.id,
            name,
            auto_vara,
        });
        self.commit_command(h).await
    }
}

impl Daemon {
    /// A member's address and vara: never the secretariat's own, nor themselves.
    pub(super) fn check_person(&self, m: &NewMember) -> Result<()> {
        let own = &self.cfg.secretariat;
        own.refuse_own(&m.email, "a member")
            .map_err(DaemonError::Refused)?;
        if let Some(v) = &m.vara {
            own.refuse_own(v, "a vara").map_err(DaemonError::Refused)?;
        }
        check_vara(m)
    }
}

pub(super) fn check_vara(m: &NewMember) -> Result<()> {
    match &m.vara {
        Some(v) if crate::trust::same_address(v, &m.email) => Err(DaemonError::Refused(format!(
            "{} cannot be their own vara",
            m.email
        ))),
        _ => Ok(()),
    }
}

/// What changed, for the audit trail.
pub(super) fn describe(old: &Member, new: &NewMember) -> String {
    let mut out = Vec::new();
    if old.name != new.name {
        out.push(format!("name {:?} -> {:?}", old.name, new.name));
    }
    if old.email != new.email {
        out.push(format!("address {} -> {}", old.email, new.email));
    }
    if old.organisation != new.organisation {
        out.push(format!(
            "organisation {:?} -> {:?}",
            old.organisation, new.organisation
        ));
    }
    if old.role != new.role {
        out.push(format!(
            "role {} -> {}",
            old.role.as_str(),
            new.role.as_str()
        ));
    }
    if old.doctor != new.doctor {
        out.push(format!("doctor {} -> {}", old.doctor, new.doctor));
    }
    if old.language != new.language {
        out.push(format!("language {:?} -> {:?}", old.language, new.language));
    }
    if old.vara != new.vara {
        out.push(format!("vara {:?} -> {:?}", old.vara, new.vara));
    }
    if out.is_empty() {
        "nothing changed".into()
    } else {
        out.join(", ")
    }
}
