//! Pulsar binary framing: `[total][cmd_size][BaseCommand]` plus an optional
//! payload `[0x0e01][crc32c][metadata_size][MessageMetadata][payload]`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message as _;
use pulsar::proto::{BaseCommand, MessageMetadata, base_command::Type};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::BrokerError;

const MAGIC_CRC32C: u16 = 0x0e01;
/// Magic that precedes broker entry metadata, which clients never send but may skip.
const MAGIC_BROKER_ENTRY_METADATA: u16 = 0x0e02;

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The command.
    pub command: BaseCommand,
    /// `[metadata_size][MessageMetadata][payload]` exactly as the client sent
    /// it (stored and dispatched unchanged, so batches and compression pass through).
    pub payload: Option<Bytes>,
    /// False when the payload's CRC32C did not match (answered per send, not fatal).
    pub checksum_ok: bool,
}

impl Frame {
    /// A frame with only a command.
    pub fn command(command: BaseCommand) -> Self {
        Frame {
            command,
            payload: None,
            checksum_ok: true,
        }
    }

    /// A frame with a payload.
    pub fn with_payload(command: BaseCommand, payload: Bytes) -> Self {
        Frame {
            command,
            payload: Some(payload),
            checksum_ok: true,
        }
    }
}

/// Encoder/decoder for [`Frame`]s with a frame size limit.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_frame_size: usize,
}

impl FrameCodec {
    /// A codec refusing frames larger than `max_frame_size` bytes.
    pub fn new(max_frame_size: usize) -> Self {
        FrameCodec { max_frame_size }
    }

    /// Changes the limit (raised once a connection is authenticated).
    pub fn set_max_frame_size(&mut self, max_frame_size: usize) {
        self.max_frame_size = max_frame_size;
    }
}

