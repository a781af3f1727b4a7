//! Calls (api.md §6.9) and standalone screen sharing (§6.10), black-box over HTTPS: every
//! route's checks in order, the transitions, the notices of the guarded finish, the timers
//! (with timeouts shortened through the test-only environment variable) and the pushed
//! `incoming_calls`, `active_call`, `screenshares` and `signal` events.

mod chat_common;
mod common;

use std::time::Duration;

use chat_common::{runtime, seg, signup, User};
use common::{Daemon, Start};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(3);

/// A daemon without rate limits whose call timeouts run at `scale` of the contract's.
fn daemon(scale: Option<f64>) -> Daemon {
    Daemon::start(Start {
        config: Some("rate_limit_enabled = false\n".into()),
        own_sockets: true,
        env: scale
            .map(|s| vec![("MINIMOST_TEST_CALL_TIME_SCALE".into(), s.to_string())])
            .unwrap_or_default(),
        ..Default::default()
    })
}

/// `(status, body)` of a JSON answer.
async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn error(status: u16, message: &str) -> (u16, Value) {
    (status, json!({ "error": message }))
}

fn ok() -> (u16, Value) {
    (200, json!({"status": "ok"}))
}

async fn post(user: &User, path: &str, body: Value) -> (u16, Value) {
    answer(user.post_json(path, body).await).await
}

async fn get(user: &User, path: &str) -> (u16, Value) {
    answer(user.get(path).await).await
}

/// An `offer` signal with a dummy payload from `user` to `to`.
async fn offer(user: &User, path: &str, to: &str) -> (u16, Value) {
    post(user, path, json!({"to": to, "type": "offer", "payload": 1})).await
}

async fn initiate(user: &User, channel: &str) -> String {
    let (status, body) = post(user, "/calls/initiate", json!({ "channel": channel })).await;
    assert_eq!(status, 200, "initiate in {channel}: {body}");
    body["call_id"].as_str().unwrap().to_string()
}

fn call_path(call_id: &str, action: &str) -> String {
    format!("/calls/{call_id}/{action}")
}

