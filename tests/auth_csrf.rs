//! CSRF and Origin (api.md §2.4): every state-changing request needs its session's token and
//! an own (or absent) Origin; the forms re-render on a CSRF failure.

mod common;

use common::forms::*;
use common::{Daemon, Start};

#[test]
fn state_changing_requests_need_the_sessions_own_token() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let alice = daemon.client();
    let bob = daemon.client();
    rt.block_on(async {
        signup(&daemon, &alice, "alice").await;
        signup(&daemon, &bob, "bob").await;
        let (_, bob_token) = session(&daemon, &bob).await;
        let (_, alice_token) = session(&daemon, &alice).await;

        let refused = |status: reqwest::StatusCode, body: String| {
            assert_eq!(status, 403);
            assert_eq!(body, r#"{"error":"invalid csrf token"}"#);
        };
        // Missing, wrong, and another session's token, on a JSON route and a form route.
        for token in [None, Some("x".repeat(43)), Some(bob_token.clone())] {
            let mut request = alice
                .post(daemon.url("/delete_account"))
                .json(&serde_json::json!({"type": "hard", "password": PASSWORD}));
            if let Some(token) = &token {
                request = request.header("x-csrf-token", token);
            }
            let response = request.send().await.unwrap();
            refused(response.status(), response.text().await.unwrap());

            let mut form = vec![("current_password", PASSWORD)];
            if let Some(token) = &token {
                form.push(("csrf_token", token));
            }
            let response = alice
                .post(daemon.url("/change-password"))
                .form(&form)
                .send()
                .await
                .unwrap();
            refused(response.status(), response.text().await.unwrap());
        }
        // A token inside a JSON body does not count.
        let response = alice
            .post(daemon.url("/delete_account"))
            .json(&serde_json::json!({"type": "hard", "password": PASSWORD, "csrf_token": alice_token}))
            .send()
            .await
            .unwrap();
        refused(response.status(), response.text().await.unwrap());
        // Nothing happened: alice is still logged in and her account exists.
        assert_eq!(session(&daemon, &alice).await.0, "alice");

        // The right token in the header passes; the header wins over a wrong form field.
        let response = alice
            .post(daemon.url("/change-password"))
            .header("x-csrf-token", &alice_token)
            .form(&[("csrf_token", "wrong"), ("current_password", "nope")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "got past CSRF to the route's own check");
        assert!(daemon.log().contains("csrf_rejected"), "audit record missing");
    });
}

#[test]
fn a_foreign_origin_is_refused_everywhere() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        signup(&daemon, &client, "carol").await;
        let (_, token) = session(&daemon, &client).await;
        for origin in ["https://evil.example", "null", "http://127.0.0.1"] {
            let response = client
                .post(daemon.url("/logout"))
                .header("x-csrf-token", &token)
                .header("origin", origin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "{origin}");
            assert_eq!(
                response.text().await.unwrap(),
                r#"{"error":"cross-origin request refused"}"#
            );
        }
        // The login form gets the generic 403 too, not a re-rendered form.
        let anon = daemon.client();
        let form_token = form_token(&daemon, &anon, "/login").await;
        let response = anon
            .post(daemon.url("/login"))
            .header("origin", "https://evil.example")
            .form(&[
                ("csrf_token", form_token.as_str()),
                ("username", "carol"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("cross-origin request refused"));

        // The server's own origin passes.
        let own = format!("https://{}", daemon.https);
        let response = client
            .post(daemon.url("/logout"))
            .header("x-csrf-token", &token)
            .header("origin", own)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
    });
}

#[test]
fn forms_re_render_with_a_fresh_token_on_csrf_failure() {
    let daemon = Daemon::start(Start {
        config: Some("[rate_limits]\nlogin = [2, 60]\n".into()),
        own_sockets: true,
        ..Start::default()
    });
    let rt = runtime();
    rt.block_on(async {
        let owner = daemon.client();
        signup(&daemon, &owner, "dave").await;
        // No cookie and no token at all.
        for path in ["/login", "/signup"] {
            let client = daemon.client();
            let response = client
                .post(daemon.url(path))
                .form(&[
                    ("username", "dave"),
                    ("password", PASSWORD),
                    ("confirm_password", PASSWORD),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "{path}");
            assert!(
                set_session(response.headers()).is_some(),
                "a fresh pre-login cookie"
            );
            let html = response.text().await.unwrap();
            assert!(
                html.contains("Your session expired. Please try again."),
                "{html}"
            );
            assert!(html.contains("value=\"dave\""), "username kept: {html}");
            // The fresh token works with the fresh cookie (and CSRF failures used no budget).
            if path == "/login" {
                let token = form_csrf(&html);
                let retry = client
                    .post(daemon.url("/login"))
                    .form(&[
                        ("csrf_token", token.as_str()),
                        ("username", "dave"),
                        ("password", PASSWORD),
                    ])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(retry.status(), 302);
            }
        }
        // A wrong token with a valid pre-login cookie, three times: still no budget used.
        let anon = daemon.client();
        form_token(&daemon, &anon, "/login").await;
        for _ in 0..3 {
            let response = anon
                .post(daemon.url("/login"))
                .form(&[
                    ("csrf_token", "forged"),
                    ("username", "dave"),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403);
        }
        assert_eq!(
            post_login(&daemon, &anon, "dave", PASSWORD).await.status(),
            302
        );
    });
}
