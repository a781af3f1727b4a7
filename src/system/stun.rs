//! The STUN responder (api.md §9): answers RFC 5389 Binding Requests with the
//! sender's reflexive address so browsers can gather server-reflexive ICE
//! candidates without any external STUN server.
//!
//! [`answer`] is a pure function over bytes so it can be unit-tested with
//! exact vectors and fuzzed; [`serve`] is the thin socket loop around it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

/// RFC 5389 magic cookie; its presence is what tells RFC 5389 from RFC 3489.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const BINDING_REQUEST: [u8; 2] = [0x00, 0x01];
const BINDING_SUCCESS: [u8; 2] = [0x01, 0x01];
const XOR_MAPPED_ADDRESS: [u8; 2] = [0x00, 0x20];
const HEADER_LEN: usize = 20;
const FAMILY_IPV4: u8 = 0x01;
const FAMILY_IPV6: u8 = 0x02;

/// The reply to `datagram` received from `source`, or `None` when it must be
/// dropped silently (anything but an RFC 5389 Binding Request).
///
/// Only the first 20 bytes are looked at: the length field, attributes and
/// trailing bytes are ignored on purpose, as §9 requires.
pub fn answer(datagram: &[u8], source: SocketAddr) -> Option<Vec<u8>> {
    let header = datagram.get(..HEADER_LEN)?;
    if header[0..2] != BINDING_REQUEST || header[4..8] != MAGIC_COOKIE {
        return None;
    }
    let transaction_id = &header[8..20];

    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; the browser
    // knows itself by its IPv4 address, so that is what it must be told.
    let ip = match source.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    let x_port = source.port() ^ u16::from_be_bytes([MAGIC_COOKIE[0], MAGIC_COOKIE[1]]);

    let (family, x_address): (u8, Vec<u8>) = match ip {
        IpAddr::V4(v4) => (FAMILY_IPV4, xor_v4(v4)),
        IpAddr::V6(v6) => (FAMILY_IPV6, xor_v6(v6, transaction_id)),
    };
    // Attribute value: reserved byte, family, X-Port, X-Address.
    let attr_len = 4 + x_address.len();
    let message_len = 4 + attr_len;

    let mut reply = Vec::with_capacity(HEADER_LEN + message_len);
    reply.extend_from_slice(&BINDING_SUCCESS);
    // Both lengths are at most 24, so the narrowing cannot truncate.
    reply.extend_from_slice(&(message_len as u16).to_be_bytes());
    reply.extend_from_slice(&MAGIC_COOKIE);
    reply.extend_from_slice(transaction_id);
    reply.extend_from_slice(&XOR_MAPPED_ADDRESS);
    reply.extend_from_slice(&(attr_len as u16).to_be_bytes());
    reply.push(0);
    reply.push(family);
    reply.extend_from_slice(&x_port.to_be_bytes());
    reply.extend_from_slice(&x_address);
    Some(reply)
}

fn xor_v4(addr: Ipv4Addr) -> Vec<u8> {
    addr.octets()
        .iter()
        .zip(MAGIC_COOKIE)
        .map(|(a, k)| a ^ k)
        .collect()
}

fn xor_v6(addr: Ipv6Addr, transaction_id: &[u8]) -> Vec<u8> {
    addr.octets()
        .iter()
        .zip(MAGIC_COOKIE.iter().chain(transaction_id))
        .map(|(a, k)| a ^ k)
        .collect()
}

