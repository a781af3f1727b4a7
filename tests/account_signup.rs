//! Signup (api.md §6.1.2): the checks in order, and what a new account gets.

mod common;

use common::forms::*;
use common::Daemon;

#[test]
fn signup_refuses_bad_input_in_contract_order() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    rt.block_on(async {
        let client = daemon.client();
        let message = |name: String, password: &'static str, confirm: &'static str| {
            let client = client.clone();
            let daemon = &daemon;
            async move {
                let response = post_signup(daemon, &client, &name, password, confirm).await;
                assert_eq!(response.status(), 200, "{name}");
                let html = response.text().await.unwrap();
                let start = html.find("role=\"alert\">").expect(&html) + "role=\"alert\">".len();
                html[start..start + html[start..].find("</div>").unwrap()].to_string()
            }
        };
        assert_eq!(message("  ".into(), PASSWORD, PASSWORD).await, "Missing fields");
        assert_eq!(message("x".into(), "", "").await, "Missing fields");
        assert_eq!(message("System".into(), PASSWORD, PASSWORD).await, "&quot;System&quot; is a protected username");
        let invalid = "Username may only contain letters, numbers, hyphens, and underscores (1\u{2013}32 characters)";
        assert_eq!(message("bad name".into(), PASSWORD, PASSWORD).await, invalid);
        // A Cyrillic look-alike and a 2 KB name.
        assert_eq!(message("\u{0410}lice".into(), PASSWORD, PASSWORD).await, invalid);
        assert_eq!(message("a".repeat(2048), PASSWORD, PASSWORD).await, invalid);
        assert_eq!(message("ok".into(), "short", "short").await, "Password must be at least 15 characters");
        assert_eq!(message("ok".into(), PASSWORD, OTHER_PASSWORD).await, "Passwords do not match");

        signup(&daemon, &daemon.client(), "Frank").await;
        assert_eq!(message("fRANK".into(), PASSWORD, PASSWORD).await, "User already exists");

        // Fields missing entirely are a plain 400.
        let token = form_token(&daemon, &client, "/signup").await;
        let response = client
            .post(daemon.url("/signup"))
            .form(&[("csrf_token", token.as_str()), ("username", "zed"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    });
    assert!(daemon.log().contains("AUDIT_EVENT") && daemon.log().contains("signup"));
}

#[test]
fn signup_posts_the_welcome_as_the_only_unread_row() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    rt.block_on(signup(&daemon, &daemon.client(), "gus"));
    let conn = rusqlite::Connection::open(daemon.state.join("minimost.db")).unwrap();
    let (channel, sender, content, kind, ts): (String, String, String, String, f64) = conn
        .query_row(
            "SELECT channel, sender, content, content_type, ts FROM messages",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(channel, "general");
    assert_eq!(sender, "system");
    assert_eq!(kind, "system");
    assert_eq!(
        content,
        "Welcome to MiniMost, gus! \u{1F44B} Say hello \u{1F44B}"
    );
    let marks: Vec<f64> = conn
        .prepare("SELECT last_read_ts FROM watermarks")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(marks.len(), 5, "one per public channel");
    assert!(marks.iter().all(|m| *m < ts), "{marks:?} vs {ts}");
}
