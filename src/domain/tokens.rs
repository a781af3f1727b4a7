//! Secrets and tokens: session ids, CSRF tokens, reset tokens (api.md §2.1, §2.4, §11).
//!
//! Only SHA-256 digests of session ids and reset tokens are stored, so a leaked database does
//! not hand out live sessions or reset links.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Bytes of randomness in every secret this module makes (256 bits).
pub const SECRET_BYTES: usize = 32;
/// Length of [`new_secret`]'s output: 32 bytes in unpadded base64url.
pub const SECRET_CHARS: usize = 43;

/// Keeps pre-login CSRF MACs apart from anything else the server key might ever sign.
const PRELOGIN_CSRF_LABEL: &[u8] = b"minimost-prelogin-csrf\0";

/// A fresh 256-bit secret, base64url without padding (43 characters): session ids, CSRF
/// tokens, reset tokens.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    // ThreadRng is a CSPRNG seeded from the OS.
    rand::rng().fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Lowercase hex SHA-256 of the UTF-8 bytes of `s`: the stored form of session ids and reset
/// tokens.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The CSRF token bound to a pre-login cookie (§2.1): HMAC-SHA256 of the cookie id under the
/// server key, base64url without padding. Deriving it means nothing is stored for visitors
/// who are not logged in. `server_key` should be at least 32 random bytes.
pub fn csrf_for_prelogin(server_key: &[u8], cookie_id: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(server_key) {
        Ok(mut mac) => {
            mac.update(PRELOGIN_CSRF_LABEL);
            mac.update(cookie_id.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length, so this cannot happen; should it ever, a random
        // value makes the form check fail closed rather than panic.
        Err(_) => new_secret(),
    }
}

/// Compares two tokens in time that does not depend on where they differ. (Only the length
/// can leak, and every token here has a fixed, public length.)
pub fn tokens_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_43_url_safe_chars_and_distinct() {
        let a = new_secret();
        let b = new_secret();
        assert_eq!(a.len(), SECRET_CHARS);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).map(|v| v.len()).ok(), Some(32));
        assert_ne!(a, b);
    }

    #[test]
    fn sha256_hex_matches_reference() {
        // Reference values from Python's hashlib.
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex("héllo"),
            "3c48591d8d098a4538f5e013dfcf406e948eac4d3277b10bf614e295d6068179"
        );
    }

    #[test]
    fn prelogin_csrf_is_a_keyed_mac_of_the_cookie() {
        let key = [b'k'; 32];
        // Python: hmac.new(b"k"*32, b"minimost-prelogin-csrf\0" + b"cookie-id-123", sha256).
        assert_eq!(
            csrf_for_prelogin(&key, "cookie-id-123"),
            "93Sf9nzncU5Ot19xWVsYs4xw-EzxheEuua9LlzmHC3E"
        );
        assert_eq!(
            csrf_for_prelogin(&key, "cookie-id-123"),
            csrf_for_prelogin(&key, "cookie-id-123")
        );
        assert_ne!(
            csrf_for_prelogin(&key, "cookie-id-123"),
            csrf_for_prelogin(&key, "cookie-id-124")
        );
        assert_ne!(
            csrf_for_prelogin(&key, "cookie-id-123"),
            csrf_for_prelogin(&[b'j'; 32], "cookie-id-123")
        );
    }

    #[test]
    fn tokens_equal_needs_exact_match() {
        assert!(tokens_equal("abc", "abc"));
        assert!(!tokens_equal("abc", "abd"));
        assert!(!tokens_equal("abc", "abcd"));
        assert!(!tokens_equal("", "a"));
        assert!(tokens_equal("", ""));
    }
}
