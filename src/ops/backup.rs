//! Backup archives: one gzip-compressed tar holding a consistent snapshot of the database, the
//! uploads, avatars, TLS material, the session key and the settings file, with a manifest of
//! SHA-256 checksums written last.
//!
//! Restoring verifies the whole archive (every checksum, no missing or extra entry, no path that
//! could escape the target) before it writes anything, then unpacks into a staging folder beside
//! the target and swaps it in with renames, so a damaged archive never touches the target.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Archive layout version; bump on incompatible changes.
pub const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
/// Where each part of the state goes inside the archive.
const DB_ENTRY: &str = "db/minimost.db";
const CONFIG_ENTRY: &str = "config/minimost.toml";
const STATE_FOLDERS: [&str; 3] = ["uploads", "avatars", "tls"];
const STATE_FILES: [&str; 1] = ["session.key"];

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("the archive is damaged or not a MiniMost backup: {0}")]
    Damaged(String),
    #[error("the restored database failed its integrity check: {0}")]
    Integrity(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> BackupError {
    let context = context.into();
    move |source| BackupError::Io { context, source }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub minimost_version: String,
    pub created_ts: f64,
    pub files: Vec<Entry>,
}

/// What a backup or restore did, for minimostctl to print.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
    pub messages: i64,
    pub users: i64,
}

/// Hashes while copying, so each file is read once.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Writes the archive to `out`. `db_snapshot` is a consistent copy of the database made by the
/// caller (VACUUM INTO); the other files are copied as they are (uploads are write-once and
/// avatars are replaced atomically, so each file read is whole).
pub fn write_archive(
    out: &Path,
    db_snapshot: &Path,
    state_dir: &Path,
    config: Option<&Path>,
) -> Result<Summary, BackupError> {
    let file = create_private(out)?;
    let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(encoder);
    let mut files = Vec::new();

    let mut sources: Vec<(PathBuf, String)> =
        vec![(db_snapshot.to_path_buf(), DB_ENTRY.to_string())];
    for folder in STATE_FOLDERS {
        let dir = state_dir.join(folder);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<_> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".tmp") && !name.starts_with('.'))
            .collect();
        names.sort();
        for name in names {
            sources.push((dir.join(&name), format!("state/{folder}/{name}")));
        }
    }
    for name in STATE_FILES {
        let path = state_dir.join(name);
        if path.is_file() {
            sources.push((path, format!("state/{name}")));
        }
    }
    if let Some(config) = config.filter(|c| c.is_file()) {
        sources.push((config.to_path_buf(), CONFIG_ENTRY.to_string()));
    }

    for (source, name) in sources {
        let opened = match File::open(&source) {
            Ok(f) => f,
            // A file evicted by retention between listing and reading is simply not in the backup.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(format!("cannot read {}", source.display()))(e)),
        };
        let length = opened
            .metadata()
            .map_err(io_error(format!("cannot stat {}", source.display())))?
            .len();
        let mut header = tar::Header::new_gnu();
        header.set_size(length);
        header.set_mode(0o600);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let mut reader = HashingReader {
            inner: opened.take(length),
            hasher: Sha256::new(),
            size: 0,
        };
        tar.append_data(&mut header, &name, &mut reader)
            .map_err(io_error(format!("cannot archive {}", source.display())))?;
        if reader.size != length {
            return Err(BackupError::Damaged(format!(
                "{} changed size while being archived",
                source.display()
            )));
        }
        files.push(Entry {
            path: name,
            size: reader.size,
            sha256: hex::encode(reader.hasher.finalize()),
        });
    }

    let (messages, users) = count_rows(db_snapshot)?;
    let manifest = Manifest {
        format: FORMAT,
        minimost_version: env!("CARGO_PKG_VERSION").to_string(),
        created_ts: crate::domain::time::now(),
        files: files.clone(),
    };
    let bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Damaged(e.to_string()))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(0);
    tar.append_data(&mut header, MANIFEST, bytes.as_slice())
        .map_err(io_error("cannot write the manifest"))?;
    let encoder = tar
        .into_inner()
        .map_err(io_error("cannot finish the archive"))?;
    let file = encoder
        .finish()
        .map_err(io_error("cannot finish the compression"))?;
    file.sync_all()
        .map_err(io_error("cannot flush the archive"))?;
    Ok(Summary {
        files: files.len(),
        bytes: files.iter().map(|f| f.size).sum(),
        messages,
        users,
    })
}

