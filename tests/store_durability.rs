//! Durability at the store level: a child process makes 1,000 concurrent writes through the
//! writer and prints each acknowledgement; the parent `kill -9`s it midway, reopens the
//! database and checks that every acknowledged write is there.
//!
//! The child is this same test binary, re-run with `MINIMOST_DURABILITY_CHILD` set.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use minimost::store::{Durability, Store};

const CHILD_ENV: &str = "MINIMOST_DURABILITY_CHILD";
const WRITES: usize = 1000;

fn child(dir: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(std::path::Path::new(dir), Durability::Full, Arc::new(|_| {})).unwrap();
        let mut tasks = Vec::new();
        for i in 0..WRITES {
            let writer = store.writer.clone();
            tasks.push(tokio::spawn(async move {
                writer
                    .write(move |ctx| {
                        let now = ctx.now();
                        ctx.conn.execute(
                            "INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES ('general', 'bench', ?1, ?2, ?2)",
                            rusqlite::params![format!("write-{i}"), now],
                        )?;
                        Ok(())
                    })
                    .await
                    .unwrap();
                // Printed only after the writer acknowledged the commit.
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {i}").unwrap();
                out.flush().unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_writes_survive_kill_9",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = process.stdout.take().unwrap();
    let mut acknowledged = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(index) = line.strip_prefix("ack ") {
            acknowledged.push(format!("write-{index}"));
        }
        if !killed && acknowledged.len() >= WRITES / 3 {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(process.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            killed = true;
        }
    }
    let _ = process.wait();
    assert!(killed, "the child finished before it could be killed");
    assert!(
        acknowledged.len() < WRITES,
        "the kill came too late to test anything"
    );

    let conn = Store::open_read_only(&dir.path().join("minimost.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut missing = Vec::new();
    for content in &acknowledged {
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM messages WHERE content = ?1",
                [content],
                |r| r.get(0),
            )
            .unwrap();
        if found != 1 {
            missing.push(content.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost: {missing:?}",
        missing.len()
    );
    eprintln!(
        "{} writes acknowledged before kill -9; all present after reopening",
        acknowledged.len()
    );
}
