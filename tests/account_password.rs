//! Passwords (api.md §6.1.3–6.1.6, §11): storage in PHC form, Werkzeug hashes upgraded at
//! login, change-password, reset links issued by minimostctl, and revocation of sessions.

mod common;

use std::time::Duration;

use common::forms::*;
use common::{Daemon, Start};

fn db(daemon: &Daemon) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(daemon.state.join("minimost.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

fn stored_hash(daemon: &Daemon, name: &str) -> String {
    db(daemon)
        .query_row(
            "SELECT password_hash FROM users WHERE username = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn stored_hash_is_phc_pbkdf2_with_at_least_600000_iterations() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(signup(&daemon, &client, "alice"));
    let hash = stored_hash(&daemon, "alice");
    let rest = hash.strip_prefix("$pbkdf2-sha256$i=").expect(&hash);
    let iterations: u64 = rest.split([',', '$']).next().unwrap().parse().unwrap();
    assert!(iterations >= 600_000, "{hash}");
    assert!(!hash.contains(PASSWORD));
}

#[test]
fn a_werkzeug_hash_logs_in_and_is_upgraded() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(signup(&daemon, &client, "walt"));
    // A hash as the Python MiniMost wrote it, put straight into the store.
    let salt = "NaCl4WerkzeugSalt";
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(OTHER_PASSWORD.as_bytes(), salt.as_bytes(), 1000, &mut key);
    let legacy = format!("pbkdf2:sha256:1000${salt}${}", hex::encode(key));
    db(&daemon)
        .execute(
            "UPDATE users SET password_hash = ?1 WHERE username = 'walt'",
            [&legacy],
        )
        .unwrap();
    rt.block_on(async {
        let anon = daemon.client();
        let html = post_login(&daemon, &anon, "walt", PASSWORD)
            .await
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("Invalid credentials"),
            "the old password no longer works"
        );
        login(&daemon, &anon, "walt", OTHER_PASSWORD).await;
    });
    let upgraded = stored_hash(&daemon, "walt");
    assert!(
        upgraded.starts_with("$pbkdf2-sha256$i=600000"),
        "{upgraded}"
    );
    rt.block_on(async {
        login(&daemon, &daemon.client(), "walt", OTHER_PASSWORD).await;
    });
}

#[test]
fn change_password_checks_in_order_and_revokes_other_sessions() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        signup(&daemon, &client, "bob").await;
        let other = daemon.client();
        let other_id = login(&daemon, &other, "bob", PASSWORD).await;
        let (_, token) = session(&daemon, &client).await;
        let change = |current: &str, new: &str, confirm: &str| {
            client
                .post(daemon.url("/change-password"))
                .header("x-csrf-token", &token)
                .form(&[
                    ("current_password", current),
                    ("new_password", new),
                    ("confirm_password", confirm),
                ])
                .send()
        };
        let error = |r: reqwest::Response| async move {
            assert_eq!(r.status(), 400);
            let body: serde_json::Value = r.json().await.unwrap();
            body["error"].as_str().unwrap().to_string()
        };
        assert_eq!(
            error(
                change("wrong", OTHER_PASSWORD, OTHER_PASSWORD)
                    .await
                    .unwrap()
            )
            .await,
            "Current password is incorrect"
        );
        assert_eq!(
            error(change(PASSWORD, "short", "short").await.unwrap()).await,
            "Password must be at least 15 characters"
        );
        assert_eq!(
            error(
                change(PASSWORD, OTHER_PASSWORD, "different-Confirm-1")
                    .await
                    .unwrap()
            )
            .await,
            "Passwords do not match"
        );
        assert_eq!(
            error(change(PASSWORD, PASSWORD, PASSWORD).await.unwrap()).await,
            "New password must not match any of your last 5 passwords."
        );
        let ok = change(PASSWORD, OTHER_PASSWORD, OTHER_PASSWORD)
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.text().await.unwrap(), r#"{"ok":true}"#);

        // This session goes on with the same token; the other one is gone.
        assert_eq!(session(&daemon, &client).await.1, token);
        assert_eq!(
            get_with_cookie(&daemon, "/session", &other_id)
                .await
                .status(),
            401
        );
        // The old password is history now.
        assert_eq!(
            error(change(OTHER_PASSWORD, PASSWORD, PASSWORD).await.unwrap()).await,
            "New password must not match any of your last 5 passwords."
        );
        login(&daemon, &daemon.client(), "bob", OTHER_PASSWORD).await;
    });
}

