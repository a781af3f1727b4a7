//! `kill -9` during a send storm, then a restart on the same state: every message whose
//! `POST /send` was answered `200 ok` is there (api.md §6.4; design.md group commit).

mod chat_common;
mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_common::{runtime, signup};
use common::forms::PASSWORD;
use common::{running_as_root, Daemon, Start};
use nix::sys::signal::Signal;
use serde_json::Value;

#[test]
fn every_answered_send_survives_kill_9_and_restart() {
    let mut daemon = Daemon::start(Start {
        config: Some("rate_limit_enabled = false\n".into()),
        own_sockets: true,
        ..Start::default()
    });
    let rt = runtime();
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(async {
        let alice = Arc::new(signup(&daemon, "alice").await);
        let mut senders = Vec::new();
        for s in 0..8 {
            let alice = alice.clone();
            let acked = acked.clone();
            senders.push(tokio::spawn(async move {
                for n in 0.. {
                    let text = format!("storm {s}-{n}");
                    let sent = alice
                        .client
                        .post(alice.url("/send/general"))
                        .header("X-CSRF-Token", &alice.csrf)
                        .form(&[("text", text.as_str())])
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 200 => acked.lock().unwrap().push(text),
                        _ => break,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        daemon.signal(Signal::SIGKILL);
        for sender in senders {
            let _ = sender.await;
        }
    });
    daemon.wait_exit(Duration::from_secs(10));
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the storm barely ran: {}", acked.len());

    // Restart on the same state directory, listening on a fresh port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = daemon.dir.path().join("restart.toml");
    std::fs::write(
        &config,
        format!("rate_limit_enabled = false\n[server]\nlisten = [\"127.0.0.1:{port}\"]\n"),
    )
    .unwrap();
    let mut command = Command::new(common::BIN);
    command
        .arg("--state-dir")
        .arg(&daemon.state)
        .arg("--config")
        .arg(&config)
        .env_remove("LISTEN_FDS")
        .env_remove("NOTIFY_SOCKET")
        .env("MINIMOST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if running_as_root() {
        command.args(["--user", "nobody"]);
    }
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("serving https on") {
                let _ = ready_tx.send(());
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("restarted daemon became ready");

    let stored: HashSet<String> = rt.block_on(async {
        let client = daemon.client();
        let base = format!("https://127.0.0.1:{port}");
        let page = client
            .get(format!("{base}/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let marker = "name=\"csrf_token\" value=\"";
        let start = page.find(marker).unwrap() + marker.len();
        let token = &page[start..start + page[start..].find('"').unwrap()];
        let login = client
            .post(format!("{base}/login"))
            .form(&[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf_token", token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 302);
        let rows: Value = client
            .get(format!("{base}/messages/general?after=0"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["content"].as_str().map(str::to_string))
            .collect()
    });
    let _ = child.kill();
    let _ = child.wait();
    let lost: Vec<&String> = acked.iter().filter(|t| !stored.contains(*t)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered sends lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}
