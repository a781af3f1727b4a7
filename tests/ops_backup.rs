//! `minimostctl backup` against a running daemon and `minimostctl restore` into a fresh state
//! directory, which a new daemon then serves.

mod chat_common;
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

#[test]
fn a_backup_taken_during_a_send_storm_holds_every_message_acknowledged_before_it_began() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    // Rate limits off: the storm must not be throttled.
    let daemon = Daemon::start(common::Start {
        config: Some("rate_limit_enabled = false\n".into()),
        own_sockets: true,
        ..common::Start::default()
    });
    let rt = chat_common::runtime();
    let user = Arc::new(rt.block_on(chat_common::signup(&daemon, "storm")));
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));

    let senders: Vec<_> = (0..8)
        .map(|task| {
            let (user, acknowledged, stop) = (user.clone(), acknowledged.clone(), stop.clone());
            rt.spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let text = format!("storm {task}-{n}");
                    let response = user
                        .post_form("/send/general", &[("text", text.as_str())])
                        .await;
                    if response.status() == 200 {
                        acknowledged.lock().unwrap().push(text);
                    }
                    n += 1;
                }
            })
        })
        .collect();

    // Let the storm build up, then note what was acknowledged before the backup began.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let out = daemon.dir.path().join("storm.tar.gz");
    let backup = daemon.ctl(&["backup", out.to_str().unwrap()]);
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        rt.block_on(sender).unwrap();
    }
    assert!(backup.status.success(), "{backup:?}");
    assert!(
        before.len() > 50,
        "the storm was too small to mean anything: {}",
        before.len()
    );

    let target = daemon.dir.path().join("restored");
    let restore = std::process::Command::new(common::CTL)
        .args(["--socket", "/nonexistent.sock", "restore"])
        .arg(&out)
        .arg("--state-dir")
        .arg(&target)
        .output()
        .unwrap();
    assert!(restore.status.success(), "{restore:?}");
    let conn = rusqlite::Connection::open(target.join("minimost.db")).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let mut lookup = conn
        .prepare("SELECT count(*) FROM messages WHERE content = ?1")
        .unwrap();
    let missing: Vec<&String> = before
        .iter()
        .filter(|text| {
            lookup
                .query_row([text.as_str()], |r| r.get::<_, i64>(0))
                .unwrap()
                != 1
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged messages missing from the backup",
        missing.len()
    );
    eprintln!(
        "{} messages acknowledged before the backup; all restored",
        before.len()
    );
}
