//! The daemon as systemd and an operator see it: socket activation, sd_notify, watchdog,
//! reload, shutdown, STUN, TLS, the control socket and privileges.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{running_as_root, Daemon, Start};
use nix::sys::signal::Signal;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const CHANNELS_A: &str = "channels = [\"general\", \"random\"]\n";
const CHANNELS_B: &str = "channels = [\"general\", \"random\", \"announcements\"]\n";

#[test]
fn socket_activated_lifecycle_speaks_sd_notify() {
    let mut daemon = Daemon::start(Start {
        config: Some(CHANNELS_A.into()),
        notify: true,
        watchdog_usec: Some(400_000),
        own_sockets: true,
        ..Start::default()
    });

    // READY=1 comes only once the sockets serve: /healthz answers at once.
    let ready = daemon.wait_notify("READY=1");
    assert!(ready.contains("STATUS="), "{ready}");
    let rt = runtime();
    let client = daemon.client();
    let health = rt.block_on(async { client.get(daemon.url("/healthz")).send().await.unwrap() });
    assert_eq!(health.status(), 200);
    assert_eq!(rt.block_on(health.text()).unwrap(), r#"{"status":"ok"}"#);

    // The watchdog keeps being fed (interval: half of 400 ms).
    for _ in 0..3 {
        daemon.wait_notify("WATCHDOG=1");
    }

    // SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1, and the new channel list applies.
    let channels = |d: &Daemon| String::from_utf8(d.ctl(&["channels", "--json"]).stdout).unwrap();
    assert!(!channels(&daemon).contains("announcements"));
    daemon.write_config(CHANNELS_B);
    daemon.signal(Signal::SIGHUP);
    let reloading = daemon.wait_notify("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    daemon.wait_notify("READY=1");
    assert!(
        channels(&daemon).contains("announcements"),
        "{}",
        channels(&daemon)
    );

    // A broken file on SIGHUP keeps the old settings and says why.
    daemon.write_config("channels = [\"general\"]\nmax_upload_size_mb = -3\n");
    daemon.signal(Signal::SIGHUP);
    daemon.wait_notify("RELOADING=1");
    daemon.wait_notify("READY=1");
    assert!(
        daemon.wait_log("max_upload_size_mb", Duration::from_secs(5)),
        "reload error not logged:\n{}",
        daemon.log()
    );
    assert!(daemon.log().contains("line 2"), "{}", daemon.log());
    assert!(
        channels(&daemon).contains("announcements"),
        "old settings were not kept"
    );

    // SIGTERM: STOPPING=1 and a clean exit.
    daemon.signal(Signal::SIGTERM);
    daemon.wait_notify("STOPPING=1");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        daemon.log()
    );
}

#[test]
fn self_bound_daemon_serves_https_stun_and_its_ca() {
    let stun_port = {
        let probe = UdpSocket::bind("[::]:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let daemon = Daemon::start(Start {
        config: Some(format!(
            "stun_port = {stun_port}\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
        )),
        ..Start::default()
    });

    // /ca.pem is the CA that verifies the served chain: the client trusts nothing else.
    let rt = runtime();
    let client = daemon.client();
    let ca = rt.block_on(async { client.get(daemon.url("/ca.pem")).send().await.unwrap() });
    assert_eq!(ca.status(), 200);
    assert_eq!(ca.headers()["content-type"], "application/x-pem-file");
    assert_eq!(
        ca.headers()["content-disposition"],
        "attachment; filename=minimost-ca.pem"
    );
    let served = rt.block_on(ca.bytes()).unwrap();
    assert_eq!(&served[..], &daemon.ca_pem()[..]);
    assert!(!String::from_utf8_lossy(&served).contains("PRIVATE KEY"));

    // STUN: a Binding Request is answered with our own address, XORed.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    request.extend_from_slice(b"transact-id!");
    socket.send_to(&request, ("127.0.0.1", stun_port)).unwrap();
    let mut reply = [0u8; 64];
    let (n, _) = socket.recv_from(&mut reply).expect("STUN reply");
    assert_eq!(n, 32);
    assert_eq!(&reply[0..2], &[0x01, 0x01]);
    assert_eq!(&reply[8..20], b"transact-id!");
    let port = u16::from_be_bytes([reply[26], reply[27]]) ^ 0x2112;
    assert_eq!(port, socket.local_addr().unwrap().port());
    let ip: Vec<u8> = reply[28..32]
        .iter()
        .zip([0x21, 0x12, 0xA4, 0x42])
        .map(|(a, b)| a ^ b)
        .collect();
    assert_eq!(ip, vec![127, 0, 0, 1]);

    // The answer is counted in minimostctl status.
    let status = daemon.ctl(&["status", "--json"]);
    assert!(status.status.success(), "{status:?}");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["stun_binding_requests_answered"], 1);
}

