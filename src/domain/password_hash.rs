//! Password hashing and verification (api.md §6.1.6).
//!
//! New hashes are PBKDF2-HMAC-SHA256 in PHC form:
//! `$pbkdf2-sha256$i=600000,l=32$<salt>$<hash>` (16-byte random salt, unpadded standard
//! base64). Hashes imported from the Python MiniMost keep their Werkzeug form and are verified
//! as they are: `pbkdf2:sha256:<n>$<salt>$<hex>` and `scrypt:<n>:<r>:<p>$<salt>$<hex>`. The
//! login route re-hashes them after the next successful login ([`needs_rehash`]).
//!
//! Stored strings come from the database, which an import may have filled, so they are treated
//! as untrusted input: anything malformed verifies as `false`, and the cost parameters are
//! capped so that a hostile row cannot make one login burn minutes of CPU or gigabytes of RAM:
//!
//! | format | cap |
//! |---|---|
//! | PBKDF2 (PHC and Werkzeug) | iterations ≤ [`MAX_PBKDF2_ITERATIONS`] (≈ 8× the current cost) |
//! | all | derived key 16–64 bytes, salt ≤ 1024 bytes |
//! | scrypt | `n` a power of two, `n·r` ≤ 2²⁰ (128 MiB of working memory), `n·r·p` ≤ 2²¹, `p` ≤ 16 |
//!
//! Werkzeug's own default (`scrypt:32768:8:1`) and anything the Python MiniMost ever wrote sit
//! well inside these bounds.

use std::sync::OnceLock;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use rand::Rng as _;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// PBKDF2 iterations for new hashes (the OWASP 2023 figure for PBKDF2-HMAC-SHA256).
pub const ITERATIONS: u32 = 600_000;
/// Highest iteration count [`verify`] will run for a stored PBKDF2 hash.
pub const MAX_PBKDF2_ITERATIONS: u32 = 5_000_000;
const SALT_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// A derived key shorter than this would make a stored hash nearly meaningless (an empty one
/// would match every password), so such rows are refused.
const MIN_KEY_LEN: usize = 16;
const MAX_KEY_LEN: usize = 64;
const MAX_SALT_LEN: usize = 1024;
const MAX_SCRYPT_NR: u64 = 1 << 20;
const MAX_SCRYPT_NRP: u64 = 1 << 21;
const MAX_SCRYPT_P: u32 = 16;

const PHC_PREFIX: &str = "$pbkdf2-sha256$";

/// Standard alphabet; writes no padding, and reads with or without it (hand-edited or
/// third-party PHC strings sometimes keep the `=`).
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Hashes `password` with a fresh random salt, in PHC form at [`ITERATIONS`].
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; SALT_LEN];
    // ThreadRng is a CSPRNG seeded from the OS.
    rand::rng().fill(&mut salt[..]);
    let mut key = [0u8; KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, ITERATIONS, &mut key);
    format!(
        "{PHC_PREFIX}i={ITERATIONS},l={KEY_LEN}${}${}",
        B64.encode(salt),
        B64.encode(key)
    )
}

/// Whether `password` matches `stored` (PHC, Werkzeug PBKDF2 or Werkzeug scrypt form).
/// Malformed or out-of-bounds stored strings give `false`.
pub fn verify(password: &str, stored: &str) -> bool {
    let Some(parsed) = Stored::parse(stored) else {
        return false;
    };
    let expected = parsed.key();
    let mut derived = vec![0u8; expected.len()];
    match &parsed {
        Stored::Phc {
            iterations, salt, ..
        } => pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, *iterations, &mut derived),
        Stored::WerkzeugPbkdf2 {
            iterations, salt, ..
        } => pbkdf2::pbkdf2_hmac::<Sha256>(
            password.as_bytes(),
            salt.as_bytes(),
            *iterations,
            &mut derived,
        ),
        Stored::WerkzeugScrypt {
            log_n, r, p, salt, ..
        } => {
            let Ok(params) = scrypt::Params::new(*log_n, *r, *p, expected.len()) else {
                return false;
            };
            if scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut derived).is_err()
            {
                return false;
            }
        }
    }
    derived.ct_eq(expected).into()
}

/// Whether a stored hash should be replaced after a successful login: any legacy (Werkzeug)
/// form, a PHC hash weaker than what [`hash`] writes now, or something unreadable.
pub fn needs_rehash(stored: &str) -> bool {
    match Stored::parse(stored) {
        Some(Stored::Phc {
            iterations, key, ..
        }) => iterations < ITERATIONS || key.len() < KEY_LEN,
        _ => true,
    }
}

/// A valid PHC hash of a random password, for checking unknown usernames at the same cost as
/// known ones (no timing oracle on account existence). Computed once, on first use.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = [0u8; 32];
        rand::rng().fill(&mut secret[..]);
        hash(&hex::encode(secret))
    })
}

