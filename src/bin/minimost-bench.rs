//! minimost-bench: load generator for a running MiniMost daemon.
//!
//! Workload `auth-flood` (issue 3): `--attackers` tasks post wrong-password logins for unknown
//! names as fast as the server answers, while two probes time `GET /healthz` and an
//! authenticated `GET /channels`, one request at a time. It prints p50/p99/max per probe and
//! the login throughput. Unknown names are used because they are never locked out, so every
//! attempt costs a full password hash; run the daemon with `rate_limit_enabled = false` to
//! measure the worst case (otherwise the `login` bucket answers most attempts with a cheap 429).
//!
//! It speaks HTTP/1.1 over rustls itself (one keep-alive connection per task), so the release
//! build carries no HTTP client library.

use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

// The chat workloads (send, history, search, fanout) live beside this file.
#[path = "minimost-bench/chat.rs"]
mod chat;

#[derive(Parser)]
#[command(
    name = "minimost-bench",
    about = "Load generator for a running MiniMost daemon"
)]
struct Args {
    /// Address of the daemon (host:port).
    #[arg(long, default_value = "127.0.0.1:5000")]
    addr: String,
    /// CA certificate that signed the daemon's certificate (e.g. <state>/tls/ca.pem).
    #[arg(long)]
    ca: PathBuf,
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand)]
enum Workload {
    #[command(flatten)]
    Chat(chat::Workload),
    /// Wrong-password logins in parallel while probing /healthz and /channels.
    AuthFlood {
        /// An existing account for the authenticated probe.
        #[arg(long)]
        user: String,
        #[arg(long)]
        password: String,
        /// Concurrent wrong-password login loops.
        #[arg(long, default_value_t = 100)]
        attackers: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

struct Client {
    connector: TlsConnector,
    addr: String,
}

struct Conn {
    stream: TlsStream<TcpStream>,
    buffer: Vec<u8>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of the `session` cookie this reply sets.
    fn session(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| v.strip_prefix("session="))
            .map(|v| v.split(';').next().unwrap_or("").to_string())
    }
}

impl Client {
    async fn connect(&self) -> Result<Conn> {
        let tcp = TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        let host = self.addr.rsplit_once(':').map_or("localhost", |(h, _)| h);
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())?;
        let stream = self.connector.connect(name, tcp).await?;
        Ok(Conn {
            stream,
            buffer: Vec::new(),
        })
    }
}

impl Conn {
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Reply> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(body);
        self.stream.write_all(head.as_bytes()).await?;
        self.stream.flush().await?;
        let end = loop {
            if let Some(pos) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
            self.fill().await?;
        };
        let text = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .context("bad status line")?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        if headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
        {
            bail!("chunked responses are not supported by this bench");
        }
        self.buffer.drain(..end + 4);
        while self.buffer.len() < length {
            self.fill().await?;
        }
        let body = self.buffer.drain(..length).collect();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    async fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn form_token(html: &[u8]) -> Result<String> {
    let html = String::from_utf8_lossy(html);
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).context("no csrf field")? + marker.len();
    let end = html[start..].find('"').context("unterminated csrf field")? + start;
    Ok(html[start..end].to_string())
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A pre-login cookie and its form token.
async fn login_form(conn: &mut Conn) -> Result<(String, String)> {
    let page = conn.request("GET", "/login", &[], "").await?;
    let cookie = page.session().context("no pre-login cookie")?;
    Ok((cookie, form_token(&page.body)?))
}

async fn post_login(
    conn: &mut Conn,
    cookie: &str,
    token: &str,
    user: &str,
    password: &str,
) -> Result<Reply> {
    let body = format!(
        "csrf_token={}&username={}&password={}",
        urlencode(token),
        urlencode(user),
        urlencode(password)
    );
    let cookie = format!("session={cookie}");
    conn.request(
        "POST",
        "/login",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &body,
    )
    .await
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<16} n={:<6} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
}

async fn probe(
    client: Arc<Client>,
    path: &'static str,
    cookie: Option<String>,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Duration>> {
    let mut conn = client.connect().await?;
    let cookie = cookie.map(|c| format!("session={c}"));
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let reply = conn.request("GET", path, &headers, "").await?;
        samples.push(started.elapsed());
        if reply.status != 200 {
            bail!("{path} answered {}", reply.status);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(samples)
}

async fn attacker(
    client: Arc<Client>,
    index: usize,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    limited: Arc<AtomicU64>,
) -> Result<()> {
    let mut conn = client.connect().await?;
    let (cookie, token) = login_form(&mut conn).await?;
    let name = format!("flood-{index}");
    while !stop.load(Ordering::Relaxed) {
        let reply = post_login(&mut conn, &cookie, &token, &name, "Wrong-Password-123").await?;
        match reply.status {
            200 => done.fetch_add(1, Ordering::Relaxed),
            429 => limited.fetch_add(1, Ordering::Relaxed),
            other => bail!("login answered {other}"),
        };
    }
    Ok(())
}

async fn auth_flood(
    client: Arc<Client>,
    user: String,
    password: String,
    attackers: usize,
    seconds: u64,
) -> Result<()> {
    let mut conn = client.connect().await?;
    let (cookie, token) = login_form(&mut conn).await?;
    let reply = post_login(&mut conn, &cookie, &token, &user, &password).await?;
    if reply.status != 302 {
        bail!("login as {user} failed with {}", reply.status);
    }
    let session = reply.session().context("no session cookie")?;
    let _ = reply.header("location");

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicU64::new(0));
    let mut flood = Vec::new();
    for index in 0..attackers {
        flood.push(tokio::spawn(attacker(
            client.clone(),
            index,
            stop.clone(),
            done.clone(),
            limited.clone(),
        )));
    }
    // Let the flood build up before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let health = tokio::spawn(probe(client.clone(), "/healthz", None, stop.clone()));
    let channels = tokio::spawn(probe(
        client.clone(),
        "/channels",
        Some(session),
        stop.clone(),
    ));
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let health = health.await??;
    let channels = channels.await??;
    for task in flood {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64() + 1.0;
    println!(
        "auth-flood: {attackers} attackers, {seconds} s measured; {} wrong-password logins answered ({:.1}/s), {} rate-limited",
        done.load(Ordering::Relaxed),
        done.load(Ordering::Relaxed) as f64 / elapsed,
        limited.load(Ordering::Relaxed)
    );
    report("GET /healthz", health);
    report("GET /channels", channels);
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    minimost::system::tls::install_crypto_provider();
    let ca_path = args.ca.clone();
    let pem = std::fs::read(&args.ca).with_context(|| format!("reading {}", args.ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = Arc::new(Client {
        connector: TlsConnector::from(Arc::new(config)),
        addr: args.addr,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.workload {
        Workload::AuthFlood {
            user,
            password,
            attackers,
            seconds,
        } => runtime.block_on(auth_flood(client, user, password, attackers, seconds)),
        Workload::Chat(workload) => runtime.block_on(chat::run(&client.addr, &ca_path, workload)),
    }
}