/// The system notices in `channel`, oldest first.
async fn notices(user: &User, channel: &str) -> Vec<String> {
    user.history(channel)
        .await
        .iter()
        .filter(|r| r["sender"] == "system")
        .map(|r| r["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Waits until a notice satisfying `pred` appears (notices are written just after the finish).
async fn wait_notice(user: &User, channel: &str, pred: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        if let Some(n) = notices(user, channel).await.into_iter().find(|n| pred(n)) {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no matching notice in {channel}: {:?}",
        notices(user, channel).await
    );
}

async fn private_channel(owner: &User, members: &[&str]) -> String {
    let (status, body) = post(
        owner,
        "/private_channels/create",
        json!({"name": "crew", "members": members}),
    )
    .await;
    assert_eq!(status, 200);
    body["channel"].as_str().unwrap().to_string()
}

#[test]
fn a_one_to_one_call_rings_connects_signals_and_ends_with_its_duration() {
    let daemon = daemon(None);
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "Bob").await;
        let carol = signup(&daemon, "carol").await;
        let dm = "dm:alice:Bob";

        // initiate: the checks in order.
        assert_eq!(
            post(&alice, "/calls/initiate", json!({"channel": "  "})).await,
            error(400, "channel required")
        );
        assert_eq!(
            post(&alice, "/calls/initiate", json!({"channel": "general"})).await,
            error(403, "access denied")
        );
        assert_eq!(
            post(&carol, "/calls/initiate", json!({"channel": dm})).await,
            error(403, "access denied")
        );
        assert_eq!(
            post(
                &alice,
                "/calls/initiate",
                json!({"channel": "dm:alice:ghost"})
            )
            .await,
            error(400, "no other participants in channel")
        );

        let mut bob_events = bob.events("channel=", None).await;
        let first = bob_events.wait_for("incoming_calls", WAIT).await.unwrap();
        assert_eq!(first.json(), json!([]));
        let mut alice_events = alice.events(&format!("channel={}", seg(dm)), None).await;
        let none = alice_events.wait_for("active_call", WAIT).await.unwrap();
        assert_eq!(none.json(), json!({"call": null}));

        let (status, body) = post(
            &alice,
            "/calls/initiate",
            json!({"channel": " dm:BOB:alice "}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["participants"], json!(["alice", "Bob"]));
        let call_id = body["call_id"].as_str().unwrap().to_string();
        assert_eq!(call_id.len(), 36, "a UUID: {call_id}");
        assert_eq!(
            post(&bob, "/calls/initiate", json!({"channel": dm})).await,
            error(409, "a call is already in progress in this channel")
        );

        // The ring is pushed to the invitee and the live call to the channel.
        let ring = bob_events
            .wait_for("incoming_calls", WAIT)
            .await
            .unwrap()
            .json();
        assert_eq!(ring[0]["call_id"], call_id.as_str());
        assert_eq!(ring[0]["initiator"], "alice");
        assert_eq!(ring[0]["channel"], dm);
        assert_eq!(get(&bob, "/calls/incoming").await.1, ring);
        let ringing = alice_events
            .wait_for("active_call", WAIT)
            .await
            .unwrap()
            .json();
        assert_eq!(ringing["call"]["state"], "ringing");
        assert_eq!(ringing["call"]["joined"], true);
        assert_eq!(ringing["call"]["participants"], json!(["alice"]));

        // The membership rule: an outsider sees an unknown call.
        for action in ["accept", "reject", "end"] {
            assert_eq!(
                post(&carol, &call_path(&call_id, action), json!({})).await,
                error(404, "call not found"),
                "{action}"
            );
        }
        assert_eq!(
            get(&carol, &call_path(&call_id, "state")).await,
            error(404, "call not found")
        );
        assert_eq!(
            get(&carol, &format!("/calls/active?channel={}", seg(dm))).await,
            error(403, "access denied")
        );

        // accept: the call becomes active, the ring stops.
        let (status, body) = post(&bob, &call_path(&call_id, "accept"), json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"status": "ok", "participants": ["alice", "Bob"], "last_signal_id": 0})
        );
        assert_eq!(
            bob_events
                .wait_for("incoming_calls", WAIT)
                .await
                .unwrap()
                .json(),
            json!([])
        );
        let active = alice_events
            .wait_for("active_call", WAIT)
            .await
            .unwrap()
            .json();
        assert_eq!(active["call"]["state"], "active");
        assert_eq!(active["call"]["participants"], json!(["alice", "Bob"]));
        let (_, state) = get(&alice, &call_path(&call_id, "state")).await;
        assert_eq!(state["state"], "active");
        assert!(state["answered_ts"].as_f64().unwrap() >= state["started_ts"].as_f64().unwrap());
        assert_eq!(state["participants"][1]["username"], "Bob");
        assert_eq!(state["participants"][1]["role"], "participant");
        assert_eq!(state["participants"][1]["state"], "accepted");

        // signal: checks in order, then delivery on the stream and by polling.
        let path = call_path(&call_id, "signal");
        let fields = error(
            400,
            "to, type (offer/answer/ice_candidate), and payload are required",
        );
        assert_eq!(
            post(&alice, &path, json!({"to": "Bob", "type": "offer"})).await,
            fields
        );
        assert_eq!(
            post(
                &alice,
                &path,
                json!({"to": "Bob", "type": "hello", "payload": 1})
            )
            .await,
            fields
        );
        assert_eq!(offer(&alice, &path, "").await, fields);
        assert_eq!(
            offer(&alice, "/calls/nope/signal", "Bob").await,
            error(404, "call not found")
        );
        assert_eq!(
            offer(&alice, &path, "carol").await,
            error(400, "invalid recipient")
        );
        assert_eq!(
            offer(&alice, &path, "alice").await,
            error(400, "invalid recipient")
        );
        let sdp = json!({"sdp": "v=0", "type": "offer"});
        assert_eq!(
            post(
                &alice,
                &path,
                json!({"to": "bob", "type": "offer", "payload": sdp})
            )
            .await,
            ok()
        );
        let pushed = bob_events.wait_for("signal", WAIT).await.unwrap().json();
        assert_eq!(pushed["call_id"], call_id.as_str());
        assert_eq!(pushed["from"], "alice");
        assert_eq!(pushed["type"], "offer");
        assert_eq!(pushed["payload"], sdp);
        let (_, polled) = get(&bob, &call_path(&call_id, "signals?after=junk")).await;
        assert_eq!(polled.as_array().unwrap().len(), 1);
        assert_eq!(polled[0]["id"], pushed["id"]);
        let after = pushed["id"].as_i64().unwrap();
        let (_, none) = get(
            &bob,
            &call_path(&call_id, &format!("signals?after={after}")),
        )
        .await;
        assert_eq!(none, json!([]));
        assert_eq!(
            get(&alice, &call_path(&call_id, "signals")).await.1,
            json!([]),
            "signals are read by their recipient only"
        );

        // In-call screen share flag.
        let share = call_path(&call_id, "screenshare");
        assert_eq!(
            post(&carol, &share, json!({"on": true})).await,
            error(404, "call not found")
        );
        assert_eq!(post(&alice, &share, json!({"on": true})).await, ok());
        let (_, state) = get(&bob, &call_path(&call_id, "state")).await;
        assert_eq!(state["screenshare_user"], "alice");
        assert_eq!(state["screensharers"], json!(["alice"]));

        // end: fewer than two live members remain, so the call finishes with its duration.
        assert_eq!(
            post(&bob, &call_path(&call_id, "end"), json!({})).await,
            ok()
        );
        let finished = alice_events
            .wait_for("active_call", WAIT)
            .await
            .unwrap()
            .json();
        assert_eq!(finished, json!({"call": null}));
        let notice = wait_notice(&alice, dm, |n| n.starts_with("Call ended")).await;
        assert!(
            notice.starts_with("Call ended \u{b7} ") && notice.ends_with('s'),
            "{notice}"
        );
        let (_, state) = get(&alice, &call_path(&call_id, "state")).await;
        assert_eq!(state["state"], "ended");
        assert!(state["ended_ts"].as_f64().is_some());
        assert_eq!(
            post(
                &alice,
                &path,
                json!({"to": "Bob", "type": "answer", "payload": 1})
            )
            .await,
            error(409, "call has ended")
        );
        assert_eq!(
            post(&bob, &call_path(&call_id, "accept"), json!({})).await,
            error(409, "call is no longer available")
        );
        assert_eq!(
            post(
                &alice,
                &call_path(&call_id, "screenshare"),
                json!({"on": true})
            )
            .await,
            error(409, "call is not active")
        );
        assert_eq!(
            get(&alice, &format!("/calls/active?channel={}", seg(dm))).await,
            (200, json!({"call": null}))
        );
        // Finishing happens once: a second end changes nothing and posts nothing.
        assert_eq!(
            post(&alice, &call_path(&call_id, "end"), json!({})).await,
            ok()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let ended = notices(&alice, dm).await;
        assert_eq!(
            ended.iter().filter(|n| n.starts_with("Call ended")).count(),
            1
        );
    });
}

