//! Bytes from the socket to rumqttd packets and back, with one buffer each way.
//!
//! # Contract
//!
//! * [`Codec::read`] is cancel-safe: a partly received frame stays in the read buffer, so the
//!   connection loop can `select!` on it.
//! * [`Codec::read_buffered`] takes the frames already in the buffer without touching the
//!   socket, so one read from the socket becomes one batch for the router.
//! * Writes are queued with [`Codec::queue`] and sent with one `write_all` by
//!   [`Codec::flush`].
//! * Errors carry no packet content: a [`ReadError`] says what kind of failure it was and
//!   nothing a client sent (a malformed CONNECT may hold a password).

use std::io;

use bytes::BytesMut;
use rumqttd::protocol::{self, DisconnectReasonCode, Packet, Protocol};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why no packet came.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection between packets.
    Closed,
    /// The socket failed (or the peer closed in the middle of a packet).
    Io(io::Error),
    /// The bytes are not a packet of this protocol version (or it is larger than allowed).
    Malformed(protocol::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Closed => f.write_str("closed by the client"),
            ReadError::Io(e) => write!(f, "I/O error: {}", e.kind()),
            // rumqttd's count here is the packet's remaining length, not the excess.
            ReadError::Malformed(protocol::Error::PayloadSizeLimitExceeded(len)) => {
                write!(f, "packet too large: {len} bytes, over max_payload_size")
            }
            // rumqttd's protocol errors name a kind and at most a number, never packet content.
            ReadError::Malformed(e) => write!(f, "malformed packet: {e}"),
        }
    }
}

/// One connection's framing.
pub(crate) struct Codec<S, P> {
    stream: S,
    read: BytesMut,
    write: BytesMut,
    max_size: usize,
    protocol: P,
}

impl<S: AsyncRead + AsyncWrite + Unpin, P: Protocol> Codec<S, P> {
    /// `max_size`: the largest packet accepted (`connections.max_payload_size`).
    pub(crate) fn new(stream: S, max_size: usize, protocol: P) -> Self {
        Codec {
            stream,
            read: BytesMut::with_capacity(4 * 1024),
            write: BytesMut::with_capacity(4 * 1024),
            max_size,
            protocol,
        }
    }

    /// The next packet, reading from the socket as needed. Cancel-safe.
    pub(crate) async fn read(&mut self) -> Result<Packet, ReadError> {
        loop {
            match self.protocol.read_mut(&mut self.read, self.max_size) {
                Ok(packet) => return Ok(packet),
                Err(protocol::Error::InsufficientBytes(_)) => {}
                Err(e) => return Err(ReadError::Malformed(e)),
            }
            match self.stream.read_buf(&mut self.read).await {
                Ok(0) if self.read.is_empty() => return Err(ReadError::Closed),
                Ok(0) => {
                    return Err(ReadError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed in the middle of a packet",
                    )))
                }
                Ok(_) => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    /// The next packet if it is already buffered, without reading from the socket.
    pub(crate) fn read_buffered(&mut self) -> Result<Option<Packet>, ReadError> {
        match self.protocol.read_mut(&mut self.read, self.max_size) {
            Ok(packet) => Ok(Some(packet)),
            Err(protocol::Error::InsufficientBytes(_)) => Ok(None),
            Err(e) => Err(ReadError::Malformed(e)),
        }
    }

    /// Encodes `packet` into the write buffer.
    pub(crate) fn queue(&mut self, packet: Packet) -> Result<(), protocol::Error> {
        self.protocol.write(packet, &mut self.write).map(|_| ())
    }

    /// Encodes a PUBLISH and returns its QoS and packet id, read back from the encoded bytes
    /// (rumqttd keeps them private in `Publish`): fixed header, remaining length, topic, packet
    /// id. No allocation.
    pub(crate) fn queue_publish(&mut self, packet: Packet) -> Result<(u8, u16), protocol::Error> {
        let start = self.write.len();
        self.protocol.write(packet, &mut self.write)?;
        let b = &self.write[start..];
        let qos = (b[0] >> 1) & 0b11;
        if qos == 0 {
            return Ok((0, 0));
        }
        let mut i = 1;
        while i < b.len() && b[i] & 0x80 != 0 {
            i += 1;
        }
        i += 1;
        let topic_len = usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
        i += 2 + topic_len;
        Ok((qos, u16::from_be_bytes([b[i], b[i + 1]])))
    }

    /// Queues an MQTT 5 DISCONNECT with `reason` and no properties: type 14, remaining length
    /// 1, the code. (rumqttd 0.20's encoder adds a property length byte that its remaining
    /// length does not count, which a client reads as the start of another packet.)
    pub(crate) fn queue_disconnect(&mut self, reason: DisconnectReasonCode) {
        self.write
            .extend_from_slice(&[0xE0, 0x01, super::codes::disconnect_code(reason)]);
    }

    /// Writes everything queued with one `write_all`.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if self.write.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.write).await?;
        self.write.clear();
        Ok(())
    }

    /// Queues `packet` and flushes.
    pub(crate) async fn send(&mut self, packet: Packet) -> io::Result<()> {
        self.queue(packet)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        self.flush().await
    }

    /// Flushes and shuts the write side down (best effort).
    pub(crate) async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}
