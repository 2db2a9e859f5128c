//! The exec runtime's frame: `[u32 BE length of the rest][u8 kind][u32 BE header length]
//! [header: UTF-8 JSON object][body: raw bytes]`. See runner/PROTOCOL.md.

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame accepted from a child (a message plus its header).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Frame kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// runner → child: instance identity and configuration.
    Init = 1,
    /// child → runner: initialised (or `{"error": …}`).
    Ready = 2,
    /// runner → child: one input message.
    Message = 3,
    /// child → runner: a context operation (publish, log, counter, metric, ack).
    Effect = 4,
    /// child → runner: the invocation finished (`{"ok": true, "output": bool}` or `{"ok": false, "error": …}`).
    Result = 5,
}

impl FrameKind {
    fn from_u8(b: u8) -> Option<FrameKind> {
        Some(match b {
            1 => FrameKind::Init,
            2 => FrameKind::Ready,
            3 => FrameKind::Message,
            4 => FrameKind::Effect,
            5 => FrameKind::Result,
            _ => return None,
        })
    }
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// What it is.
    pub kind: FrameKind,
    /// The JSON header.
    pub header: Value,
    /// Raw bytes (message payload, output value).
    pub body: Vec<u8>,
}

/// Writes one frame (not flushed).
pub async fn write<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: FrameKind,
    header: &Value,
    body: &[u8],
) -> std::io::Result<()> {
    let header = serde_json::to_vec(header)?;
    let rest = 1 + 4 + header.len() + body.len();
    let too_big = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame too large");
    let mut buf = Vec::with_capacity(4 + 5 + header.len());
    buf.extend_from_slice(&u32::try_from(rest).map_err(|_| too_big())?.to_be_bytes());
    buf.push(kind as u8);
    buf.extend_from_slice(
        &u32::try_from(header.len())
            .map_err(|_| too_big())?
            .to_be_bytes(),
    );
    buf.extend_from_slice(&header);
    w.write_all(&buf).await?;
    w.write_all(body).await
}

/// Reads one frame; an EOF before the first byte is `UnexpectedEof`.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let rest = r.read_u32().await? as usize;
    if !(5..=MAX_FRAME).contains(&rest) {
        return Err(bad("frame length out of range"));
    }
    let mut buf = vec![0u8; rest];
    r.read_exact(&mut buf).await?;
    let kind = FrameKind::from_u8(buf[0]).ok_or_else(|| bad("unknown frame kind"))?;
    let hlen = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if 5 + hlen > rest {
        return Err(bad("header longer than frame"));
    }
    let header = if hlen == 0 {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&buf[5..5 + hlen]).map_err(|_| bad("header is not JSON"))?
    };
    let body = buf.split_off(5 + hlen);
    Ok(Frame { kind, header, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip() {
        let mut buf = Vec::new();
        let h = serde_json::json!({"op": "log", "msg": "hi"});
        write(&mut buf, FrameKind::Effect, &h, b"body")
            .await
            .unwrap();
        let f = read(&mut buf.as_slice()).await.unwrap();
        assert_eq!(f.kind, FrameKind::Effect);
        assert_eq!(f.header, h);
        assert_eq!(f.body, b"body");
    }

    #[tokio::test]
    async fn rejects_garbage() {
        let buf = [0u8, 0, 0, 6, 9, 0, 0, 0, 0, 0];
        assert!(read(&mut buf.as_slice()).await.is_err());
        let huge = [0xffu8, 0xff, 0xff, 0xff];
        assert!(read(&mut huge.as_slice()).await.is_err());
    }
}
