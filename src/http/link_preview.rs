//! `GET /link_preview?url=…` (api.md §6.11): fetches a page or code file and returns a preview.
//!
//! The fetcher resolves the host itself, refuses the fetch unless **every** resolved address is
//! public, and then connects to one of exactly those addresses: the HTTP client never resolves
//! the name a second time, which is what closes DNS rebinding. Each redirect hop (at most 5) is
//! checked the same way. Bodies are capped while streaming and the whole fetch has 5 s.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, Request, StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use url::Url;

use super::auth::CurrentUser;
use super::chat::query_first;
use super::error::ApiError;
use crate::app::AppRef;
use crate::domain::link_preview::{self, Strategy};

const USER_AGENT: &str = "Mozilla/5.0 (compatible; MiniMost/1.0)";
const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REDIRECTS: usize = 5;
const PAGE_BYTES: usize = 64 * 1024;
const CODE_BYTES: usize = 512 * 1024;
const CACHE_ENTRIES: usize = 200;
const CACHE_TTL: Duration = Duration::from_secs(3600);

pub fn routes() -> Router<AppRef> {
    Router::new().route("/link_preview", get(preview))
}

async fn preview(
    State(_app): State<AppRef>,
    _user: CurrentUser,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let raw = query_first(&uri, "url")
        .unwrap_or_default()
        .trim()
        .to_string();
    if raw.is_empty() {
        return Ok(Json(json!({})));
    }
    if raw.len() > 2048 {
        return Err(ApiError::BadRequest("url is too long".into()));
    }
    if let Some(hit) = cache_get(&raw) {
        return Ok(Json(hit));
    }
    let value = build(&raw).await.unwrap_or_else(|| json!({}));
    cache_put(&raw, &value);
    Ok(Json(value))
}

// ---------------------------------------------------------------------------------------------
// Cache: first-in-first-out, 200 entries, each at most an hour old.

type Cache = Mutex<VecDeque<(String, Instant, Value)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(VecDeque::with_capacity(CACHE_ENTRIES)))
}

fn cache_get(url: &str) -> Option<Value> {
    let mut entries = cache().lock().unwrap_or_else(|p| p.into_inner());
    entries.retain(|(_, at, _)| at.elapsed() < CACHE_TTL);
    entries
        .iter()
        .find(|(key, _, _)| key == url)
        .map(|(_, _, v)| v.clone())
}

fn cache_put(url: &str, value: &Value) {
    let mut entries = cache().lock().unwrap_or_else(|p| p.into_inner());
    entries.retain(|(key, _, _)| key != url);
    while entries.len() >= CACHE_ENTRIES {
        entries.pop_front();
    }
    entries.push_back((url.to_string(), Instant::now(), value.clone()));
}

// ---------------------------------------------------------------------------------------------

/// The preview of `raw`, or `None` for `{}`.
async fn build(raw: &str) -> Option<Value> {
    let mut url = Url::parse(raw).ok()?;
    // Userinfo is never sent anywhere.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if !link_preview::is_fetchable_url(&url) {
        return None;
    }
    match link_preview::strategy(&url) {
        Strategy::Bitbucket {
            api_url,
            filepath,
            highlight,
        }
        | Strategy::BitbucketServer {
            raw_url: api_url,
            filepath,
            highlight,
        } => {
            let target = Url::parse(&api_url).ok()?;
            let (_, body) = fetch(target, CODE_BYTES).await?;
            Some(link_preview::code_object(raw, &filepath, &body, highlight))
        }
        Strategy::CodeFile { filepath } => {
            if let Some((_, body)) = fetch(url.clone(), CODE_BYTES).await {
                return Some(link_preview::code_object(raw, &filepath, &body, None));
            }
            opengraph(raw, url).await
        }
        Strategy::OpenGraph => opengraph(raw, url).await,
    }
}

async fn opengraph(raw: &str, url: Url) -> Option<Value> {
    let (final_url, body) = fetch(url, PAGE_BYTES).await?;
    let html = String::from_utf8_lossy(&body);
    let mut value = link_preview::opengraph(&final_url, &html)?;
    value["url"] = json!(raw);
    Some(value)
}

