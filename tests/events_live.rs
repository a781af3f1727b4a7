//! `GET /events` (api.md §7): start of stream, live delivery within 100 ms, access control,
//! `Last-Event-ID` resume, the stream cap and `session_revoked`.

mod chat_common;
mod common;

use std::time::{Duration, Instant};

use chat_common::{runtime, signup, unlimited_daemon, Sse};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(300);
const BOUND: Duration = Duration::from_millis(100);

/// Waits for the next `messages` frame and says how long it took.
async fn next_messages(sse: &mut Sse, from: Instant) -> (Vec<Value>, Duration) {
    let event = sse
        .wait_for("messages", Duration::from_secs(5))
        .await
        .expect("a messages frame");
    let took = from.elapsed();
    (event.json().as_array().unwrap().clone(), took)
}

#[test]
fn start_of_stream_follows_the_contract_order() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        alice.send("general", "hi").await;
        let response = alice
            .client
            .get(alice.url("/events?channel=general"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        assert_eq!(response.headers()["x-accel-buffering"], "no");
        drop(response);

        let mut sse = alice.events("channel=general", None).await;
        let events = sse.drain(QUIET).await;
        assert!(sse.buffer.is_empty());
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "messages",
                "typing",
                "read_receipts",
                "pins",
                "screenshares",
                "online_users",
                "dms",
                "channel_unreads",
                "private_channels",
                "mentions",
                "unread_count",
                "incoming_calls"
            ]
        );
        let first = &events[0];
        assert!(first.id.is_some(), "messages frames carry the cursor");
        let rows = first.json();
        assert_eq!(rows.as_array().unwrap().last().unwrap()["content"], "hi");
        assert!(events[2].json()["alice"].is_number());
        assert_eq!(events[7].json()["general"], 0);
        assert_eq!(events[10].json(), json!({"count": 0}));
    });
}

#[test]
fn a_second_users_stream_gets_every_change_within_100ms() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        let mut sse = bob.events("channel=general", None).await;
        sse.drain(QUIET).await;

        let started = Instant::now();
        alice.send("general", "live one").await;
        let (rows, took) = next_messages(&mut sse, started).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["content"], "live one");
        assert!(took < BOUND * 3, "send took {took:?} end to end");
        let id = rows[0]["id"].as_i64().unwrap();
        let mut worst = Duration::ZERO;

        let started = Instant::now();
        alice
            .post_form(&format!("/edit/{id}"), &[("text", "edited")])
            .await;
        let (rows, took) = next_messages(&mut sse, started).await;
        worst = worst.max(took);
        assert_eq!(
            (rows[0]["content"].clone(), rows[0]["edited"].clone()),
            (json!("edited"), json!(1))
        );

        let started = Instant::now();
        alice
            .post_form(&format!("/react/{id}"), &[("reaction", "tada")])
            .await;
        let (rows, took) = next_messages(&mut sse, started).await;
        worst = worst.max(took);
        assert_eq!(rows[0]["reactions"], json!({"tada": ["alice"]}));

        let started = Instant::now();
        alice.post(&format!("/pin/{id}")).await;
        let pins = sse.wait_for("pins", Duration::from_secs(5)).await.unwrap();
        worst = worst.max(started.elapsed());
        assert_eq!(pins.json()[0]["id"], id);

        let started = Instant::now();
        alice.post(&format!("/delete/{id}")).await;
        let (rows, took) = next_messages(&mut sse, started).await;
        worst = worst.max(took);
        assert_eq!(rows[0]["deleted"], 1);
        assert_eq!(rows[0]["content"], Value::Null);
        let pins = sse.wait_for("pins", Duration::from_secs(5)).await.unwrap();
        assert_eq!(pins.json(), json!([]));
        // Each interval includes the HTTP round trip of the write itself.
        assert!(worst < BOUND * 2, "slowest change arrived after {worst:?}");
    });
}

#[test]
fn streams_never_carry_events_of_channels_they_cannot_read() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let _bob = signup(&daemon, "bob").await;
        let carol = signup(&daemon, "carol").await;
        // Carol asks for a DM she is not part of: the stream opens, but carries nothing of it.
        let mut prying = carol.events("channel=dm:alice:bob", None).await;
        let start = prying.drain(QUIET).await;
        assert!(start
            .iter()
            .all(|e| e.name != "messages" && e.name != "read_receipts"));
        let mut general = carol.events("channel=general", None).await;
        general.drain(QUIET).await;

        alice.send("dm:bob:alice", "secret words").await;
        alice.send("software", "elsewhere").await;
        let id = alice.history("dm:alice:bob").await[0]["id"]
            .as_i64()
            .unwrap();
        alice
            .post_form(&format!("/react/{id}"), &[("reaction", "fire")])
            .await;
        for sse in [&mut prying, &mut general] {
            let seen = sse.drain(QUIET).await;
            for event in &seen {
                assert!(!event.data.contains("secret"), "leak: {event:?}");
                assert!(
                    !event.data.contains("elsewhere"),
                    "other channel: {event:?}"
                );
                assert_ne!(event.name, "messages", "{event:?}");
                assert_ne!(event.name, "dms", "{event:?}");
            }
        }
    });
}