#[test]
fn unanswered_and_declined_calls_leave_a_missed_call_notice() {
    let daemon = daemon(None);
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        let dm = "dm:alice:bob";

        // The caller gives up before anyone answers.
        let call_id = initiate(&alice, dm).await;
        assert_eq!(
            post(&alice, &call_path(&call_id, "end"), json!({})).await,
            ok()
        );
        wait_notice(&bob, dm, |n| n == "Missed call from alice").await;
        assert_eq!(get(&bob, "/calls/incoming").await.1, json!([]));

        // The callee declines: with nobody left pending, the call finishes as `rejected`.
        let call_id = initiate(&alice, dm).await;
        assert_eq!(
            post(&bob, "/calls/nope/reject", json!({})).await,
            error(404, "call not found")
        );
        assert_eq!(
            post(&bob, &call_path(&call_id, "reject"), json!({})).await,
            ok()
        );
        let (_, state) = get(&alice, &call_path(&call_id, "state")).await;
        assert_eq!(state["state"], "rejected");
        assert_eq!(state["participants"][1]["state"], "rejected");
        assert!(state["participants"][1]["left_ts"].as_f64().is_some());
        for _ in 0..100 {
            if notices(&alice, dm).await.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            notices(&alice, dm).await,
            vec!["Missed call from alice", "Missed call from alice"]
        );
        // Rejecting again is still `ok` and changes nothing.
        assert_eq!(
            post(&bob, &call_path(&call_id, "reject"), json!({})).await,
            ok()
        );
    });
}

