//! Shared harness for the black-box tests: starts the real `minimost` binary with its sockets
//! handed over exactly as systemd does (fds 3.. with `LISTEN_PID`, `LISTEN_FDS`,
//! `LISTEN_FDNAMES`), an optional `NOTIFY_SOCKET` the test reads, and a fresh state directory.
//!
//! Run as root (CI), the daemon is started with `--user nobody`, so every test also exercises
//! the privilege drop.
#![allow(dead_code)]

pub mod forms;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_minimost");
pub const CTL: &str = env!("CARGO_BIN_EXE_minimostctl");

/// How to start a daemon.
#[derive(Default)]
pub struct Start {
    /// Settings file contents (written to `<dir>/minimost.toml`); `None` for built-in defaults.
    pub config: Option<String>,
    /// Give the daemon a NOTIFY_SOCKET and read what it sends.
    pub notify: bool,
    /// WATCHDOG_USEC to export.
    pub watchdog_usec: Option<u64>,
    /// Bind our own sockets and pass them (systemd style); otherwise the daemon binds.
    pub own_sockets: bool,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Use this state directory (e.g. one filled by `minimostctl import-python`) instead of a
    /// fresh one. Its parent must be traversable by `nobody` when the tests run as root.
    pub state: Option<PathBuf>,
}

pub struct Daemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    pub config_path: Option<PathBuf>,
    pub https: SocketAddr,
    pub stun: Option<SocketAddr>,
    pub control: PathBuf,
    pub notify: Option<UnixDatagram>,
    pub stderr: Arc<Mutex<String>>,
}

pub fn running_as_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