fn create_private(path: &Path) -> Result<File, BackupError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(format!("cannot create {}", path.display())))
}

fn count_rows(db: &Path) -> Result<(i64, i64), BackupError> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let messages = conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
    let users = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
    Ok((messages, users))
}

/// An archive entry name is acceptable only when it is relative, has no `..`, and lies in one
/// of the places a backup writes.
fn safe_entry_name(name: &str) -> bool {
    let path = Path::new(name);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    let allowed = name == MANIFEST
        || name == DB_ENTRY
        || name == CONFIG_ENTRY
        || STATE_FILES.iter().any(|f| name == format!("state/{f}"))
        || STATE_FOLDERS.iter().any(|folder| {
            name.strip_prefix(&format!("state/{folder}/"))
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
        });
    plain && allowed && !name.contains('\0')
}

fn open_archive(
    archive: &Path,
) -> Result<tar::Archive<flate2::read::GzDecoder<BufReader<File>>>, BackupError> {
    let file =
        File::open(archive).map_err(io_error(format!("cannot open {}", archive.display())))?;
    Ok(tar::Archive::new(flate2::read::GzDecoder::new(
        BufReader::new(file),
    )))
}

/// Reads the whole archive and checks it against its manifest. Writes nothing.
pub fn verify(archive: &Path) -> Result<Manifest, BackupError> {
    let damaged = |what: String| BackupError::Damaged(what);
    let mut seen: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    let mut tar = open_archive(archive)?;
    let entries = tar.entries().map_err(|e| damaged(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| damaged(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        if !safe_entry_name(&name) || entry.header().entry_type() != tar::EntryType::Regular {
            return Err(damaged(format!("unexpected entry {name:?}")));
        }
        if name == MANIFEST {
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .map_err(|e| damaged(e.to_string()))?;
            manifest = Some(
                serde_json::from_slice(&text)
                    .map_err(|e| damaged(format!("unreadable manifest: {e}")))?,
            );
            continue;
        }
        let mut hasher = Sha256::new();
        let size = io::copy(&mut entry, &mut HashWriter(&mut hasher))
            .map_err(|e| damaged(e.to_string()))?;
        if seen
            .insert(name.clone(), (size, hex::encode(hasher.finalize())))
            .is_some()
        {
            return Err(damaged(format!("{name} appears twice")));
        }
    }
    let manifest = manifest.ok_or_else(|| damaged("no manifest".into()))?;
    if manifest.format != FORMAT {
        return Err(damaged(format!(
            "archive format {} is not supported (expected {FORMAT})",
            manifest.format
        )));
    }
    if !manifest.files.iter().any(|f| f.path == DB_ENTRY) {
        return Err(damaged("the manifest lists no database".into()));
    }
    for file in &manifest.files {
        match seen.remove(&file.path) {
            Some((size, sha)) if size == file.size && sha == file.sha256 => {}
            Some(_) => {
                return Err(damaged(format!(
                    "{} does not match its checksum",
                    file.path
                )))
            }
            None => return Err(damaged(format!("{} is missing", file.path))),
        }
    }
    if let Some(extra) = seen.keys().next() {
        return Err(damaged(format!("{extra} is not in the manifest")));
    }
    Ok(manifest)
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        self.0.update(buffer);
        Ok(buffer.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a restore put things.
#[derive(Debug)]
pub struct Restored {
    pub summary: Summary,
    /// The previous state directory, moved aside, if there was one.
    pub previous: Option<PathBuf>,
    /// The settings file from the backup, if it held one (not copied over /etc on its own).
    pub config: Option<PathBuf>,
}

/// Verifies `archive`, then replaces `target` with its contents. The daemon must be stopped.
pub fn restore(archive: &Path, target: &Path) -> Result<Restored, BackupError> {
    let manifest = verify(archive)?;
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let stamp = crate::domain::time::now() as u64;
    let staging = parent.join(format!(".{base}.restoring-{stamp}"));
    std::fs::create_dir_all(parent)
        .map_err(io_error(format!("cannot create {}", parent.display())))?;
    let result =
        unpack(archive, &staging).and_then(|summary| check_database(&staging).map(|()| summary));
    let summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let previous = if target.exists() {
        let aside = parent.join(format!("{base}.before-restore-{stamp}"));
        std::fs::rename(target, &aside)
            .map_err(io_error(format!("cannot move {} aside", target.display())))?;
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staging, target).map_err(io_error(format!(
        "cannot move the restored state to {}",
        target.display()
    )))?;
    let config = manifest
        .files
        .iter()
        .any(|f| f.path == CONFIG_ENTRY)
        .then(|| target.join("minimost.toml.from-backup"));
    Ok(Restored {
        summary,
        previous,
        config,
    })
}

fn unpack(archive: &Path, staging: &Path) -> Result<Summary, BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    let mkdir = |path: &Path| {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io_error(format!("cannot create {}", path.display())))
    };
    mkdir(staging)?;
    for folder in STATE_FOLDERS {
        mkdir(&staging.join(folder))?;
    }
    let mut tar = open_archive(archive)?;
    let mut files = 0;
    let mut bytes = 0;
    for entry in tar
        .entries()
        .map_err(|e| BackupError::Damaged(e.to_string()))?
    {
        let mut entry = entry.map_err(|e| BackupError::Damaged(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| BackupError::Damaged(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let destination = match name.as_str() {
            MANIFEST => continue,
            DB_ENTRY => staging.join("minimost.db"),
            CONFIG_ENTRY => staging.join("minimost.toml.from-backup"),
            other => match other.strip_prefix("state/") {
                // verify() already proved every name safe; re-check before joining anyway.
                Some(rest) if safe_entry_name(other) => staging.join(rest),
                _ => return Err(BackupError::Damaged(format!("unexpected entry {other:?}"))),
            },
        };
        let mut out = create_private(&destination)?;
        bytes += io::copy(&mut entry, &mut out)
            .map_err(io_error(format!("cannot write {}", destination.display())))?;
        out.sync_all()
            .map_err(io_error(format!("cannot flush {}", destination.display())))?;
        files += 1;
    }
    let (messages, users) = count_rows(&staging.join("minimost.db"))?;
    Ok(Summary {
        files,
        bytes,
        messages,
        users,
    })
}

fn check_database(staging: &Path) -> Result<(), BackupError> {
    let conn = rusqlite::Connection::open(staging.join("minimost.db"))?;
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        return Err(BackupError::Integrity(verdict));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_state() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        for folder in STATE_FOLDERS {
            std::fs::create_dir_all(state.join(folder)).unwrap();
        }
        std::fs::write(state.join("uploads/0123_report.txt"), b"quarterly numbers").unwrap();
        std::fs::write(state.join("avatars/ab.jpg"), b"\xff\xd8jpeg").unwrap();
        std::fs::write(state.join("tls/ca.pem"), b"-----BEGIN CERTIFICATE-----").unwrap();
        std::fs::write(state.join("session.key"), [7u8; 32]).unwrap();
        let mut conn = rusqlite::Connection::open(state.join("minimost.db")).unwrap();
        crate::store::migrations::apply(&mut conn).unwrap();
        conn.execute("INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES ('general', 'a', 'hi', 1, 1)", [])
            .unwrap();
        conn.execute(
            "VACUUM INTO ?1",
            [dir.path().join("snapshot.db").to_str().unwrap()],
        )
        .unwrap();
        (dir, state)
    }

    fn make_backup(dir: &Path, state: &Path) -> PathBuf {
        let config = dir.join("minimost.toml");
        std::fs::write(&config, "channels = [\"a\"]\n").unwrap();
        let archive = dir.join("backup.tar.gz");
        let summary =
            write_archive(&archive, &dir.join("snapshot.db"), state, Some(&config)).unwrap();
        assert_eq!(summary.messages, 1);
        assert_eq!(summary.files, 6);
        archive
    }

    #[test]
    fn backup_restores_every_file_and_row() {
        let (dir, state) = sample_state();
        let archive = make_backup(dir.path(), &state);
        let target = dir.path().join("restored");
        let restored = restore(&archive, &target).unwrap();
        assert!(restored.previous.is_none());
        assert_eq!(restored.summary.messages, 1);
        assert_eq!(
            std::fs::read(target.join("uploads/0123_report.txt")).unwrap(),
            b"quarterly numbers"
        );
        assert_eq!(
            std::fs::read(target.join("session.key")).unwrap(),
            [7u8; 32]
        );
        assert_eq!(
            std::fs::read_to_string(target.join("minimost.toml.from-backup")).unwrap(),
            "channels = [\"a\"]\n"
        );
    }

    #[test]
    fn restore_moves_the_previous_state_aside() {
        let (dir, state) = sample_state();
        let archive = make_backup(dir.path(), &state);
        let restored = restore(&archive, &state).unwrap();
        let previous = restored.previous.unwrap();
        assert!(previous.join("minimost.db").exists());
        assert!(state.join("minimost.db").exists());
    }

    #[test]
    fn a_flipped_byte_is_refused_without_touching_the_target() {
        let (dir, state) = sample_state();
        let archive = make_backup(dir.path(), &state);
        // Rewrite the archive with one payload byte changed but the manifest kept.
        let tampered = dir.path().join("tampered.tar.gz");
        {
            let mut input = open_archive(&archive).unwrap();
            let out = File::create(&tampered).unwrap();
            let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::fast(),
            ));
            for entry in input.entries().unwrap() {
                let mut entry = entry.unwrap();
                let name = entry.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                if name == "state/uploads/0123_report.txt" {
                    data[0] ^= 1;
                }
                let mut header = tar::Header::new_gnu();
                header.set_size(data.len() as u64);
                header.set_mode(0o600);
                builder
                    .append_data(&mut header, &name, data.as_slice())
                    .unwrap();
            }
            builder.into_inner().unwrap().finish().unwrap();
        }
        let target = dir.path().join("target");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("keep"), b"untouched").unwrap();
        let err = restore(&tampered, &target).unwrap_err();
        assert!(
            matches!(err, BackupError::Damaged(ref why) if why.contains("checksum")),
            "{err}"
        );
        assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"untouched");
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("restoring"))
                .count(),
            0
        );
    }

    #[test]
    fn a_truncated_archive_is_refused() {
        let (dir, state) = sample_state();
        let archive = make_backup(dir.path(), &state);
        let bytes = std::fs::read(&archive).unwrap();
        std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(verify(&archive), Err(BackupError::Damaged(_))));
    }

    #[test]
    fn entry_names_cannot_escape_the_target() {
        assert!(safe_entry_name("state/uploads/a.png"));
        assert!(!safe_entry_name("state/uploads/../../etc/passwd"));
        assert!(!safe_entry_name("/etc/passwd"));
        assert!(!safe_entry_name("state/uploads/sub/dir"));
        assert!(!safe_entry_name("state/other/file"));
        assert!(!safe_entry_name("state/uploads/"));
    }
}