#[test]
fn timers_stop_the_ring_and_finish_the_call_without_any_request() {
    // Ring 3 s, heartbeat 6 s, gone 1.2 s, presence 12 s.
    let daemon = daemon(Some(0.1));
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        let dm = "dm:alice:bob";
        let mut bob_events = bob.events("channel=", None).await;
        bob_events.wait_for("incoming_calls", WAIT).await.unwrap();
        let mut alice_events = alice.events(&format!("channel={}", seg(dm)), None).await;
        alice_events.wait_for("active_call", WAIT).await.unwrap();

        let started = std::time::Instant::now();
        let call_id = initiate(&alice, dm).await;
        let ring = bob_events
            .wait_for("incoming_calls", WAIT)
            .await
            .unwrap()
            .json();
        assert_eq!(ring[0]["call_id"], call_id.as_str());
        alice_events.wait_for("active_call", WAIT).await.unwrap();

        // Nobody touches the call: the timer ends the ring and the call within 1 s of 3 s.
        let stopped = bob_events
            .wait_for("incoming_calls", Duration::from_secs(6))
            .await
            .unwrap();
        assert_eq!(stopped.json(), json!([]));
        // The finish and its notice arrive in either order (the notice is a separate write).
        let (mut ended, mut notice) = (None, None);
        while ended.is_none() || notice.is_none() {
            let event = alice_events
                .next(Duration::from_secs(6))
                .await
                .expect("the timer finished the call");
            match event.name.as_str() {
                "active_call" => ended = Some(event.json()),
                "messages" => notice = Some(event.json()),
                _ => {}
            }
        }
        assert_eq!(ended.unwrap(), json!({"call": null}));
        let elapsed = started.elapsed().as_secs_f64();
        assert!((2.9..4.5).contains(&elapsed), "finished after {elapsed} s");
        assert_eq!(notice.unwrap()[0]["content"], "Missed call from alice");
        let (_, state) = get(&alice, &call_path(&call_id, "state")).await;
        assert_eq!(state["state"], "ended");
        assert_eq!(state["participants"][1]["state"], "rejected");

        // An answered call whose members stop their heartbeats is ended by the timer once
        // every accepted participant is stale (6 s here).
        let call_id = initiate(&alice, dm).await;
        post(&bob, &call_path(&call_id, "accept"), json!({})).await;
        let started = std::time::Instant::now();
        let notice = loop {
            let found = notices(&alice, dm).await;
            if let Some(n) = found.iter().find(|n| n.starts_with("Call ended")) {
                break n.clone();
            }
            assert!(started.elapsed() < Duration::from_secs(12), "never ended");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(started.elapsed() > Duration::from_secs(5), "ended too soon");
        assert!(notice.starts_with("Call ended \u{b7} "));
    });
}

