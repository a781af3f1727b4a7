//! The admin socket: a Unix stream socket speaking JSON lines, one request and one reply per
//! line. Only root and the daemon's own user may talk to it (checked with SO_PEERCRED, beside
//! the socket file's 0600 mode). What the commands do lives in `crate::admin`.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

/// One reply line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The exit status minimostctl should use for this outcome.
    #[serde(default)]
    pub exit: i32,
    /// A file to send after the reply line (its size is in `data.attachment_bytes`); it is
    /// deleted once sent. Used by backups, which the daemon may write only in its own folders.
    #[serde(skip)]
    pub attachment: Option<std::path::PathBuf>,
}

impl Reply {
    pub fn ok(data: Value) -> Reply {
        Reply {
            ok: true,
            data,
            error: None,
            exit: 0,
            attachment: None,
        }
    }

    pub fn fail(exit: i32, error: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            data: Value::Null,
            error: Some(error.into()),
            exit,
            attachment: None,
        }
    }
}

pub type Handler = Arc<dyn Fn(Value) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

/// Longest request line accepted; admin requests are tiny.
const MAX_LINE: usize = 64 * 1024;

/// Serves the control socket until `shutdown` fires.
pub async fn serve(listener: UnixListener, handler: Handler, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let handler = handler.clone();
                tokio::spawn(async move {
                    if let Err(e) = session(stream, handler).await {
                        tracing::debug!(error = %e, "control connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// The peer's uid when it may use the socket, `Err(uid)` otherwise.
fn peer_check(stream: &UnixStream) -> Result<u32, Option<u32>> {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == 0 || cred.uid() == nix::unistd::Uid::effective().as_raw() => {
            Ok(cred.uid())
        }
        Ok(cred) => Err(Some(cred.uid())),
        Err(_) => Err(None),
    }
}

async fn session(stream: UnixStream, handler: Handler) -> std::io::Result<()> {
    let peer = peer_check(&stream);
    let (read, mut write) = stream.into_split();
    if let Err(uid) = peer {
        tracing::warn!(
            AUDIT_EVENT = "access_denied",
            OUTCOME = "refused",
            REASON = "control socket peer is neither root nor the daemon's user",
            PEER_UID = uid.map(i64::from).unwrap_or(-1),
            "control connection refused"
        );
        let reply = Reply::fail(1, "permission denied: only root may use the control socket");
        write_reply(&mut write, &reply).await?;
        return Ok(());
    }
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = if line.len() > MAX_LINE {
            Reply::fail(2, "request too large")
        } else {
            match serde_json::from_str::<Value>(&line) {
                Ok(request) if request.is_object() => handler(request).await,
                _ => Reply::fail(2, "malformed request: expected one JSON object per line"),
            }
        };
        write_reply(&mut write, &reply).await?;
        if let Some(path) = &reply.attachment {
            let sent = send_file(&mut write, path).await;
            let _ = tokio::fs::remove_file(path).await;
            sent?;
        }
    }
    Ok(())
}

async fn send_file(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    path: &Path,
) -> std::io::Result<()> {
    let mut file = tokio::fs::File::open(path).await?;
    tokio::io::copy(&mut file, write).await?;
    write.flush().await
}

async fn write_reply(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    reply: &Reply,
) -> std::io::Result<()> {
    let mut bytes =
        serde_json::to_vec(reply).unwrap_or_else(|_| b"{\"ok\":false,\"exit\":1}".to_vec());
    bytes.push(b'\n');
    write.write_all(&bytes).await
}

/// Sends one request line and reads the reply line; the reader stays positioned after it, where
/// an attachment (if announced) follows.
fn exchange(
    socket: &Path,
    request: &Value,
) -> Result<(Reply, std::io::BufReader<std::os::unix::net::UnixStream>), ClientError> {
    use std::io::{BufRead, Write};
    let mut stream =
        std::os::unix::net::UnixStream::connect(socket).map_err(|source| ClientError::Connect {
            path: socket.display().to_string(),
            source,
        })?;
    let mut line = serde_json::to_vec(request).map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(ClientError::Io)?;
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(ClientError::Io)?;
    let mut reader = std::io::BufReader::new(stream);
    let mut text = String::new();
    reader.read_line(&mut text).map_err(ClientError::Io)?;
    let reply = serde_json::from_str(&text)
        .map_err(|e| ClientError::Protocol(format!("unreadable reply: {e}")))?;
    Ok((reply, reader))
}

/// Client side, for minimostctl: sends one request and waits for its reply (blocking I/O;
/// minimostctl is a plain command-line program).
pub fn request(socket: &Path, request: &Value) -> Result<Reply, ClientError> {
    exchange(socket, request).map(|(reply, _)| reply)
}

/// Like [`request`], for a command whose reply carries a file: writes it to `out` (through a
/// temporary file, renamed once complete) and checks its SHA-256 against `data.attachment_sha256`.
pub fn request_download(socket: &Path, request: &Value, out: &Path) -> Result<Reply, ClientError> {
    use sha2::Digest;
    use std::io::{Read, Write};
    let (reply, reader) = exchange(socket, request)?;
    if !reply.ok {
        return Ok(reply);
    }
    let size = reply.data["attachment_bytes"]
        .as_u64()
        .ok_or_else(|| ClientError::Protocol("the reply announced no file".into()))?;
    let expected = reply.data["attachment_sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let partial = out.with_extension("partial");
    let mut file = std::fs::File::create(&partial).map_err(ClientError::Io)?;
    let mut hasher = sha2::Sha256::new();
    let mut remaining = reader.take(size);
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = remaining.read(&mut buffer).map_err(ClientError::Io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(ClientError::Io)?;
    }
    file.sync_all().map_err(ClientError::Io)?;
    let written = file.metadata().map_err(ClientError::Io)?.len();
    if written != size || hex::encode(hasher.finalize()) != expected {
        let _ = std::fs::remove_file(&partial);
        return Err(ClientError::Protocol(format!(
            "the file arrived incomplete ({written} of {size} bytes)"
        )));
    }
    std::fs::rename(&partial, out).map_err(ClientError::Io)?;
    Ok(reply)
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the minimost daemon at {path}: {source} (is it running? try: systemctl status minimost)")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("control socket: {0}")]
    Io(std::io::Error),
    #[error("control socket: {0}")]
    Protocol(String),
}
