//! Messages over HTTP (api.md §6.4, §6.5): send, history, paging, edit, delete, reactions,
//! pins, read state, and the bad input that must be refused with nothing stored.

mod chat_common;
mod common;

use chat_common::{runtime, seg, signup, unlimited_daemon};
use serde_json::{json, Value};

fn last(rows: &[Value]) -> &Value {
    rows.last().expect("at least one row")
}

#[test]
fn send_edit_react_pin_delete_round_trip() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "Bob").await;
        alice.send("general", "hello @bob and a@b.c  \n").await;
        let page = bob.get_json("/messages/general?limit=50").await;
        let rows = page.as_array().unwrap();
        let row = last(rows);
        assert_eq!(row["content"], "hello @bob and a@b.c");
        assert_eq!(row["sender"], "alice");
        assert_eq!(row["content_type"], "text");
        assert_eq!(row["mentions"], json!(["Bob"]));
        assert_eq!(row["reactions"], Value::Null);
        // The welcome notices are system rows.
        assert!(rows
            .iter()
            .any(|r| r["sender"] == "system" && r["content_type"] == "system"));
        let id = row["id"].as_i64().unwrap();

        let mentions = bob.get_json("/mentions").await;
        assert_eq!(mentions[0]["id"], id);
        assert!(
            bob.get_json("/channel_unreads").await["general"]
                .as_i64()
                .unwrap()
                >= 1
        );

        // Edit: only the author, only with text.
        assert_eq!(
            bob.post_form(&format!("/edit/{id}"), &[("text", "x")])
                .await
                .status(),
            403
        );
        let empty = alice
            .post_form(&format!("/edit/{id}"), &[("text", "   ")])
            .await;
        assert_eq!(empty.status(), 400);
        assert_eq!(empty.text().await.unwrap(), "empty");
        let ok = alice
            .post_form(&format!("/edit/{id}"), &[("text", " changed ")])
            .await;
        assert_eq!(ok.text().await.unwrap(), "ok");
        let row = alice.get_json(&format!("/message/{id}")).await;
        assert_eq!(row["content"], "changed");
        assert!(bob
            .get_json("/mentions")
            .await
            .as_array()
            .unwrap()
            .is_empty());

        // Reactions toggle.
        let bad = bob
            .post_form(&format!("/react/{id}"), &[("reaction", "nope")])
            .await;
        assert_eq!(bad.status(), 400);
        let on: Value = bob
            .post_form(&format!("/react/{id}"), &[("reaction", "thumbsup")])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(on, json!({"thumbsup": ["Bob"]}));
        let both: Value = alice
            .post_form(&format!("/react/{id}"), &[("reaction", "thumbsup")])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(both, json!({"thumbsup": ["alice", "Bob"]}));
        let off: Value = bob
            .post_form(&format!("/react/{id}"), &[("reaction", " thumbsup ")])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(off, json!({"thumbsup": ["alice"]}));

        // Pins: anyone who sees the row.
        let pins: Value = bob.post(&format!("/pin/{id}")).await.json().await.unwrap();
        assert_eq!(pins[0]["id"], id);
        assert_eq!(pins[0]["pinned_by"], "Bob");
        assert_eq!(alice.get_json("/pins/general").await, pins);

        // Delete: only the author; a tombstone keeps no content, pin or reactions.
        assert_eq!(bob.post(&format!("/delete/{id}")).await.status(), 403);
        assert_eq!(
            alice
                .post(&format!("/delete/{id}"))
                .await
                .text()
                .await
                .unwrap(),
            "ok"
        );
        assert_eq!(alice.post(&format!("/delete/{id}")).await.status(), 200);
        let gone = bob.get_json(&format!("/message/{id}")).await;
        assert_eq!(
            gone,
            json!({"content": null, "deleted": 1, "filename": null, "id": id, "sender": "alice"})
        );
        assert_eq!(bob.get_json("/pins/general").await, json!([]));
        let tomb = last(&bob.history("general").await).clone();
        assert_eq!(tomb["id"], id);
        assert_eq!(tomb["reactions"], Value::Null);
        assert_eq!(tomb["mentions"], Value::Null);
        assert_eq!(
            bob.post_form(&format!("/react/{id}"), &[("reaction", "fire")])
                .await
                .status(),
            404
        );
        assert_eq!(bob.post(&format!("/pin/{id}")).await.status(), 404);
        let edit = alice
            .post_form(&format!("/edit/{id}"), &[("text", "again")])
            .await;
        assert_eq!(edit.status(), 409);
        let page = bob.get_json("/messages/general?limit=50").await;
        assert!(page.as_array().unwrap().iter().all(|r| r["id"] != id));
    });
}

