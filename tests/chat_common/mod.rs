//! Helpers for the chat, channel, search, file and event tests: real signup through the
//! forms, CSRF-carrying requests, and a small SSE reader.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use crate::common::{forms, Daemon};

/// A signed-in user: a client with the session cookie and the CSRF token.
pub struct User {
    pub name: String,
    pub client: reqwest::Client,
    pub csrf: String,
    pub base: String,
}

/// Signs `name` up through the real form and reads the session's CSRF token.
pub async fn signup(daemon: &Daemon, name: &str) -> User {
    let client = daemon.client();
    forms::signup(daemon, &client, name).await;
    let (_, csrf) = forms::session(daemon, &client).await;
    User {
        name: name.to_string(),
        client,
        csrf,
        base: daemon.base_url(),
    }
}

/// Percent-encodes one path segment.
pub fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl User {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("X-CSRF-Token", &self.csrf)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("X-CSRF-Token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("X-CSRF-Token", &self.csrf)
            .send()
            .await
            .unwrap()
    }

    /// Sends `text` to `channel` and expects `200 ok`.
    pub async fn send(&self, channel: &str, text: &str) {
        let response = self
            .post_form(&format!("/send/{}", seg(channel)), &[("text", text)])
            .await;
        assert_eq!(response.status(), 200, "send to {channel}");
        assert_eq!(response.text().await.unwrap(), "ok");
    }

    /// The channel's full history (delta form from 0), tombstones included.
    pub async fn history(&self, channel: &str) -> Vec<Value> {
        let value = self
            .get_json(&format!("/messages/{}?after=0", seg(channel)))
            .await;
        value.as_array().unwrap().clone()
    }

    pub async fn events(&self, query: &str, last_event_id: Option<&str>) -> Sse {
        let mut request = self.client.get(self.url(&format!("/events?{query}")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "GET /events?{query}");
        Sse {
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }
}

/// One SSE frame.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub data: String,
    pub id: Option<String>,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

pub struct Sse {
    stream: ByteStream,
    pub buffer: String,
}

impl Sse {
    /// The next frame with an event name (comments and `retry:` are skipped), or `None` on
    /// timeout or end of stream.
    pub async fn next(&mut self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer[..end].to_string();
                self.buffer.drain(..end + 2);
                let mut name = None;
                let mut data = String::new();
                let mut id = None;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_string());
                    }
                }
                if let Some(name) = name {
                    return Some(Event { name, data, id });
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.stream.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }

    /// The next frame named `name`, skipping others.
    pub async fn wait_for(&mut self, name: &str, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let event = self.next(left).await?;
            if event.name == name {
                return Some(event);
            }
        }
    }

    /// Every frame until `quiet` passes without one.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Event> {
        let mut all = Vec::new();
        while let Some(event) = self.next(quiet).await {
            all.push(event);
        }
        all
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A daemon without rate limits, for tests that sign up many users or send a lot.
pub fn unlimited_daemon() -> Daemon {
    crate::common::Daemon::start(crate::common::Start {
        config: Some("rate_limit_enabled = false\n".into()),
        own_sockets: true,
        ..Default::default()
    })
}
