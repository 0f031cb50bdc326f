//! MQTT packets written byte by byte from the standard's layout (MQTT 3.1.1 and 5.0), for tests
//! that send what a client library would not (or not in that order), and the exchange of raw
//! bytes with a broker.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A length-prefixed string (or binary data).
pub fn mqtt_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A packet with its fixed header (`kind` is the first byte, the remaining length follows as a
/// variable byte integer).
pub fn packet(kind: u8, body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![kind];
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
    out.extend(body);
    out
}

/// A raw CONNECT (MQTT 3.1.1 when `v5` is false).
pub struct RawConnect<'a> {
    pub v5: bool,
    pub client_id: &'a str,
    pub login: Option<(&'a str, &'a str)>,
    pub keep_alive: u16,
    pub clean: bool,
    /// (topic, payload, qos)
    pub will: Option<(&'a str, &'a [u8], u8)>,
}

impl<'a> RawConnect<'a> {
    /// A clean-session CONNECT with a username and password, keep-alive 30 s, no will.
    pub fn login(v5: bool, client_id: &'a str, username: &'a str, password: &'a str) -> Self {
        RawConnect {
            v5,
            client_id,
            login: Some((username, password)),
            keep_alive: 30,
            clean: true,
            will: None,
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut c = Vec::new();
        mqtt_str(&mut c, b"MQTT");
        c.push(if self.v5 { 5 } else { 4 });
        let mut flags = 0u8;
        if self.clean {
            flags |= 0x02;
        }
        if let Some((_, _, qos)) = self.will {
            flags |= 0x04 | (qos << 3);
        }
        if self.login.is_some() {
            flags |= 0xC0;
        }
        c.push(flags);
        c.extend_from_slice(&self.keep_alive.to_be_bytes());
        if self.v5 {
            c.push(0); // no properties
        }
        mqtt_str(&mut c, self.client_id.as_bytes());
        if let Some((topic, payload, _)) = self.will {
            if self.v5 {
                c.push(0); // no will properties
            }
            mqtt_str(&mut c, topic.as_bytes());
            mqtt_str(&mut c, payload);
        }
        if let Some((u, p)) = self.login {
            mqtt_str(&mut c, u.as_bytes());
            mqtt_str(&mut c, p.as_bytes());
        }
        packet(0x10, c)
    }
}

/// A QoS 0 PUBLISH (no properties: MQTT 3.1.1).
pub fn publish_qos0(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    mqtt_str(&mut p, topic.as_bytes());
    p.extend_from_slice(payload);
    packet(0x30, p)
}

/// Connects to `addr`, writes `bytes`, and returns what came back before the peer closed (or
/// reset) the connection or `wait` passed without a byte, and whether the peer closed it.
/// Blocking: from async code, call it through `spawn_blocking`.
pub fn exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false; // still open
            }
            Err(_) => break true,
        }
    };
    (got, closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The remaining length's examples in MQTT 3.1.1, 2.2.3 (table 2.4).
    #[test]
    fn remaining_length_as_the_standard_writes_it() {
        for (len, want) in [
            (0usize, &[0x00][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
        ] {
            let p = packet(0x30, vec![0; len]);
            assert_eq!(&p[1..1 + want.len()], want, "{len}");
            assert_eq!(p.len(), 1 + want.len() + len);
        }
    }

    /// MQTT 3.1.1, 3.1.2.10: the example CONNECT's variable header.
    #[test]
    fn connect_as_the_standard_writes_it() {
        let c = RawConnect {
            keep_alive: 10,
            ..RawConnect::login(false, "", "u", "p")
        }
        .bytes();
        assert_eq!(
            c,
            [
                0x10, 18, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 10, 0, 0, 0, 1, b'u', 0, 1,
                b'p'
            ]
        );
    }
}
