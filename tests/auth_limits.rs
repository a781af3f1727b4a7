//! Rate limits (api.md §3) and lockout (§6.1.5): 429 with a correct Retry-After, re-rendered
//! forms, and a lock that starts at the Nth failure and ends after its duration.

mod common;

use std::time::Duration;

use common::forms::*;
use common::{Daemon, Start};

fn started(config: &str) -> Daemon {
    Daemon::start(Start {
        config: Some(config.into()),
        own_sockets: true,
        ..Start::default()
    })
}

#[test]
fn login_form_re_renders_429_with_retry_after() {
    let daemon = started("[rate_limits]\nlogin = [3, 60]\n");
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        for _ in 0..3 {
            let response = post_login(&daemon, &client, "ghost", PASSWORD).await;
            assert_eq!(response.status(), 200);
        }
        let response = post_login(&daemon, &client, "ghost", PASSWORD).await;
        assert_eq!(response.status(), 429);
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((59..=61).contains(&retry), "{retry}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains(&format!(
                "You&#x27;re doing that too quickly. Please wait {retry} seconds and try again."
            )) || html.contains(&format!(
                "You're doing that too quickly. Please wait {retry} seconds and try again."
            )),
            "{html}"
        );
        assert!(html.contains("name=\"csrf_token\""));
    });
}

#[test]
fn json_routes_get_429_json_per_user() {
    let daemon = started("[rate_limits]\npassword_reset = [2, 3600]\n");
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        signup(&daemon, &client, "erin").await;
        let (_, token) = session(&daemon, &client).await;
        let change = || {
            client
                .post(daemon.url("/change-password"))
                .header("x-csrf-token", &token)
                .form(&[("current_password", "wrong")])
                .send()
        };
        // A failing attempt still uses its hit.
        assert_eq!(change().await.unwrap().status(), 400);
        assert_eq!(change().await.unwrap().status(), 400);
        let refused = change().await.unwrap();
        assert_eq!(refused.status(), 429);
        let header: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["retry_after"], header);
        assert!((3599..=3601).contains(&header), "{header}");
        assert_eq!(
            body["error"],
            format!("You're doing that too quickly. Please wait {header} seconds and try again.")
        );
        // Another user has a window of their own.
        let other = daemon.client();
        signup(&daemon, &other, "frank").await;
        let (_, other_token) = session(&daemon, &other).await;
        let response = other
            .post(daemon.url("/change-password"))
            .header("x-csrf-token", &other_token)
            .form(&[("current_password", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    });
}

#[test]
fn rate_limits_can_be_switched_off() {
    let daemon = started("rate_limit_enabled = false\n[rate_limits]\nlogin = [1, 60]\n");
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        for _ in 0..3 {
            assert_eq!(
                post_login(&daemon, &client, "ghost", PASSWORD)
                    .await
                    .status(),
                200
            );
        }
    });
}

#[test]
fn lockout_starts_at_the_nth_failure_and_ends_after_its_duration() {
    // 0.05 minutes = 3 seconds.
    let daemon = started("max_login_attempts = 3\nlockout_duration_minutes = 0.05\n");
    let rt = runtime();
    let owner = daemon.client();
    rt.block_on(async {
        signup(&daemon, &owner, "gina").await;
        let client = daemon.client();
        let text = |r: reqwest::Response| async move { r.text().await.unwrap() };
        for _ in 0..2 {
            let html = text(post_login(&daemon, &client, "gina", "Wrong-Password-123").await).await;
            assert!(html.contains("Invalid credentials"), "{html}");
        }
        let html = text(post_login(&daemon, &client, "GINA", "Wrong-Password-123").await).await;
        assert!(
            html.contains(
                "Account locked due to too many failed login attempts. Try again in 1 minute."
            ),
            "third failure locks: {html}"
        );
        // While locked even the right password is refused.
        let html = text(post_login(&daemon, &client, "gina", PASSWORD).await).await;
        assert!(html.contains("Account locked"), "{html}");
        assert!(daemon.log().contains("login_locked"));

        tokio::time::sleep(Duration::from_millis(3200)).await;
        assert_eq!(
            post_login(&daemon, &client, "gina", PASSWORD)
                .await
                .status(),
            302
        );
        // The counter was reset by the lock and the success: two more failures do not lock.
        let other = daemon.client();
        for _ in 0..2 {
            let html = text(post_login(&daemon, &other, "gina", "Wrong-Password-123").await).await;
            assert!(html.contains("Invalid credentials"), "{html}");
        }
        assert_eq!(
            post_login(&daemon, &other, "gina", PASSWORD).await.status(),
            302
        );
    });
}

#[test]
fn unknown_names_are_never_locked() {
    let daemon = started("max_login_attempts = 1\n");
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        for _ in 0..3 {
            let html = post_login(&daemon, &client, "nobody", PASSWORD)
                .await
                .text()
                .await
                .unwrap();
            assert!(html.contains("Invalid credentials"), "{html}");
        }
    });
}
