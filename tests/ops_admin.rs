//! The operator's view over the control socket: metrics and the cleanup command.

mod common;

use common::Daemon;

#[test]
fn metrics_count_requests_by_route_and_status() {
    let daemon = Daemon::default_started();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = daemon.client();
    rt.block_on(async {
        for _ in 0..3 {
            client.get(daemon.url("/healthz")).send().await.unwrap();
        }
        client
            .get(daemon.url("/no-such-page"))
            .send()
            .await
            .unwrap();
    });
    let output = daemon.ctl(&["metrics"]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let healthz = text
        .lines()
        .find(|l| {
            l.starts_with(
                "minimost_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}",
            )
        })
        .unwrap_or_else(|| panic!("{text}"));
    let count: u64 = healthz.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3, "{healthz}");
    assert!(
        text.contains("route=\"unmatched\",status=\"404\""),
        "{text}"
    );
    assert!(text.contains("# TYPE minimost_http_request_duration_seconds histogram"));
    assert!(text.contains("minimost_database_bytes "));
}

#[test]
fn cleanup_reports_what_it_would_remove_and_records_its_run() {
    let daemon = Daemon::default_started();
    // An upload file from long ago, referenced by no message: an orphan past its age limit.
    let old = daemon
        .state
        .join("uploads/0123456789abcdef0123456789abcdef_old.txt");
    std::fs::write(&old, b"stale").unwrap();
    let ancient = std::time::SystemTime::now() - std::time::Duration::from_secs(90 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(ancient)
        .unwrap();

    let dry = daemon.ctl(&["cleanup", "--dry-run", "--json"]);
    assert!(dry.status.success(), "{dry:?}");
    let report: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(report["files_expired"], 1);
    assert!(old.exists(), "a dry run deleted a file");

    let real = daemon.ctl(&["cleanup"]);
    assert!(real.status.success(), "{real:?}");
    assert!(String::from_utf8_lossy(&real.stdout).contains("expired uploads:       1"));
    assert!(!old.exists());
    let status: serde_json::Value =
        serde_json::from_slice(&daemon.ctl(&["status", "--json"]).stdout).unwrap();
    assert!(status["last_cleanup_ts"].as_f64().is_some(), "{status}");
}

#[test]
fn minimostctl_reload_is_the_same_as_sighup() {
    let daemon = Daemon::start(common::Start {
        config: Some("channels = [\"general\"]\n".into()),
        own_sockets: true,
        ..common::Start::default()
    });
    daemon.write_config("channels = [\"general\", \"ops\"]\n");
    let reload = daemon.ctl(&["reload"]);
    assert!(reload.status.success(), "{reload:?}");
    assert!(
        daemon.wait_log("settings reloaded", std::time::Duration::from_secs(5)),
        "{}",
        daemon.log()
    );
    let channels: serde_json::Value =
        serde_json::from_slice(&daemon.ctl(&["channels", "--json"]).stdout).unwrap();
    assert_eq!(channels["public"], serde_json::json!(["general", "ops"]));
}
