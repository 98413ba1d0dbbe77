//! `referent export --person ADDRESS` and `referent erase --person ADDRESS`: everything
//! stored about one person, shown or replaced by a placeholder.

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};

use crate::domain::normalize_address;
use crate::store::{Store, ERASED_DOMAIN};

/// Prints everything stored about `person` as JSON.
pub async fn export_cmd(store: &Store, person: &str, now: DateTime<Utc>) -> Result<()> {
    let address = normalize_address(person)?;
    let v = store.export_person(&address, now).await?;
    outln!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// Replaces `person` by a placeholder everywhere, and prints what changed. Refuses a
/// current member unless `force`: erasing someone still on a roster takes their seat's
/// address away.
pub async fn erase_cmd(
    store: &Store,
    person: &str,
    force: bool,
    json: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let address = normalize_address(person)?;
    if address.ends_with(&format!("@{ERASED_DOMAIN}")) {
        bail!("{address} is already an erased person's placeholder");
    }
    if !force && store.is_member_anywhere(&address).await? {
        bail!(
            "{address} is still a member of a council; remove them first, or give --force to erase them anyway (their seat stays, under a placeholder, marked failing)"
        );
    }
    // Random, so the placeholder says nothing about the address it replaces; one for
    // every table, so the person's rows still belong together.
    let placeholder = format!("erased-{:016x}@{ERASED_DOMAIN}", rand::random::<u64>());
    let erasure = store
        .erase_person(&address, &placeholder, "command line", now)
        .await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&erasure)?);
        return Ok(());
    }
    if erasure.changed.is_empty() {
        outln!("nothing stored about {address}: nothing changed");
        return Ok(());
    }
    outln!("{address} is now {placeholder}; changed:");
    for (what, n) in &erasure.changed {
        outln!("  {what:<28} {n} row(s)");
    }
    outln!(
        "{} row(s) in all; the audit log has the erasure",
        erasure.total()
    );
    Ok(())
}