/// A stored hash, parsed and bounds-checked.
enum Stored<'a> {
    Phc {
        iterations: u32,
        salt: Vec<u8>,
        key: Vec<u8>,
    },
    /// Werkzeug PBKDF2 runs over the salt *string* (its UTF-8 bytes), not decoded bytes.
    WerkzeugPbkdf2 {
        iterations: u32,
        salt: &'a str,
        key: Vec<u8>,
    },
    WerkzeugScrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: &'a str,
        key: Vec<u8>,
    },
}

impl<'a> Stored<'a> {
    fn key(&self) -> &[u8] {
        match self {
            Stored::Phc { key, .. }
            | Stored::WerkzeugPbkdf2 { key, .. }
            | Stored::WerkzeugScrypt { key, .. } => key,
        }
    }

    fn parse(stored: &'a str) -> Option<Self> {
        if let Some(rest) = stored.strip_prefix(PHC_PREFIX) {
            return Self::parse_phc(rest);
        }
        let mut parts = stored.split('$');
        let method = parts.next()?;
        let salt = parts.next()?;
        let hex_key = parts.next()?;
        if parts.next().is_some() || salt.is_empty() || salt.len() > MAX_SALT_LEN {
            return None;
        }
        let key = decode_key_hex(hex_key)?;
        let mut fields = method.split(':');
        match fields.next()? {
            "pbkdf2" => {
                if fields.next()? != "sha256" {
                    return None;
                }
                let iterations = pbkdf2_iterations(fields.next()?)?;
                if fields.next().is_some() {
                    return None;
                }
                Some(Stored::WerkzeugPbkdf2 {
                    iterations,
                    salt,
                    key,
                })
            }
            "scrypt" => {
                let n = parse_uint(fields.next()?)?;
                let r = u32::try_from(parse_uint(fields.next()?)?).ok()?;
                let p = u32::try_from(parse_uint(fields.next()?)?).ok()?;
                if fields.next().is_some() {
                    return None;
                }
                let log_n = scrypt_log_n(n, r, p)?;
                Some(Stored::WerkzeugScrypt {
                    log_n,
                    r,
                    p,
                    salt,
                    key,
                })
            }
            _ => None,
        }
    }

    /// `i=<n>,l=<len>$<salt>$<hash>` (after the `$pbkdf2-sha256$` prefix). `l` may be left out;
    /// when given it must agree with the decoded hash.
    fn parse_phc(rest: &str) -> Option<Self> {
        let mut parts = rest.split('$');
        let params = parts.next()?;
        let salt_b64 = parts.next()?;
        let key_b64 = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let mut iterations = None;
        let mut length = None;
        for param in params.split(',') {
            let (name, value) = param.split_once('=')?;
            let slot = match name {
                "i" => &mut iterations,
                "l" => &mut length,
                _ => return None,
            };
            if slot.replace(parse_uint(value)?).is_some() {
                return None;
            }
        }
        let iterations = u32::try_from(iterations?).ok()?;
        if !(1..=MAX_PBKDF2_ITERATIONS).contains(&iterations) {
            return None;
        }
        if salt_b64.is_empty() || salt_b64.len() > MAX_SALT_LEN * 2 {
            return None;
        }
        let salt = B64.decode(salt_b64).ok()?;
        if key_b64.len() > MAX_KEY_LEN * 2 {
            return None;
        }
        let key = B64.decode(key_b64).ok()?;
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len()) || salt.len() > MAX_SALT_LEN {
            return None;
        }
        if length.is_some_and(|l| l != key.len() as u64) {
            return None;
        }
        Some(Stored::Phc {
            iterations,
            salt,
            key,
        })
    }
}

/// Plain decimal digits only (no sign, no spaces), at most 19 of them so it fits a u64.
fn parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn pbkdf2_iterations(s: &str) -> Option<u32> {
    let n = u32::try_from(parse_uint(s)?).ok()?;
    (1..=MAX_PBKDF2_ITERATIONS).contains(&n).then_some(n)
}

fn decode_key_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() > MAX_KEY_LEN * 2 {
        return None;
    }
    let key = hex::decode(s).ok()?;
    (MIN_KEY_LEN..=MAX_KEY_LEN)
        .contains(&key.len())
        .then_some(key)
}

