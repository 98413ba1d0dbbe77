//! Who sent a message, and how we know. Pure: the raw header block and the
//! configuration in, a verdict with its reasons out.
//!
//! `From:` is written by the sender, so it proves nothing by itself. A sender is
//! *authenticated* when
//! - the receiving server says so: the topmost `Authentication-Results` header(s)
//!   (RFC 8601) carrying the configured authserv-id report `dmarc=pass` for the From
//!   domain, or `dkim=pass` for a domain aligned with it; or
//! - the message replies with a key that referent sent to exactly the From address
//!   (checked by the caller with [`SenderCheck::key_reply`]).
//!
//! Several From addresses, a `Sender:` other than `From:`, or `dmarc=fail` from the
//! trusted server mean never authenticated, whatever else the message carries.

use serde::Serialize;

use crate::domain::normalize_address;

/// The authserv-id that stands for Exchange Online, which writes its
/// `Authentication-Results` without one (`Authentication-Results: spf=pass …;
/// dkim=pass …; dmarc=pass action=none header.from=…`).
pub const MICROSOFT365: &str = "microsoft365";

/// What the header block says about the sender.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SenderCheck {
    /// The one From address, ASCII-lower-cased; `None` when there is not exactly one.
    pub from: Option<String>,
    /// The trusted server's verdict, when it authenticates `from` ("dmarc=pass
    /// header.from=ous-hf.no (mx.google.com)").
    pub server: Option<String>,
    /// Why this message can never count as authenticated (several From, a Sender
    /// that differs, dmarc=fail). Empty when nothing stands against it.
    pub blockers: Vec<String>,
    /// What was looked at and not believed, for the coordinators and the log.
    pub notes: Vec<String>,
}

/// How a sender is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "how", content = "detail")]
pub enum Trust {
    /// The receiving server's DMARC or aligned DKIM verdict.
    Server(String),
    /// A reply with a key that was sent to this very address.
    Key,
    /// A coordinator (or the person named) confirmed it by a one-word reply, or on
    /// the command line.
    Confirmed(String),
    /// Nothing authenticates the sender.
    Unverified(String),
}

impl Trust {
    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Trust::Unverified(_))
    }

    /// A short phrase for logs and audit lines.
    pub fn describe(&self) -> String {
        match self {
            Trust::Server(s) => format!("authenticated by the receiving server ({s})"),
            Trust::Key => "authenticated by a reply key sent to that address".into(),
            Trust::Confirmed(by) => format!("confirmed by {by}"),
            Trust::Unverified(why) => format!("not authenticated ({why})"),
        }
    }
}

impl SenderCheck {
    /// The trust of a message whose From is `from`, given the address the key it
    /// carries was sent to (if it carries one of ours).
    pub fn trust(&self, key_owner: Option<&str>) -> Trust {
        if let Some(b) = self.blockers.first() {
            return Trust::Unverified(b.clone());
        }
        if let Some(s) = &self.server {
            return Trust::Server(s.clone());
        }
        if self.key_reply(key_owner) {
            return Trust::Key;
        }
        Trust::Unverified(match key_owner {
            Some(owner) => format!("the key in it was sent to {owner}, not to the sender"),
            None => match self.notes.first() {
                Some(n) => n.clone(),
                None => "no server verdict and no reply key".into(),
            },
        })
    }

    /// Whether the message is a reply with a key sent to exactly its From address.
    pub fn key_reply(&self, key_owner: Option<&str>) -> bool {
        match (&self.from, key_owner) {
            (Some(from), Some(owner)) => self.blockers.is_empty() && same_address(from, owner),
            _ => false,
        }
    }
}

/// Addresses compare after ASCII-only lower-casing: Unicode case folding would make
/// U+212A KELVIN SIGN equal to `k` and let a look-alike address pass.
pub fn same_address(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// One header field, unfolded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    value: String,
}

