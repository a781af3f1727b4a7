//! Uploaded files (api.md §6.4): `GET /files/<filename>` with validators, ranges and the
//! serving headers, and `GET /file_preview/<filename>` for the text types of Appendix B.
//! Every download is authorized against the rows that carry the name.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::CurrentUser;
use super::chat::{uploads_dir, viewer};
use super::error::ApiError;
use crate::app::AppRef;
use crate::domain::{link_preview, uploads};
use crate::store::messages;

pub fn routes() -> Router<AppRef> {
    Router::new()
        .route("/files/{*filename}", get(file))
        .route("/file_preview/{*filename}", get(preview))
}

/// The file's path if `user` may read it and it is still on disk; else `404 not found`.
async fn authorized(
    app: &AppRef,
    user: &CurrentUser,
    filename: &str,
) -> Result<std::path::PathBuf, ApiError> {
    // A name with `/`, `\` or NUL can never be a stored upload (one flat folder).
    if !uploads::is_plain_file_name(filename) {
        return Err(ApiError::not_found_text());
    }
    let public = app.settings().channels.clone();
    let viewer = viewer(user);
    let name = filename.to_string();
    let allowed = app
        .readers
        .read(move |conn| messages::file_visible(conn, &public, &viewer, &name))
        .await?;
    if !allowed {
        return Err(ApiError::not_found_text());
    }
    Ok(uploads_dir(app).join(filename))
}

/// RFC 7231 IMF-fixdate for `Last-Modified`.
fn http_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year} {h:02}:{m:02}:{s:02} GMT")
}

/// The byte range a `Range` header asks for, for a file of `len` bytes: `Ok(None)` to serve
/// the whole file (no header, or a form we do not serve partially), `Err(())` when the range
/// cannot be satisfied.
fn requested_range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(raw) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = raw.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 || len == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len - 1)
        }
        (from, "") => {
            let from: u64 = from.parse().map_err(|_| ())?;
            if from >= len {
                return Err(());
            }
            (from, len - 1)
        }
        (from, to) => {
            let from: u64 = from.parse().map_err(|_| ())?;
            let to: u64 = to.parse().map_err(|_| ())?;
            if from > to || from >= len {
                return Err(());
            }
            (from, to.min(len - 1))
        }
    };
    Ok(Some(range))
}

async fn file(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(filename): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = authorized(&app, &user, &filename).await?;
    let metadata = match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() => m,
        _ => return Err(ApiError::not_found_text()),
    };
    let len = metadata.len();
    let modified = metadata.modified().unwrap_or(UNIX_EPOCH);
    let mtime = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("\"{len:x}-{mtime:x}\"");
    let last_modified = http_date(modified);

    let mut base = HeaderMap::new();
    base.insert(header::ETAG, header_value(&etag));
    base.insert(header::LAST_MODIFIED, header_value(&last_modified));
    base.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=86400"),
    );
    base.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    let none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let not_modified = match none_match {
        Some(tags) => tags
            .split(',')
            .any(|t| t.trim() == etag || t.trim() == "*" || t.trim() == format!("W/{etag}")),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|since| since.trim() == last_modified),
    };
    if not_modified {
        return Ok((StatusCode::NOT_MODIFIED, base).into_response());
    }
    base.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(uploads::content_type(&filename)),
    );
    base.insert(
        header::CONTENT_DISPOSITION,
        header_value(&uploads::content_disposition(&filename)),
    );
    // A Range is honoured only while the client's copy is current (If-Range).
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag || v.trim() == last_modified);
    let range = if if_range_ok {
        requested_range(&headers, len)
    } else {
        Ok(None)
    };
    let range = match range {
        Ok(range) => range,
        Err(()) => {
            base.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{len}")),
            );
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, base).into_response());
        }
    };
    let (status, start, end) = match range {
        Some((start, end)) => {
            base.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {start}-{end}/{len}")),
            );
            (StatusCode::PARTIAL_CONTENT, start, end)
        }
        None if len == 0 => (StatusCode::OK, 0, 0),
        None => (StatusCode::OK, 0, len - 1),
    };
    let want = if len == 0 { 0 } else { end - start + 1 };
    let bytes = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(&path)?;
        file.seek(SeekFrom::Start(start))?;
        let mut buffer = Vec::with_capacity(want as usize);
        file.take(want).read_to_end(&mut buffer)?;
        Ok::<_, std::io::Error>(buffer)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|_| ApiError::not_found_text())?;
    Ok((status, base, bytes).into_response())
}

fn header_value(s: &str) -> HeaderValue {
    // Our own values are visible ASCII; a failure would be a bug, so fall back to empty.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn preview(
    State(app): State<AppRef>,
    user: CurrentUser,
    Path(filename): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let path = authorized(&app, &user, &filename).await?;
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(ApiError::not_found_text());
    }
    let display = uploads::download_name(&filename).to_string();
    if !uploads::is_previewable(&display) {
        return Ok(Json(json!({})));
    }
    let Ok(body) = tokio::fs::read(&path).await else {
        return Ok(Json(json!({})));
    };
    let url = format!("/files/{filename}");
    Ok(Json(link_preview::code_object(&url, &display, &body, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &'static str, len: u64) -> Result<Option<(u64, u64)>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_static(value));
        requested_range(&headers, len)
    }

    #[test]
    fn ranges_cover_the_three_forms_and_refuse_the_impossible() {
        assert_eq!(range("bytes=0-3", 10), Ok(Some((0, 3))));
        assert_eq!(range("bytes=4-", 10), Ok(Some((4, 9))));
        assert_eq!(range("bytes=-3", 10), Ok(Some((7, 9))));
        assert_eq!(range("bytes=5-100", 10), Ok(Some((5, 9))));
        assert_eq!(range("bytes=10-", 10), Err(()));
        assert_eq!(range("bytes=0-1,3-4", 10), Ok(None));
        assert_eq!(range("lines=1-2", 10), Ok(None));
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
