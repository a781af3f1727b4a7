//! Channels and people (api.md §6.3) and private channels (§6.7): canonical DMs, hide and
//! reappear, unread counts, late joiners' history bounds and the membership outcomes.

mod chat_common;
mod common;

use std::time::Duration;

use chat_common::{runtime, signup, unlimited_daemon};
use serde_json::{json, Value};

#[test]
fn dms_are_canonical_private_to_participants_and_reappear_after_close() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "Bob").await;
        let carol = signup(&daemon, "carol").await;
        alice.send("dm:BOB:alice", "psst").await;
        let rows = bob.history("dm:alice:bob").await;
        assert_eq!(rows[0]["channel"], "dm:alice:Bob");
        assert_eq!(carol.get("/messages/dm:alice:Bob").await.status(), 403);
        assert_eq!(
            carol.get("/channel_members/dm:alice:Bob").await.status(),
            403
        );
        assert_eq!(
            bob.get_json("/channel_members/dm:alice:Bob").await,
            json!(["alice"])
        );

        let dms = bob.get_json("/dms").await;
        assert_eq!(
            dms,
            json!([{"channel": "dm:alice:Bob", "unread": 1, "users": ["alice"]}])
        );
        assert_eq!(bob.get_json("/unread_count").await, json!({"count": 1}));
        assert_eq!(carol.get_json("/dms").await, json!([]));

        let r = bob
            .post_json("/dms/close", json!({"channel": "general"}))
            .await;
        assert_eq!(
            (r.status().as_u16(), r.text().await.unwrap()),
            (400, "invalid channel".into())
        );
        let r = carol
            .post_json("/dms/close", json!({"channel": "dm:alice:bob"}))
            .await;
        assert_eq!(r.status(), 403);
        let r = bob.post_json("/dms/close", json!({"channel": 5})).await;
        assert_eq!(r.status(), 400);
        let r = bob
            .post_json("/dms/close", json!({"channel": " dm:bob:ALICE "}))
            .await;
        assert_eq!(r.text().await.unwrap(), "ok");
        assert_eq!(bob.get_json("/dms").await, json!([]));
        tokio::time::sleep(Duration::from_millis(5)).await;
        alice.send("dm:alice:bob", "again").await;
        assert_eq!(bob.get_json("/dms").await[0]["unread"], 2);
        assert_eq!(bob.post("/mark_read/dm:alice:bob").await.status(), 204);
        assert_eq!(bob.get_json("/unread_count").await, json!({"count": 0}));

        // Search never returns another user's DM.
        let found = carol.get_json("/search_messages?q=psst").await;
        assert_eq!(found, json!([]));
        let found = bob.get_json("/search_messages?q=psst").await;
        assert_eq!(found[0]["content"], "psst");
    });
}

#[test]
fn users_and_channel_lists() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        signup(&daemon, "Bob").await;
        signup(&daemon, "carol").await;
        assert_eq!(alice.get_json("/users").await, json!(["Bob", "carol"]));
        assert_eq!(
            alice.get_json("/channels").await,
            json!(["general", "software", "firmware", "systems", "off-topic"])
        );
        assert_eq!(
            alice.get_json("/channel_members/general").await,
            json!(["Bob", "carol"])
        );
        let unreads = alice.get_json("/channel_unreads").await;
        assert_eq!(unreads.as_object().unwrap().len(), 5);
    });
}

#[test]
fn private_channels_bound_late_joiners_and_refuse_outsiders() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        let carol = signup(&daemon, "carol").await;

        let r = alice
            .post_json("/private_channels/create", json!({"name": "  "}))
            .await;
        assert_eq!(r.text().await.unwrap(), "name required");
        let long = "x".repeat(81);
        let r = alice
            .post_json("/private_channels/create", json!({"name": long}))
            .await;
        assert_eq!(
            r.text().await.unwrap(),
            "channel name must be 80 characters or fewer"
        );
        let r = alice
            .post_json(
                "/private_channels/create",
                json!({"name": "ok", "members": "bob"}),
            )
            .await;
        assert_eq!(r.status(), 400);
        let created: Value = alice
            .post_json(
                "/private_channels/create",
                json!({"name": " team ", "members": [" BOB ", "nobody", "bob", ""]}),
            )
            .await
            .json()
            .await
            .unwrap();
        let id = created["id"].as_i64().unwrap();
        let channel = format!("private:{id}");
        assert_eq!(
            created,
            json!({"channel": channel, "id": id, "name": "team"})
        );
        let listed = bob.get_json("/private_channels").await;
        assert_eq!(listed[0]["members"], json!(["bob", "alice"]));

        alice.send(&channel, "before carol").await;
        assert_eq!(
            carol.get(&format!("/messages/{channel}")).await.status(),
            403
        );
        assert_eq!(
            carol
                .post_form(&format!("/send/{channel}"), &[("text", "x")])
                .await
                .status(),
            403
        );
        assert_eq!(
            carol
                .post(&format!("/private_channels/{id}/leave"))
                .await
                .status(),
            403
        );
        assert_eq!(
            carol
                .get(&format!("/private_channels/{id}/members"))
                .await
                .status(),
            403
        );

        let add_path = format!("/private_channels/{id}/add_member");
        let add = |name: &'static str| alice.post_json(&add_path, json!({"username": name}));
        assert_eq!(add("").await.text().await.unwrap(), "username required");
        let r = add("zed").await;
        assert_eq!(
            (r.status().as_u16(), r.text().await.unwrap()),
            (404, "user not found".into())
        );
        let r = add("BOB").await;
        assert_eq!(
            (r.status().as_u16(), r.text().await.unwrap()),
            (409, "already a member".into())
        );
        assert_eq!(add("Carol").await.text().await.unwrap(), "ok");

        // Carol sees the history from the "added" notice on, not before.
        let rows = carol.history(&channel).await;
        let contents: Vec<&str> = rows
            .iter()
            .map(|r| r["content"].as_str().unwrap())
            .collect();
        assert_eq!(contents, ["alice added carol to this channel"]);
        assert_eq!(rows[0]["sender"], "system");
        assert_eq!(carol.get_json("/private_channels").await[0]["unread"], 1);
        assert_eq!(
            carol
                .get_json(&format!("/private_channels/{id}/members"))
                .await,
            json!([{"username": "alice"}, {"username": "bob"}, {"username": "carol"}])
        );
        let found = carol
            .get_json(&format!("/search_messages?q=before&channel={channel}"))
            .await;
        assert_eq!(found, json!([]), "search applies the history bound");

        let r = bob
            .post_json(
                &format!("/private_channels/{id}/rename"),
                json!({"name": "crew"}),
            )
            .await;
        assert_eq!(r.text().await.unwrap(), "ok");
        assert_eq!(carol.get_json("/private_channels").await[0]["name"], "crew");
        assert_eq!(
            bob.post(&format!("/private_channels/{id}/leave"))
                .await
                .text()
                .await
                .unwrap(),
            "ok"
        );
        let rows = alice.history(&channel).await;
        let tail: Vec<&str> = rows
            .iter()
            .rev()
            .take(2)
            .map(|r| r["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            tail,
            [
                "bob has left the channel",
                "bob has renamed the channel to \"crew\""
            ]
        );
        assert_eq!(bob.get(&format!("/messages/{channel}")).await.status(), 403);
        assert_eq!(bob.get_json("/private_channels").await, json!([]));
        assert_eq!(
            alice.get("/private_channels/abc/members").await.status(),
            404
        );
    });
}