/// Checks the scrypt parameters against the caps and returns log2(n).
fn scrypt_log_n(n: u64, r: u32, p: u32) -> Option<u8> {
    if n < 2 || !n.is_power_of_two() || r == 0 || p == 0 || p > MAX_SCRYPT_P {
        return None;
    }
    let nr = n.checked_mul(u64::from(r))?;
    let nrp = nr.checked_mul(u64::from(p))?;
    if nr > MAX_SCRYPT_NR || nrp > MAX_SCRYPT_NRP {
        return None;
    }
    u8::try_from(n.trailing_zeros()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "Correct-Horse-42!battery";
    // Generated with Werkzeug 3: generate_password_hash(PW, method="pbkdf2:sha256:1000").
    const WZ_PBKDF2: &str = "pbkdf2:sha256:1000$uAPRUGKdlFTUwXm5$e23262b56e87147b92fb40c289d4532cd3e6e4c69c9c9babf81343108ea381bd";
    // generate_password_hash(PW, method="scrypt:16384:8:1").
    const WZ_SCRYPT: &str = "scrypt:16384:8:1$bKEPfA6iTJOb12kY$534e0ab7f84ecd4499cbbdc2a3138899f9bf87293ccb122956afa5f35d51b57093f0a6984fe1b375a0ea0579e789563a1295abeb201c0e857ac98bc6acf49d6a";
    // generate_password_hash("Pässwörd✓ 9Ü", method="pbkdf2:sha256:1000").
    const WZ_PBKDF2_UNICODE: &str = "pbkdf2:sha256:1000$2IgsQkax4spTyoko$1693ff4daa8f696cc0da5218523c800cf67fc1a4edaad5614b3fdbbfe793cdac";
    // Python hashlib.pbkdf2_hmac("sha256", PW, bytes(range(16)), 1000, 32), standard base64.
    const PHC_1000: &str =
        "$pbkdf2-sha256$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw$Vxyr0hrXSGJPuPD/6JAnqH4O8rYROOnCQkty06sHTp0";

    #[test]
    fn new_hash_round_trips_and_rejects_wrong_password() {
        let stored = hash(PW);
        assert!(stored.starts_with("$pbkdf2-sha256$i=600000,l=32$"));
        let parts: Vec<&str> = stored.split('$').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(B64.decode(parts[3]).map(|s| s.len()).ok(), Some(16));
        assert!(!parts[3].contains('=') && !parts[4].contains('='));
        assert!(verify(PW, &stored));
        assert!(!verify("Correct-Horse-42!batterY", &stored));
        assert!(!needs_rehash(&stored));
    }

    #[test]
    fn same_password_gets_a_fresh_salt_each_time() {
        let a = hash("x");
        let b = hash("x");
        assert_ne!(a.split('$').nth(3), b.split('$').nth(3));
        assert_ne!(a, b);
    }

    #[test]
    fn phc_vector_from_python_verifies() {
        assert!(verify(PW, PHC_1000));
        assert!(!verify("wrong", PHC_1000));
        // Padded base64 and a missing `l` are read too.
        assert!(verify(
            PW,
            "$pbkdf2-sha256$i=1000$AAECAwQFBgcICQoLDA0ODw==$Vxyr0hrXSGJPuPD/6JAnqH4O8rYROOnCQkty06sHTp0="
        ));
    }

    #[test]
    fn phc_with_wrong_declared_length_is_refused() {
        let bad = PHC_1000.replace("l=32", "l=31");
        assert!(!verify(PW, &bad));
    }

    #[test]
    fn werkzeug_pbkdf2_vectors_verify() {
        assert!(verify(PW, WZ_PBKDF2));
        assert!(!verify("correct-horse-42!battery", WZ_PBKDF2));
        assert!(verify("Pässwörd✓ 9Ü", WZ_PBKDF2_UNICODE));
        assert!(!verify("Passwörd✓ 9Ü", WZ_PBKDF2_UNICODE));
    }

    #[test]
    fn werkzeug_scrypt_vector_verifies() {
        assert!(verify(PW, WZ_SCRYPT));
        assert!(!verify("nope", WZ_SCRYPT));
    }

    #[test]
    fn legacy_and_weak_hashes_need_rehash() {
        assert!(needs_rehash(WZ_PBKDF2));
        assert!(needs_rehash(WZ_SCRYPT));
        assert!(needs_rehash(PHC_1000));
        assert!(needs_rehash("garbage"));
        let strong = PHC_1000.replace("i=1000", "i=600000");
        assert!(!needs_rehash(&strong));
        let stronger = PHC_1000.replace("i=1000", "i=700000");
        assert!(!needs_rehash(&stronger));
    }

    #[test]
    fn malformed_stored_strings_verify_false() {
        let cases = [
            "",
            "$",
            "$pbkdf2-sha256$",
            "$pbkdf2-sha256$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw",
            "$pbkdf2-sha256$i=0,l=32$AAECAwQFBgcICQoLDA0ODw$Vxyr0hrXSGJPuPD/6JAnqH4O8rYROOnCQkty06sHTp0",
            "$pbkdf2-sha256$i=-5,l=32$AAECAwQFBgcICQoLDA0ODw$Vxyr0hrXSGJPuPD/6JAnqH4O8rYROOnCQkty06sHTp0",
            "$pbkdf2-sha256$i=1000,i=1000$AAECAwQFBgcICQoLDA0ODw$Vxyr0hrXSGJPuPD/6JAnqH4O8rYROOnCQkty06sHTp0",
            "$pbkdf2-sha256$i=1000,x=1$AAECAwQFBgcICQoLDA0ODw$Vxyr0hrXSGJPuPD/6JAnqH4O8rYROOnCQkty06sHTp0",
            "$pbkdf2-sha256$i=1000,l=32$!!!$Vxyr0hrXSGJPuPD/6JAnqH4O8rYROOnCQkty06sHTp0",
            "$pbkdf2-sha256$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw$$",
            "$pbkdf2-sha512$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw$Vxyr0hrXSGJPuPD/6JAnqH4O8rYROOnCQkty06sHTp0",
            // An empty key would otherwise match any password.
            "$pbkdf2-sha256$i=1000$AAECAwQFBgcICQoLDA0ODw$",
            "pbkdf2:sha256:1000$salt$",
            "pbkdf2:sha256$uAPRUGKdlFTUwXm5$e23262b56e87147b92fb40c289d4532cd3e6e4c69c9c9babf81343108ea381bd",
            "pbkdf2:sha1:1000$uAPRUGKdlFTUwXm5$e23262b56e87147b92fb40c289d4532cd3e6e4c69c9c9babf81343108ea381bd",
            "pbkdf2:sha256:1000$uAPRUGKdlFTUwXm5$zz3262b56e87147b92fb40c289d4532cd3e6e4c69c9c9babf81343108ea381bd",
            "pbkdf2:sha256:1000:7$uAPRUGKdlFTUwXm5$e23262b56e87147b92fb40c289d4532cd3e6e4c69c9c9babf81343108ea381bd",
            "pbkdf2:sha256:1000$$e23262b56e87147b92fb40c289d4532cd3e6e4c69c9c9babf81343108ea381bd",
            "scrypt:16384:8$bKEPfA6iTJOb12kY$534e0ab7f84ecd4499cbbdc2a3138899",
            "scrypt:16383:8:1$bKEPfA6iTJOb12kY$534e0ab7f84ecd4499cbbdc2a3138899",
            "scrypt:0:8:1$bKEPfA6iTJOb12kY$534e0ab7f84ecd4499cbbdc2a3138899",
            "md5$x$y",
            "plaintext",
        ];
        for case in cases {
            assert!(!verify(PW, case), "accepted {case:?}");
        }
    }

    #[test]
    fn absurd_cost_parameters_are_refused_without_running() {
        let start = std::time::Instant::now();
        let huge_pbkdf2 = [
            "$pbkdf2-sha256$i=4294967295,l=32$AAECAwQFBgcICQoLDA0ODw$Vxyr0hrXSGJPuPD/6JAnqH4O8rYROOnCQkty06sHTp0",
            "$pbkdf2-sha256$i=99999999999999999999999,l=32$AAECAwQFBgcICQoLDA0ODw$Vxyr0hrXSGJPuPD/6JAnqH4O8rYROOnCQkty06sHTp0",
            "pbkdf2:sha256:4000000000$uAPRUGKdlFTUwXm5$e23262b56e87147b92fb40c289d4532cd3e6e4c69c9c9babf81343108ea381bd",
        ];
        let key = "534e0ab7f84ecd4499cbbdc2a3138899f9bf87293ccb122956afa5f35d51b570";
        let huge_scrypt = [
            format!("scrypt:1073741824:8:1$s${key}"),
            format!("scrypt:16384:4096:1$s${key}"),
            format!("scrypt:16384:8:1000000$s${key}"),
            format!("scrypt:1048576:8:1$s${key}"),
            format!("scrypt:18446744073709551616:8:1$s${key}"),
        ];
        for case in huge_pbkdf2
            .iter()
            .copied()
            .chain(huge_scrypt.iter().map(String::as_str))
        {
            assert!(!verify(PW, case), "accepted {case:?}");
        }
        assert!(start.elapsed().as_secs() < 2, "a capped hash still ran");
    }

    #[test]
    fn overlong_key_is_refused() {
        let long_hex = "ab".repeat(65);
        assert!(!verify(PW, &format!("pbkdf2:sha256:1$salt${long_hex}")));
    }

    #[test]
    fn dummy_hash_is_a_stable_current_phc_hash() {
        let d = dummy_hash();
        assert!(d.starts_with("$pbkdf2-sha256$i=600000,l=32$"));
        assert!(!needs_rehash(d));
        assert_eq!(d, dummy_hash());
        assert!(!verify("", d));
    }
}
