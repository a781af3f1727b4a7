//! `minimostctl backup` against a running daemon and `minimostctl restore` into a fresh state
//! directory, which a new daemon then serves.

mod common;

use common::Daemon;

#[test]
fn online_backup_restores_into_a_working_state_directory() {
    let daemon = Daemon::default_started();
    let out = daemon.dir.path().join("backup.tar.gz");
    let backup = daemon.ctl(&["backup", out.to_str().unwrap()]);
    assert!(backup.status.success(), "{backup:?}\n{}", daemon.log());
    assert!(String::from_utf8_lossy(&backup.stdout).contains("Backup written to"));
    assert!(out.exists());
    // The daemon removed its temporary files.
    let leftovers: Vec<_> = std::fs::read_dir(&daemon.state)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".backup-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A second backup to the same file is refused rather than overwriting it.
    let again = daemon.ctl(&["backup", out.to_str().unwrap()]);
    assert!(!again.status.success());

    // Restore (the named socket has no daemon behind it) into a new directory.
    let target = daemon.dir.path().join("restored");
    let restore = std::process::Command::new(common::CTL)
        .args(["--socket", "/nonexistent.sock", "restore"])
        .arg(&out)
        .arg("--state-dir")
        .arg(&target)
        .output()
        .unwrap();
    assert!(restore.status.success(), "{restore:?}");
    assert_eq!(
        std::fs::read(target.join("tls/ca.pem")).unwrap(),
        daemon.ca_pem()
    );
    let conn = rusqlite::Connection::open(target.join("minimost.db")).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");

    // Restoring while a daemon answers on the socket is refused.
    let refused = daemon.ctl(&[
        "restore",
        out.to_str().unwrap(),
        "--state-dir",
        target.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stop it first"));
}

#[test]
fn a_damaged_archive_is_refused_and_the_target_untouched() {
    let daemon = Daemon::default_started();
    let out = daemon.dir.path().join("backup.tar.gz");
    assert!(daemon
        .ctl(&["backup", out.to_str().unwrap()])
        .status
        .success());
    let mut bytes = std::fs::read(&out).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&out, &bytes).unwrap();

    let target = daemon.dir.path().join("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("marker"), b"keep me").unwrap();
    let restore = std::process::Command::new(common::CTL)
        .args(["--socket", "/nonexistent.sock", "restore"])
        .arg(&out)
        .arg("--state-dir")
        .arg(&target)
        .output()
        .unwrap();
    assert!(!restore.status.success());
    assert!(
        String::from_utf8_lossy(&restore.stderr).contains("damaged"),
        "{restore:?}"
    );
    assert_eq!(std::fs::read(target.join("marker")).unwrap(), b"keep me");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1);
}
