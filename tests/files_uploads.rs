//! Uploads (api.md §6.4): naming, serving headers, validators and ranges, previews, and
//! authorization on every download.

mod chat_common;
mod common;

use chat_common::{runtime, signup, unlimited_daemon, User};
use serde_json::{json, Value};

async fn upload(user: &User, channel: &str, name: &str, data: &[u8]) -> String {
    let form = reqwest::multipart::Form::new().part(
        "files",
        reqwest::multipart::Part::bytes(data.to_vec()).file_name(name.to_string()),
    );
    let r = user
        .client
        .post(user.url(&format!("/send/{}", chat_common::seg(channel))))
        .header("X-CSRF-Token", &user.csrf)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rows = user.history(channel).await;
    let row: &Value = rows.last().unwrap();
    assert_eq!(row["content"], "");
    row["filename"].as_str().unwrap().to_string()
}

#[test]
fn uploads_are_served_with_validators_ranges_and_authorization() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        let carol = signup(&daemon, "carol").await;
        let code = b"def main():\n    print('hi')\n\nmain()\n";
        let stored = upload(&alice, "general", "../../My Script.py", code).await;
        assert_eq!(stored.len(), 33 + "My_Script.py".len(), "{stored}");
        assert!(stored.ends_with("_My_Script.py"));
        assert!(daemon.state.join("uploads").join(&stored).exists());

        let r = bob.get(&format!("/files/{stored}?download=1")).await;
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert_eq!(h["cache-control"], "private, max-age=86400");
        assert_eq!(
            h["content-disposition"],
            "attachment; filename=\"My_Script.py\""
        );
        assert!(
            h["content-type"].to_str().unwrap().starts_with("text/"),
            "{h:?}"
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), code);
        let etag = h["etag"].to_str().unwrap().to_string();

        let r = bob
            .client
            .get(bob.url(&format!("/files/{stored}")))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304);
        let r = bob
            .client
            .get(bob.url(&format!("/files/{stored}")))
            .header("Range", "bytes=4-7")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes 4-7/{}", code.len())
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"main");

        let preview = bob.get_json(&format!("/file_preview/{stored}")).await;
        assert_eq!(preview["type"], "code");
        assert_eq!(preview["filename"], "My_Script.py");
        assert_eq!(preview["total_lines"], 4);
        assert_eq!(preview["first_line_num"], 1);
        assert_eq!(preview["url"], format!("/files/{stored}"));

        // An image is inline under its stored name and has no preview.
        let image = upload(&alice, "dm:alice:bob", "Photo.PNG", b"\x89PNG fake").await;
        assert!(image.ends_with(".png") && image.len() == 36, "{image}");
        let r = bob.get(&format!("/files/{image}")).await;
        assert_eq!(r.headers()["content-type"], "image/png");
        assert_eq!(
            r.headers()["content-disposition"],
            format!("inline; filename=\"{image}\"")
        );
        assert_eq!(
            bob.get_json(&format!("/file_preview/{image}")).await,
            json!({})
        );
        // Carol is not in the DM: the file does not exist for her.
        let r = carol.get(&format!("/files/{image}")).await;
        assert_eq!(
            (r.status().as_u16(), r.text().await.unwrap()),
            (404, "not found".into())
        );
        assert_eq!(
            carol.get(&format!("/file_preview/{image}")).await.status(),
            404
        );
        assert_eq!(bob.get("/files/..%2Fminimost.db").await.status(), 404);
        assert_eq!(bob.get("/files/nothing.txt").await.status(), 404);

        // Delete: the row becomes a tombstone and the file is gone.
        let id = alice.history("general").await.last().unwrap()["id"]
            .as_i64()
            .unwrap();
        assert_eq!(alice.post(&format!("/delete/{id}")).await.status(), 200);
        assert_eq!(bob.get(&format!("/files/{stored}")).await.status(), 404);
        assert!(!daemon.state.join("uploads").join(&stored).exists());
    });
}

#[test]
fn an_oversized_upload_is_refused_and_nothing_is_stored() {
    let daemon = common::Daemon::start(common::Start {
        config: Some("rate_limit_enabled = false\nmax_upload_size_mb = 1\n".into()),
        own_sockets: true,
        ..Default::default()
    });
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let before = alice.history("general").await.len();
        let form = reqwest::multipart::Form::new().text("text", "big").part(
            "files",
            reqwest::multipart::Part::bytes(vec![0u8; 1024 * 1024 + 1]).file_name("big.bin"),
        );
        let r = alice
            .client
            .post(alice.url("/send/general"))
            .header("X-CSRF-Token", &alice.csrf)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            (r.status().as_u16(), r.text().await.unwrap()),
            (413, "file too large (max 1 MB)".into())
        );
        assert_eq!(alice.history("general").await.len(), before);
        let uploads = daemon.state.join("uploads");
        let stored = std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0);
        assert_eq!(stored, 0);
    });
}
