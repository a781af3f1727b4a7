//! Settings: the TOML file of api.md §8, parsed, validated and documented from one table.
//!
//! [`KEYS`] is the single source of truth for what may appear in `minimost.toml`: each entry has
//! the key, its default written as TOML, and the text that documents it. The shipped
//! `etc/minimost.toml` and the `minimost.toml(5)` man page are generated from it
//! ([`reference`]), and tests prove that the defaults in the table equal [`Settings::default`] and
//! that every key in the table is read into [`Settings`].

pub mod reference;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Value;

/// Why a configuration was refused. Every variant names the key and, when it can be found, the
/// line, so an operator can fix the file from the journal line alone.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {location}key `{key}`: {reason}")]
    Invalid {
        path: String,
        key: String,
        location: Location,
        reason: String,
    },
}

/// "line N, " or nothing, ready to be placed before the key in a message.
#[derive(Debug, Clone, Copy)]
pub struct Location(Option<usize>);

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(line) => write!(f, "line {line}, "),
            None => Ok(()),
        }
    }
}

/// One request budget: at most `max` allowed hits per sliding `window_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub max: u32,
    pub window_s: f64,
}

/// The rate-limit buckets of api.md §3, by name.
pub const BUCKETS: [(&str, Limit); 6] = [
    (
        "login",
        Limit {
            max: 60,
            window_s: 60.0,
        },
    ),
    (
        "signup",
        Limit {
            max: 20,
            window_s: 3600.0,
        },
    ),
    (
        "password_reset",
        Limit {
            max: 30,
            window_s: 3600.0,
        },
    ),
    (
        "send",
        Limit {
            max: 240,
            window_s: 60.0,
        },
    ),
    (
        "avatar",
        Limit {
            max: 60,
            window_s: 3600.0,
        },
    ),
    (
        "create_channel",
        Limit {
            max: 60,
            window_s: 3600.0,
        },
    ),
];

/// `[server]`: where the daemon listens when systemd passes no sockets, and its public address.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    pub listen: Vec<String>,
    pub public_base_url: Option<String>,
}

/// `[tls]`: the certificate source, or plain HTTP behind a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    pub enabled: bool,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Every setting of api.md §8. Built only through [`Settings::default`] or [`Settings::parse`],
/// so a value in here has always passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub channels: Vec<String>,
    pub image_retention_days: i64,
    pub file_retention_days: i64,
    pub message_retention_days: i64,
    pub max_message_db_size_mb: f64,
    pub max_upload_dir_size_mb: f64,
    pub max_upload_size_mb: f64,
    pub max_avatar_size_mb: f64,
    pub stun_port: u16,
    pub max_login_attempts: i64,
    pub lockout_duration_minutes: f64,
    pub password_min_length: i64,
    pub password_history_count: i64,
    pub password_min_age_hours: f64,
    pub password_max_age_days: f64,
    pub session_idle_minutes: f64,
    pub audit_log_max_size_mb: f64,
    pub audit_log_max_age_days: f64,
    pub audit_log_backups: i64,
    pub rate_limit_enabled: bool,
    pub max_event_streams_per_user: i64,
    pub rate_limits: BTreeMap<String, Limit>,
    pub server: ServerSettings,
    pub tls: TlsSettings,
}

/// What a key may hold; used for validation messages and the generated documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Int,
    Number,
    Bool,
    StringList,
    String,
    Path,
    BucketTable,
}

/// One documented key of `minimost.toml`.
pub struct Key {
    /// `None` for top-level keys, else the table name (`server`, `tls`, `rate_limits`).
    pub section: Option<&'static str>,
    pub name: &'static str,
    pub kind: Kind,
    /// The default as TOML; `None` when the key is unset by default.
    pub default: Option<&'static str>,
    /// The rule a value must satisfy, in words.
    pub rule: &'static str,
    /// What the key does.
    pub doc: &'static str,
}

