//! What this machine is called and where it can be reached, for the names on
//! the self-managed TLS leaf (api.md §8). Every function degrades to a
//! harmless default instead of failing: a missing name only means one SAN
//! fewer, never a server that will not start.

use std::ffi::{CStr, CString};
use std::net::IpAddr;

/// Used when the kernel has no usable host name; it is in the leaf anyway.
const FALLBACK_NAME: &str = "localhost";

/// The short host name (the part before the first dot), or `localhost`.
pub fn hostname() -> String {
    let raw = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_default();
    short_name(&raw)
}

/// The canonical name of this host as the resolver sees it (getaddrinfo with
/// `AI_CANONNAME`), falling back to [`hostname`].
///
/// This may consult DNS and block for a while; from async code call it via
/// `spawn_blocking`.
pub fn fqdn() -> String {
    let short = hostname();
    // Ask with the kernel's full name: when it already holds a domain that
    // is the best starting point for the resolver.
    let full = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| short.clone());
    choose_fqdn(canonical_name(&full), &short)
}

/// Addresses of this host's interfaces, loopback excluded, sorted and without
/// duplicates. Empty when the interfaces cannot be listed.
pub fn local_addresses() -> Vec<IpAddr> {
    let Ok(interfaces) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut found: Vec<IpAddr> = interfaces
        .filter_map(|ifa| {
            let addr = ifa.address?;
            if let Some(v4) = addr.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .collect();
    found.sort();
    found.dedup();
    found
}

fn short_name(raw: &str) -> String {
    let short = raw.trim().split('.').next().unwrap_or_default();
    if short.is_empty() {
        FALLBACK_NAME.to_owned()
    } else {
        short.to_owned()
    }
}

/// The resolver's answer unless it is useless: empty, or a loopback alias
/// (common when /etc/hosts maps the host name to 127.0.1.1 after `localhost`).
fn choose_fqdn(canonical: Option<String>, short: &str) -> String {
    match canonical {
        Some(name)
            if !name.is_empty()
                && !name.eq_ignore_ascii_case("localhost")
                && !name.contains(char::is_whitespace) =>
        {
            name.trim_end_matches('.').to_owned()
        }
        _ => short.to_owned(),
    }
}

fn canonical_name(host: &str) -> Option<String> {
    let c_host = CString::new(host).ok()?;
    // SAFETY: addrinfo is a plain C struct for which all-zero is the
    // documented "no hints" value; we then set only the fields we need.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut result: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: c_host is NUL-terminated and outlives the call; hints and
    // result point to valid locals. On success `result` owns a list that we
    // free exactly once below.
    let rc = unsafe { libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: result is non-null and came from getaddrinfo; with
    // AI_CANONNAME the first entry's ai_canonname is either null or a
    // NUL-terminated string living until freeaddrinfo, and we copy it out
    // before that.
    let name = unsafe {
        let canon = (*result).ai_canonname;
        let name = if canon.is_null() {
            None
        } else {
            Some(CStr::from_ptr(canon).to_string_lossy().into_owned())
        };
        libc::freeaddrinfo(result);
        name
    };
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_name_drops_the_domain() {
        assert_eq!(short_name("chat.example.org"), "chat");
        assert_eq!(short_name("chat"), "chat");
    }

    #[test]
    fn empty_host_name_falls_back_to_localhost() {
        assert_eq!(short_name(""), "localhost");
        assert_eq!(short_name(".example.org"), "localhost");
    }

    #[test]
    fn useless_canonical_names_fall_back_to_short_name() {
        assert_eq!(choose_fqdn(None, "chat"), "chat");
        assert_eq!(choose_fqdn(Some(String::new()), "chat"), "chat");
        assert_eq!(choose_fqdn(Some("localhost".into()), "chat"), "chat");
        assert_eq!(
            choose_fqdn(Some("chat.example.org.".into()), "chat"),
            "chat.example.org"
        );
    }

    #[test]
    fn hostname_is_nonempty_and_short() {
        let name = hostname();
        assert!(!name.is_empty());
        assert!(!name.contains('.'));
    }

    #[test]
    fn fqdn_is_nonempty() {
        assert!(!fqdn().is_empty());
    }

    #[test]
    fn local_addresses_exclude_loopback() {
        let addrs = local_addresses();
        assert!(addrs.iter().all(|ip| !ip.is_loopback()));
        let mut sorted = addrs.clone();
        sorted.dedup();
        assert_eq!(sorted, addrs);
    }

    #[test]
    fn canonical_name_of_localhost_resolves() {
        // localhost is in every /etc/hosts, so this exercises the FFI path
        // without needing DNS.
        assert!(canonical_name("localhost").is_some());
        assert!(canonical_name("bad\0name").is_none());
    }
}