/// GETs `url`, following at most 5 redirects, within 5 s; the final URL and at most `cap`
/// bytes of its body. `None` on any failure or a non-2xx answer.
async fn fetch(url: Url, cap: usize) -> Option<(Url, Vec<u8>)> {
    tokio::time::timeout(TIMEOUT, async move {
        let mut url = url;
        for _ in 0..=MAX_REDIRECTS {
            match fetch_once(&url, cap).await? {
                Hop::Done(body) => return Some((url, body)),
                Hop::Redirect(next) => {
                    let mut next = url.join(&next).ok()?;
                    let _ = next.set_username("");
                    let _ = next.set_password(None);
                    if !link_preview::is_fetchable_url(&next) {
                        return None;
                    }
                    url = next;
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

enum Hop {
    Done(Vec<u8>),
    Redirect(String),
}

/// Resolves the host and returns its addresses only if every one of them is public.
async fn checked_addresses(url: &Url) -> Option<Vec<SocketAddr>> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await.ok()?.collect();
    if addresses.is_empty() || !addresses.iter().all(|a| link_preview::is_public_ip(a.ip())) {
        return None;
    }
    Some(addresses)
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        })
        .clone()
}

async fn fetch_once(url: &Url, cap: usize) -> Option<Hop> {
    let addresses = checked_addresses(url).await?;
    let mut stream = None;
    for address in &addresses {
        if let Ok(s) = tokio::net::TcpStream::connect(address).await {
            stream = Some(s);
            break;
        }
    }
    let stream = stream?;
    let host = url.host_str()?.to_string();
    let mut target = url.path().to_string();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let request = Request::get(target)
        .header(header::HOST, authority)
        .header(header::USER_AGENT, USER_AGENT)
        .header(header::ACCEPT, "*/*")
        .body(Empty::<Bytes>::new())
        .ok()?;
    if url.scheme() == "https" {
        let name = rustls_pki_types::ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        )
        .ok()?;
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, stream)
            .await
            .ok()?;
        exchange(TokioIo::new(tls), request, cap).await
    } else {
        exchange(TokioIo::new(stream), request, cap).await
    }
}

async fn exchange<T>(io: TokioIo<T>, request: Request<Empty<Bytes>>, cap: usize) -> Option<Hop>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.ok()?;
    let driver = tokio::spawn(connection);
    let outcome = async {
        let response = sender.send_request(request).await.ok()?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)?
                .to_str()
                .ok()?
                .to_string();
            return Some(Hop::Redirect(location));
        }
        if status != StatusCode::OK && !status.is_success() {
            return None;
        }
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while bytes.len() < cap {
            let Some(frame) = body.frame().await else {
                break;
            };
            let frame = frame.ok()?;
            if let Some(data) = frame.data_ref() {
                let room = cap - bytes.len();
                bytes.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Some(Hop::Done(bytes))
    }
    .await;
    driver.abort();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_and_loopback_targets_are_never_fetched() {
        for raw in [
            "http://127.0.0.1:1/x",
            "http://localhost/",
            "http://10.0.0.1/",
            "http://[::1]/",
            "ftp://example.com/",
        ] {
            assert!(build(raw).await.is_none(), "{raw}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_after_resolution() {
        // The route refuses `localhost` before resolving; the address check alone must also
        // refuse a name whose addresses are loopback.
        let url = Url::parse("http://localhost:9/").unwrap();
        assert!(checked_addresses(&url).await.is_none());
    }

    #[test]
    fn the_cache_is_fifo_and_bounded() {
        for i in 0..(CACHE_ENTRIES + 5) {
            cache_put(&format!("https://example.com/{i}"), &json!({"i": i}));
        }
        assert!(cache_get("https://example.com/0").is_none());
        assert_eq!(
            cache_get(&format!("https://example.com/{}", CACHE_ENTRIES + 4)),
            Some(json!({"i": CACHE_ENTRIES + 4}))
        );
        assert!(cache().lock().unwrap().len() <= CACHE_ENTRIES);
    }
}
