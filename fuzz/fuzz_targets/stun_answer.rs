//! Feeds arbitrary datagrams from arbitrary sources to the STUN responder and
//! checks that whatever it answers is a well-formed Binding Success Response
//! for that very request.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use minimost::system::stun::answer;

/// Bytes taken from the front of the input to choose the source address:
/// one selector byte, 16 address bytes, 2 port bytes.
const SOURCE_LEN: usize = 19;

fuzz_target!(|data: &[u8]| {
    let Some((head, datagram)) = data.split_at_checked(SOURCE_LEN) else {
        return;
    };
    let port = u16::from_be_bytes([head[17], head[18]]);
    let mut v6 = [0u8; 16];
    v6.copy_from_slice(&head[1..17]);
    // The low bit picks the family so both code paths, and IPv4-mapped IPv6
    // sources (reachable through random bytes), get explored.
    let ip = if head[0] & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(head[1], head[2], head[3], head[4]))
    } else {
        IpAddr::V6(Ipv6Addr::from(v6))
    };
    let source = SocketAddr::new(ip, port);

    if let Some(reply) = answer(datagram, source) {
        assert!(
            reply.len() == 32 || reply.len() == 44,
            "reply of {} bytes",
            reply.len()
        );
        assert_eq!(reply[0..2], [0x01, 0x01], "not a Binding Success Response");
        assert_eq!(usize::from(u16::from_be_bytes([reply[2], reply[3]])), reply.len() - 20);
        assert_eq!(reply[4..8], [0x21, 0x12, 0xA4, 0x42], "cookie missing");
        assert_eq!(reply[8..20], datagram[8..20], "transaction id not echoed");
        // Only Binding Requests carrying the cookie may be answered.
        assert_eq!(datagram[0..2], [0x00, 0x01]);
        assert_eq!(datagram[4..8], [0x21, 0x12, 0xA4, 0x42]);
    }
});
