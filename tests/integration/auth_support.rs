//! Helpers for the sender-authentication stack `scripts/test` runs beside Postfix: rspamd
//! verifying DKIM and DMARC and stamping `Authentication-Results` (RFC 8601) on mail
//! through the main SMTP listener, a second listener that DKIM-signs mail From:
//! signed.test, and a DNS server with the test domains' keys and policies.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The test domain with a DKIM key (selector `sel`) and `_dmarc` TXT `v=DMARC1; p=reject`.
pub const SIGNED_DOMAIN: &str = "signed.test";
/// A test domain with neither a DKIM key nor a DMARC record.
pub const NODMARC_DOMAIN: &str = "nodmarc.test";

/// What `scripts/test` exports about the authentication stack.
#[derive(Debug, Clone)]
pub struct AuthStack {
    /// The main listener: mail through it gets rspamd's verdicts.
    pub smtp_port: u16,
    /// Mail through this one is DKIM-signed for signed.test, then relayed to `smtp_port`.
    pub signing_port: u16,
    /// The authserv-id of the Authentication-Results the main listener writes.
    pub authserv_id: String,
    /// Dovecot's mail: `ROOT/<domain>/<local part>/Maildir`.
    pub mail_root: PathBuf,
}

/// The stack, or `None` (after saying so) when the tests run without `scripts/test`.
/// Under `scripts/test` a missing variable is an error.
pub fn auth_stack() -> Option<AuthStack> {
    let get = |k: &str| std::env::var(k).ok();
    match (
        get("REFERENT_TEST_SMTP_PORT"),
        get("REFERENT_TEST_SIGNING_SMTP_PORT"),
        get("REFERENT_TEST_AUTHSERV_ID"),
        get("REFERENT_TEST_MAIL_ROOT"),
    ) {
        (Some(smtp), Some(signing), Some(id), Some(root)) => Some(AuthStack {
            smtp_port: smtp.parse().expect("REFERENT_TEST_SMTP_PORT"),
            signing_port: signing.parse().expect("REFERENT_TEST_SIGNING_SMTP_PORT"),
            authserv_id: id,
            mail_root: PathBuf::from(root),
        }),
        _ => {
            assert!(
                std::env::var("REFERENT_TEST_SERVERS").is_err(),
                "scripts/test must set REFERENT_TEST_SMTP_PORT, _SIGNING_SMTP_PORT, \
                 _AUTHSERV_ID and _MAIL_ROOT"
            );
            eprintln!("SKIPPED: no test servers (DKIM/DMARC stack); run scripts/test");
            None
        }
    }
}

/// Where Dovecot delivers mail for `address`.
pub fn maildir(root: &Path, address: &str) -> PathBuf {
    let (local, domain) = address.split_once('@').expect("an address");
    root.join(domain).join(local).join("Maildir")
}

/// The messages delivered to `address` (new and cur), read from Dovecot's files: waits
/// until there are at least `n`, panics after `timeout`.
pub fn wait_for_delivered(root: &Path, address: &str, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let dir = maildir(root, address);
    let deadline = Instant::now() + timeout;
    loop {
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        if files.len() >= n {
            // Maildir names start with the delivery time: oldest first.
            files.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
            return files
                .iter()
                .map(|p| std::fs::read(p).expect("read delivered mail"))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n} message(s) in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every header of a raw message as (name, unfolded value), top first.
pub fn headers(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.is_empty() {
            break;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// The header block of a raw message, as it was written (folded), for printing.
pub fn header_block(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let end = text
        .find("\r\n\r\n")
        .or_else(|| text.find("\n\n"))
        .unwrap_or(text.len());
    text[..end].to_string()
}

/// Every `Authentication-Results` value, top (most recent) first.
pub fn authentication_results(raw: &[u8]) -> Vec<String> {
    headers(raw)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Authentication-Results"))
        .map(|(_, v)| v)
        .collect()
}

/// The authserv-id an `Authentication-Results` value starts with.
pub fn authserv_id(value: &str) -> &str {
    value
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("")
}

/// The result of `method` (`dkim`, `dmarc`, `spf`) in an `Authentication-Results`
/// value: `Some("pass")` for `dmarc=pass`; the first one when there are several.
pub fn verdict<'a>(value: &'a str, method: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|part| {
        let part = part.trim();
        let (m, rest) = part.split_once('=')?;
        if !m.trim().eq_ignore_ascii_case(method) {
            return None;
        }
        rest.split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .filter(|r| !r.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_from_folded_authentication_results() {
        let raw = b"Received: x\r\nAuthentication-Results: mx.example;\r\n\tdkim=pass header.d=a.test;\r\n\tdmarc=fail reason=\"x\" (policy=reject)\r\nFrom: a@a.test\r\n\r\nAuthentication-Results: body; dmarc=pass\r\n";
        let ar = authentication_results(raw);
        assert_eq!(ar.len(), 1);
        assert_eq!(authserv_id(&ar[0]), "mx.example");
        assert_eq!(verdict(&ar[0], "dkim"), Some("pass"));
        assert_eq!(verdict(&ar[0], "dmarc"), Some("fail"));
        assert_eq!(verdict(&ar[0], "spf"), None);
    }
}