/// Answers Binding Requests on `socket` forever, adding one to `answered`
/// for each reply sent. Socket errors are logged and skipped: one bad peer
/// (e.g. an ICMP "port unreachable" surfacing as a receive error) must not
/// stop STUN for everyone. Cancel by aborting or dropping the task.
pub async fn serve(socket: UdpSocket, answered: Arc<AtomicU64>) {
    // Larger than any request a browser sends; the excess of an oversized
    // datagram is discarded by the kernel, which is fine since only the
    // header matters.
    let mut buf = [0u8; 1500];
    loop {
        let (len, source) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(err) => {
                tracing::warn!(error = %err, "stun: receive failed");
                // A persistent error would otherwise spin a core and flood
                // the journal; a short pause keeps the loop cheap.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(reply) = answer(&buf[..len], source) else {
            continue;
        };
        match socket.send_to(&reply, source).await {
            Ok(_) => {
                answered.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                tracing::debug!(error = %err, peer = %source, "stun: send failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Transaction id of the RFC 5769 §2.2/§2.3 sample responses, so the
    /// expected bytes below can be checked against that RFC.
    const TID: [u8; 12] = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];

    fn request(tid: [u8; 12]) -> Vec<u8> {
        let mut r = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        r.extend_from_slice(&tid);
        r
    }

    fn header(len: u8) -> Vec<u8> {
        let mut h = vec![0x01, 0x01, 0x00, len, 0x21, 0x12, 0xA4, 0x42];
        h.extend_from_slice(&TID);
        h
    }

    fn v4_expected() -> Vec<u8> {
        let mut e = header(12);
        e.extend_from_slice(&[
            0x00, 0x20, 0x00, 0x08, // XOR-MAPPED-ADDRESS, length 8
            0x00, 0x01, 0xa1, 0x47, // reserved, IPv4, port 32853 ^ 0x2112
            0xe1, 0x12, 0xa6, 0x43, // 192.0.2.1 ^ cookie
        ]);
        e
    }

    #[test]
    fn ipv4_source_gets_rfc5769_xor_mapped_address() {
        let src: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        assert_eq!(answer(&request(TID), src), Some(v4_expected()));
    }

    #[test]
    fn ipv4_mapped_source_is_answered_as_ipv4() {
        let src: SocketAddr = "[::ffff:192.0.2.1]:32853".parse().unwrap();
        assert_eq!(answer(&request(TID), src), Some(v4_expected()));
    }

    #[test]
    fn ipv6_source_is_xored_with_cookie_and_transaction_id() {
        let src: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .unwrap();
        let mut expected = header(24);
        expected.extend_from_slice(&[
            0x00, 0x20, 0x00, 0x14, // XOR-MAPPED-ADDRESS, length 20
            0x00, 0x02, 0xa1, 0x47, // reserved, IPv6, X-Port
            0x01, 0x13, 0xa9, 0xfa, // address ^ (cookie || transaction id)
            0xa5, 0xd3, 0xf1, 0x79, //
            0xbc, 0x25, 0xf4, 0xb5, //
            0xbe, 0xd2, 0xb9, 0xd9, //
        ]);
        let reply = answer(&request(TID), src).unwrap();
        assert_eq!(reply.len(), 44);
        assert_eq!(reply, expected);
    }

    #[test]
    fn datagram_shorter_than_header_is_dropped() {
        let src: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        let full = request(TID);
        assert_eq!(answer(&full[..19], src), None);
        assert_eq!(answer(&[], src), None);
    }

    #[test]
    fn non_binding_request_types_are_dropped() {
        let src: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        for ty in [[0x01, 0x01], [0x00, 0x11], [0x01, 0x11], [0x00, 0x02]] {
            let mut r = request(TID);
            r[..2].copy_from_slice(&ty);
            assert_eq!(answer(&r, src), None, "type {ty:02x?}");
        }
    }

    #[test]
    fn rfc3489_request_without_cookie_is_dropped() {
        let src: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        let mut r = request(TID);
        r[4..8].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
        assert_eq!(answer(&r, src), None);
    }

    #[test]
    fn length_field_and_trailing_bytes_are_ignored() {
        let src: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        let mut r = request(TID);
        // A length that disagrees with the datagram, then a SOFTWARE
        // attribute and stray bytes: none of it changes the answer.
        r[2..4].copy_from_slice(&[0xff, 0xfc]);
        r.extend_from_slice(&[0x80, 0x22, 0x00, 0x04, b't', b'e', b's', b't', 0xde, 0xad]);
        assert_eq!(answer(&r, src), Some(v4_expected()));
    }

    #[tokio::test]
    async fn serve_answers_over_udp_and_counts() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let answered = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(serve(server, answered.clone()));

        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client_addr = client.local_addr().unwrap();
        // An ignored datagram first: it must neither be answered nor counted.
        client.send_to(b"hello", server_addr).await.unwrap();
        client.send_to(&request(TID), server_addr).await.unwrap();

        let mut buf = [0u8; 64];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(Some(buf[..n].to_vec()), answer(&request(TID), client_addr));
        // The counter is bumped right after send_to returns, which may be a
        // moment after the reply arrived here.
        for _ in 0..100 {
            if answered.load(Ordering::Relaxed) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(answered.load(Ordering::Relaxed), 1);
        task.abort();
    }
}
