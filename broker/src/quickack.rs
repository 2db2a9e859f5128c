//! Immediate TCP acknowledgements on client connections.
//!
//! Upstream pulsar-rs does not set `TCP_NODELAY` (fmesh patches it to), so its socket holds
//! back each small frame (a send, an ack, a flow) until the previous one is acknowledged,
//! while Linux delays that ACK by up to 40 ms unless data goes the other way. Together they
//! put a delayed ACK on every send→receipt, and a client with a bounded number of sends in
//! flight is then capped by that latency (the `broker-bench` example's e2e latency line shows it).
//! The broker cannot change a client's socket, so it acknowledges at once instead:
//! `TCP_QUICKACK`, re-armed after every read because the kernel clears it on its own.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A client connection that acknowledges every segment it reads without delay.
#[derive(Debug)]
pub struct QuickAck {
    stream: TcpStream,
    /// Cleared once the socket refused the option (not Linux, or not TCP): stop trying.
    enabled: bool,
}

impl QuickAck {
    /// Wraps an accepted connection, arming the option once before the first read.
    pub fn new(stream: TcpStream) -> Self {
        let mut s = Self {
            stream,
            enabled: true,
        };
        s.arm();
        s
    }

    fn arm(&mut self) {
        if self.enabled
            && let Err(e) = socket2::SockRef::from(&self.stream).set_tcp_quickack(true)
        {
            tracing::debug!(error = %e, "TCP_QUICKACK unavailable; delayed ACKs stay on");
            self.enabled = false;
        }
    }

    /// Whether the option is still being set after reads.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.arm();
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The wrapper passes bytes through both ways and keeps the option armed after reads.
    #[tokio::test]
    async fn passes_bytes_through_and_rearms_after_reads() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"ping").await.unwrap();
            let mut got = [0u8; 4];
            c.read_exact(&mut got).await.unwrap();
            got
        });
        let (sock, _) = listener.accept().await.unwrap();
        let mut s = QuickAck::new(sock);
        let mut got = [0u8; 4];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        assert!(
            s.enabled(),
            "TCP_QUICKACK is a Linux option on a TCP socket"
        );
        assert!(
            socket2::SockRef::from(&s.stream).tcp_quickack().unwrap(),
            "armed after the read"
        );
        s.write_all(b"pong").await.unwrap();
        assert_eq!(&client.await.unwrap(), b"pong");
    }
}