/// The documented keys, in the order the reference file lists them.
pub const KEYS: &[Key] = &[
    Key { section: None, name: "channels", kind: Kind::StringList,
        default: Some(r#"["general", "software", "firmware", "systems", "off-topic"]"#),
        rule: "a non-empty array of unique names, 1-80 characters each, without '/' or ':' or surrounding spaces",
        doc: "The public channels, in display order. The first one receives the welcome message of every new account. A reload adds or removes channels live; the messages of a removed channel stay until retention removes them." },
    Key { section: None, name: "image_retention_days", kind: Kind::Int, default: Some("30"),
        rule: "an integer > 0", doc: "Uploaded images older than this many days are deleted by the daily cleanup." },
    Key { section: None, name: "file_retention_days", kind: Kind::Int, default: Some("30"),
        rule: "an integer > 0", doc: "Other uploaded files older than this many days are deleted by the daily cleanup." },
    Key { section: None, name: "message_retention_days", kind: Kind::Int, default: Some("770"),
        rule: "an integer > 0", doc: "Messages older than this many days are deleted by the daily cleanup." },
    Key { section: None, name: "max_message_db_size_mb", kind: Kind::Number, default: Some("1024"),
        rule: "a number >= 0 (0 disables the cap)", doc: "Cap on the size of the message store in MiB; above it the cleanup trims the heaviest senders' oldest messages first." },
    Key { section: None, name: "max_upload_dir_size_mb", kind: Kind::Number, default: Some("2048"),
        rule: "a number >= 0 (0 disables the cap)", doc: "Cap on the uploads folder in MiB; above it the cleanup deletes orphans, then the oldest files of the heaviest uploader." },
    Key { section: None, name: "max_upload_size_mb", kind: Kind::Number, default: Some("25"),
        rule: "a number > 0", doc: "Largest file accepted in one upload, in MiB." },
    Key { section: None, name: "max_avatar_size_mb", kind: Kind::Number, default: Some("5"),
        rule: "a number > 0", doc: "Largest avatar image accepted, in MiB." },
    Key { section: None, name: "stun_port", kind: Kind::Int, default: Some("3478"),
        rule: "an integer 1-65535", doc: "The STUN port advertised to browsers for calls, and bound on all addresses when systemd passes no STUN socket." },
    Key { section: None, name: "max_login_attempts", kind: Kind::Int, default: Some("5"),
        rule: "an integer (<= 0 disables lockout)", doc: "Consecutive failed logins that lock an account." },
    Key { section: None, name: "lockout_duration_minutes", kind: Kind::Number, default: Some("15"),
        rule: "a number > 0", doc: "How long a locked account stays locked." },
    Key { section: None, name: "password_min_length", kind: Kind::Int, default: Some("15"),
        rule: "an integer", doc: "Minimum password length; the effective minimum is never below 15." },
    Key { section: None, name: "password_history_count", kind: Kind::Int, default: Some("5"),
        rule: "an integer (<= 0 disables the reuse check)", doc: "A new password may not match any of this many previous passwords." },
    Key { section: None, name: "password_min_age_hours", kind: Kind::Number, default: Some("0"),
        rule: "a number (<= 0 disables)", doc: "A user may change their password only this long after the last change (an administrator's reset ignores it)." },
    Key { section: None, name: "password_max_age_days", kind: Kind::Number, default: Some("0"),
        rule: "a number (<= 0 disables)", doc: "Passwords older than this cannot log in and need an administrator's reset." },
    Key { section: None, name: "session_idle_minutes", kind: Kind::Number, default: Some("20160"),
        rule: "a number (<= 0 disables idle logout)", doc: "A session without activity for this long ends. Sessions always end 30 days after login." },
    Key { section: None, name: "audit_log_max_size_mb", kind: Kind::Number, default: Some("10"),
        rule: "a number >= 0", doc: "Accepted for compatibility with older settings files; audit records go to the journal, so it has no effect." },
    Key { section: None, name: "audit_log_max_age_days", kind: Kind::Number, default: Some("30"),
        rule: "a number >= 0", doc: "Accepted for compatibility; no effect." },
    Key { section: None, name: "audit_log_backups", kind: Kind::Int, default: Some("12"),
        rule: "an integer >= 0", doc: "Accepted for compatibility; no effect." },
    Key { section: None, name: "rate_limit_enabled", kind: Kind::Bool, default: Some("true"),
        rule: "true or false", doc: "Turns every rate-limit bucket and the per-user event stream cap on or off." },
    Key { section: None, name: "max_event_streams_per_user", kind: Kind::Int, default: Some("12"),
        rule: "an integer > 0", doc: "Open live-event streams allowed per user (about one per browser tab)." },
    Key { section: Some("rate_limits"), name: "login", kind: Kind::BucketTable, default: Some("[60, 60]"),
        rule: "[max, window_seconds]: max an integer > 0, window a number > 0", doc: "Login attempts per client address." },
    Key { section: Some("rate_limits"), name: "signup", kind: Kind::BucketTable, default: Some("[20, 3600]"),
        rule: "[max, window_seconds]", doc: "Sign-ups per client address." },
    Key { section: Some("rate_limits"), name: "password_reset", kind: Kind::BucketTable, default: Some("[30, 3600]"),
        rule: "[max, window_seconds]", doc: "Password changes and account deletions per user; reset-link submissions per client address." },
    Key { section: Some("rate_limits"), name: "send", kind: Kind::BucketTable, default: Some("[240, 60]"),
        rule: "[max, window_seconds]", doc: "Messages sent per user." },
    Key { section: Some("rate_limits"), name: "avatar", kind: Kind::BucketTable, default: Some("[60, 3600]"),
        rule: "[max, window_seconds]", doc: "Avatar uploads per user." },
    Key { section: Some("rate_limits"), name: "create_channel", kind: Kind::BucketTable, default: Some("[60, 3600]"),
        rule: "[max, window_seconds]", doc: "Private channels created per user." },
    Key { section: Some("server"), name: "listen", kind: Kind::StringList, default: Some(r#"["127.0.0.1:5000"]"#),
        rule: "an array of host:port strings", doc: "Addresses to serve HTTPS on when systemd passes no socket (takes effect at the next restart)." },
    Key { section: Some("server"), name: "public_base_url", kind: Kind::String, default: None,
        rule: "an absolute http(s) URL with no path", doc: "The address users type, e.g. \"https://chat.example.lan:6767\". Used for the Origin check and as the base of reset links." },
    Key { section: Some("tls"), name: "enabled", kind: Kind::Bool, default: Some("true"),
        rule: "true or false", doc: "false serves plain HTTP, for use behind a TLS-terminating proxy only." },
    Key { section: Some("tls"), name: "cert", kind: Kind::Path, default: None,
        rule: "a PEM file path; set both cert and key or neither", doc: "Your certificate chain. Without cert and key the daemon keeps its own CA (downloadable at /ca.pem) and a leaf certificate in the state directory." },
    Key { section: Some("tls"), name: "key", kind: Kind::Path, default: None,
        rule: "a PEM file path", doc: "The private key of `cert`. Both files are re-read on reload." },
];

/// A validation failure before the file's location is attached.
struct Bad {
    key: String,
    reason: String,
}

fn bad(key: impl Into<String>, reason: impl Into<String>) -> Bad {
    Bad {
        key: key.into(),
        reason: reason.into(),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            channels: ["general", "software", "firmware", "systems", "off-topic"]
                .map(String::from)
                .to_vec(),
            image_retention_days: 30,
            file_retention_days: 30,
            message_retention_days: 770,
            max_message_db_size_mb: 1024.0,
            max_upload_dir_size_mb: 2048.0,
            max_upload_size_mb: 25.0,
            max_avatar_size_mb: 5.0,
            stun_port: 3478,
            max_login_attempts: 5,
            lockout_duration_minutes: 15.0,
            password_min_length: 15,
            password_history_count: 5,
            password_min_age_hours: 0.0,
            password_max_age_days: 0.0,
            session_idle_minutes: 20160.0,
            audit_log_max_size_mb: 10.0,
            audit_log_max_age_days: 30.0,
            audit_log_backups: 12,
            rate_limit_enabled: true,
            max_event_streams_per_user: 12,
            rate_limits: BUCKETS
                .iter()
                .map(|(name, limit)| (name.to_string(), *limit))
                .collect(),
            server: ServerSettings {
                listen: vec!["127.0.0.1:5000".to_string()],
                public_base_url: None,
            },
            tls: TlsSettings {
                enabled: true,
                cert: None,
                key: None,
            },
        }
    }
}

impl Settings {
    /// Reads and validates a settings file. Unknown keys are returned as warnings, not errors.
    pub fn load(path: &Path) -> Result<(Settings, Vec<String>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Settings::parse(&text, &path.display().to_string())
    }

    /// Parses and validates settings text; `origin` names the file in messages.
    pub fn parse(text: &str, origin: &str) -> Result<(Settings, Vec<String>), ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|span| line_of_offset(text, span.start))
                .unwrap_or(1);
            ConfigError::Syntax {
                path: origin.to_string(),
                line,
                message: e.message().to_string(),
            }
        })?;
        let mut warnings = Vec::new();
        let settings = from_table(&table, &mut warnings).map_err(|b| {
            let (section, name) = match b.key.split_once('.') {
                Some((section, name)) => (Some(section), name),
                None => (None, b.key.as_str()),
            };
            ConfigError::Invalid {
                path: origin.to_string(),
                location: Location(locate(text, section, name)),
                key: b.key.clone(),
                reason: b.reason,
            }
        })?;
        Ok((settings, warnings))
    }

    /// The limit of a bucket, falling back to its built-in default.
    pub fn limit(&self, bucket: &str) -> Limit {
        self.rate_limits
            .get(bucket)
            .copied()
            .or_else(|| BUCKETS.iter().find(|(n, _)| *n == bucket).map(|(_, l)| *l))
            .unwrap_or(Limit {
                max: u32::MAX,
                window_s: 1.0,
            })
    }

    /// Largest upload in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        mib_to_bytes(self.max_upload_size_mb)
    }

    /// Largest avatar in bytes.
    pub fn max_avatar_bytes(&self) -> u64 {
        mib_to_bytes(self.max_avatar_size_mb)
    }
}

