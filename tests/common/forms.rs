//! Form flows over HTTP against the real daemon: sign-up, log-in, CSRF tokens and session
//! cookies, for the account tests and for every test that needs a signed-in user.

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Client, Response};

use super::Daemon;

/// A password that satisfies every rule of api.md §6.1.5.
pub const PASSWORD: &str = "Correct-Horse-Battery-9";
pub const OTHER_PASSWORD: &str = "Another-Staple-Horse-7";

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The `value` of the hidden `csrf_token` input of a form page.
pub fn form_csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf field in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

/// The `session` cookie value a response sets, if any (empty when it expires it).
pub fn set_session(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("session="))
        .map(|rest| rest.split(';').next().unwrap_or("").to_string())
}

/// The full `Set-Cookie` line for `session`.
pub fn set_session_line(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("session="))
        .map(str::to_string)
}

/// GETs a form page and returns its CSRF token (the client's jar keeps the cookie).
pub async fn form_token(daemon: &Daemon, client: &Client, path: &str) -> String {
    let page = client.get(daemon.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200, "{path}");
    form_csrf(&page.text().await.unwrap())
}

pub async fn post_signup(
    daemon: &Daemon,
    client: &Client,
    name: &str,
    password: &str,
    confirm: &str,
) -> Response {
    let token = form_token(daemon, client, "/signup").await;
    client
        .post(daemon.url("/signup"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", name),
            ("password", password),
            ("confirm_password", confirm),
        ])
        .send()
        .await
        .unwrap()
}

/// Signs `name` up with [`PASSWORD`]; the client is then logged in. Returns the session id.
pub async fn signup(daemon: &Daemon, client: &Client, name: &str) -> String {
    let response = post_signup(daemon, client, name, PASSWORD, PASSWORD).await;
    assert_eq!(
        response.status(),
        302,
        "signup of {name} failed: {}",
        response.text().await.unwrap()
    );
    set_session(response.headers()).expect("signup sets the session cookie")
}

pub async fn post_login(daemon: &Daemon, client: &Client, name: &str, password: &str) -> Response {
    let token = form_token(daemon, client, "/login").await;
    client
        .post(daemon.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", name),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

/// Logs in and returns the new session id.
pub async fn login(daemon: &Daemon, client: &Client, name: &str, password: &str) -> String {
    let response = post_login(daemon, client, name, password).await;
    assert_eq!(
        response.status(),
        302,
        "login of {name} failed: {}",
        response.text().await.unwrap()
    );
    set_session(response.headers()).expect("login sets the session cookie")
}

/// `GET /session` → (user, csrf_token).
pub async fn session(daemon: &Daemon, client: &Client) -> (String, String) {
    let response = client.get(daemon.url("/session")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    (
        body["user"].as_str().unwrap().to_string(),
        body["csrf_token"].as_str().unwrap().to_string(),
    )
}

/// A GET with an explicit cookie from a client with an empty jar: replays a cookie.
pub async fn get_with_cookie(daemon: &Daemon, path: &str, session_id: &str) -> Response {
    daemon
        .client()
        .get(daemon.url(path))
        .header("cookie", format!("session={session_id}"))
        .send()
        .await
        .unwrap()
}