/// Most buffer reserved ahead for a frame still arriving: memory follows the
/// bytes received, not the size a header claims.
const RESERVE_AHEAD: usize = 64 * 1024;

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = BrokerError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, BrokerError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let total = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if total > self.max_frame_size {
            return Err(BrokerError::FrameTooLarge {
                size: total,
                limit: self.max_frame_size,
            });
        }
        if src.len() < 4 + total {
            src.reserve((4 + total - src.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        src.advance(4);
        let mut frame = src.split_to(total).freeze();
        decode_frame(&mut frame).map(Some)
    }
}

fn decode_frame(frame: &mut Bytes) -> Result<Frame, BrokerError> {
    if frame.len() < 4 {
        return Err(BrokerError::Protocol(
            "frame shorter than its header".into(),
        ));
    }
    let cmd_size = frame.get_u32() as usize;
    if cmd_size > frame.len() {
        return Err(BrokerError::Protocol(format!(
            "command size {cmd_size} exceeds frame"
        )));
    }
    let command = BaseCommand::decode(frame.split_to(cmd_size))
        .map_err(|e| BrokerError::Protocol(format!("bad command: {e}")))?;
    if frame.is_empty() {
        return Ok(Frame::command(command));
    }
    let mut payload = frame.clone();
    let mut checksum_ok = true;
    if payload.len() >= 2 && u16::from_be_bytes([payload[0], payload[1]]) == MAGIC_CRC32C {
        if payload.len() < 6 {
            return Err(BrokerError::Protocol("truncated checksum".into()));
        }
        payload.advance(2);
        let expected = payload.get_u32();
        checksum_ok = crc32c::crc32c(&payload) == expected;
    }
    // Metadata must at least parse, so that nothing undecodable gets stored.
    if checksum_ok {
        parse_metadata(&payload)?;
    }
    Ok(Frame {
        command,
        payload: Some(payload),
        checksum_ok,
    })
}

/// Decodes the `MessageMetadata` at the start of a stored payload.
pub fn parse_metadata(payload: &[u8]) -> Result<MessageMetadata, BrokerError> {
    let mut buf = payload;
    if buf.len() >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == MAGIC_BROKER_ENTRY_METADATA {
        return Err(BrokerError::Protocol(
            "broker entry metadata from a client".into(),
        ));
    }
    if buf.len() < 4 {
        return Err(BrokerError::Protocol("payload without metadata".into()));
    }
    let size = buf.get_u32() as usize;
    if size > buf.len() {
        return Err(BrokerError::Protocol(
            "metadata size exceeds payload".into(),
        ));
    }
    MessageMetadata::decode(&buf[..size])
        .map_err(|e| BrokerError::Protocol(format!("bad message metadata: {e}")))
}

impl Encoder<Frame> for FrameCodec {
    type Error = BrokerError;

    fn encode(&mut self, item: Frame, dst: &mut BytesMut) -> Result<(), BrokerError> {
        let cmd_size = item.command.encoded_len();
        let payload_len = item.payload.as_ref().map_or(0, |p| 6 + p.len());
        let total = 4 + cmd_size + payload_len;
        dst.reserve(4 + total);
        dst.put_u32(total as u32);
        dst.put_u32(cmd_size as u32);
        item.command
            .encode(dst)
            .map_err(|e| BrokerError::Protocol(format!("encode: {e}")))?;
        if let Some(payload) = item.payload {
            dst.put_u16(MAGIC_CRC32C);
            dst.put_u32(crc32c::crc32c(&payload));
            dst.put_slice(&payload);
        }
        Ok(())
    }
}

/// Builds a `BaseCommand` of the given type; the caller fills its field.
pub fn base(kind: Type) -> BaseCommand {
    BaseCommand {
        r#type: kind as i32,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsar::proto::{CommandPing, CommandSend};

    fn payload() -> Bytes {
        let md = MessageMetadata {
            producer_name: "p".into(),
            sequence_id: 7,
            publish_time: 1,
            ..Default::default()
        };
        let mut b = BytesMut::new();
        b.put_u32(md.encoded_len() as u32);
        md.encode(&mut b).unwrap();
        b.put_slice(b"hello");
        b.freeze()
    }

    #[test]
    fn round_trip_with_payload() {
        let mut cmd = base(Type::Send);
        cmd.send = Some(CommandSend {
            producer_id: 1,
            sequence_id: 7,
            ..Default::default()
        });
        let mut codec = FrameCodec::new(1 << 20);
        let mut buf = BytesMut::new();
        codec
            .encode(Frame::with_payload(cmd, payload()), &mut buf)
            .unwrap();
        let f = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.command.send.unwrap().sequence_id, 7);
        assert_eq!(f.payload.unwrap(), payload());
        assert!(buf.is_empty());
    }

    #[test]
    fn bad_crc_is_refused() {
        let mut codec = FrameCodec::new(1 << 20);
        let mut buf = BytesMut::new();
        codec
            .encode(Frame::with_payload(base(Type::Send), payload()), &mut buf)
            .unwrap();
        let last = buf.len() - 1;
        buf[last] ^= 0xff;
        let f = codec.decode(&mut buf).unwrap().unwrap();
        assert!(!f.checksum_ok, "a bad CRC is flagged, not fatal");
    }

    #[test]
    fn oversized_frame_is_refused_before_buffering() {
        let mut codec = FrameCodec::new(100);
        let mut buf = BytesMut::from(&[0u8, 0, 1, 0][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(BrokerError::FrameTooLarge { size: 256, .. })
        ));
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let mut codec = FrameCodec::new(1 << 20);
        let mut full = BytesMut::new();
        let mut ping = base(Type::Ping);
        ping.ping = Some(CommandPing {});
        codec.encode(Frame::command(ping), &mut full).unwrap();
        let mut part = BytesMut::from(&full[..full.len() - 1]);
        assert!(codec.decode(&mut part).unwrap().is_none());
        part.put_u8(full[full.len() - 1]);
        assert!(codec.decode(&mut part).unwrap().is_some());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut codec = FrameCodec::new(1 << 16);
            let mut buf = BytesMut::from(&bytes[..]);
            // Errors are fine; panics and endless loops are not.
            while let Ok(Some(_)) = codec.decode(&mut buf) {}
        }

        #[test]
        fn frames_round_trip(seq in proptest::num::u64::ANY, body in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let md = MessageMetadata { producer_name: "p".into(), sequence_id: seq, publish_time: 1, ..Default::default() };
            let mut p = BytesMut::new();
            p.put_u32(md.encoded_len() as u32);
            md.encode(&mut p).unwrap();
            p.put_slice(&body);
            let mut cmd = base(Type::Send);
            cmd.send = Some(CommandSend { producer_id: 3, sequence_id: seq, ..Default::default() });
            let mut codec = FrameCodec::new(1 << 20);
            let mut buf = BytesMut::new();
            codec.encode(Frame::with_payload(cmd, p.clone().freeze()), &mut buf).unwrap();
            let f = codec.decode(&mut buf).unwrap().unwrap();
            proptest::prop_assert!(f.checksum_ok);
            proptest::prop_assert_eq!(f.payload.unwrap(), p.freeze());
            proptest::prop_assert_eq!(f.command.send.unwrap().sequence_id, seq);
            proptest::prop_assert!(buf.is_empty(), "the whole frame is consumed");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut codec = FrameCodec::new(1 << 16);
        let mut seed: u32 = 12345;
        for _ in 0..2000 {
            let mut buf = BytesMut::new();
            let n = (seed % 64) as usize;
            buf.put_u32(n as u32);
            for _ in 0..n {
                seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
                buf.put_u8((seed >> 16) as u8);
            }
            let _ = codec.decode(&mut buf);
        }
    }
}
