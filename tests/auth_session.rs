//! Sessions (api.md §2.1–2.3, §6.1.1–6.1.3): signup and login start a session with a rotated
//! id, logout revokes it, and a replayed cookie is refused.

mod common;

use common::forms::*;
use common::Daemon;

#[test]
fn signup_starts_a_session_that_the_app_page_and_session_route_see() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        // The signup page binds its form to a pre-login cookie without Max-Age.
        let page = client.get(daemon.url("/signup")).send().await.unwrap();
        let line = set_session_line(page.headers()).expect("pre-login cookie");
        assert!(
            line.contains("HttpOnly") && line.contains("SameSite=Lax") && line.contains("Secure"),
            "{line}"
        );
        assert!(!line.contains("Max-Age"), "{line}");

        let response = post_signup(&daemon, &client, "Alice", PASSWORD, PASSWORD).await;
        assert_eq!(response.status(), 302);
        assert_eq!(response.headers()["location"], "/");
        let line = set_session_line(response.headers()).unwrap();
        assert!(line.contains("Max-Age=2592000"), "{line}");
        let id = set_session(response.headers()).unwrap();
        assert_eq!(id.len(), 43);

        let (user, csrf) = session(&daemon, &client).await;
        assert_eq!(user, "Alice");
        assert_eq!(csrf.len(), 43);

        let app = client.get(daemon.url("/")).send().await.unwrap();
        assert_eq!(app.status(), 200);
        let html = app.text().await.unwrap();
        assert!(
            html.contains(&format!("<meta name=\"csrf-token\" content=\"{csrf}\">")),
            "{html}"
        );
        assert!(html.contains("name=\"minimost-config\""), "{html}");
        assert!(
            html.contains("&quot;max_message_chars&quot;:10000"),
            "{html}"
        );
        assert!(html.contains("<title>MiniMost</title>"));
    });
}

#[test]
fn without_a_session_pages_redirect_and_other_requests_get_401() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        let page = client
            .get(daemon.url("/"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 302);
        assert_eq!(page.headers()["location"], "/login");

        let api = client.get(daemon.url("/session")).send().await.unwrap();
        assert_eq!(api.status(), 401);
        assert_eq!(api.text().await.unwrap(), r#"{"error":"login required"}"#);

        // A POST navigation is not a GET: 401, not a redirect.
        let post = client
            .post(daemon.url("/logout"))
            .header("sec-fetch-mode", "navigate")
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 401);

        // Public pages need no session.
        for path in ["/login", "/signup", "/about", "/forgot-password"] {
            let response = client.get(daemon.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
        }
    });
}

#[test]
fn a_cookie_replayed_after_logout_is_refused_and_expired() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        let id = signup(&daemon, &client, "bob").await;
        assert_eq!(
            get_with_cookie(&daemon, "/session", &id).await.status(),
            200
        );

        let (_, csrf) = session(&daemon, &client).await;
        let out = client
            .post(daemon.url("/logout"))
            .header("x-csrf-token", csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 302);
        assert_eq!(out.headers()["location"], "/login?logged_out=1");
        assert!(set_session_line(out.headers())
            .unwrap()
            .contains("Max-Age=0"));

        let replay = get_with_cookie(&daemon, "/session", &id).await;
        assert_eq!(replay.status(), 401);
        assert!(set_session_line(replay.headers())
            .unwrap()
            .contains("Max-Age=0"));

        let notice = client
            .get(daemon.url("/login?logged_out=1"))
            .send()
            .await
            .unwrap();
        assert!(notice
            .text()
            .await
            .unwrap()
            .contains("You have been logged out. Your session was securely terminated."));
    });
}

#[test]
fn get_logout_also_revokes() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        let id = signup(&daemon, &client, "carol").await;
        let out = client.get(daemon.url("/logout")).send().await.unwrap();
        assert_eq!(out.status(), 302);
        assert_eq!(
            get_with_cookie(&daemon, "/session", &id).await.status(),
            401
        );
    });
}

#[test]
fn login_rotates_the_session_id_and_revokes_the_old_one() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        let first = signup(&daemon, &client, "Dave").await;
        // Case-insensitive lookup; the registered spelling is what the session names.
        let second = login(&daemon, &client, "dAVE", PASSWORD).await;
        assert_ne!(first, second);
        assert_eq!(
            get_with_cookie(&daemon, "/session", &first).await.status(),
            401
        );
        let (user, _) = session(&daemon, &client).await;
        assert_eq!(user, "Dave");
        assert!(
            daemon.log().contains("AUDIT_EVENT") || daemon.log().contains("login_ok"),
            "{}",
            daemon.log()
        );
    });
}

#[test]
fn wrong_or_missing_credentials_re_render_or_fail_plainly() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        signup(&daemon, &client, "erin").await;
        let anon = daemon.client();
        let wrong = post_login(&daemon, &anon, "erin", "Wrong-password-123").await;
        assert_eq!(wrong.status(), 200);
        let html = wrong.text().await.unwrap();
        assert!(
            html.contains("<div class=\"auth-error\" role=\"alert\">Invalid credentials</div>"),
            "{html}"
        );
        assert!(
            html.contains("value=\"erin\""),
            "the typed name is kept: {html}"
        );

        let unknown = post_login(&daemon, &anon, "nobody-here", PASSWORD).await;
        assert!(unknown
            .text()
            .await
            .unwrap()
            .contains("Invalid credentials"));

        let too_long = post_login(&daemon, &anon, "erin", &"x".repeat(1025)).await;
        assert!(too_long
            .text()
            .await
            .unwrap()
            .contains("Invalid credentials"));

        let token = form_token(&daemon, &anon, "/login").await;
        let missing = anon
            .post(daemon.url("/login"))
            .form(&[("csrf_token", token.as_str()), ("username", "erin")])
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 400);

        // A 2 KB user name is just an unknown user.
        let long_name = post_login(&daemon, &anon, &"a".repeat(2000), PASSWORD).await;
        assert_eq!(long_name.status(), 200);
    });
}

#[test]
fn an_idle_session_expires() {
    // 0.02 minutes = 1.2 seconds without activity.
    let daemon = Daemon::start(common::Start {
        config: Some("session_idle_minutes = 0.02\n".into()),
        own_sockets: true,
        ..common::Start::default()
    });
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        signup(&daemon, &client, "ida").await;
        assert_eq!(session(&daemon, &client).await.0, "ida");
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let expired = client.get(daemon.url("/session")).send().await.unwrap();
        assert_eq!(expired.status(), 401);
        assert!(daemon.wait_log("session_expired", std::time::Duration::from_secs(5)));
    });
}