#[test]
fn every_response_carries_the_security_headers() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    for path in ["/healthz", "/no/such/route"] {
        let response = rt.block_on(async { client.get(daemon.url(path)).send().await.unwrap() });
        let h = response.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert_eq!(
            h["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
        assert_eq!(h["cache-control"], "no-store");
    }
}

#[test]
fn generic_errors_are_json_or_an_html_page_for_navigations() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    let json = rt.block_on(async { client.get(daemon.url("/nope")).send().await.unwrap() });
    assert_eq!(json.status(), 404);
    assert_eq!(
        rt.block_on(json.text()).unwrap(),
        r#"{"error":"The requested resource was not found."}"#
    );

    let page = rt.block_on(async {
        client
            .get(daemon.url("/nope"))
            .header("sec-fetch-mode", "navigate")
            .send()
            .await
            .unwrap()
    });
    assert_eq!(page.status(), 404);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let body = rt.block_on(page.text()).unwrap();
    assert!(
        body.contains("<title>404 \u{2013} MiniMost</title>"),
        "{body}"
    );
    assert!(body.contains(
        r#"<div class="auth-error" role="alert">The requested resource was not found.</div>"#
    ));

    let wrong_method =
        rt.block_on(async { client.delete(daemon.url("/healthz")).send().await.unwrap() });
    assert_eq!(wrong_method.status(), 405);
    assert!(wrong_method.headers()["allow"]
        .to_str()
        .unwrap()
        .contains("GET"));

    let options = rt.block_on(async {
        client
            .request(reqwest::Method::OPTIONS, daemon.url("/healthz"))
            .send()
            .await
            .unwrap()
    });
    assert_eq!(options.status(), 204);
    assert!(options.headers()["allow"].to_str().unwrap().contains("GET"));

    let head = rt.block_on(async { client.head(daemon.url("/healthz")).send().await.unwrap() });
    assert_eq!(head.status(), 200);

    let long = format!("/ca.pem?x={}", "a".repeat(3000));
    let overlong = rt.block_on(async { client.get(daemon.url(&long)).send().await.unwrap() });
    assert_eq!(overlong.status(), 400);
}

#[test]
fn http2_is_negotiated_by_alpn() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let ca = reqwest::Certificate::from_pem(&daemon.ca_pem()).unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = rt.block_on(async { client.get(daemon.url("/healthz")).send().await.unwrap() });
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
}

#[test]
fn check_config_validates_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "channels = [\"a\"]\n").unwrap();
    let ok = std::process::Command::new(common::BIN)
        .arg("--check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "# comment\n\nstun_port = 70000\n").unwrap();
    let refused = std::process::Command::new(common::BIN)
        .arg("--check-config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("stun_port") && message.contains("line 3"),
        "{message}"
    );

    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/minimost.toml");
    let status = std::process::Command::new(common::BIN)
        .arg("--check-config")
        .arg(shipped)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn an_invalid_config_at_start_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("minimost.toml");
    std::fs::write(&config, "channels = []\n").unwrap();
    let mut command = std::process::Command::new(common::BIN);
    command
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"));
    if running_as_root() {
        command.args(["--user", "nobody"]);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("channels"));
}

#[test]
fn root_without_user_is_refused_and_with_user_drops_everything() {
    if !running_as_root() {
        eprintln!("SKIP: needs root to exercise the privilege drop");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(common::BIN)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--user"),
        "{output:?}"
    );

    let daemon = Daemon::default_started();
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing"))
            .split_whitespace()
            .skip(1)
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw()
        .to_string();
    assert!(field("Uid:").iter().all(|uid| *uid == nobody), "{status}");
    for caps in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
        assert_eq!(
            field(caps),
            vec!["0000000000000000".to_string()],
            "{caps}\n{status}"
        );
    }
}

#[test]
fn control_socket_reports_status_and_refuses_when_unreachable() {
    let daemon = Daemon::default_started();
    let output = daemon.ctl(&["status"]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("uptime") && text.contains("users") && text.contains("database size"),
        "{text}"
    );

    let missing = std::process::Command::new(common::CTL)
        .args(["--socket", "/nonexistent/control.sock", "status"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
