//! Send receipts, and a processed message waiting for all of its receipts.
//!
//! Plain enums polled in place by the pipeline's own loop: no task, channel or boxed future
//! per message: at the rates a runner sees, spawning and boxing per message cost more than the
//! work they wrapped (runner/README.md, "Memory and throughput").

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pulsar::message::proto::MessageIdData;
use pulsar::producer::SendFuture;
use tokio::sync::oneshot;

/// A send's outcome, resolved when Pulsar answers.
pub(crate) enum Receipt {
    /// A pulsar-rs send.
    Pulsar(SendFuture),
    /// A deduplicating send (effectively_once), answered by its connection's pump.
    Dedup(oneshot::Receiver<Result<(), String>>),
    /// Known at once (already stored, or the send could not start).
    Ready(Option<Result<(), String>>),
}

impl Receipt {
    /// A receipt that failed before anything was sent.
    pub(crate) fn failed(error: impl Into<String>) -> Self {
        Receipt::Ready(Some(Err(error.into())))
    }
}

impl Future for Receipt {
    type Output = Result<(), String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Receipt::Pulsar(f) => Pin::new(f)
                .poll(cx)
                .map(|r| r.map(|_| ()).map_err(|e| e.to_string())),
            Receipt::Dedup(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or_else(|_| Err("connection closed".into()))),
            Receipt::Ready(r) => Poll::Ready(r.take().unwrap_or(Ok(()))),
        }
    }
}

/// What the pipeline does once a message's sends are all answered.
#[derive(Debug, PartialEq)]
pub(crate) struct Settled {
    /// The input message.
    pub(crate) topic: String,
    /// Its id.
    pub(crate) id: MessageIdData,
    /// Whether to acknowledge it now (false: atmost_once, or manual without an ack).
    pub(crate) ack_after: bool,
    /// Sends that succeeded.
    pub(crate) produced: u32,
    /// Why sends failed (any failure turns the ack into a nack).
    pub(crate) failures: Vec<String>,
}

/// One processed message waiting for its receipts, in the order they were sent.
pub(crate) struct Settling {
    receipts: Vec<Receipt>,
    next: usize,
    settled: Option<Settled>,
}

impl Settling {
    /// Waits for `receipts`, then settles the message `id` of `topic`.
    pub(crate) fn new(
        receipts: Vec<Receipt>,
        topic: String,
        id: MessageIdData,
        ack_after: bool,
    ) -> Self {
        Settling {
            receipts,
            next: 0,
            settled: Some(Settled {
                topic,
                id,
                ack_after,
                produced: 0,
                failures: Vec::new(),
            }),
        }
    }
}

impl Future for Settling {
    type Output = Settled;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Settled> {
        let this = self.get_mut();
        while let Some(receipt) = this.receipts.get_mut(this.next) {
            let Poll::Ready(result) = Pin::new(receipt).poll(cx) else {
                return Poll::Pending;
            };
            let settled = this.settled.as_mut().expect("polled after completion");
            match result {
                Ok(()) => settled.produced += 1,
                Err(e) => settled.failures.push(e),
            }
            this.next += 1;
        }
        Poll::Ready(this.settled.take().expect("polled after completion"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn id(entry: u64) -> MessageIdData {
        MessageIdData {
            ledger_id: 1,
            entry_id: entry,
            ..Default::default()
        }
    }

    #[test]
    fn settles_once_every_receipt_is_in_counting_failures() {
        let (tx, rx) = oneshot::channel();
        let mut s = Settling::new(
            vec![
                Receipt::Ready(Some(Ok(()))),
                Receipt::Dedup(rx),
                Receipt::failed("full"),
            ],
            "t".into(),
            id(7),
            true,
        );
        assert!((&mut s).now_or_never().is_none(), "waits for the second");
        tx.send(Ok(())).unwrap();
        let done = s.now_or_never().expect("all answered");
        assert_eq!(
            done,
            Settled {
                topic: "t".into(),
                id: id(7),
                ack_after: true,
                produced: 2,
                failures: vec!["full".into()],
            }
        );
    }

    #[test]
    fn a_dropped_dedup_connection_is_a_failure_and_no_receipts_settle_at_once() {
        let (tx, rx) = oneshot::channel::<Result<(), String>>();
        drop(tx);
        assert_eq!(
            Receipt::Dedup(rx).now_or_never(),
            Some(Err("connection closed".into()))
        );
        let s = Settling::new(Vec::new(), "t".into(), id(1), false).now_or_never();
        assert_eq!(s.map(|s| (s.produced, s.ack_after)), Some((0, false)));
    }
}
