//! The chat workloads of `minimost-bench` (issue 4): `send`, `history`, `search` and `fanout`.
//!
//! They talk HTTPS to a running daemon like any client, creating their own users through the
//! signup form. Start the daemon with `rate_limit_enabled = false`: the workloads sign up many
//! users and send far beyond the default buckets. See docs/benchmarks.md.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use serde_json::Value;

/// Options every chat workload shares.
#[derive(Args)]
pub struct Common {
    /// Channel to work in.
    #[arg(long, default_value = "general")]
    channel: String,
    /// Prefix of the users this run creates (a random suffix keeps runs apart).
    #[arg(long, default_value = "bench")]
    prefix: String,
}

#[derive(Subcommand)]
pub enum Workload {
    /// Concurrent senders posting as fast as they can, then a check that every acknowledged
    /// message is stored.
    Send {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 32)]
        senders: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Seed the channel (optionally), then fetch its latest page concurrently.
    History {
        #[command(flatten)]
        common: Common,
        /// Messages to send first (0: use what is there).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Seed (optionally), then run substring searches one at a time and report latency.
    Search {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 500)]
        queries: usize,
    },
    /// Open N event streams on the channel, send one message, time its arrival on each.
    Fanout {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 1000)]
        streams: usize,
        /// Users the streams are spread over.
        #[arg(long, default_value_t = 20)]
        users: usize,
        /// Messages to send, one after another, each timed on every stream.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

const PASSWORD: &str = "Bench-password-with-enough-length-1!";

struct Bench {
    url: String,
    ca: Option<reqwest::Certificate>,
    channel: String,
    prefix: String,
}

struct User {
    client: reqwest::Client,
    csrf: String,
    /// The user's cookies, shared by every client made for them (one per stream).
    jar: Arc<reqwest::cookie::Jar>,
}

impl Bench {
    fn client(&self, jar: Arc<reqwest::cookie::Jar>) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .cookie_provider(jar)
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(120));
        builder = match &self.ca {
            Some(ca) => builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(ca.clone()),
            None => builder.danger_accept_invalid_certs(true),
        };
        Ok(builder.build()?)
    }

    async fn signup(&self, name: &str) -> Result<User> {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = self.client(jar.clone())?;
        let page = client
            .get(format!("{}/signup", self.url))
            .send()
            .await?
            .text()
            .await?;
        let marker = "name=\"csrf_token\" value=\"";
        let start = page.find(marker).ok_or_else(|| anyhow!("no signup form"))? + marker.len();
        let end = page[start..]
            .find('"')
            .ok_or_else(|| anyhow!("bad signup form"))?
            + start;
        let token = page[start..end].to_string();
        let response = client
            .post(format!("{}/signup", self.url))
            .form(&[
                ("username", name),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
                ("csrf_token", token.as_str()),
            ])
            .send()
            .await?;
        if response.status() != 302 {
            bail!(
                "signup of {name} answered {} (is rate_limit_enabled = false?)",
                response.status()
            );
        }
        let session: Value = client
            .get(format!("{}/session", self.url))
            .send()
            .await?
            .json()
            .await?;
        let csrf = session["csrf_token"]
            .as_str()
            .ok_or_else(|| anyhow!("no csrf token"))?
            .to_string();
        Ok(User { client, csrf, jar })
    }

    async fn users(&self, count: usize) -> Result<Vec<Arc<User>>> {
        let run: u32 = rand::random::<u32>() % 1_000_000;
        let mut tasks = Vec::new();
        // Password hashing dominates signup; a few at a time keep both cores busy.
        let gate = Arc::new(tokio::sync::Semaphore::new(4));
        for i in 0..count {
            let name = format!("{}{run}x{i}", self.prefix);
            let gate = gate.clone();
            let this = self.shallow();
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await?;
                this.signup(&name).await.map(Arc::new)
            }));
        }
        let mut users = Vec::new();
        for task in tasks {
            users.push(task.await??);
        }
        Ok(users)
    }

    fn shallow(&self) -> Bench {
        Bench {
            url: self.url.clone(),
            ca: self.ca.clone(),
            channel: self.channel.clone(),
            prefix: self.prefix.clone(),
        }
    }

    fn send_url(&self) -> String {
        format!("{}/send/{}", self.url, self.channel)
    }
}

async fn send_one(url: &str, user: &User, text: &str) -> Result<()> {
    let response = user
        .client
        .post(url)
        .header("X-CSRF-Token", &user.csrf)
        .form(&[("text", text)])
        .send()
        .await?;
    if response.status() != 200 {
        bail!("send answered {}", response.status());
    }
    Ok(())
}

/// Percentile `p` (0–100) of sorted durations.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(label: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{label}: n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        latencies.len(),
        pct(&latencies, 50.0).as_secs_f64() * 1e3,
        pct(&latencies, 90.0).as_secs_f64() * 1e3,
        pct(&latencies, 99.0).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