impl Daemon {
    pub fn start(start: Start) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("minimost-test")
            .tempdir()
            .unwrap();
        // The state dir must be reachable by the dropped user: make the temp dir traversable.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let state = start
            .state
            .clone()
            .unwrap_or_else(|| dir.path().join("state"));
        let config_path = start.config.as_ref().map(|text| {
            let path = dir.path().join("minimost.toml");
            std::fs::write(&path, text).unwrap();
            path
        });
        let notify = start.notify.then(|| {
            let path = dir.path().join("notify.sock");
            let socket = UnixDatagram::bind(&path).unwrap();
            // The daemon drops to `nobody` when the tests run as root; it must still write here.
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o666))
                .unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            (socket, path)
        });

        let mut command = Command::new(BIN);
        command.arg("--state-dir").arg(&state);
        if let Some(path) = &config_path {
            command.arg("--config").arg(path);
        }
        if running_as_root() {
            command.args(["--user", "nobody"]);
        }
        command
            .env_remove("LISTEN_FDS")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .env_remove("CONFIGURATION_DIRECTORY")
            .env_remove("STATE_DIRECTORY")
            .env("MINIMOST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &start.env {
            command.env(k, v);
        }
        if let Some((_, path)) = &notify {
            command.env("NOTIFY_SOCKET", path);
        }
        if let Some(usec) = start.watchdog_usec {
            command.env("WATCHDOG_USEC", usec.to_string());
        }

        let mut https = None;
        let mut stun = None;
        let control = if start.own_sockets {
            std::fs::create_dir_all(&state).unwrap();
            let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            let control_path = dir.path().join("control.sock");
            let unix = UnixListener::bind(&control_path).unwrap();
            https = Some(tcp.local_addr().unwrap());
            stun = Some(udp.local_addr().unwrap());
            let fds = [tcp.as_raw_fd(), udp.as_raw_fd(), unix.as_raw_fd()];
            // systemd checks LISTEN_PID against the receiving process: the shell's `exec` keeps
            // its pid, so `$$` is the daemon's pid.
            let program = command.get_program().to_owned();
            let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
            let mut shell = Command::new("/bin/sh");
            shell
                .arg("-c")
                .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
                .arg(program)
                .args(args);
            for (k, v) in command.get_envs() {
                match v {
                    Some(v) => shell.env(k, v),
                    None => shell.env_remove(k),
                };
            }
            shell
                .env("LISTEN_FDS", "3")
                .env("LISTEN_FDNAMES", "https:stun:control")
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            unsafe {
                shell.pre_exec(move || {
                    for (target, fd) in fds.iter().enumerate() {
                        let target = 3 + target as i32;
                        if libc::dup2(*fd, target) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        let flags = libc::fcntl(target, libc::F_GETFD);
                        libc::fcntl(target, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                    }
                    Ok(())
                });
            }
            command = shell;
            // Keep our copies open until the child has started.
            std::mem::forget((tcp, udp, unix));
            control_path
        } else {
            state.join("control.sock")
        };

        let mut child = command.spawn().expect("start minimost");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        {
            let stderr = stderr.clone();
            let pipe = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line
                        .split("serving https on ")
                        .nth(1)
                        .or_else(|| line.split("serving http on ").nth(1))
                    {
                        let first = rest.split([',', ' ']).next().unwrap_or("");
                        let _ = address_tx.send(first.trim().to_string());
                    }
                    if std::env::var_os("MINIMOST_TEST_VERBOSE").is_some() {
                        eprintln!("[daemon] {line}");
                    }
                    let mut log = stderr.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let https = match https {
            Some(address) => address,
            None => {
                let line = address_rx
                    .recv_timeout(Duration::from_secs(20))
                    .unwrap_or_else(|_| {
                        panic!("daemon never became ready:\n{}", stderr.lock().unwrap())
                    });
                line.parse()
                    .unwrap_or_else(|_| panic!("unparseable address {line:?}"))
            }
        };
        let daemon = Daemon {
            child,
            dir,
            state,
            config_path,
            https,
            stun,
            control,
            notify: notify.map(|(socket, _)| socket),
            stderr,
        };
        if daemon.notify.is_none() {
            daemon.wait_healthy();
        }
        daemon
    }

    /// Starts a daemon with default settings and its own test sockets: the usual case.
    pub fn default_started() -> Daemon {
        Daemon::start(Start {
            own_sockets: true,
            ..Start::default()
        })
    }

    pub fn base_url(&self) -> String {
        format!("https://{}", self.https)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    /// The daemon's CA certificate, waiting for the daemon to create it at first start.
    pub fn ca_pem(&self) -> Vec<u8> {
        let path = self.state.join("tls/ca.pem");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(bytes) = std::fs::read(&path) {
                if !bytes.is_empty() {
                    return bytes;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no CA certificate:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An HTTP client that trusts only this daemon's CA, with a cookie jar.
    pub fn client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&self.ca_pem()).unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = self.client();
        loop {
            let ok = runtime.block_on(async {
                client
                    .get(self.url("/healthz"))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daemon not healthy:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The next sd_notify datagram, as text.
    pub fn next_notify(&self) -> String {
        let socket = self.notify.as_ref().expect("started with notify");
        let mut buffer = vec![0u8; 4096];
        let n = socket
            .recv(&mut buffer)
            .unwrap_or_else(|e| panic!("no sd_notify message ({e}); log:\n{}", self.log()));
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }

    /// Reads notify datagrams until one contains `needle`; returns it.
    pub fn wait_notify(&self, needle: &str) -> String {
        loop {
            let message = self.next_notify();
            if message.contains(needle) {
                return message;
            }
        }
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal).unwrap();
    }

    /// Waits for the process to exit and returns its status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Runs minimostctl against this daemon.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(CTL)
            .arg("--socket")
            .arg(&self.control)
            .args(args)
            .output()
            .unwrap()
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(
            self.config_path.as_ref().expect("started with a config"),
            text,
        )
        .unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn state_file(daemon: &Daemon, rel: &str) -> PathBuf {
    daemon.state.join(rel)
}

pub fn path_exists(path: &Path) -> bool {
    path.exists()
}