#[test]
fn bad_input_gets_the_contract_answer_and_stores_nothing() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let _bob = signup(&daemon, "bob").await;
        let before = alice.history("general").await.len();
        let check = |status: u16, body: &'static str| {
            move |r: (u16, String)| {
                assert_eq!(r, (status, body.to_string()));
            }
        };
        async fn outcome(r: reqwest::Response) -> (u16, String) {
            (r.status().as_u16(), r.text().await.unwrap())
        }
        let text = |t: &str| vec![("text".to_string(), t.to_string())];
        let send = |channel: &str, form: Vec<(String, String)>| {
            let path = format!("/send/{}", seg(channel));
            let client = alice.client.clone();
            let url = alice.url(&path);
            let csrf = alice.csrf.clone();
            async move {
                client
                    .post(url)
                    .header("X-CSRF-Token", csrf)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
            }
        };
        check(403, "forbidden")(outcome(send("nope", text("x")).await).await);
        check(403, "forbidden")(outcome(send("private:1", text("x")).await).await);
        check(403, "forbidden")(outcome(send("dm:bob:carol", text("x")).await).await);
        check(400, "invalid channel")(outcome(send("dm:alice:ALICE", text("x")).await).await);
        let unknown = outcome(send("dm:alice:Zed:system", text("x")).await).await;
        assert_eq!(unknown, (400, "no account named Zed, system".to_string()));
        let long = "é".repeat(10_001);
        check(413, "message too long (max 10000 characters)")(
            outcome(send("general", text(&long)).await).await,
        );
        check(400, "invalid reply_to_id")(
            outcome(
                send(
                    "general",
                    vec![
                        ("text".into(), "x".into()),
                        ("reply_to_id".into(), "1.5".into()),
                    ],
                )
                .await,
            )
            .await,
        );
        check(400, "empty")(outcome(send("general", text("  \n ")).await).await);

        let mut form = reqwest::multipart::Form::new();
        for i in 0..101 {
            form = form.part(
                "files",
                reqwest::multipart::Part::bytes(vec![b'x']).file_name(format!("f{i}.txt")),
            );
        }
        let many = alice
            .client
            .post(alice.url("/send/general"))
            .header("X-CSRF-Token", &alice.csrf)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            outcome(many).await,
            (400, "too many files (max 100)".to_string())
        );
        assert_eq!(
            alice.history("general").await.len(),
            before,
            "nothing stored"
        );

        // Reads.
        let r = alice.get("/messages_before/general").await;
        assert_eq!(outcome(r).await, (400, "invalid before".to_string()));
        let r = alice.get("/messages_before/general?before=nan").await;
        assert_eq!(outcome(r).await.0, 400);
        let r = alice
            .get("/messages_before/general?before=5&before_id=x")
            .await;
        assert_eq!(outcome(r).await, (400, "invalid before_id".to_string()));
        let r = alice
            .get("/messages_before/general?before=inf&before_id=")
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(alice.get("/messages/nope").await.status(), 403);
        assert_eq!(alice.get("/message/99999").await.status(), 404);
        assert_eq!(
            alice.get("/message/99999999999999999999").await.status(),
            404
        );
        assert_eq!(alice.get("/message/-1").await.status(), 404);
        assert_eq!(alice.post("/delete/424242").await.status(), 403);
        let anonymous = daemon.client();
        let r = anonymous
            .get(daemon.url("/messages/general"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let no_csrf = alice
            .client
            .post(alice.url("/send/general"))
            .form(&[("text", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(no_csrf.status(), 403);
        assert_eq!(alice.history("general").await.len(), before);
    });
}

#[test]
fn paging_across_rows_that_share_a_timestamp_returns_each_row_once() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let mut form = reqwest::multipart::Form::new().text("text", "with files");
        for i in 0..5 {
            form = form.part(
                "files",
                reqwest::multipart::Part::bytes(format!("file {i}").into_bytes())
                    .file_name(format!("notes {i}.txt")),
            );
        }
        let r = alice
            .client
            .post(alice.url("/send/general"))
            .header("X-CSRF-Token", &alice.csrf)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        alice.send("general", "after").await;
        let all = alice.history("general").await;
        let shared: Vec<&Value> = all
            .iter()
            .filter(|r| r["content"] != "after")
            .rev()
            .take(6)
            .collect();
        let ts = shared[0]["ts"].as_f64().unwrap();
        assert!(
            shared.iter().all(|r| r["ts"].as_f64().unwrap() == ts),
            "one ts per send"
        );
        assert_eq!(shared[5]["content"], "with files", "text row first");
        assert!(shared[0]["filename"]
            .as_str()
            .unwrap()
            .ends_with("_notes_4.txt"));

        // Walk back two rows at a time.
        let mut seen: Vec<i64> = Vec::new();
        let mut page = alice.get_json("/messages/general?limit=2").await;
        loop {
            let rows = page.as_array().unwrap().clone();
            seen.extend(rows.iter().rev().map(|r| r["id"].as_i64().unwrap()));
            if rows.len() < 2 {
                break;
            }
            let oldest = &rows[0];
            page = alice
                .get_json(&format!(
                    "/messages_before/general?before={}&before_id={}&limit=2",
                    oldest["ts"], oldest["id"]
                ))
                .await;
        }
        seen.reverse();
        let expected: Vec<i64> = all.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(seen, expected);
    });
}