/// Words seeded messages are made of: random letters, so substring queries are selective.
fn words() -> Vec<String> {
    (0..2000)
        .map(|_| {
            (0..7)
                .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
                .collect()
        })
        .collect()
}

/// Sends `total` messages with `senders` concurrent users; returns (acknowledged, elapsed).
async fn storm(
    bench: &Bench,
    users: &[Arc<User>],
    total: Option<u64>,
    seconds: u64,
    tag: &str,
) -> Result<(u64, Duration, Vec<Duration>)> {
    let words = Arc::new(words());
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for user in users {
        let user = user.clone();
        let url = bench.send_url();
        let sent = sent.clone();
        let words = words.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if total.is_some_and(|t| n >= t) || (total.is_none() && Instant::now() >= deadline)
                {
                    sent.fetch_sub(1, Ordering::Relaxed);
                    break;
                }
                let text = format!(
                    "{tag} {n} {} {} {}",
                    words[(n as usize * 7) % words.len()],
                    words[(n as usize * 13 + 1) % words.len()],
                    words[(n as usize * 31 + 2) % words.len()]
                );
                let t = Instant::now();
                if let Err(e) = send_one(&url, &user, &text).await {
                    sent.fetch_sub(1, Ordering::Relaxed);
                    return Err(e);
                }
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok((sent.load(Ordering::Relaxed), started.elapsed(), latencies))
}

async fn run_send(bench: &Bench, senders: usize, seconds: u64) -> Result<()> {
    let users = bench.users(senders).await?;
    let tag = format!("storm{}", rand::random::<u32>());
    let cursor = latest_cursor(bench, &users[0]).await?;
    let (acked, elapsed, latencies) = storm(bench, &users, None, seconds, &tag).await?;
    println!(
        "send: {senders} senders, {acked} acknowledged in {:.2}s = {:.0} messages/s",
        elapsed.as_secs_f64(),
        acked as f64 / elapsed.as_secs_f64()
    );
    report("send latency", latencies);
    // Every acknowledged message must be stored: read everything after the cursor.
    let rows: Value = users[0]
        .client
        .get(format!(
            "{}/messages/{}?after={cursor}",
            bench.url, bench.channel
        ))
        .send()
        .await?
        .json()
        .await?;
    let stored = rows
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| {
                    r["content"]
                        .as_str()
                        .is_some_and(|c| c.starts_with(&format!("{tag} ")))
                })
                .count()
        })
        .unwrap_or(0) as u64;
    println!(
        "stored: {stored} of {acked} acknowledged; lost: {}",
        acked.saturating_sub(stored)
    );
    Ok(())
}

async fn latest_cursor(bench: &Bench, user: &User) -> Result<f64> {
    let rows: Value = user
        .client
        .get(format!("{}/messages/{}?limit=1", bench.url, bench.channel))
        .send()
        .await?
        .json()
        .await?;
    Ok(rows
        .as_array()
        .and_then(|r| r.last())
        .and_then(|r| r["ts"].as_f64())
        .unwrap_or(0.0))
}

async fn seed(bench: &Bench, users: &[Arc<User>], count: u64) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    let (acked, elapsed, _) = storm(bench, users, Some(count), u64::MAX / 4, "seed").await?;
    println!(
        "seeded {acked} messages in {:.1}s ({:.0}/s)",
        elapsed.as_secs_f64(),
        acked as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

async fn run_history(
    bench: &Bench,
    seed_count: u64,
    concurrency: usize,
    seconds: u64,
    limit: u32,
) -> Result<()> {
    let users = bench.users(concurrency.min(32)).await?;
    seed(bench, &users, seed_count).await?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let user = users[i % users.len()].clone();
        let url = format!("{}/messages/{}?limit={limit}", bench.url, bench.channel);
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let response = user.client.get(&url).send().await?;
                if response.status() != 200 {
                    bail!("history answered {}", response.status());
                }
                response.bytes().await?;
                latencies.push(t.elapsed());
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "history: {concurrency} concurrent, {n} pages of {limit} in {elapsed:.2}s = {:.0} requests/s",
        n as f64 / elapsed
    );
    report("history latency", latencies);
    Ok(())
}