/// MiB as a float setting → bytes, saturating.
pub fn mib_to_bytes(mib: f64) -> u64 {
    let bytes = mib * 1_048_576.0;
    if bytes.is_finite() && bytes > 0.0 {
        bytes.min(u64::MAX as f64) as u64
    } else {
        0
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Finds the line where `key` is assigned inside `section` (or at top level). Validation runs on
/// the parsed table, which has lost positions, so we look the assignment up in the text; a key
/// written in an unusual form (dotted, inline table) simply gets no line number.
fn locate(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[') {
            let name = header.split(']').next().unwrap_or("").trim();
            current = Some(name.trim_matches('"').to_string());
            continue;
        }
        let Some((lhs, _)) = line.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim().trim_matches('"');
        if current.as_deref() == section && lhs == key {
            return Some(index + 1);
        }
        if section.is_none() && current.is_none() && lhs == key {
            return Some(index + 1);
        }
    }
    // A table itself (e.g. `[rate_limits]` holding a bad bucket) is reported at its header.
    if section.is_none() {
        return text
            .lines()
            .position(|l| {
                l.trim().trim_start_matches('[').starts_with(key) && l.trim().starts_with('[')
            })
            .map(|i| i + 1);
    }
    None
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn get_int(key: &str, value: &Value) -> Result<i64, Bad> {
    match value {
        Value::Integer(i) => Ok(*i),
        other => Err(bad(
            key,
            format!("expected an integer, found {}", type_name(other)),
        )),
    }
}

fn get_number(key: &str, value: &Value) -> Result<f64, Bad> {
    match value {
        Value::Integer(i) => Ok(*i as f64),
        Value::Float(f) if f.is_finite() => Ok(*f),
        Value::Float(_) => Err(bad(key, "expected a finite number")),
        other => Err(bad(
            key,
            format!("expected a number, found {}", type_name(other)),
        )),
    }
}

fn get_bool(key: &str, value: &Value) -> Result<bool, Bad> {
    match value {
        Value::Boolean(b) => Ok(*b),
        other => Err(bad(
            key,
            format!("expected true or false, found {}", type_name(other)),
        )),
    }
}

fn get_string(key: &str, value: &Value) -> Result<String, Bad> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(bad(
            key,
            format!("expected a string, found {}", type_name(other)),
        )),
    }
}

