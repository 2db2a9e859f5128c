//! A connection's outbound queue: an unbounded channel whose queued reply
//! bytes are counted, so the connection stops reading requests while its
//! replies are not being read (a client that sends PINGs and never reads
//! holds at most the limit, not gigabytes).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};

use crate::codec::Frame;

#[derive(Debug, Default)]
struct Queued {
    bytes: AtomicUsize,
    drained: Notify,
}

/// Sending side, cloned wherever frames are addressed to the connection.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Frame>,
    queued: Arc<Queued>,
}

/// The connection is gone (its writer stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// Receiving side, owned by the connection's writer task.
#[derive(Debug)]
pub struct OutboxRx {
    rx: mpsc::UnboundedReceiver<Frame>,
    queued: Arc<Queued>,
}

/// Bytes a queued frame is counted for: what it holds in memory while queued
/// (a decoded command is a few KiB however small its encoding). Dispatched
/// messages count 0: they are bounded by permits and the outbound gauge, and
/// counting them would stop reading the acks that free them.
fn cost(f: &Frame) -> usize {
    if f.command.message.is_some() {
        0
    } else {
        std::mem::size_of::<Frame>() + f.payload.as_ref().map_or(0, |p| p.len())
    }
}

/// A new outbound queue.
pub fn channel() -> (Outbox, OutboxRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(Queued::default());
    (
        Outbox {
            tx,
            queued: queued.clone(),
        },
        OutboxRx { rx, queued },
    )
}

impl Outbox {
    /// Queues a frame; fails only once the connection is gone.
    pub fn send(&self, f: Frame) -> Result<(), Closed> {
        let n = cost(&f);
        self.queued.bytes.fetch_add(n, Ordering::Relaxed);
        self.tx.send(f).map_err(|_| {
            self.queued.bytes.fetch_sub(n, Ordering::Relaxed);
            Closed
        })
    }

    /// Reply bytes queued and not yet written to the socket.
    pub fn queued_bytes(&self) -> usize {
        self.queued.bytes.load(Ordering::Relaxed)
    }

    /// Waits until fewer than `limit` reply bytes are queued.
    pub async fn wait_below(&self, limit: usize) {
        loop {
            let notified = self.queued.drained.notified();
            if self.queued_bytes() < limit {
                return;
            }
            notified.await;
        }
    }
}

impl OutboxRx {
    /// The next frame, None once every sender is gone.
    pub async fn recv(&mut self) -> Option<Frame> {
        self.rx.recv().await
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Frame> {
        self.rx.try_recv().ok()
    }

    /// Marks `f` written (its bytes leave the count).
    pub fn written(&self, f: &Frame) {
        let n = cost(f);
        if n > 0 {
            self.queued.bytes.fetch_sub(n, Ordering::Relaxed);
            self.queued.drained.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::base;
    use pulsar::proto::base_command::Type;

    #[tokio::test]
    async fn queued_reply_bytes_are_counted_until_written() {
        let (tx, mut rx) = channel();
        for _ in 0..10 {
            tx.send(Frame::command(base(Type::Pong))).unwrap();
        }
        let full = tx.queued_bytes();
        assert!(full >= 10 * std::mem::size_of::<Frame>(), "{full}");
        let waiter = {
            let tx = tx.clone();
            tokio::spawn(async move { tx.wait_below(full / 2).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "still over the limit");
        for _ in 0..6 {
            let f = rx.recv().await.unwrap();
            rx.written(&f);
        }
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken once below the limit")
            .unwrap();
        assert!(tx.queued_bytes() < full / 2);
    }
}
