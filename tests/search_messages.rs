//! `GET /search_messages` (api.md §6.4): substring, case-insensitive, filters, literal `%`
//! and `_`, and never a row the caller may not read.

mod chat_common;
mod common;

use chat_common::{runtime, signup, unlimited_daemon};
use serde_json::{json, Value};

fn contents(found: &Value) -> Vec<String> {
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["content"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn search_matches_substrings_with_filters_and_hides_what_it_must() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        let carol = signup(&daemon, "carol").await;
        alice.send("general", "Deploy the FIRMWARE today").await;
        bob.send("software", "firmware review at 10%").await;
        bob.send("dm:bob:carol", "firmware secret").await;
        alice.send("general", "snake_case and 50%").await;

        let found = alice.get_json("/search_messages?q=firmware").await;
        assert_eq!(
            contents(&found),
            ["firmware review at 10%", "Deploy the FIRMWARE today"]
        );
        let row = &found[0];
        let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "{row}");

        let found = carol.get_json("/search_messages?q=FIRMWARE&from=BOB").await;
        assert_eq!(
            contents(&found),
            ["firmware secret", "firmware review at 10%"]
        );
        let found = carol
            .get_json("/search_messages?q=firmware&channel=dm:carol:bob")
            .await;
        assert_eq!(contents(&found), ["firmware secret"]);
        let found = alice
            .get_json("/search_messages?q=firmware&channel=dm:carol:bob")
            .await;
        assert_eq!(found, json!([]));

        let found = alice.get_json("/search_messages?q=%25").await;
        assert_eq!(
            contents(&found),
            ["snake_case and 50%", "firmware review at 10%"]
        );
        let found = alice.get_json("/search_messages?q=_").await;
        assert_eq!(contents(&found), ["snake_case and 50%"]);

        let ts = found[0]["ts"].as_f64().unwrap();
        let found = alice
            .get_json(&format!("/search_messages?q=a&end={ts}&start=x"))
            .await;
        assert!(!contents(&found).contains(&"snake_case and 50%".to_string()));
        let found = alice
            .get_json(&format!("/search_messages?from=alice&start={ts}"))
            .await;
        assert_eq!(contents(&found), ["snake_case and 50%"]);

        assert_eq!(alice.get_json("/search_messages?q=%20%20").await, json!([]));
        let long = "x".repeat(1001);
        let r = alice.get(&format!("/search_messages?q={long}")).await;
        assert_eq!(r.status(), 400);
    });
}
