//! TLS material and the rustls server configuration (api.md §8, §6.2).
//!
//! Either the operator names a certificate chain and key in `[tls]`, or the
//! server keeps its own small CA under `<state_dir>/tls/` and issues itself
//! a leaf from it. The CA outlives leaves so that browsers import it once
//! (from `GET /ca.pem`) and keep trusting the server across re-issues.
//!
//! [`load`] only reads (and, when needed, writes) files and builds a fresh
//! `ServerConfig`; the caller swaps the `Arc` on SIGHUP, so handshakes that
//! start afterwards see the new certificate while open connections keep the
//! one they negotiated.

use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData,
};
use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use crate::system::host;

const DAY: u64 = 24 * 60 * 60;
const CA_LIFETIME_DAYS: u64 = 3652;
const LEAF_LIFETIME_DAYS: u64 = 398;
/// A leaf this close to expiry is replaced, leaving a month of slack for
/// servers that are restarted or reloaded rarely.
const LEAF_RENEW_BEFORE_DAYS: u64 = 30;
/// Certificates start a little in the past so that a client whose clock is
/// slightly behind ours does not see a "not yet valid" certificate.
const BACKDATE_SECS: u64 = 60 * 60;

const TLS_DIR: &str = "tls";
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const LEAF_CERT: &str = "server.pem";
const LEAF_KEY: &str = "server.key";

/// Why TLS material could not be loaded; every variant names the file at
/// fault so the journal line alone tells the operator what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{}: no PEM certificate found", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no usable PEM private key (PKCS#8, RSA or SEC1) found", path.display())]
    NoKey { path: PathBuf },
    #[error("{}: invalid PEM: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("{}: rejected by rustls: {source}", path.display())]
    Rejected {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("{}: {reason}", path.display())]
    BadCa { path: PathBuf, reason: String },
    #[error("[tls] {missing} is unset while {} is given; set both or neither", path.display())]
    Unpaired {
        path: PathBuf,
        missing: &'static str,
    },
    #[error("cannot generate {}: {source}", path.display())]
    Generate { path: PathBuf, source: rcgen::Error },
}

/// A ready server configuration plus, for the self-managed CA only, the
/// public CA certificate served at `/ca.pem`.
#[derive(Clone)]
pub struct TlsBundle {
    pub server_config: Arc<ServerConfig>,
    pub ca_pem: Option<Arc<str>>,
}

impl std::fmt::Debug for TlsBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsBundle")
            .field("alpn", &self.server_config.alpn_protocols)
            .field("self_managed_ca", &self.ca_pem.is_some())
            .finish()
    }
}