#[test]
fn password_ages_are_enforced() {
    let daemon = Daemon::start(Start {
        config: Some("password_min_age_hours = 1\npassword_max_age_days = 0.00002\n".into()),
        own_sockets: true,
        ..Start::default()
    });
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        signup(&daemon, &client, "carol").await;
        let (_, token) = session(&daemon, &client).await;
        let response = client
            .post(daemon.url("/change-password"))
            .header("x-csrf-token", &token)
            .form(&[
                ("current_password", PASSWORD),
                ("new_password", OTHER_PASSWORD),
                ("confirm_password", OTHER_PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"error":"Your password was changed too recently. Try again in about 1 hour."}"#
        );
        // 0.00002 days is under two seconds.
        tokio::time::sleep(Duration::from_millis(1900)).await;
        let html = post_login(&daemon, &daemon.client(), "carol", PASSWORD).await.text().await.unwrap();
        assert!(html.contains("Your password has expired. Ask an administrator to reset it (minimostctl reset-password)."), "{html}");
    });
}

fn reset_url(daemon: &Daemon, args: &[&str]) -> String {
    let output = daemon.ctl(args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    lines[1].to_string()
}

#[test]
fn minimostctl_reset_password_prints_a_single_use_link() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    let old_session = rt.block_on(signup(&daemon, &client, "Dora"));

    let unknown = daemon.ctl(&["reset-password", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr).trim(),
        "Error: user 'nobody' does not exist"
    );

    let output = daemon.ctl(&[
        "reset-password",
        "dora",
        "--expires",
        "1",
        "--base-url",
        "https://chat.example/",
    ]);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "Password reset URL for 'Dora' (expires in 1 minute):"
    );
    let url = lines.next().unwrap();
    let token = url
        .strip_prefix("https://chat.example/reset-password/")
        .expect(url);
    assert_eq!(token.len(), 43);

    // The notice sits in the DM of Dora and system.
    let notice: String = db(&daemon)
        .query_row(
            "SELECT content FROM messages WHERE channel = 'dm:Dora:system' AND sender = 'system'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        notice.contains("The reset link will expire in 1 minute."),
        "{notice}"
    );

    rt.block_on(async {
        let visitor = daemon.client();
        let path = format!("/reset-password/{token}");
        let page = visitor.get(daemon.url(&path)).send().await.unwrap();
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Set new password") && html.contains("<strong>Dora</strong>"),
            "{html}"
        );
        let csrf = form_csrf(&html);
        let post = |password: &'static str| {
            visitor
                .post(daemon.url(&path))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("password", password),
                    ("confirm_password", password),
                ])
                .send()
        };
        // A policy failure re-renders the form; reuse is refused too.
        let html = post("weak").await.unwrap().text().await.unwrap();
        assert!(
            html.contains("Password must be at least 15 characters"),
            "{html}"
        );
        let html = post(PASSWORD).await.unwrap().text().await.unwrap();
        assert!(html.contains("must not match"), "{html}");
        let done = post(OTHER_PASSWORD).await.unwrap();
        assert_eq!(done.status(), 200);
        let html = done.text().await.unwrap();
        assert!(
            html.contains("Password updated") && html.contains("Go to login"),
            "{html}"
        );

        // Used once: the link is now invalid, and the old session was revoked.
        let again = post(PASSWORD).await.unwrap().text().await.unwrap();
        assert!(again.contains("Link invalid or expired"), "{again}");
        assert_eq!(
            get_with_cookie(&daemon, "/session", &old_session)
                .await
                .status(),
            401
        );
        login(&daemon, &daemon.client(), "dora", OTHER_PASSWORD).await;
    });
}

#[test]
fn a_reset_link_expires() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(signup(&daemon, &client, "eve"));
    let url = reset_url(
        &daemon,
        &["reset-password", "eve", "--base-url", "https://x"],
    );
    let token = url.rsplit('/').next().unwrap().to_string();
    // Move the expiry into the past rather than waiting a minute.
    db(&daemon)
        .execute("UPDATE reset_tokens SET expires_ts = expires_ts - 7200", [])
        .unwrap();
    rt.block_on(async {
        let html = daemon
            .client()
            .get(daemon.url(&format!("/reset-password/{token}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Link invalid or expired"), "{html}");
        let unknown = daemon
            .client()
            .get(daemon.url("/reset-password/nonsense"))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 200);
        assert!(
            set_session(unknown.headers()).is_none(),
            "the invalid page sets no cookie"
        );
    });
    let bad = daemon.ctl(&["reset-password", "eve", "--expires", "0"]);
    assert!(!bad.status.success());
}
