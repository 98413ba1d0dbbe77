//! The unguessable per-invitation token carried in the plus-address `Reply-To` and in the
//! Message-ID of every email to a member.

use std::fmt;

use rand::RngCore;

/// 128 random bits, written as 32 lower-case hex digits. Lower case on purpose: some
/// mail systems fold the local part of an address to lower case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// A new random token from the operating system's generator; never derived from ids.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Token(hex::encode(bytes))
    }

    /// The key of a guest's calendar entry (a substitute's, an extra attendee's) for an
    /// invitation: derived from the invitation's token and the guest's address, so the
    /// entry is the guest's own and never shows the member's token (which would let
    /// the guest answer as the member). One way only: the member's token cannot be read
    /// back from it; the daemon finds it again by deriving it for the meeting's guests.
    pub fn for_guest(invitation: &Token, guest_address: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"referent guest entry\0")
            .chain_update(invitation.0.as_bytes())
            .chain_update(b"\0")
            .chain_update(guest_address.trim().to_ascii_lowercase().as_bytes())
            .finalize();
        Token(hex::encode(digest.get(..16).unwrap_or_default()))
    }

    /// Reads a token from text, accepting only the exact form `generate` writes.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase();
        (t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())).then_some(Token(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    // Tokens are credentials: never print one whole in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}…)", &self.0[..6.min(self.0.len())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_parse_back() {
        let a = Token::generate();
        let b = Token::generate();
        assert_ne!(a, b);
        assert_eq!(Token::parse(a.as_str()), Some(a.clone()));
        assert_eq!(Token::parse(&a.as_str().to_uppercase()), Some(a));
        assert_eq!(Token::parse("1234"), None);
        assert_eq!(Token::parse("zz345678901234567890123456789012"), None);
    }
}