/// The header fields of a message in order, unfolded (RFC 5322 §2.2.3). At most
/// 2,000 fields and 256 KiB are read: a header block larger than that is hostile.
fn fields(raw: &[u8]) -> Vec<Field> {
    const MAX_HEAD: usize = 256 * 1024;
    let head = raw.get(..raw.len().min(MAX_HEAD)).unwrap_or(raw);
    let text = String::from_utf8_lossy(head);
    let mut out: Vec<Field> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.value.push(' ');
                last.value.push_str(line.trim());
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            // Not a header line (an mbox "From " line, garbage): skip it.
            continue;
        };
        if out.len() >= 2000 {
            break;
        }
        out.push(Field {
            name: name.trim().to_ascii_lowercase(),
            value: value.trim().to_string(),
        });
    }
    out
}

/// Removes RFC 5322 comments (nested parentheses), which may hold anything,
/// `;` and `=` included. Quoted strings are kept as they are.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            if depth == 0 {
                out.push(c);
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// One `method=result` statement of an `Authentication-Results` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    pub method: String,
    pub result: String,
    /// `ptype.property=value` pairs, lower-cased names ("header.from", "header.d").
    pub props: Vec<(String, String)>,
}

impl MethodResult {
    fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An `Authentication-Results` header read: its authserv-id (empty when the header
/// has none, as Exchange Online writes it) and its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    pub authserv_id: String,
    pub results: Vec<MethodResult>,
}

/// Reads one `Authentication-Results` value (RFC 8601 §2.2).
pub fn parse_auth_results(value: &str) -> AuthResults {
    let clean = strip_comments(value);
    let mut parts = clean.split(';').map(str::trim);
    let first = parts.next().unwrap_or("");
    let mut results = Vec::new();
    let authserv_id = if first.contains('=') {
        // No authserv-id: the first part is already a result.
        if let Some(r) = parse_result(first) {
            results.push(r);
        }
        String::new()
    } else {
        first
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    for part in parts {
        if let Some(r) = parse_result(part) {
            results.push(r);
        }
    }
    AuthResults {
        authserv_id,
        results,
    }
}

fn parse_result(part: &str) -> Option<MethodResult> {
    let mut words = part.split_whitespace();
    let head = words.next()?;
    let (method, result) = head.split_once('=')?;
    let method = method
        .split('/')
        .next()
        .unwrap_or(method)
        .to_ascii_lowercase();
    if method.is_empty() || method == "none" {
        return None;
    }
    let mut props = Vec::new();
    for w in words {
        if let Some((n, v)) = w.split_once('=') {
            props.push((
                n.to_ascii_lowercase(),
                v.trim_matches('"').to_ascii_lowercase(),
            ));
        }
    }
    Some(MethodResult {
        method,
        result: result.to_ascii_lowercase(),
        props,
    })
}

/// The domain of an address (`ola@ous-hf.no` → `ous-hf.no`), lower-cased.
fn domain_of(address: &str) -> Option<String> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// DKIM alignment with the From domain (RFC 7489 §3.1.1), relaxed the safe way: the
/// signing domain equals the From domain or one is a subdomain of the other. Sibling
/// subdomains, which relaxed alignment would also accept, are not: that needs the
/// public suffix list, and refusing them only asks for a confirmation.
fn aligned(signing: &str, from: &str) -> bool {
    let s = signing.trim_end_matches('.');
    let f = from.trim_end_matches('.');
    s == f
        || (s.contains('.') && f.ends_with(&format!(".{s}")))
        || (f.contains('.') && s.ends_with(&format!(".{f}")))
}

/// The From addresses of a header block, however many From fields it has.
fn from_addresses(fields: &[Field], raw: &[u8]) -> (usize, Vec<String>) {
    let from_fields = fields.iter().filter(|f| f.name == "from").count();
    // The address list itself is read by the MIME parser, which knows groups, quoted
    // names and encoded words; it has had fuzzer-found panics, so it is contained.
    let head_end = header_end(raw);
    let head = raw.get(..head_end).unwrap_or(raw);
    let addresses = std::panic::catch_unwind(|| {
        let msg = mail_parser::MessageParser::default().parse_headers(head)?;
        let list = msg.from()?;
        Some(
            list.iter()
                .map(|a| a.address().unwrap_or("").to_string())
                .collect::<Vec<_>>(),
        )
    })
    .ok()
    .flatten()
    .unwrap_or_default();
    (from_fields, addresses)
}

fn header_end(raw: &[u8]) -> usize {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(raw.len())
}

fn sender_address(fields: &[Field]) -> Option<String> {
    let f = fields.iter().find(|f| f.name == "sender")?;
    let v = strip_comments(&f.value);
    let inner = match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => v.get(a + 1..b).unwrap_or("").to_string(),
        _ => v.trim().to_string(),
    };
    Some(inner.trim().to_ascii_lowercase())
}

/// Checks the sender of a raw message against the trusted server's verdict.
pub fn check(raw: &[u8], trusted_authserv_id: Option<&str>) -> SenderCheck {
    let fields = fields(raw);
    let mut c = SenderCheck::default();
    let (from_fields, addresses) = from_addresses(&fields, raw);
    if from_fields > 1 || addresses.len() > 1 {
        c.blockers
            .push("the message names several senders (From:)".into());
    }
    let from = match addresses.as_slice() {
        [one] => normalize_address(one).ok(),
        _ => None,
    };
    if from.is_none() && c.blockers.is_empty() {
        c.blockers
            .push("the sender's address (From:) cannot be read".into());
    }
    if let (Some(sender), Some(f)) = (sender_address(&fields), &from) {
        if !sender.is_empty() && !same_address(&sender, f) {
            c.blockers.push(format!(
                "the message was sent by {sender} on behalf of {f} (Sender: differs from From:)"
            ));
        }
    }
    c.from = from;
    let Some(trusted) = trusted_authserv_id else {
        c.notes
            .push("no trusted authserv-id is configured, so no server verdict is read".into());
        return c;
    };
    let wanted = if trusted.eq_ignore_ascii_case(MICROSOFT365) {
        ""
    } else {
        trusted
    };
    // The topmost header(s) with our id: the receiving server adds its own above
    // everything the message brought with it. Only the first run of them counts, up
    // to the next Received: line; any further down arrived inside the message.
    let mut verdicts = Vec::new();
    let mut started = false;
    for f in &fields {
        if started && f.name == "received" {
            break;
        }
        if f.name != "authentication-results" {
            continue;
        }
        let ar = parse_auth_results(&f.value);
        if ar.authserv_id.eq_ignore_ascii_case(wanted) {
            started = true;
            verdicts.push(ar);
        } else if started {
            // Another server's header inside our run: not ours, not believed.
            continue;
        }
    }
    if verdicts.is_empty() {
        c.notes.push(format!(
            "no Authentication-Results from the trusted server {trusted}"
        ));
        return c;
    }
    let Some(from) = c.from.clone() else {
        return c;
    };
    let Some(from_domain) = domain_of(&from) else {
        return c;
    };
    let mut pass = None;
    let mut dmarc_pass = None;
    // The run may hold several headers (OpenDKIM and OpenDMARC write one each), but
    // they must not disagree: a pass beside a none or a fail for the same thing is a
    // header the message brought along, and nothing is believed.
    let mut dmarc_other = false;
    let mut dkim_other = false;
    for ar in &verdicts {
        for r in &ar.results {
            match r.method.as_str() {
                "dmarc" => {
                    let about = r.prop("header.from").map(str::to_string);
                    let ours = about.as_deref().is_none_or(|d| d == from_domain);
                    if !ours {
                        c.notes.push(format!(
                            "dmarc={} is about {}, not {from_domain}",
                            r.result,
                            about.unwrap_or_default()
                        ));
                        continue;
                    }
                    match r.result.as_str() {
                        "pass" => {
                            dmarc_pass = Some(format!(
                                "dmarc=pass header.from={from_domain} from {trusted}"
                            ));
                        }
                        "fail" => c.blockers.push(format!(
                            "the receiving server {trusted} says dmarc=fail for {from_domain}"
                        )),
                        other => {
                            dmarc_other = true;
                            c.notes.push(format!("dmarc={other} for {from_domain}"))
                        }
                    }
                }
                "dkim" if r.result != "pass" => {
                    let d = r
                        .prop("header.d")
                        .map(str::to_string)
                        .or_else(|| r.prop("header.i").and_then(domain_of));
                    if d.as_deref().is_some_and(|d| aligned(d, &from_domain)) {
                        dkim_other = true;
                    }
                }
                "dkim" if r.result == "pass" => {
                    let d = r
                        .prop("header.d")
                        .map(str::to_string)
                        .or_else(|| r.prop("header.i").and_then(domain_of));
                    match d {
                        Some(d) if aligned(&d, &from_domain) => {
                            pass.get_or_insert(format!("dkim=pass header.d={d} from {trusted}"));
                        }
                        Some(d) => c.notes.push(format!(
                            "dkim=pass for {d}, which is not the sender's domain {from_domain}"
                        )),
                        None => c.notes.push("dkim=pass without the signing domain".into()),
                    }
                }
                _ => {}
            }
        }
    }
    if dmarc_pass.is_some() && dmarc_other {
        c.notes.push(format!(
            "the trusted server's headers disagree about DMARC for {from_domain}"
        ));
        dmarc_pass = None;
    }
    if pass.is_some() && dkim_other {
        c.notes.push(format!(
            "the trusted server's headers disagree about DKIM for {from_domain}"
        ));
        pass = None;
    }
    if dmarc_other && dmarc_pass.is_none() {
        // A "dmarc=none" (no policy) leaves DKIM to decide; a pass in another header
        // of the run beside it is not believed.
        if verdicts.len() > 1 {
            pass = None;
        }
    }
    if c.blockers.is_empty() {
        c.server = dmarc_pass.or(pass);
    }
    if c.server.is_none() && c.blockers.is_empty() && c.notes.is_empty() {
        c.notes.push(format!(
            "the trusted server {trusted} does not vouch for {from_domain}"
        ));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(headers: &str) -> Vec<u8> {
        format!("{headers}\r\nSubject: x\r\n\r\nJa\r\n").into_bytes()
    }

    #[test]
    fn google_workspace_dmarc_pass() {
        let raw = msg("Authentication-Results: mx.google.com;\r\n       dkim=pass header.i=@ous-hf.no header.s=s1 header.b=abc;\r\n       spf=pass (google.com: domain of kari@ous-hf.no designates 1.2.3.4 as permitted sender) smtp.mailfrom=kari@ous-hf.no;\r\n       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=ous-hf.no\r\nReceived: by mx.google.com\r\nFrom: Kari <Kari@OUS-HF.no>");
        let c = check(&raw, Some("mx.google.com"));
        assert_eq!(c.from.as_deref(), Some("kari@ous-hf.no"));
        assert!(c.server.as_deref().unwrap().starts_with("dmarc=pass"));
        assert!(c.trust(None).is_authenticated());
    }

    #[test]
    fn microsoft365_without_an_id() {
        let raw = msg("Authentication-Results: spf=pass (sender IP is 40.107.1.2)\r\n smtp.mailfrom=ahus.no; dkim=pass (signature was verified)\r\n header.d=ahus.no;dmarc=pass action=none header.from=ahus.no;compauth=pass\r\n reason=100\r\nFrom: per@ahus.no");
        assert!(check(&raw, Some("microsoft365")).server.is_some());
        assert!(check(&raw, Some("mx.google.com")).server.is_none());
    }

    #[test]
    fn a_forged_verdict_below_the_real_one_is_ignored() {
        let raw = msg("Authentication-Results: mx.regut.no; dmarc=fail header.from=ous-hf.no\r\nReceived: from evil\r\nAuthentication-Results: mx.regut.no; dmarc=pass header.from=ous-hf.no\r\nFrom: kari@ous-hf.no");
        let c = check(&raw, Some("mx.regut.no"));
        assert!(c.server.is_none());
        assert!(!c.blockers.is_empty());
    }

    #[test]
    fn another_servers_verdict_is_not_ours() {
        // The receiving server wrote nothing: whatever is topmost is believed, which
        // is why the server must remove headers with its own id (RFC 8601 §5).
        let raw = msg("Received: from a by mx.regut.no\r\nAuthentication-Results: other.example; dmarc=pass header.from=ous-hf.no\r\nFrom: kari@ous-hf.no");
        assert!(check(&raw, Some("mx.regut.no")).server.is_none());
    }

    #[test]
    fn headers_of_one_run_must_agree() {
        // The server's own verdict, then one the message brought, with no Received:
        // between them.
        let raw = msg("Authentication-Results: mx.regut.no; dkim=pass header.d=evil.example; dmarc=none header.from=sus.example\r\nAuthentication-Results: mx.regut.no; dmarc=pass header.from=sus.example\r\nFrom: siri@sus.example");
        assert!(check(&raw, Some("mx.regut.no")).server.is_none());
        let raw = msg("Authentication-Results: mx.regut.no; dkim=none header.d=sus.example\r\nAuthentication-Results: mx.regut.no; dkim=pass header.d=sus.example\r\nFrom: siri@sus.example");
        assert!(check(&raw, Some("mx.regut.no")).server.is_none());
        // OpenDKIM and OpenDMARC, one header each, agreeing.
        let raw = msg("Authentication-Results: mx.regut.no; dmarc=pass header.from=sus.example\r\nAuthentication-Results: mx.regut.no; dkim=pass header.d=sus.example\r\nFrom: siri@sus.example");
        assert!(check(&raw, Some("mx.regut.no")).server.is_some());
    }

    #[test]
    fn dkim_must_align() {
        let raw = msg("Authentication-Results: mx.regut.no; dkim=pass header.d=mailchimp.com; dmarc=none header.from=ous-hf.no\r\nFrom: kari@ous-hf.no");
        assert!(check(&raw, Some("mx.regut.no")).server.is_none());
        let raw = msg("Authentication-Results: mx.regut.no; dkim=pass header.d=ous-hf.no\r\nFrom: kari@mail.ous-hf.no");
        assert!(check(&raw, Some("mx.regut.no")).server.is_some());
        assert!(!aligned("no", "ous-hf.no"));
    }

    #[test]
    fn blockers() {
        let raw = msg("Authentication-Results: mx.regut.no; dmarc=pass header.from=ous-hf.no\r\nFrom: kari@ous-hf.no, ola@ous-hf.no");
        assert!(!check(&raw, Some("mx.regut.no"))
            .trust(None)
            .is_authenticated());
        let raw = msg("Authentication-Results: mx.regut.no; dmarc=pass header.from=ous-hf.no\r\nFrom: kari@ous-hf.no\r\nFrom: ola@ous-hf.no");
        assert!(!check(&raw, Some("mx.regut.no"))
            .trust(None)
            .is_authenticated());
        let raw = msg("From: kari@ous-hf.no\r\nSender: list@lists.example");
        let c = check(&raw, None);
        assert!(!c.trust(Some("kari@ous-hf.no")).is_authenticated());
    }

    #[test]
    fn keys_belong_to_one_address() {
        let raw = msg("From: Kari <kari@ous-hf.no>");
        let c = check(&raw, None);
        assert_eq!(c.trust(Some("kari@ous-hf.no")), Trust::Key);
        assert!(!c.trust(Some("ola@ous-hf.no")).is_authenticated());
        // U+212A KELVIN SIGN is not `k`.
        let raw = msg("From: \u{212a}ari <\u{212a}ari@ous-hf.no>");
        assert!(!check(&raw, None)
            .trust(Some("kari@ous-hf.no"))
            .is_authenticated());
    }

    #[test]
    fn comments_may_hold_anything() {
        let ar = parse_auth_results(
            "mx.x.no 1; dmarc=pass (a; b=c (nested)) header.from=x.no; dkim=fail",
        );
        assert_eq!(ar.authserv_id, "mx.x.no");
        assert_eq!(ar.results.len(), 2);
        assert_eq!(ar.results[0].prop("header.from"), Some("x.no"));
    }
}
