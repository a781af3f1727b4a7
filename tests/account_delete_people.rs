//! Account deletion (api.md §6.1.7) and the people routes (§6.6): settings, profiles,
//! colours and avatars.

mod common;

use std::time::Duration;

use common::forms::*;
use common::Daemon;
use serde_json::json;

fn db(daemon: &Daemon) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(daemon.state.join("minimost.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

fn count(daemon: &Daemon, sql: &str) -> i64 {
    db(daemon).query_row(sql, [], |r| r.get(0)).unwrap()
}

fn avatar_form(bytes: Vec<u8>, filename: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "avatar",
        reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()),
    )
}

#[test]
fn hard_delete_removes_rows_files_and_sessions() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        let id = signup(&daemon, &client, "alice").await;
        let (_, token) = session(&daemon, &client).await;
        let upload = client
            .post(daemon.url("/avatar"))
            .header("x-csrf-token", &token)
            .multipart(avatar_form(vec![0xff, 0xd8, 0xff, 0xd9], "me.jpg"))
            .send()
            .await
            .unwrap();
        assert_eq!(upload.text().await.unwrap(), "ok");
        db(&daemon)
            .execute(
                "INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES ('general', 'alice', 'secret words', 1, 1)",
                [],
            )
            .unwrap();

        let delete = |body: serde_json::Value| {
            client
                .post(daemon.url("/delete_account"))
                .header("x-csrf-token", &token)
                .json(&body)
                .send()
        };
        let bad = delete(json!({"type": "everything", "password": PASSWORD})).await.unwrap();
        assert_eq!(bad.status(), 400);
        assert_eq!(bad.text().await.unwrap(), r#"{"error":"Invalid delete type."}"#);
        assert_eq!(delete(json!({"type": 5, "password": PASSWORD})).await.unwrap().status(), 400);
        let wrong = delete(json!({"type": "hard", "password": "nope"})).await.unwrap();
        assert_eq!(wrong.status(), 403);
        assert_eq!(wrong.text().await.unwrap(), r#"{"error":"Incorrect password."}"#);

        let done = delete(json!({"type": "hard", "password": PASSWORD})).await.unwrap();
        assert_eq!(done.status(), 200);
        assert!(set_session_line(done.headers()).unwrap().contains("Max-Age=0"));
        assert_eq!(done.text().await.unwrap(), r#"{"status":"ok"}"#);

        assert_eq!(get_with_cookie(&daemon, "/session", &id).await.status(), 401);
    });
    assert_eq!(
        count(
            &daemon,
            "SELECT count(*) FROM messages WHERE sender = 'alice'"
        ),
        0
    );
    assert_eq!(
        count(
            &daemon,
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH '\"secret\"'"
        ),
        0
    );
    assert_eq!(count(&daemon, "SELECT count(*) FROM users"), 0);
    assert_eq!(count(&daemon, "SELECT count(*) FROM password_history"), 0);
    let avatars = std::fs::read_dir(daemon.state.join("avatars"))
        .unwrap()
        .count();
    assert_eq!(avatars, 0, "the avatar file is gone");
    assert!(daemon.log().contains("account_deleted"));

    // The name is free again.
    rt.block_on(signup(&daemon, &daemon.client(), "Alice"));
}

#[test]
fn soft_delete_keeps_rows_as_deleted_user() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        signup(&daemon, &client, "bob").await;
        db(&daemon)
            .execute(
                "INSERT INTO messages(channel, sender, content, ts, change_ts) VALUES ('general', 'bob', 'hello', 1, 1)",
                [],
            )
            .unwrap();
        let (_, token) = session(&daemon, &client).await;
        let done = client
            .post(daemon.url("/delete_account"))
            .header("x-csrf-token", &token)
            .json(&json!({"type": "soft", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200);
    });
    assert_eq!(
        count(
            &daemon,
            "SELECT count(*) FROM messages WHERE sender = 'Deleted User' AND content = 'hello'"
        ),
        1
    );
    assert_eq!(count(&daemon, "SELECT count(*) FROM users"), 0);
}