fn get_string_list(key: &str, value: &Value) -> Result<Vec<String>, Bad> {
    let Value::Array(items) = value else {
        return Err(bad(
            key,
            format!("expected an array of strings, found {}", type_name(value)),
        ));
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(bad(
                key,
                format!("expected strings in the array, found {}", type_name(other)),
            )),
        })
        .collect()
}

fn positive_int(key: &str, value: &Value) -> Result<i64, Bad> {
    let v = get_int(key, value)?;
    if v <= 0 {
        return Err(bad(key, format!("must be greater than 0, got {v}")));
    }
    Ok(v)
}

fn positive_number(key: &str, value: &Value) -> Result<f64, Bad> {
    let v = get_number(key, value)?;
    if v <= 0.0 {
        return Err(bad(key, format!("must be greater than 0, got {v}")));
    }
    Ok(v)
}

fn non_negative_number(key: &str, value: &Value) -> Result<f64, Bad> {
    let v = get_number(key, value)?;
    if v < 0.0 {
        return Err(bad(key, format!("must be 0 or more, got {v}")));
    }
    Ok(v)
}

fn validate_channels(key: &str, channels: &[String]) -> Result<(), Bad> {
    if channels.is_empty() {
        return Err(bad(key, "needs at least one channel"));
    }
    let mut seen = std::collections::HashSet::new();
    for name in channels {
        let length = name.chars().count();
        if !(1..=80).contains(&length) {
            return Err(bad(
                key,
                format!("channel {name:?} must be 1-80 characters long"),
            ));
        }
        if name.contains('/') || name.contains(':') {
            return Err(bad(
                key,
                format!("channel {name:?} may not contain '/' or ':'"),
            ));
        }
        if name.trim() != name {
            return Err(bad(
                key,
                format!("channel {name:?} has surrounding whitespace"),
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(bad(key, format!("channel {name:?} is listed twice")));
        }
    }
    Ok(())
}

fn validate_listen(key: &str, addresses: &[String]) -> Result<(), Bad> {
    for address in addresses {
        if address.parse::<std::net::SocketAddr>().is_ok() {
            continue;
        }
        let valid = address.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !host.contains(':') && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            return Err(bad(key, format!("{address:?} is not a host:port address")));
        }
    }
    Ok(())
}

fn validate_base_url(key: &str, url: &str) -> Result<String, Bad> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad(key, "must start with http:// or https://"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad(
            key,
            "must be scheme://host[:port] with no path, query or user",
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn parse_bucket(key: &str, value: &Value) -> Result<Limit, Bad> {
    let Value::Array(pair) = value else {
        return Err(bad(
            key,
            format!("expected [max, window_seconds], found {}", type_name(value)),
        ));
    };
    if pair.len() != 2 {
        return Err(bad(
            key,
            "expected exactly two values: [max, window_seconds]",
        ));
    }
    let max = positive_int(key, &pair[0])?;
    let window_s = positive_number(key, &pair[1])?;
    let max = u32::try_from(max).map_err(|_| bad(key, "max is too large"))?;
    Ok(Limit { max, window_s })
}

fn from_table(table: &toml::Table, warnings: &mut Vec<String>) -> Result<Settings, Bad> {
    let mut s = Settings::default();
    for (key, value) in table {
        let k = key.as_str();
        match k {
            "channels" => {
                let list = get_string_list(k, value)?;
                validate_channels(k, &list)?;
                s.channels = list;
            }
            "image_retention_days" => s.image_retention_days = positive_int(k, value)?,
            "file_retention_days" => s.file_retention_days = positive_int(k, value)?,
            "message_retention_days" => s.message_retention_days = positive_int(k, value)?,
            "max_message_db_size_mb" => s.max_message_db_size_mb = non_negative_number(k, value)?,
            "max_upload_dir_size_mb" => s.max_upload_dir_size_mb = non_negative_number(k, value)?,
            "max_upload_size_mb" => s.max_upload_size_mb = positive_number(k, value)?,
            "max_avatar_size_mb" => s.max_avatar_size_mb = positive_number(k, value)?,
            "stun_port" => {
                let port = get_int(k, value)?;
                s.stun_port = u16::try_from(port)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad(k, format!("must be 1-65535, got {port}")))?;
            }
            "max_login_attempts" => s.max_login_attempts = get_int(k, value)?,
            "lockout_duration_minutes" => s.lockout_duration_minutes = positive_number(k, value)?,
            "password_min_length" => s.password_min_length = get_int(k, value)?,
            "password_history_count" => s.password_history_count = get_int(k, value)?,
            "password_min_age_hours" => s.password_min_age_hours = get_number(k, value)?,
            "password_max_age_days" => s.password_max_age_days = get_number(k, value)?,
            "session_idle_minutes" => s.session_idle_minutes = get_number(k, value)?,
            "audit_log_max_size_mb" => s.audit_log_max_size_mb = non_negative_number(k, value)?,
            "audit_log_max_age_days" => s.audit_log_max_age_days = non_negative_number(k, value)?,
            "audit_log_backups" => {
                let v = get_int(k, value)?;
                if v < 0 {
                    return Err(bad(k, format!("must be 0 or more, got {v}")));
                }
                s.audit_log_backups = v;
            }
            "rate_limit_enabled" => s.rate_limit_enabled = get_bool(k, value)?,
            "max_event_streams_per_user" => s.max_event_streams_per_user = positive_int(k, value)?,
            "rate_limits" => {
                let Value::Table(buckets) = value else {
                    return Err(bad(k, "expected a table of bucket = [max, window_seconds]"));
                };
                for (bucket, limit) in buckets {
                    let full = format!("rate_limits.{bucket}");
                    let limit = parse_bucket(&full, limit)?;
                    if !BUCKETS.iter().any(|(n, _)| n == bucket) {
                        warnings.push(format!("unknown rate-limit bucket `{full}` ignored"));
                        continue;
                    }
                    s.rate_limits.insert(bucket.clone(), limit);
                }
            }
            "server" => {
                let Value::Table(server) = value else {
                    return Err(bad(k, "expected a table"));
                };
                for (sk, sv) in server {
                    let full = format!("server.{sk}");
                    match sk.as_str() {
                        "listen" => {
                            let list = get_string_list(&full, sv)?;
                            if list.is_empty() {
                                return Err(bad(&full, "needs at least one address"));
                            }
                            validate_listen(&full, &list)?;
                            s.server.listen = list;
                        }
                        "public_base_url" => {
                            let url = get_string(&full, sv)?;
                            s.server.public_base_url = Some(validate_base_url(&full, &url)?);
                        }
                        _ => warnings.push(format!("unknown key `{full}` ignored")),
                    }
                }
            }
            "tls" => {
                let Value::Table(tls) = value else {
                    return Err(bad(k, "expected a table"));
                };
                for (tk, tv) in tls {
                    let full = format!("tls.{tk}");
                    match tk.as_str() {
                        "enabled" => s.tls.enabled = get_bool(&full, tv)?,
                        "cert" => s.tls.cert = Some(PathBuf::from(get_string(&full, tv)?)),
                        "key" => s.tls.key = Some(PathBuf::from(get_string(&full, tv)?)),
                        _ => warnings.push(format!("unknown key `{full}` ignored")),
                    }
                }
                if s.tls.cert.is_some() != s.tls.key.is_some() {
                    let missing = if s.tls.cert.is_some() {
                        "tls.key"
                    } else {
                        "tls.cert"
                    };
                    return Err(bad(missing, "tls.cert and tls.key must be set together"));
                }
            }
            _ => warnings.push(format!("unknown key `{k}` ignored")),
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::parse(text, "test.toml").map(|(s, _)| s)
    }

    #[test]
    fn empty_file_gives_every_default() {
        assert_eq!(parse("").unwrap(), Settings::default());
    }

    #[test]
    fn table_defaults_equal_struct_defaults() {
        // Writing every key of KEYS with its documented default must change nothing.
        let text = reference::toml_with_defaults_uncommented();
        assert_eq!(parse(&text).unwrap(), Settings::default());
    }

    #[test]
    fn every_documented_key_is_read() {
        // Setting each key to a non-default value must change the parsed settings; a key that the
        // parser ignored would leave them equal.
        for key in KEYS {
            let value = match (key.kind, key.name) {
                (Kind::Int, "stun_port") => "4000".to_string(),
                (Kind::Int, _) => "7".to_string(),
                (Kind::Number, _) => "7.5".to_string(),
                (Kind::Bool, _) => "false".to_string(),
                (Kind::StringList, "listen") => r#"["0.0.0.0:7000"]"#.to_string(),
                (Kind::StringList, _) => r#"["a", "b"]"#.to_string(),
                (Kind::String, _) => r#""https://chat.example.lan:6767""#.to_string(),
                (Kind::Path, _) => r#""/etc/x.pem""#.to_string(),
                (Kind::BucketTable, _) => "[3, 9]".to_string(),
            };
            let text = match (key.section, key.name) {
                (Some("tls"), "cert") => format!("[tls]\ncert = {value}\nkey = \"/k\"\n"),
                (Some("tls"), "key") => format!("[tls]\nkey = {value}\ncert = \"/c\"\n"),
                (Some(section), name) => format!("[{section}]\n{name} = {value}\n"),
                (None, name) => format!("{name} = {value}\n"),
            };
            let (parsed, warnings) = Settings::parse(&text, "t").unwrap();
            assert!(warnings.is_empty(), "{}: {warnings:?}", key.name);
            assert_ne!(parsed, Settings::default(), "key {} was ignored", key.name);
        }
    }

    #[test]
    fn out_of_range_value_names_key_and_line() {
        let err = parse("channels = [\"a\"]\n\nimage_retention_days = 0\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("image_retention_days"), "{text}");
    }

    #[test]
    fn float_is_refused_where_an_int_is_required() {
        let err = parse("stun_port = 3478.0").unwrap_err().to_string();
        assert!(
            err.contains("stun_port") && err.contains("integer"),
            "{err}"
        );
    }

    #[test]
    fn boolean_is_refused_where_a_number_is_required() {
        assert!(parse("max_upload_size_mb = true").is_err());
        assert_eq!(
            parse("max_upload_size_mb = 3").unwrap().max_upload_size_mb,
            3.0
        );
    }

    #[test]
    fn syntax_error_reports_its_line() {
        let err = parse("a = 1\nb = = 2\n").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn channel_rules_are_enforced() {
        for bad in [
            "channels = []",
            "channels = [\"a/b\"]",
            "channels = [\"a:b\"]",
            "channels = [\" a\"]",
            "channels = [\"a\", \"a\"]",
            "channels = [\"\"]",
        ] {
            assert!(parse(bad).is_err(), "{bad} accepted");
        }
        let long = "x".repeat(81);
        assert!(parse(&format!("channels = [\"{long}\"]")).is_err());
    }

    #[test]
    fn unknown_keys_only_warn() {
        let (s, warnings) = Settings::parse(
            "colour = 3\n[server]\nfoo = 1\n[rate_limits]\nnope = [1, 1]\n",
            "t",
        )
        .unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(warnings.len(), 3, "{warnings:?}");
    }

    #[test]
    fn missing_bucket_keeps_its_default() {
        let s = parse("[rate_limits]\nsend = [5, 10]\n").unwrap();
        assert_eq!(
            s.limit("send"),
            Limit {
                max: 5,
                window_s: 10.0
            }
        );
        assert_eq!(
            s.limit("login"),
            Limit {
                max: 60,
                window_s: 60.0
            }
        );
    }

    #[test]
    fn cert_without_key_is_inconsistent() {
        let err = parse("[tls]\ncert = \"/a.pem\"\n").unwrap_err().to_string();
        assert!(err.contains("tls.key"), "{err}");
    }

    #[test]
    fn public_base_url_must_have_no_path() {
        assert!(parse("[server]\npublic_base_url = \"https://h/x\"").is_err());
        assert!(parse("[server]\npublic_base_url = \"ftp://h\"").is_err());
        let s = parse("[server]\npublic_base_url = \"https://h:6767/\"").unwrap();
        assert_eq!(s.server.public_base_url.as_deref(), Some("https://h:6767"));
    }

    #[test]
    fn listen_addresses_are_checked() {
        assert!(parse("[server]\nlisten = [\"nonsense\"]").is_err());
        assert!(parse("[server]\nlisten = [\"[::1]:5000\", \"localhost:80\"]").is_ok());
    }

    #[test]
    fn shipped_reference_file_matches_the_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/minimost.toml");
        if std::env::var_os("MINIMOST_REGENERATE").is_some() {
            std::fs::write(&path, reference::toml_reference()).unwrap();
        }
        let shipped = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            shipped,
            reference::toml_reference(),
            "etc/minimost.toml is stale: regenerate it with `MINIMOST_REGENERATE=1 cargo test shipped_reference`"
        );
        assert_eq!(parse(&shipped).unwrap(), Settings::default());
    }
}
