//! The embedded web client: hashed static assets, the service worker, the web manifest and the
//! page templates, all compiled into the binary by `build.rs`.
//!
//! Hashed names change whenever content does, so they are served as immutable for a year; the
//! few fixed URLs (`/sw.js`, `/manifest.webmanifest`, unhashed `/static/` names) must be
//! revalidated. Security headers are not set here: the shared middleware adds them to every
//! response.

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Path under `web/static/` (`js/app.js`).
    pub logical: &'static str,
    /// Content-hashed path under `/static/` (`js/app.3fa9c2e1.js`).
    pub hashed: &'static str,
    /// Absolute URL (`/static/js/app.3fa9c2e1.js`).
    pub url: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// Gzip variant, present only when smaller than `body`.
    pub gzip: Option<&'static [u8]>,
    /// Brotli variant, present only when smaller than `body`.
    pub brotli: Option<&'static [u8]>,
    /// Strong ETag of the identity body, quotes included.
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Unhashed names may change with the next release, so they get the contract's one-day cache.
const SHORT_CACHE: &str = "public, max-age=86400";

/// The hashed URL of a file under `web/static/`: `url("js/app.js")` →
/// `Some("/static/js/app.3fa9c2e1.js")`.
pub fn url(logical: &str) -> Option<&'static str> {
    by_logical(logical).map(|a| a.url)
}

/// The asset with this hashed path (`js/app.3fa9c2e1.js`, no `/static/` prefix).
pub fn lookup(hashed: &str) -> Option<&'static Asset> {
    BY_HASHED
        .binary_search_by(|(name, _)| (*name).cmp(hashed))
        .ok()
        .and_then(|pos| ASSETS.get(BY_HASHED[pos].1))
}

fn by_logical(logical: &str) -> Option<&'static Asset> {
    ASSETS
        .binary_search_by(|a| a.logical.cmp(logical))
        .ok()
        .map(|pos| &ASSETS[pos])
}

/// Every embedded asset, in logical-path order.
pub fn all() -> &'static [Asset] {
    ASSETS
}

/// The source of a page template from `web/templates/` (`template("login.html")`).
pub fn template(name: &str) -> Option<&'static str> {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, source)| *source)
}

/// Names of every embedded template.
pub fn template_names() -> impl Iterator<Item = &'static str> {
    TEMPLATES.iter().map(|(name, _)| *name)
}

/// A template environment holding every page template, with autoescaping for `.html` (the
/// minijinja default), the global `version` and the function `asset(path)` that returns a hashed
/// URL. An unknown path is a render error rather than a broken link.
pub fn environment(version: &'static str) -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    for (name, source) in TEMPLATES {
        // The sources were parsed by the unit tests; a broken one would fail there first, and at
        // run time it is reported when rendered (unknown template).
        if let Err(err) = env.add_template(name, source) {
            tracing::warn!(template = name, error = %err, "page template failed to parse");
        }
    }
    env.add_global("version", version);
    env.add_function(
        "asset",
        |path: &str| -> Result<minijinja::Value, minijinja::Error> {
            // Hashed URLs are plain ASCII paths; marking them safe keeps the markup readable.
            url(path)
                .map(|u| minijinja::Value::from_safe_string(u.to_owned()))
                .ok_or_else(|| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("no asset named {path}"),
                    )
                })
        },
    );
    env
}

/// `GET|HEAD /static/{*path}`, `GET /sw.js` and `GET /manifest.webmanifest`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/static/{*path}", get(static_file))
        .route("/sw.js", get(service_worker))
        .route("/manifest.webmanifest", get(manifest))
}

async fn static_file(method: Method, Path(path): Path<String>, headers: HeaderMap) -> Response {
    if let Some(asset) = lookup(&path) {
        return serve(asset, &headers, &method, IMMUTABLE, &[]);
    }
    if let Some(asset) = by_logical(&path) {
        return serve(asset, &headers, &method, SHORT_CACHE, &[]);
    }
    not_found()
}

async fn service_worker(method: Method, headers: HeaderMap) -> Response {
    match &SERVICE_WORKER {
        // The worker lives at /sw.js but controls the whole origin, and the browser must check
        // it for updates on every navigation.
        Some(asset) => serve(
            asset,
            &headers,
            &method,
            "no-cache",
            &[("service-worker-allowed", "/")],
        ),
        None => not_found(),
    }
}

async fn manifest(method: Method, headers: HeaderMap) -> Response {
    match &MANIFEST {
        Some(asset) => serve(asset, &headers, &method, "no-cache", &[]),
        None => not_found(),
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found",
    )
        .into_response()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    fn token(self) -> Option<&'static str> {
        match self {
            Encoding::Brotli => Some("br"),
            Encoding::Gzip => Some("gzip"),
            Encoding::Identity => None,
        }
    }
}