async fn run_search(bench: &Bench, seed_count: u64, queries: usize) -> Result<()> {
    let users = bench.users(if seed_count > 0 { 32 } else { 1 }).await?;
    seed(bench, &users, seed_count).await?;
    let user = &users[0];
    // Queries: fragments of words the seed used, plus a few misses and short ones.
    let rows: Value = user
        .client
        .get(format!(
            "{}/messages/{}?limit=200",
            bench.url, bench.channel
        ))
        .send()
        .await?
        .json()
        .await?;
    let mut fragments: Vec<String> = rows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["content"].as_str())
        .flat_map(|c| c.split(' ').skip(2).map(str::to_string).collect::<Vec<_>>())
        .filter(|w| w.len() >= 5)
        .map(|w| w[1..5].to_string())
        .collect();
    if fragments.is_empty() {
        fragments.push("hello".into());
    }
    fragments.push("zzzzqq".into());
    let mut latencies = Vec::new();
    let mut hits = 0usize;
    for i in 0..queries {
        let q = &fragments[i % fragments.len()];
        let t = Instant::now();
        let found: Value = user
            .client
            .get(format!("{}/search_messages?q={q}", bench.url))
            .send()
            .await?
            .json()
            .await?;
        latencies.push(t.elapsed());
        hits += found.as_array().map_or(0, Vec::len);
    }
    println!(
        "search: {queries} queries, {:.1} results on average",
        hits as f64 / queries as f64
    );
    report("search latency", latencies);
    Ok(())
}

async fn run_fanout(bench: &Bench, streams: usize, user_count: usize, rounds: usize) -> Result<()> {
    let users = bench.users(user_count.max(1) + 1).await?;
    let (sender, listeners) = users.split_first().ok_or_else(|| anyhow!("no users"))?;
    let marker = format!("fanout{}", rand::random::<u32>());
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(streams);
    let (arrival_tx, mut arrival_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let opened = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..streams {
        let user = listeners[i % listeners.len()].clone();
        // Each stream gets its own client, hence its own connection, as separate browser tabs
        // would over HTTP/1.1; the user's cookie jar is shared.
        let client = bench.client(user.jar.clone())?;
        let url = format!("{}/events?channel={}", bench.url, bench.channel);
        let ready = ready_tx.clone();
        let arrival = arrival_tx.clone();
        let marker = marker.clone();
        tasks.push(tokio::spawn(async move {
            let response = client.get(&url).send().await?;
            if response.status() != 200 {
                bail!("events answered {}", response.status());
            }
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            let mut started = false;
            while let Some(chunk) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk?));
                while let Some(end) = buffer.find("\n\n") {
                    let frame: String = buffer.drain(..end + 2).collect();
                    if !started && frame.contains("event: incoming_calls") {
                        started = true;
                        let _ = ready.send(()).await;
                    }
                    if frame.contains("event: messages\n") && frame.contains(&marker) {
                        // Rounds arriving together in one frame count once each.
                        for _ in 0..frame.matches(&marker).count() {
                            let _ = arrival.send((i, Instant::now()));
                        }
                    }
                }
            }
            Ok(())
        }));
    }
    drop(ready_tx);
    let mut ready = 0;
    while ready < streams {
        match tokio::time::timeout(Duration::from_secs(120), ready_rx.recv()).await {
            Ok(Some(())) => ready += 1,
            _ => break,
        }
    }
    println!(
        "fanout: {ready} of {streams} streams open after {:.1}s",
        opened.elapsed().as_secs_f64()
    );
    for round in 0..rounds {
        tokio::time::sleep(Duration::from_millis(500)).await;
        while arrival_rx.try_recv().is_ok() {}
        let sent_at = Instant::now();
        send_one(
            &bench.send_url(),
            sender,
            &format!("{marker} round {round}"),
        )
        .await?;
        let acked = sent_at.elapsed();
        let mut latencies = Vec::with_capacity(ready);
        let deadline = sent_at + Duration::from_secs(5);
        while latencies.len() < ready {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, arrival_rx.recv()).await {
                Ok(Some((_, at))) => latencies.push(at - sent_at),
                _ => break,
            }
        }
        let within_1s = latencies
            .iter()
            .filter(|l| **l <= Duration::from_secs(1))
            .count();
        println!(
            "round {round}: send acknowledged after {:.2}ms; {} of {ready} streams got it ({within_1s} within 1 s)",
            acked.as_secs_f64() * 1e3,
            latencies.len()
        );
        report(
            &format!("round {round} arrival (from send start)"),
            latencies,
        );
    }
    for task in &tasks {
        task.abort();
    }
    Ok(())
}

/// Runs one chat workload against `https://<addr>`, trusting the CA in `ca`.
pub async fn run(addr: &str, ca: &Path, workload: Workload) -> Result<()> {
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let ca = Some(reqwest::Certificate::from_pem(&pem)?);
    let bench = |common: &Common| Bench {
        url: format!("https://{addr}"),
        ca: ca.clone(),
        channel: common.channel.clone(),
        prefix: common.prefix.clone(),
    };
    match workload {
        Workload::Send {
            common,
            senders,
            seconds,
        } => run_send(&bench(&common), senders, seconds).await,
        Workload::History {
            common,
            seed,
            concurrency,
            seconds,
            limit,
        } => run_history(&bench(&common), seed, concurrency, seconds, limit).await,
        Workload::Search {
            common,
            seed,
            queries,
        } => run_search(&bench(&common), seed, queries).await,
        Workload::Fanout {
            common,
            streams,
            users,
            rounds,
        } => run_fanout(&bench(&common), streams, users, rounds).await,
    }
}