/// Makes ring the process-wide rustls provider, for code (HTTP clients,
/// tests) that builds configs without naming one. A second call, or one
/// after another provider was installed, is a harmless no-op.
pub fn install_crypto_provider() {
    // Err only means a default already exists; any default is acceptable
    // because our own server config names ring explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the server's TLS configuration.
///
/// With `cert` and `key`, the operator's PEM chain and private key are used
/// as they are. Without them, the self-managed CA and leaf under
/// `<state_dir>/tls/` are loaded, created or re-issued as api.md §8 says.
/// Cheap enough to call on every SIGHUP.
pub fn load(
    state_dir: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<TlsBundle, TlsError> {
    match (cert, key) {
        (Some(cert), Some(key)) => load_operator(cert, key),
        // The config layer rejects a lone cert or key; should one slip
        // through, refuse rather than silently fall back to our own CA.
        (Some(cert), None) => Err(TlsError::Unpaired {
            path: cert.to_path_buf(),
            missing: "key",
        }),
        (None, Some(key)) => Err(TlsError::Unpaired {
            path: key.to_path_buf(),
            missing: "cert",
        }),
        (None, None) => load_self_managed(&state_dir.join(TLS_DIR), unix_now()),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    key_path: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let rejected = |source| TlsError::Rejected {
        path: key_path.to_path_buf(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(rejected)?;
    // h2 first: browsers then multiplex the SSE stream and API calls over
    // one connection instead of hitting the HTTP/1.1 six-connection limit.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn load_operator(cert_path: &Path, key_path: &Path) -> Result<TlsBundle, TlsError> {
    let chain = parse_chain(&read(cert_path)?, cert_path)?;
    let key = parse_key(&read(key_path)?, key_path)?;
    Ok(TlsBundle {
        server_config: server_config(chain, key, key_path)?,
        ca_pem: None,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_chain(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::Pem {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn parse_key(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|err| match err {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        other => TlsError::Pem {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// The self-managed CA as loaded from (or just written to) disk.
struct Ca {
    pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn load_self_managed(dir: &Path, now: u64) -> Result<TlsBundle, TlsError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| TlsError::Write {
            path: dir.to_path_buf(),
            source,
        })?;

    let ca = match load_ca(dir)? {
        Some(ca) => ca,
        None => create_ca(dir, now)?,
    };

    let cert_path = dir.join(LEAF_CERT);
    let key_path = dir.join(LEAF_KEY);
    let (chain, key) = match current_leaf(&ca, &cert_path, &key_path, now) {
        Ok(leaf) => leaf,
        Err(reason) => {
            tracing::info!(reason = %reason, path = %cert_path.display(), "issuing a new TLS leaf certificate");
            issue_leaf(&ca, &leaf_names(), now, now + LEAF_LIFETIME_DAYS * DAY, dir)?;
            // Read back what was written so a broken CA (e.g. a key that
            // does not match ca.pem) is caught now instead of at every
            // handshake.
            current_leaf(&ca, &cert_path, &key_path, now).map_err(|reason| TlsError::BadCa {
                path: dir.join(CA_KEY),
                reason: format!("a freshly issued leaf does not verify: {reason}"),
            })?
        }
    };

    Ok(TlsBundle {
        server_config: server_config(chain, key, &key_path)?,
        ca_pem: Some(Arc::from(ca.pem.as_str())),
    })
}

/// The CA on disk, `None` when it must be created. A CA that exists but
/// cannot be read or parsed is an error, not a reason to replace it: every
/// client that imported it would stop trusting the server.
fn load_ca(dir: &Path) -> Result<Option<Ca>, TlsError> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    let (Some(cert_pem), Some(key_pem)) = (read_if_exists(&cert_path)?, read_if_exists(&key_path)?)
    else {
        // Without both halves the CA is unusable; create_ca replaces it.
        return Ok(None);
    };
    let bad_cert = |reason: String| TlsError::BadCa {
        path: cert_path.clone(),
        reason,
    };
    let pem = String::from_utf8(cert_pem).map_err(|_| bad_cert("not UTF-8 text".into()))?;
    let der = parse_chain(pem.as_bytes(), &cert_path)?
        .into_iter()
        .next()
        .ok_or_else(|| TlsError::NoCertificate {
            path: cert_path.clone(),
        })?;
    let key_text = String::from_utf8(key_pem).map_err(|_| TlsError::NoKey {
        path: key_path.clone(),
    })?;
    let key = KeyPair::from_pem(&key_text).map_err(|err| TlsError::BadCa {
        path: key_path.clone(),
        reason: format!("unusable private key: {err}"),
    })?;

    let (_, parsed) = x509_parser::parse_x509_certificate(&der)
        .map_err(|err| bad_cert(format!("cannot parse certificate: {err}")))?;
    if parsed.tbs_certificate.subject_pki.raw != key.subject_public_key_info().as_slice() {
        return Err(TlsError::BadCa {
            path: key_path,
            reason: format!("does not match the certificate in {}", cert_path.display()),
        });
    }
    let issuer = Issuer::from_ca_cert_der(&der, key)
        .map_err(|err| bad_cert(format!("not usable as a CA: {err}")))?;
    Ok(Some(Ca { pem, der, issuer }))
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, TlsError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TlsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn create_ca(dir: &Path, now: u64) -> Result<Ca, TlsError> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    let generate = |source| TlsError::Generate {
        path: cert_path.clone(),
        source,
    };
    tracing::info!(path = %cert_path.display(), "creating the self-managed TLS CA");

    let key = KeyPair::generate().map_err(generate)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "MiniMost");
    // The host name keeps CAs of different servers apart in a browser's
    // certificate list, where they are shown by name.
    params.distinguished_name.push(
        DnType::CommonName,
        format!("MiniMost CA ({})", host::hostname()),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, now, now + CA_LIFETIME_DAYS * DAY);
    let cert = params.self_signed(&key).map_err(generate)?;
    let pem = cert.pem();

    // A stale key must go first: if we stop half-way, a lone ca.pem means
    // "missing CA" next time, never a certificate paired with the wrong key.
    match fs::remove_file(&key_path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(TlsError::Write {
                path: key_path,
                source,
            })
        }
    }
    write_atomic(&cert_path, pem.as_bytes(), 0o644)?;
    write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)?;

    Ok(Ca {
        pem,
        der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    })
}

/// Every name a browser on the LAN might use to reach this host.
fn leaf_names() -> Vec<String> {
    let short = host::hostname();
    let mut names = vec![
        "localhost".to_owned(),
        short.clone(),
        host::fqdn(),
        format!("{short}.local"),
    ];
    // Names that are not plain DNS labels (a kernel host name may be
    // anything) would make certificate generation fail; skip them rather
    // than refuse to start.
    names.retain(|n| is_dns_name(n));
    let mut ips = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    ips.extend(host::local_addresses());
    names.extend(ips.iter().map(IpAddr::to_string));
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));
    names
}

fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && name.parse::<IpAddr>().is_err()
}

fn issue_leaf(
    ca: &Ca,
    names: &[String],
    from: u64,
    until: u64,
    dir: &Path,
) -> Result<(), TlsError> {
    let cert_path = dir.join(LEAF_CERT);
    let generate = |source| TlsError::Generate {
        path: cert_path.clone(),
        source,
    };
    let key = KeyPair::generate().map_err(generate)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(generate)?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "MiniMost");
    // Browsers match SANs only; the CN is for humans reading the cert, so
    // prefer the most specific host name over "localhost".
    let common_name = names
        .iter()
        .find(|n| *n != "localhost" && is_dns_name(n))
        .map_or("localhost", String::as_str);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    // Keep the whole span within 398 days, the ceiling browsers enforce on
    // leaf certificates, backdating included.
    let start = from.saturating_sub(BACKDATE_SECS);
    set_validity(
        &mut params,
        start,
        until.saturating_sub(BACKDATE_SECS).max(start),
    );
    let cert = params.signed_by(&key, &ca.issuer).map_err(generate)?;

    // Key first: a crash between the two renames leaves a key that does not
    // match server.pem, which the next start detects and repairs.
    write_atomic(&dir.join(LEAF_KEY), key.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

/// The leaf on disk if it can be used as is, or the reason it cannot.
fn current_leaf(
    ca: &Ca,
    cert_path: &Path,
    key_path: &Path,
    now: u64,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let cert_pem = fs::read(cert_path).map_err(|err| format!("{}: {err}", cert_path.display()))?;
    let key_pem = fs::read(key_path).map_err(|err| format!("{}: {err}", key_path.display()))?;
    let chain = parse_chain(&cert_pem, cert_path).map_err(|err| err.to_string())?;
    let key = parse_key(&key_pem, key_path).map_err(|err| err.to_string())?;
    let leaf = chain.first().ok_or("no certificate")?;

    let check_at = now + LEAF_RENEW_BEFORE_DAYS * DAY;
    verify_leaf(leaf, &ca.der, check_at)
        .map_err(|err| format!("not valid in 30 days under the current CA: {err}"))?;

    // A key left over from an interrupted re-issue would pass the checks
    // above and only fail at the first handshake.
    let provider = provider();
    rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider)
        .map_err(|err| format!("{}: {err}", key_path.display()))?;
    Ok((chain, key))
}

fn verify_leaf(
    leaf: &CertificateDer<'_>,
    ca: &CertificateDer<'_>,
    at: u64,
) -> Result<(), webpki::Error> {
    let anchor = webpki::anchor_from_trusted_cert(ca)?;
    let end_entity = webpki::EndEntityCert::try_from(leaf)?;
    let algorithms = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    end_entity
        .verify_for_usage(
            algorithms,
            &[anchor],
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(at)),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ())
}

/// Sets the validity period from Unix seconds. rcgen wants `time`'s
/// `OffsetDateTime`; offsetting its own epoch constructor avoids depending on
/// the `time` crate just to name that type.
fn set_validity(params: &mut CertificateParams, from: u64, until: u64) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(from);
    params.not_after = epoch + Duration::from_secs(until);
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        // A clock before 1970 is broken beyond repair; certificates issued
        // then are re-issued once it is fixed.
        .unwrap_or(0)
}

/// Writes via a temporary file, fsync and rename, so a crash leaves either
/// the old or the new content, never a torn file; `mode` is set at creation
/// so a private key is never readable by others, not even briefly.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let failed = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    // A leftover from a crash may carry other permissions; start afresh.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(failed(err)),
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(failed)?;
    file.write_all(contents).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    drop(file);
    fs::rename(&tmp, path).map_err(failed)?;
    // The rename itself is only durable once the directory is synced.
    if let Some(parent) = path.parent() {
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConnection};
    use rustls_pki_types::ServerName;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn tls_dir(state: &tempfile::TempDir) -> PathBuf {
        state.path().join(TLS_DIR)
    }

    fn read_all(dir: &Path) -> [Vec<u8>; 4] {
        [CA_CERT, CA_KEY, LEAF_CERT, LEAF_KEY].map(|f| fs::read(dir.join(f)).unwrap())
    }

    fn leaf_der(dir: &Path) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(dir.join(LEAF_CERT)).unwrap()
    }

    fn ca_der(dir: &Path) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(dir.join(CA_CERT)).unwrap()
    }

    /// Drives a full in-memory handshake; returns the negotiated ALPN.
    fn handshake(
        bundle: &TlsBundle,
        root: CertificateDer<'static>,
        name: &str,
        alpn: &[&[u8]],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Result<Option<Vec<u8>>, rustls::Error> {
        let mut roots = RootCertStore::empty();
        roots.add(root).unwrap();
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let server_name = ServerName::try_from(name.to_owned()).unwrap();
        let mut client = ClientConnection::new(Arc::new(config), server_name).unwrap();
        let mut server = ServerConnection::new(bundle.server_config.clone()).unwrap();

        for _ in 0..20 {
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(server.alpn_protocol().map(<[u8]>::to_vec));
            }
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets()?;
            let mut buf = Vec::new();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut buf.as_slice()).unwrap();
            client.process_new_packets()?;
        }
        panic!("handshake did not finish");
    }

    const BOTH: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];

    #[test]
    fn fresh_state_dir_gets_ca_and_leaf_with_private_keys() {
        let state = tempfile::tempdir().unwrap();
        let bundle = load(state.path(), None, None).unwrap();
        let dir = tls_dir(&state);
        for file in [CA_CERT, CA_KEY, LEAF_CERT, LEAF_KEY] {
            assert!(dir.join(file).is_file(), "{file} missing");
        }
        assert_eq!(mode(&dir.join(CA_KEY)), 0o600);
        assert_eq!(mode(&dir.join(LEAF_KEY)), 0o600);
        let ca_text = fs::read_to_string(dir.join(CA_CERT)).unwrap();
        assert_eq!(bundle.ca_pem.as_deref(), Some(ca_text.as_str()));
        assert!(!ca_text.contains("PRIVATE KEY"));
        // The leaf verifies under the CA for its whole renewal margin.
        verify_leaf(&leaf_der(&dir), &ca_der(&dir), unix_now() + 31 * DAY).unwrap();
    }

    #[test]
    fn second_load_reuses_ca_and_leaf() {
        let state = tempfile::tempdir().unwrap();
        load(state.path(), None, None).unwrap();
        let before = read_all(&tls_dir(&state));
        let bundle = load(state.path(), None, None).unwrap();
        assert_eq!(read_all(&tls_dir(&state)), before);
        assert_eq!(bundle.ca_pem.unwrap().as_bytes(), before[0].as_slice());
    }

    #[test]
    fn leaf_from_another_ca_is_reissued_and_ca_kept() {
        let state = tempfile::tempdir().unwrap();
        load(state.path(), None, None).unwrap();
        let dir = tls_dir(&state);
        let ca_before = fs::read(dir.join(CA_CERT)).unwrap();

        // Put a leaf from an unrelated CA in place of ours.
        let other = tempfile::tempdir().unwrap();
        load(other.path(), None, None).unwrap();
        let other_dir = tls_dir(&other);
        fs::copy(other_dir.join(LEAF_CERT), dir.join(LEAF_CERT)).unwrap();
        fs::copy(other_dir.join(LEAF_KEY), dir.join(LEAF_KEY)).unwrap();
        let foreign = fs::read(dir.join(LEAF_CERT)).unwrap();

        load(state.path(), None, None).unwrap();
        assert_eq!(fs::read(dir.join(CA_CERT)).unwrap(), ca_before);
        assert_ne!(fs::read(dir.join(LEAF_CERT)).unwrap(), foreign);
        verify_leaf(&leaf_der(&dir), &ca_der(&dir), unix_now()).unwrap();
    }

    #[test]
    fn leaf_expiring_within_30_days_is_reissued() {
        let state = tempfile::tempdir().unwrap();
        load(state.path(), None, None).unwrap();
        let dir = tls_dir(&state);
        let ca_before = fs::read(dir.join(CA_CERT)).unwrap();

        let ca = load_ca(&dir).unwrap().unwrap();
        let now = unix_now();
        issue_leaf(&ca, &["localhost".to_owned()], now, now + 10 * DAY, &dir).unwrap();
        let short_lived = fs::read(dir.join(LEAF_CERT)).unwrap();
        // Sanity: the planted leaf is valid today, so only expiry can
        // explain a re-issue.
        verify_leaf(&leaf_der(&dir), &ca_der(&dir), now).unwrap();

        load(state.path(), None, None).unwrap();
        assert_eq!(fs::read(dir.join(CA_CERT)).unwrap(), ca_before);
        assert_ne!(fs::read(dir.join(LEAF_CERT)).unwrap(), short_lived);
        verify_leaf(&leaf_der(&dir), &ca_der(&dir), now + 300 * DAY).unwrap();
    }

    #[test]
    fn unreadable_or_mismatched_leaf_key_is_reissued() {
        let state = tempfile::tempdir().unwrap();
        load(state.path(), None, None).unwrap();
        let dir = tls_dir(&state);
        // A valid key that belongs to a different certificate.
        let stray = KeyPair::generate().unwrap().serialize_pem();
        fs::write(dir.join(LEAF_KEY), stray).unwrap();
        load(state.path(), None, None).unwrap();
        let key = PrivateKeyDer::from_pem_file(dir.join(LEAF_KEY)).unwrap();
        rustls::sign::CertifiedKey::from_der(vec![leaf_der(&dir)], key, &provider()).unwrap();

        fs::write(dir.join(LEAF_CERT), "garbage").unwrap();
        load(state.path(), None, None).unwrap();
        verify_leaf(&leaf_der(&dir), &ca_der(&dir), unix_now()).unwrap();
    }

    #[test]
    fn corrupt_ca_is_an_error_naming_the_file_not_replaced() {
        let state = tempfile::tempdir().unwrap();
        load(state.path(), None, None).unwrap();
        let dir = tls_dir(&state);
        fs::write(
            dir.join(CA_KEY),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = load(state.path(), None, None).unwrap_err();
        assert!(err.to_string().contains("ca.key"), "{err}");
        assert!(fs::read_to_string(dir.join(CA_KEY))
            .unwrap()
            .contains("AAAA"));
    }

    #[test]
    fn missing_ca_key_recreates_the_ca_and_leaf() {
        let state = tempfile::tempdir().unwrap();
        load(state.path(), None, None).unwrap();
        let dir = tls_dir(&state);
        let ca_before = fs::read(dir.join(CA_CERT)).unwrap();
        fs::remove_file(dir.join(CA_KEY)).unwrap();
        load(state.path(), None, None).unwrap();
        assert_ne!(fs::read(dir.join(CA_CERT)).unwrap(), ca_before);
        assert_eq!(mode(&dir.join(CA_KEY)), 0o600);
        verify_leaf(&leaf_der(&dir), &ca_der(&dir), unix_now()).unwrap();
    }

    fn operator_files(dir: &Path) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["chat.example.org".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_path = dir.join("operator.crt");
        let key_path = dir.join("operator.key");
        fs::write(&cert_path, cert.pem()).unwrap();
        fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    #[test]
    fn operator_cert_and_key_are_served_without_ca() {
        let state = tempfile::tempdir().unwrap();
        let (cert, key) = operator_files(state.path());
        let bundle = load(state.path(), Some(&cert), Some(&key)).unwrap();
        assert!(bundle.ca_pem.is_none());
        // Nothing self-managed is created when the operator supplies files.
        assert!(!tls_dir(&state).exists());
        let root = CertificateDer::from_pem_file(&cert).unwrap();
        assert_eq!(
            handshake(&bundle, root, "chat.example.org", &[b"h2"], BOTH).unwrap(),
            Some(b"h2".to_vec())
        );
    }

    #[test]
    fn missing_operator_file_error_names_it() {
        let state = tempfile::tempdir().unwrap();
        let (cert, key) = operator_files(state.path());
        let missing = state.path().join("nope.pem");
        let err = load(state.path(), Some(&missing), Some(&key)).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }));
        assert!(err.to_string().contains("nope.pem"), "{err}");
        let missing_key = state.path().join("nope.key");
        let err = load(state.path(), Some(&cert), Some(&missing_key)).unwrap_err();
        assert!(err.to_string().contains("nope.key"), "{err}");
    }

    #[test]
    fn lone_operator_cert_or_key_is_refused() {
        let state = tempfile::tempdir().unwrap();
        let (cert, key) = operator_files(state.path());
        let err = load(state.path(), Some(&cert), None).unwrap_err();
        assert!(err.to_string().contains("operator.crt"), "{err}");
        let err = load(state.path(), None, Some(&key)).unwrap_err();
        assert!(err.to_string().contains("operator.key"), "{err}");
        assert!(!tls_dir(&state).exists());
    }

    #[test]
    fn operator_key_not_matching_cert_is_rejected_naming_key() {
        let state = tempfile::tempdir().unwrap();
        let (cert, key) = operator_files(state.path());
        fs::write(&key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let err = load(state.path(), Some(&cert), Some(&key)).unwrap_err();
        assert!(matches!(err, TlsError::Rejected { .. }), "{err}");
        assert!(err.to_string().contains("operator.key"), "{err}");
        fs::write(&cert, "no pem here").unwrap();
        let err = load(state.path(), Some(&cert), Some(&key)).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    }

    #[test]
    fn client_trusting_ca_completes_handshake_and_gets_h2() {
        let state = tempfile::tempdir().unwrap();
        let bundle = load(state.path(), None, None).unwrap();
        let ca = ca_der(&tls_dir(&state));
        let alpn: &[&[u8]] = &[b"h2", b"http/1.1"];
        assert_eq!(
            handshake(&bundle, ca.clone(), "localhost", alpn, BOTH).unwrap(),
            Some(b"h2".to_vec())
        );
        // HTTP/1.1-only clients, TLS 1.2 clients and clients using the
        // loopback IP or the host name are served too.
        assert_eq!(
            handshake(&bundle, ca.clone(), "127.0.0.1", &[b"http/1.1"], BOTH).unwrap(),
            Some(b"http/1.1".to_vec())
        );
        let tls12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
        assert!(handshake(&bundle, ca.clone(), "::1", alpn, tls12).is_ok());
        assert!(handshake(&bundle, ca.clone(), &host::hostname(), alpn, BOTH).is_ok());
        // A name not on the leaf is refused, so the checks above mean something.
        assert!(handshake(&bundle, ca, "not-this-host.example", alpn, BOTH).is_err());
    }

    #[test]
    fn install_crypto_provider_is_idempotent() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(CryptoProvider::get_default().is_some());
    }

    #[test]
    fn dns_name_filter_rejects_what_rcgen_cannot_encode() {
        assert!(is_dns_name("chat-1.example.org"));
        assert!(!is_dns_name(""));
        assert!(!is_dns_name("bad name"));
        assert!(!is_dns_name("ünicode"));
        assert!(!is_dns_name("-lead"));
        assert!(!is_dns_name("10.0.0.1"));
    }

    #[test]
    fn leaf_names_cover_loopback_and_host() {
        let names = leaf_names();
        for expected in ["localhost", "127.0.0.1", "::1"] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert!(names.contains(&format!("{}.local", host::hostname())));
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }
}