#[test]
fn resuming_with_last_event_id_loses_nothing() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        let mut sse = bob.events("channel=general", None).await;
        let first = sse
            .wait_for("messages", Duration::from_secs(5))
            .await
            .unwrap();
        let cursor = first.id.unwrap();
        drop(sse);

        alice.send("general", "missed 1").await;
        alice.send("general", "missed 2").await;
        let id = alice.history("general").await.last().unwrap()["id"]
            .as_i64()
            .unwrap();
        alice
            .post_form(&format!("/edit/{id}"), &[("text", "missed 2 edited")])
            .await;

        // An older `after` loses to a newer Last-Event-ID.
        let mut resumed = bob.events("channel=general&after=1", Some(&cursor)).await;
        let event = resumed
            .wait_for("messages", Duration::from_secs(5))
            .await
            .unwrap();
        let contents: Vec<Value> = event
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["content"].clone())
            .collect();
        assert_eq!(contents, [json!("missed 1"), json!("missed 2 edited")]);
        let new_cursor = event.id.unwrap();
        assert_ne!(new_cursor, cursor);

        alice.send("general", "live again").await;
        let (rows, _) = next_messages(&mut resumed, Instant::now()).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["content"], "live again");
        drop(resumed);
        // Resuming from the newest cursor repeats nothing.
        let mut quiet = bob.events("channel=general", Some(&new_cursor)).await;
        let rest = quiet.drain(QUIET).await;
        let repeated: Vec<_> = rest.iter().filter(|e| e.name == "messages").collect();
        assert_eq!(repeated.len(), 1, "only the row sent after the cursor");
        assert_eq!(repeated[0].json()[0]["content"], "live again");
    });
}

#[test]
fn one_stream_too_many_gets_429_and_a_closed_one_frees_its_slot() {
    let daemon = common::Daemon::start(common::Start {
        config: Some("max_event_streams_per_user = 2\n".into()),
        own_sockets: true,
        ..Default::default()
    });
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let a = alice.events("", None).await;
        let _b = alice.events("", None).await;
        let refused = alice.get("/events").await;
        assert_eq!(refused.status(), 429);
        assert_eq!(refused.headers()["retry-after"], "5");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": "too many open event streams; close other tabs and retry", "retry_after": 5})
        );
        drop(a);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let again = alice.get("/events").await;
            if again.status() == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "slot never freed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

#[test]
fn logout_ends_the_sessions_streams_with_session_revoked() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let mut sse = alice.events("channel=general", None).await;
        sse.drain(QUIET).await;
        alice.post("/logout").await;
        let event = sse
            .wait_for("session_revoked", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(event.json(), json!({"reason": "logout"}));
        assert!(
            sse.next(Duration::from_secs(2)).await.is_none(),
            "stream closes"
        );
    });
}

#[test]
fn typing_and_presence_are_pushed() {
    let daemon = unlimited_daemon();
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        let mut sse = bob.events("channel=general", None).await;
        sse.drain(QUIET).await;
        let r = alice.post("/typing/general").await;
        assert_eq!(r.status(), 204);
        let typing = sse
            .wait_for("typing", Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(typing.json(), json!(["alice"]));
        assert_eq!(bob.get_json("/typing/general").await, json!(["alice"]));
        let lapsed = sse
            .wait_for("typing", Duration::from_secs(7))
            .await
            .unwrap();
        assert_eq!(lapsed.json(), json!([]));

        // Signing up counts as being active.
        assert_eq!(bob.get_json("/online_users").await["alice"], "active");
        let r = alice.post_json("/presence", json!({"state": "idle"})).await;
        assert_eq!(r.status(), 204);
        let online = sse
            .wait_for("online_users", Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(online.json()["alice"], "idle");
        let r = alice.post_json("/presence", json!({"state": "away"})).await;
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"error": "invalid state"})
        );
    });
}

#[test]
fn an_idle_expiry_ends_the_stream_with_session_revoked() {
    let daemon = common::Daemon::start(common::Start {
        config: Some("rate_limit_enabled = false\nsession_idle_minutes = 0.05\n".into()),
        own_sockets: true,
        ..Default::default()
    });
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let mut sse = alice.events("channel=general", None).await;
        let started = Instant::now();
        let event = sse
            .wait_for("session_revoked", Duration::from_secs(10))
            .await
            .expect("session_revoked after the idle limit");
        assert_eq!(event.json(), json!({"reason": "expired"}));
        // Idle limit 3 s; pushed by a timer within 1 s of the deadline, never early.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(2500) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(sse.next(Duration::from_secs(2)).await.is_none());
    });
}