#[test]
fn settings_profiles_and_colours() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        signup(&daemon, &client, "Carol").await;
        let (_, token) = session(&daemon, &client).await;
        let post = |body: serde_json::Value| {
            client
                .post(daemon.url("/settings"))
                .header("x-csrf-token", &token)
                .json(&body)
                .send()
        };
        let bad = post(json!({"name_color": "red"})).await.unwrap();
        assert_eq!(bad.status(), 400);
        assert_eq!(bad.text().await.unwrap(), "invalid color");
        assert_eq!(post(json!({"bio": 7})).await.unwrap().status(), 400);
        let malformed = client
            .post(daemon.url("/settings"))
            .header("x-csrf-token", &token)
            .header("content-type", "application/json")
            .body("[1, 2")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 400);

        let ok =
            post(json!({"name_color": " #A0b1C2 ", "bio": format!("  {}  ", "b".repeat(300))}))
                .await
                .unwrap();
        assert_eq!(ok.text().await.unwrap(), "ok");
        // An omitted key stays; null clears.
        assert_eq!(post(json!({"bio": null})).await.unwrap().status(), 200);
        let settings: serde_json::Value = client
            .get(daemon.url("/settings"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(settings, json!({"bio": null, "name_color": "#A0b1C2"}));
        post(json!({"bio": format!("  {}  ", "b".repeat(300))}))
            .await
            .unwrap();

        let profile: serde_json::Value = client
            .get(daemon.url("/profile/carol"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(profile["username"], "Carol");
        assert_eq!(profile["bio"].as_str().unwrap().len(), 160);
        let unknown: serde_json::Value = client
            .get(daemon.url("/profile/Nobody"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            unknown,
            json!({"username": "Nobody", "bio": null, "name_color": null})
        );

        let colors: serde_json::Value = client
            .get(daemon.url("/user_colors"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(colors, json!({"Carol": "#A0b1C2"}));
    });
}

#[test]
fn avatars_upload_replace_serve_and_delete() {
    let daemon = Daemon::default_started();
    let rt = runtime();
    let client = daemon.client();
    rt.block_on(async {
        signup(&daemon, &client, "dan").await;
        let (_, token) = session(&daemon, &client).await;
        let upload = |form: reqwest::multipart::Form| {
            client
                .post(daemon.url("/avatar"))
                .header("x-csrf-token", &token)
                .multipart(form)
                .send()
        };
        let none = upload(reqwest::multipart::Form::new().text("other", "x"))
            .await
            .unwrap();
        assert_eq!(
            (none.status().as_u16(), none.text().await.unwrap()),
            (400, "no file".to_string())
        );
        let nameless = upload(avatar_form(vec![1, 2], "")).await.unwrap();
        assert_eq!(nameless.status(), 400);

        assert_eq!(
            upload(avatar_form(vec![1, 2, 3], "../../etc/passwd"))
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            upload(avatar_form(vec![4, 5, 6], "b.png"))
                .await
                .unwrap()
                .status(),
            200
        );
        let files: Vec<String> = std::fs::read_dir(daemon.state.join("avatars"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files.len(), 1, "the previous file was removed: {files:?}");
        assert!(
            files[0].len() == 36 && files[0].ends_with(".jpg"),
            "{files:?}"
        );

        let served = client.get(daemon.url("/avatar/DAN")).send().await.unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(served.headers()["content-type"], "image/jpeg");
        assert_eq!(served.headers()["cache-control"], "private, max-age=86400");
        assert_eq!(served.bytes().await.unwrap().as_ref(), &[4, 5, 6]);
        let list: serde_json::Value = client
            .get(daemon.url("/user_avatars"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list, json!(["dan"]));

        let missing = client
            .get(daemon.url("/avatar/..%2F..%2Fetc"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            (missing.status().as_u16(), missing.text().await.unwrap()),
            (404, "not found".to_string())
        );

        for _ in 0..2 {
            let removed = client
                .delete(daemon.url("/avatar"))
                .header("x-csrf-token", &token)
                .send()
                .await
                .unwrap();
            assert_eq!(removed.text().await.unwrap(), "ok");
        }
        assert_eq!(
            client
                .get(daemon.url("/avatar/dan"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            std::fs::read_dir(daemon.state.join("avatars"))
                .unwrap()
                .count(),
            0
        );
    });
}