/// Picks the best encoding the client accepts and the asset has: br, then gzip, then identity.
fn choose_encoding(accept: Option<&str>, asset: &Asset) -> Encoding {
    let Some(accept) = accept else {
        return Encoding::Identity;
    };
    let mut br = None;
    let mut gzip = None;
    let mut star = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut quality = 1.0f32;
        for param in parts {
            let param = param.trim();
            if let Some(q) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                quality = q.trim().parse().unwrap_or(0.0);
            }
        }
        match coding.as_str() {
            "br" => br = Some(quality),
            "gzip" | "x-gzip" => gzip = Some(quality),
            "*" => star = Some(quality),
            _ => {}
        }
    }
    let accepts = |explicit: Option<f32>| explicit.or(star).is_some_and(|q| q > 0.0);
    if asset.brotli.is_some() && accepts(br) {
        Encoding::Brotli
    } else if asset.gzip.is_some() && accepts(gzip) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// The ETag of one encoded representation: each encoding is a different byte sequence, so each
/// gets its own strong tag.
fn etag_for(asset: &Asset, encoding: Encoding) -> String {
    match encoding.token() {
        Some(token) => {
            let bare = asset.etag.trim_matches('"');
            format!("\"{bare}-{token}\"")
        }
        None => asset.etag.to_string(),
    }
}

/// Whether `If-None-Match` names this asset in any encoding (weak comparison, as RFC 9110
/// prescribes for this header).
fn not_modified(headers: &HeaderMap, asset: &Asset) -> bool {
    let bare = asset.etag.trim_matches('"');
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| {
            if tag == "*" {
                return true;
            }
            let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
            tag == bare
                || tag
                    .strip_prefix(bare)
                    .is_some_and(|rest| rest == "-br" || rest == "-gzip")
        })
}