#[test]
fn read_state_moves_forward_and_receipts_list_watermarks() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        alice.send("software", "one").await;
        alice.send("software", "two").await;
        assert_eq!(bob.get_json("/channel_unreads").await["software"], 2);
        assert!(bob.get_json("/last_read/software").await["last_read_ts"].is_number());
        let r = bob.post("/mark_read/software").await;
        assert_eq!(r.status(), 204);
        assert_eq!(bob.get_json("/channel_unreads").await["software"], 0);
        let receipts = bob.get_json("/read_receipts/software").await;
        let newest = last(&bob.history("software").await)["ts"].clone();
        assert_eq!(receipts["bob"], newest);
        assert_eq!(
            receipts["alice"], newest,
            "a send advances the sender's watermark"
        );
        assert_eq!(bob.post("/mark_read/nope").await.status(), 403);
        assert_eq!(bob.get("/read_receipts/nope").await.status(), 403);
    });
}

#[test]
fn link_preview_answers_empty_objects_for_what_it_must_not_fetch() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        for url in [
            "",
            "http%3A%2F%2F127.0.0.1%3A1%2F",
            "http%3A%2F%2Flocalhost%2Fx.py",
            "ftp%3A%2F%2Fexample.com%2F",
            "not%20a%20url",
        ] {
            let found = alice.get_json(&format!("/link_preview?url={url}")).await;
            assert_eq!(found, json!({}), "{url}");
        }
        let long = "a".repeat(2100);
        assert_eq!(
            alice
                .get(&format!("/link_preview?url={long}"))
                .await
                .status(),
            400
        );
    });
}