#[test]
fn group_calls_invite_join_in_progress_and_remove_the_gone() {
    // Gone corroboration 1.2 s, heartbeat 6 s.
    let daemon = daemon(Some(0.1));
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        let carol = signup(&daemon, "carol").await;
        let dave = signup(&daemon, "dave").await;
        let eve = signup(&daemon, "eve").await;
        let crew = private_channel(&alice, &["bob", "carol", "dave"]).await;

        let (status, body) = post(&alice, "/calls/initiate", json!({"channel": crew})).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["participants"],
            json!(["alice", "bob", "carol", "dave"])
        );
        let call_id = body["call_id"].as_str().unwrap().to_string();
        let invite = call_path(&call_id, "invite");

        assert_eq!(
            post(&alice, &invite, json!({"username": "carol"})).await,
            error(409, "call is not active")
        );
        post(&bob, &call_path(&call_id, "accept"), json!({})).await;

        // invite: the checks in order.
        let nope = "/calls/nope/invite".to_string();
        let cases: [(&User, &String, &str, (u16, Value)); 8] = [
            (&alice, &invite, " ", error(400, "username required")),
            (
                &alice,
                &invite,
                "ALICE",
                error(400, "cannot invite yourself"),
            ),
            (&alice, &nope, "bob", error(404, "call not found")),
            (&eve, &invite, "bob", error(404, "call not found")),
            (&carol, &invite, "bob", error(403, "not a participant")),
            (&alice, &invite, "nobody", error(404, "user not found")),
            (
                &alice,
                &invite,
                "eve",
                error(400, "user is not a member of this channel"),
            ),
            (&alice, &invite, "bob", error(409, "user already in call")),
        ];
        for (who, path, target, expected) in cases {
            let got = post(who, path, json!({ "username": target })).await;
            assert_eq!(got, expected, "{} invites {target:?}", who.name);
        }

        // carol declines; the call goes on (bob is in it), and she can be invited again.
        assert_eq!(
            post(&carol, &call_path(&call_id, "reject"), json!({})).await,
            ok()
        );
        assert_eq!(get(&carol, "/calls/incoming").await.1, json!([]));
        let mut carol_events = carol.events("channel=", None).await;
        assert_eq!(
            carol_events
                .wait_for("incoming_calls", WAIT)
                .await
                .unwrap()
                .json(),
            json!([])
        );
        assert_eq!(
            post(&alice, &invite, json!({"username": "Carol"})).await,
            ok()
        );
        let ring = carol_events
            .wait_for("incoming_calls", WAIT)
            .await
            .unwrap()
            .json();
        assert_eq!(ring[0]["call_id"], call_id.as_str());

        // /calls/active for members, outsiders and public channels.
        let active = get(&carol, &format!("/calls/active?channel={}", seg(&crew))).await;
        assert_eq!(active.0, 200);
        assert_eq!(active.1["call"]["joined"], false);
        assert_eq!(active.1["call"]["participants"], json!(["alice", "bob"]));
        assert_eq!(
            get(&eve, &format!("/calls/active?channel={}", seg(&crew))).await,
            error(403, "access denied")
        );
        assert_eq!(
            get(&alice, "/calls/active?channel=general").await,
            error(403, "access denied")
        );
        assert_eq!(
            get(&alice, "/calls/active?channel=").await,
            error(400, "channel required")
        );

        // dave, whose ring had lapsed, joins the call in progress.
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let (status, body) = post(&dave, &call_path(&call_id, "accept"), json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["participants"], json!(["alice", "bob", "dave"]));

        // gone: only a participant whose heartbeat is older than the corroboration window.
        let gone = call_path(&call_id, "gone");
        assert_eq!(
            post(&bob, &gone, json!({"username": "bob"})).await,
            error(400, "username required")
        );
        assert_eq!(
            post(&eve, &gone, json!({"username": "alice"})).await,
            error(403, "not a participant")
        );
        assert_eq!(
            post(&carol, &gone, json!({"username": "alice"})).await,
            error(403, "not a participant")
        );
        assert_eq!(
            post(&bob, &gone, json!({"username": "dave"})).await,
            (200, json!({"status": "ignored"}))
        );
        assert_eq!(
            post(&bob, &gone, json!({"username": "carol"})).await,
            (200, json!({"status": "ignored"}))
        );
        for _ in 0..3 {
            // bob and dave keep polling (the heartbeat); alice does not.
            get(&bob, &call_path(&call_id, "state")).await;
            get(&dave, &call_path(&call_id, "state")).await;
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        assert_eq!(
            post(&bob, &gone, json!({"username": "alice"})).await,
            (200, json!({"status": "removed"}))
        );
        let (_, state) = get(&bob, &call_path(&call_id, "state")).await;
        assert_eq!(state["state"], "active", "bob and dave are still in it");
        let alice_row = &state["participants"][0];
        assert_eq!(
            (alice_row["username"].clone(), alice_row["state"].clone()),
            (json!("alice"), json!("left"))
        );

        // Leaving the private channel ends the leaver's leg; the last one ends the call.
        assert_eq!(
            bob.post(&format!(
                "/private_channels/{}/leave",
                &crew["private:".len()..]
            ))
            .await
            .status(),
            200
        );
        let notice = wait_notice(&dave, &crew, |n| n.starts_with("Call ended")).await;
        assert!(notice.starts_with("Call ended \u{b7} "));
        let (_, state) = get(&dave, &call_path(&call_id, "state")).await;
        assert_eq!(state["state"], "ended");
    });
}

