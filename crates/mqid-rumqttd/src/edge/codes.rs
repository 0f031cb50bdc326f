//! Why the edge refuses a CONNECT, and the CONNACK code each protocol version gets for it.
//!
//! # Contract
//!
//! [`connack_code`] only returns codes the version's encoder can write: rumqttd's MQTT 3.1.1
//! CONNACK encoder panics on an MQTT 5 code, so the 3.1.1 column uses codes 2–5 only.
//!
//! | refusal              | 3.1.1                          | 5.0                                |
//! |----------------------|--------------------------------|------------------------------------|
//! | bad password         | 4 bad user name or password    | 0x86 bad user name or password     |
//! | unknown identity     | 4 bad user name or password    | 0x86 bad user name or password     |
//! | blacklisted          | 5 not authorised               | 0x8A banned                        |
//! | rate limited         | 5 not authorised               | 0x9F connection rate exceeded      |
//! | stale index (refuse) | 3 server unavailable           | 0x88 server unavailable            |
//! | client id not valid  | 2 identifier rejected          | 0x85 client identifier not valid   |
//! | client id over 64    | 2 identifier rejected          | 0x85 client identifier not valid   |
//! | max_connections      | 3 server unavailable           | 0x97 quota exceeded                |
//! | will not permitted   | 5 not authorised               | 0x87 not authorised                |

use mqid_core::Refusal;
use rumqttd::protocol::{ConnectReturnCode, DisconnectReasonCode};

/// The protocol version of a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// MQTT 3.1.1 (`[v4.*]`).
    V4,
    /// MQTT 5 (`[v5.*]`).
    V5,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V4 => "3.1.1",
            Version::V5 => "5",
        }
    }
}

/// Why the edge refused a CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectRefusal {
    /// The decision (stale gate, limiter, index) refused it.
    Auth(Refusal),
    /// Empty client id without clean session, a client id the router rejects (`+ $ # /`) or
    /// mqid's reserved one.
    BadClientId,
    /// `[broker.router] max_connections` sessions are connected (or the router refused the link).
    ServerFull,
    /// The session may not publish its will's topic.
    WillDenied,
}

impl ConnectRefusal {
    /// Every reason, in the order of [`ConnectRefusal::slot`].
    pub const ALL: [ConnectRefusal; 9] = [
        ConnectRefusal::Auth(Refusal::Blacklisted),
        ConnectRefusal::Auth(Refusal::UnknownIdentity),
        ConnectRefusal::Auth(Refusal::BadPassword),
        ConnectRefusal::Auth(Refusal::RateLimited),
        ConnectRefusal::Auth(Refusal::Stale),
        ConnectRefusal::BadClientId,
        ConnectRefusal::ServerFull,
        ConnectRefusal::WillDenied,
        ConnectRefusal::Auth(Refusal::ClientIdTooLong),
    ];

    /// A short stable name, for log fields and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectRefusal::Auth(r) => r.as_str(),
            ConnectRefusal::BadClientId => "bad_client_id",
            ConnectRefusal::ServerFull => "server_full",
            ConnectRefusal::WillDenied => "will_denied",
        }
    }

    /// Index into [`ConnectRefusal::ALL`].
    pub(crate) fn slot(self) -> usize {
        match self {
            ConnectRefusal::Auth(Refusal::Blacklisted) => 0,
            ConnectRefusal::Auth(Refusal::UnknownIdentity) => 1,
            ConnectRefusal::Auth(Refusal::BadPassword) => 2,
            ConnectRefusal::Auth(Refusal::RateLimited) => 3,
            ConnectRefusal::Auth(Refusal::Stale) => 4,
            ConnectRefusal::BadClientId => 5,
            ConnectRefusal::ServerFull => 6,
            ConnectRefusal::WillDenied => 7,
            ConnectRefusal::Auth(Refusal::ClientIdTooLong) => 8,
        }
    }
}

/// The CONNACK code for `refusal` on a `version` listener (see the module's table).
pub fn connack_code(version: Version, refusal: ConnectRefusal) -> ConnectReturnCode {
    use ConnectReturnCode as C;
    match (version, refusal) {
        (_, ConnectRefusal::Auth(Refusal::BadPassword | Refusal::UnknownIdentity)) => {
            C::BadUserNamePassword
        }
        (Version::V4, ConnectRefusal::Auth(Refusal::Blacklisted | Refusal::RateLimited)) => {
            C::NotAuthorized
        }
        (Version::V4, ConnectRefusal::Auth(Refusal::Stale) | ConnectRefusal::ServerFull) => {
            C::ServiceUnavailable
        }
        (_, ConnectRefusal::BadClientId | ConnectRefusal::Auth(Refusal::ClientIdTooLong)) => {
            C::ClientIdentifierNotValid
        }
        (_, ConnectRefusal::WillDenied) => C::NotAuthorized,
        (Version::V5, ConnectRefusal::Auth(Refusal::Blacklisted)) => C::Banned,
        (Version::V5, ConnectRefusal::Auth(Refusal::RateLimited)) => C::ConnectionRateExceeded,
        (Version::V5, ConnectRefusal::Auth(Refusal::Stale)) => C::ServerUnavailable,
        (Version::V5, ConnectRefusal::ServerFull) => C::QuotaExceeded,
    }
}