fn serve(
    asset: &'static Asset,
    headers: &HeaderMap,
    method: &Method,
    cache_control: &'static str,
    extra: &[(&'static str, &'static str)],
) -> Response {
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let encoding = choose_encoding(accept, asset);
    let body: &'static [u8] = match encoding {
        Encoding::Brotli => asset.brotli.unwrap_or(asset.body),
        Encoding::Gzip => asset.gzip.unwrap_or(asset.body),
        Encoding::Identity => asset.body,
    };
    let etag = etag_for(asset, encoding);

    let mut response = if not_modified(headers, asset) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(if method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(Bytes::from_static(body))
        });
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if let Some(token) = encoding.token() {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(token));
        }
        r
    };
    let out = response.headers_mut();
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if asset.gzip.is_some() || asset.brotli.is_some() {
        out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    for (name, value) in extra {
        out.insert(*name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_with(uri: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).expect("valid request");
        routes::<()>().oneshot(request).await.expect("infallible")
    }

    async fn body_of(response: Response) -> Vec<u8> {
        to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("in-memory body")
            .to_vec()
    }

    fn app_js() -> &'static Asset {
        by_logical("js/app.js").expect("web/static/js/app.js is embedded")
    }

    fn theme_css() -> &'static Asset {
        by_logical("css/theme.css").expect("web/static/css/theme.css is embedded")
    }

    #[test]
    fn url_inserts_content_hash_before_extension() {
        let app = url("js/app.js").expect("app.js has a URL");
        let name = app.strip_prefix("/static/js/app.").expect("prefix kept");
        let (hash, ext) = name.split_once('.').expect("hash then extension");
        assert_eq!(ext, "js");
        assert_eq!(hash.len(), 8);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(url("js/nope.js"), None);
    }

    #[test]
    fn lookup_finds_asset_by_hashed_name_only() {
        let asset = app_js();
        assert_eq!(lookup(asset.hashed).map(|a| a.logical), Some("js/app.js"));
        assert!(lookup("js/app.js").is_none());
    }

    #[test]
    fn hash_covers_final_content() {
        for asset in all() {
            let digest = sha_hex(asset.body);
            assert!(
                asset.hashed.contains(&digest[..8]),
                "{} does not carry the hash of its bytes",
                asset.hashed
            );
            assert_eq!(asset.etag, format!("\"{}\"", &digest[..16]));
        }
    }

    fn sha_hex(bytes: &[u8]) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    }

    /// Every relative import in every served module must name another served, hashed module;
    /// otherwise the browser would fetch an unhashed (or missing) file.
    #[test]
    fn relative_imports_point_at_hashed_assets() {
        let mut checked = 0;
        for asset in all().iter().filter(|a| a.logical.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).expect("JS is UTF-8");
            let dir = asset.hashed.rsplit_once('/').map_or("", |(d, _)| d);
            for spec in text
                .split(['\'', '"'])
                .filter(|s| s.starts_with("./") || s.starts_with("../"))
                .filter(|s| s.ends_with(".js"))
            {
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        other => parts.push(other),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    lookup(&resolved).is_some(),
                    "{} imports {spec} → {resolved}, which is not a hashed asset",
                    asset.logical
                );
                checked += 1;
            }
        }
        assert!(checked > 0, "expected the client to have relative imports");
    }

    #[test]
    fn compressed_variants_decode_to_the_body_and_are_smaller() {
        use std::io::Read;
        for asset in all() {
            if let Some(gz) = asset.gzip {
                assert!(gz.len() < asset.body.len());
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(gz)
                    .read_to_end(&mut out)
                    .expect("valid gzip");
                assert_eq!(out, asset.body, "{}", asset.logical);
            }
            if let Some(br) = asset.brotli {
                assert!(br.len() < asset.body.len());
                let mut out = Vec::new();
                brotli::Decompressor::new(br, 4096)
                    .read_to_end(&mut out)
                    .expect("valid brotli");
                assert_eq!(out, asset.body, "{}", asset.logical);
            }
        }
        let css = theme_css();
        assert!(css.brotli.is_some() && css.gzip.is_some());
    }

    #[test]
    fn images_are_not_compressed() {
        for asset in all().iter().filter(|a| a.content_type == "image/png") {
            assert!(asset.gzip.is_none() && asset.brotli.is_none());
        }
    }

    #[tokio::test]
    async fn hashed_asset_is_immutable_and_typed() {
        let asset = app_js();
        let response = get_with(asset.url, &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let h = response.headers();
        assert_eq!(h[header::CACHE_CONTROL], IMMUTABLE);
        assert_eq!(h[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(h[header::ETAG], asset.etag);
        assert_eq!(h[header::VARY], "accept-encoding");
        assert!(h.get(header::CONTENT_ENCODING).is_none());
        assert_eq!(body_of(response).await, asset.body);
    }

    #[tokio::test]
    async fn query_string_is_ignored() {
        let asset = app_js();
        let response = get_with(&format!("{}?v=123", asset.url), &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_of(response).await, asset.body);
    }

    #[tokio::test]
    async fn unknown_asset_is_404_text() {
        let response = get_with("/static/js/app.00000000.js", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(body_of(response).await, b"not found");
        let response = get_with("/static/../Cargo.toml", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn unhashed_name_is_served_with_short_cache() {
        let response = get_with("/static/js/app.js", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CACHE_CONTROL], SHORT_CACHE);
    }

    #[tokio::test]
    async fn brotli_preferred_over_gzip() {
        let asset = theme_css();
        let response = get_with(asset.url, &[("accept-encoding", "gzip, deflate, br")]).await;
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "br");
        let etag = response.headers()[header::ETAG]
            .to_str()
            .unwrap_or("")
            .to_owned();
        assert!(etag.ends_with("-br\""));
        assert_eq!(body_of(response).await, asset.brotli.unwrap_or_default());

        let response = get_with(asset.url, &[("accept-encoding", "gzip, br;q=0")]).await;
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(body_of(response).await, asset.gzip.unwrap_or_default());

        let response = get_with(asset.url, &[("accept-encoding", "identity")]).await;
        assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    }

    #[tokio::test]
    async fn matching_etag_gives_304_in_any_encoding() {
        let asset = app_js();
        let response = get_with(asset.url, &[("if-none-match", asset.etag)]).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::CACHE_CONTROL], IMMUTABLE);
        assert!(body_of(response).await.is_empty());

        let br_tag = etag_for(asset, Encoding::Brotli);
        let response = get_with(
            asset.url,
            &[
                ("if-none-match", &format!("\"zzz\", W/{br_tag}")),
                ("accept-encoding", "br"),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);

        let response = get_with(asset.url, &[("if-none-match", "\"other\"")]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn head_has_headers_but_no_body() {
        let asset = app_js();
        let request = Request::builder()
            .method(Method::HEAD)
            .uri(asset.url)
            .body(Body::empty())
            .expect("valid request");
        let response = routes::<()>().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_LENGTH],
            asset.body.len().to_string().as_str()
        );
        assert!(body_of(response).await.is_empty());
    }

    #[tokio::test]
    async fn service_worker_lists_hashed_shell() {
        let response = get_with("/sw.js", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let h = response.headers();
        assert_eq!(h[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(h["service-worker-allowed"], "/");
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        let text = String::from_utf8(body_of(response).await).expect("UTF-8");
        assert!(!text.contains("/*@shell*/"));
        assert!(text.contains(app_js().url));
        let css = url("css/app.css").expect("app.css embedded");
        assert!(text.contains(css));
    }

    #[tokio::test]
    async fn manifest_points_at_hashed_icons() {
        let response = get_with("/manifest.webmanifest", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/manifest+json"
        );
        let text = String::from_utf8(body_of(response).await).expect("UTF-8");
        let manifest: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let icons = manifest["icons"].as_array().expect("icons");
        assert!(!icons.is_empty());
        for icon in icons {
            let src = icon["src"].as_str().expect("src");
            let hashed = src.strip_prefix("/static/").expect("under /static/");
            assert!(lookup(hashed).is_some(), "{src} is not a hashed asset");
        }
        assert_eq!(manifest["start_url"], "/");
    }

    #[test]
    fn every_page_template_is_embedded_and_parses() {
        let env = environment("test");
        for name in [
            "base.html",
            "login.html",
            "signup.html",
            "forgot_password.html",
            "reset_password.html",
            "about.html",
            "error.html",
            "app.html",
        ] {
            assert!(template(name).is_some(), "{name} missing");
            assert!(env.get_template(name).is_ok(), "{name} does not parse");
        }
    }
}