#[test]
fn standalone_shares_are_for_members_and_end_with_their_sharer() {
    let daemon = daemon(None);
    runtime().block_on(async {
        let alice = signup(&daemon, "alice").await;
        let bob = signup(&daemon, "bob").await;
        let carol = signup(&daemon, "carol").await;
        let dm = "dm:alice:bob";

        assert_eq!(
            post(&alice, "/screenshare/start", json!({})).await,
            error(400, "channel required")
        );
        assert_eq!(
            post(&alice, "/screenshare/start", json!({"channel": "general"})).await,
            error(403, "access denied")
        );
        assert_eq!(
            post(&carol, "/screenshare/start", json!({"channel": dm})).await,
            error(403, "access denied")
        );

        let mut bob_events = bob.events(&format!("channel={}", seg(dm)), None).await;
        assert_eq!(
            bob_events
                .wait_for("screenshares", WAIT)
                .await
                .unwrap()
                .json(),
            json!([])
        );
        let (status, body) = post(&alice, "/screenshare/start", json!({"channel": dm})).await;
        assert_eq!(status, 200);
        let share_id = body["share_id"].as_str().unwrap().to_string();
        let listed = bob_events
            .wait_for("screenshares", WAIT)
            .await
            .unwrap()
            .json();
        assert_eq!(listed[0]["share_id"], share_id.as_str());
        assert_eq!(listed[0]["sharer"], "alice");
        assert_eq!(listed[0]["channel"], dm);
        let active = get(&alice, &format!("/screenshare/active?channel={}", seg(dm))).await;
        assert_eq!(active, (200, listed.clone()));
        assert_eq!(
            get(&carol, &format!("/screenshare/active?channel={}", seg(dm))).await,
            error(403, "access denied")
        );

        // The viewer offers; the sharer answers. Nobody else may be addressed.
        let path = format!("/screenshare/{share_id}/signal");
        assert_eq!(
            post(&bob, &path, json!({"to": "alice", "type": "offer"})).await,
            error(
                400,
                "to, type (offer/answer/ice_candidate), and payload are required"
            )
        );
        assert_eq!(
            offer(&bob, "/screenshare/nope/signal", "alice").await,
            error(404, "not found")
        );
        assert_eq!(offer(&carol, &path, "alice").await, error(404, "not found"));
        assert_eq!(
            offer(&bob, &path, "carol").await,
            error(400, "invalid recipient")
        );
        assert_eq!(
            offer(&bob, &path, "bob").await,
            error(400, "invalid recipient")
        );
        let mut alice_events = alice.events("channel=", None).await;
        alice_events.wait_for("incoming_calls", WAIT).await.unwrap();
        assert_eq!(
            post(
                &bob,
                &path,
                json!({"to": "Alice", "type": "offer", "payload": {"sdp": "x"}})
            )
            .await,
            ok()
        );
        let pushed = alice_events.wait_for("signal", WAIT).await.unwrap().json();
        assert_eq!(pushed["share_id"], share_id.as_str());
        assert_eq!(pushed["from"], "bob");
        let (_, polled) = get(&alice, &format!("/screenshare/{share_id}/signals?after=0")).await;
        assert_eq!(polled[0]["id"], pushed["id"]);
        assert_eq!(
            get(&carol, &format!("/screenshare/{share_id}/signals")).await,
            error(404, "share not found")
        );

        // Only the sharer stops it; stopping twice is fine.
        let stop = format!("/screenshare/{share_id}/stop");
        assert_eq!(
            post(&bob, &stop, json!({})).await,
            error(403, "access denied")
        );
        assert_eq!(
            post(&carol, &stop, json!({})).await,
            error(404, "share not found")
        );
        assert_eq!(post(&alice, &stop, json!({})).await, ok());
        assert_eq!(post(&alice, &stop, json!({})).await, ok());
        assert_eq!(
            bob_events
                .wait_for("screenshares", WAIT)
                .await
                .unwrap()
                .json(),
            json!([])
        );
        assert_eq!(
            offer(&bob, &path, "alice").await,
            error(409, "share is not active")
        );

        // A new share replaces the sharer's old one; the sharer's logout (last session) ends it.
        let first = post(&alice, "/screenshare/start", json!({"channel": dm}))
            .await
            .1;
        let second = post(&alice, "/screenshare/start", json!({"channel": dm}))
            .await
            .1;
        let (_, list) = get(&bob, &format!("/screenshare/active?channel={}", seg(dm))).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["share_id"], second["share_id"]);
        assert_ne!(first["share_id"], second["share_id"]);
        assert_eq!(alice.post("/logout").await.status(), 302);
        let (_, list) = get(&bob, &format!("/screenshare/active?channel={}", seg(dm))).await;
        assert_eq!(list, json!([]));
    });
}