/// The MQTT 5 DISCONNECT reason code (table 3.14.2.1) of `reason`.
pub(crate) fn disconnect_code(reason: DisconnectReasonCode) -> u8 {
    use DisconnectReasonCode as R;
    match reason {
        R::NormalDisconnection => 0x00,
        R::DisconnectWithWillMessage => 0x04,
        R::UnspecifiedError => 0x80,
        R::MalformedPacket => 0x81,
        R::ProtocolError => 0x82,
        R::ImplementationSpecificError => 0x83,
        R::NotAuthorized => 0x87,
        R::ServerBusy => 0x89,
        R::ServerShuttingDown => 0x8B,
        R::KeepAliveTimeout => 0x8D,
        R::SessionTakenOver => 0x8E,
        R::TopicFilterInvalid => 0x8F,
        R::TopicNameInvalid => 0x90,
        R::ReceiveMaximumExceeded => 0x93,
        R::TopicAliasInvalid => 0x94,
        R::PacketTooLarge => 0x95,
        R::MessageRateTooHigh => 0x96,
        R::QuotaExceeded => 0x97,
        R::AdministrativeAction => 0x98,
        R::PayloadFormatInvalid => 0x99,
        R::RetainNotSupported => 0x9A,
        R::QoSNotSupported => 0x9B,
        R::UseAnotherServer => 0x9C,
        R::ServerMoved => 0x9D,
        R::SharedSubscriptionNotSupported => 0x9E,
        R::ConnectionRateExceeded => 0x9F,
        R::MaximumConnectTime => 0xA0,
        R::SubscriptionIdentifiersNotSupported => 0xA1,
        R::WildcardSubscriptionsNotSupported => 0xA2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rumqttd::protocol::{v4::V4, v5::V5, ConnAck, Packet, Protocol};

    fn encoded(version: Version, refusal: ConnectRefusal) -> u8 {
        let ack = Packet::ConnAck(
            ConnAck {
                session_present: false,
                code: connack_code(version, refusal),
            },
            None,
        );
        let mut out = BytesMut::new();
        match version {
            Version::V4 => V4.write(ack, &mut out).unwrap(),
            Version::V5 => V5.write(ack, &mut out).unwrap(),
        };
        // fixed header (2 bytes), acknowledge flags, reason code
        out[3]
    }

    /// The numbers are the MQTT 3.1.1 (table 3.1) and MQTT 5.0 (3.2.2.2) CONNACK codes; every
    /// refusal encodes with the version's own encoder (the 3.1.1 one panics on a 5.0 code).
    #[test]
    fn every_refusal_encodes_to_the_standard_code_of_each_version() {
        let expected: [(ConnectRefusal, u8, u8); 9] = [
            (ConnectRefusal::Auth(Refusal::Blacklisted), 5, 0x8A),
            (ConnectRefusal::Auth(Refusal::UnknownIdentity), 4, 0x86),
            (ConnectRefusal::Auth(Refusal::BadPassword), 4, 0x86),
            (ConnectRefusal::Auth(Refusal::RateLimited), 5, 0x9F),
            (ConnectRefusal::Auth(Refusal::Stale), 3, 0x88),
            (ConnectRefusal::BadClientId, 2, 0x85),
            (ConnectRefusal::ServerFull, 3, 0x97),
            (ConnectRefusal::WillDenied, 5, 0x87),
            (ConnectRefusal::Auth(Refusal::ClientIdTooLong), 2, 0x85),
        ];
        assert_eq!(expected.len(), ConnectRefusal::ALL.len());
        for (i, (r, v4, v5)) in expected.into_iter().enumerate() {
            assert_eq!(r.slot(), i);
            assert_eq!(ConnectRefusal::ALL[i], r);
            assert_eq!(encoded(Version::V4, r), v4, "3.1.1 {r:?}");
            assert_eq!(encoded(Version::V5, r), v5, "5 {r:?}");
        }
    }

    /// Every code, read back by rumqttd's own MQTT 5 decoder, is the reason it was made from;
    /// the ones the edge sends are the standard's numbers (MQTT 5.0 table 3.14.2.1).
    #[test]
    fn disconnect_codes_are_the_standard_ones() {
        for byte in 0..=255u8 {
            let mut b = BytesMut::from(&[0xE0, 0x01, byte][..]);
            let Ok(Packet::Disconnect(d, _)) = V5.read_mut(&mut b, 16) else {
                continue;
            };
            assert_eq!(disconnect_code(d.reason_code), byte, "{:?}", d.reason_code);
        }
        use DisconnectReasonCode as R;
        for (r, code) in [
            (R::MalformedPacket, 0x81),
            (R::ProtocolError, 0x82),
            (R::NotAuthorized, 0x87),
            (R::KeepAliveTimeout, 0x8D),
            (R::SessionTakenOver, 0x8E),
            (R::PacketTooLarge, 0x95),
            (R::AdministrativeAction, 0x98),
        ] {
            assert_eq!(disconnect_code(r), code, "{r:?}");
        }
    }
}
