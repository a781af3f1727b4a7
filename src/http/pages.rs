//! Server-rendered HTML pages.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The page templates, built once: parsing them on every request would waste time.
fn environment() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| super::assets::environment(env!("CARGO_PKG_VERSION")))
}

/// Renders `web/templates/<name>` with `context` (plus `asset()` and `version`).
pub fn render(name: &str, context: minijinja::Value) -> Result<String, minijinja::Error> {
    environment().get_template(name)?.render(context)
}

/// An HTML response with `status`.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The error page of api.md §1.6: titled `<status> – MiniMost`, the status in a heading, the
/// message in an alert box and a link home. Rendered from `error.html`; should the template
/// ever fail, a plain page with the same contract is served instead, because an error page
/// must not itself fail.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let code = status.as_u16();
    let context = minijinja::context! {
        status => code,
        message => message,
        title => status.canonical_reason().unwrap_or(""),
    };
    match render("error.html", context) {
        Ok(body) => return html(status, body),
        Err(e) => tracing::error!(ERROR = %e, "error page template failed"),
    }
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{code} \u{2013} MiniMost</title></head>\
         <body><main><h1>{code}</h1><div class=\"auth-error\" role=\"alert\">{}</div>\
         <p><a href=\"/\">Back to MiniMost</a></p></main></body></html>\n",
        escape(message)
    );
    html(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_page_keeps_its_contract() {
        let response = error_page(StatusCode::NOT_FOUND, "<gone> & away");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = render(
            "error.html",
            minijinja::context! { status => 404, message => "<gone>", title => "Not Found" },
        )
        .unwrap();
        assert!(
            body.contains("<title>404 \u{2013} MiniMost</title>"),
            "{body}"
        );
        assert!(
            body.contains("<div class=\"auth-error\" role=\"alert\">&lt;gone&gt;</div>"),
            "{body}"
        );
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
