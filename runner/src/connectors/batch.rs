//! Batching with retries for sinks that write many records per request (http, elasticsearch):
//! records are collected up to a size or a linger time, written, and those the writer marks
//! retryable are written again with exponential backoff until they succeed or run out of
//! retries. Each record's [`Written`] resolves with its final outcome.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::Written;
use crate::record::Record;

/// The verdict on one record of a written batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Stored.
    Done,
    /// Failed for a reason that may pass (overload, 5xx, connection): try again.
    Retry(String),
    /// Failed for good (rejected document, 4xx): give up now.
    Fail(String),
}

/// Writes batches; one verdict per record, in order.
pub trait BatchWriter: Send + 'static {
    /// Writes `batch`.
    fn write_batch<'a>(&'a mut self, batch: &'a [Record]) -> BoxFuture<'a, Vec<Verdict>>;
}

/// How often and how patiently to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub max_retries: u32,
    /// First pause.
    pub backoff: Duration,
    /// Longest pause.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The pause before retry number `n` (1-based): `backoff · 2^(n-1)`, capped.
    pub fn pause(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(20));
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

type Item = (Record, oneshot::Sender<Result<(), String>>);

/// The handle sinks keep: submitting waits while the queue is full.
pub struct Batcher {
    tx: mpsc::Sender<Item>,
}

impl Batcher {
    /// Starts the worker task; it ends (after writing what it holds) when the handle is dropped.
    pub fn spawn(
        writer: impl BatchWriter,
        batch_size: usize,
        linger: Duration,
        retry: RetryPolicy,
    ) -> Batcher {
        let batch_size = batch_size.max(1);
        let (tx, rx) = mpsc::channel(batch_size * 2);
        tokio::spawn(work(writer, rx, batch_size, linger, retry));
        Batcher { tx }
    }

    /// Queues `record`; the returned future resolves with its outcome.
    pub async fn submit(&self, record: Record) -> Written {
        let (done, outcome) = oneshot::channel();
        if self.tx.send((record, done)).await.is_err() {
            return Box::pin(async { Err("sink worker stopped".to_string()) });
        }
        Box::pin(async move {
            outcome
                .await
                .unwrap_or_else(|_| Err("sink worker stopped".into()))
        })
    }
}

async fn work(
    mut writer: impl BatchWriter,
    mut rx: mpsc::Receiver<Item>,
    batch_size: usize,
    linger: Duration,
    retry: RetryPolicy,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + linger;
        while batch.len() < batch_size {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        write_with_retries(&mut writer, batch, retry).await;
    }
}

async fn write_with_retries(writer: &mut impl BatchWriter, batch: Vec<Item>, retry: RetryPolicy) {
    let (mut records, mut senders): (Vec<Record>, Vec<_>) = batch.into_iter().unzip();
    let mut attempt = 0u32;
    loop {
        let mut verdicts = writer.write_batch(&records).await;
        if verdicts.len() != records.len() {
            // A writer bug must not ack what was not written.
            verdicts = vec![
                Verdict::Retry(format!(
                    "writer answered {} verdicts for {} records",
                    verdicts.len(),
                    records.len()
                ));
                records.len()
            ];
        }
        let (mut again, mut again_senders) = (Vec::new(), Vec::new());
        for ((record, done), verdict) in records.into_iter().zip(senders).zip(verdicts) {
            match verdict {
                Verdict::Done => {
                    let _ = done.send(Ok(()));
                }
                Verdict::Fail(reason) => {
                    let _ = done.send(Err(reason));
                }
                Verdict::Retry(reason) if attempt >= retry.max_retries => {
                    let _ = done.send(Err(format!(
                        "gave up after {} attempts: {reason}",
                        attempt + 1
                    )));
                }
                Verdict::Retry(reason) => {
                    tracing::debug!(%reason, attempt, "retrying");
                    again.push(record);
                    again_senders.push(done);
                }
            }
        }
        if again.is_empty() {
            return;
        }
        attempt += 1;
        tokio::time::sleep(retry.pause(attempt)).await;
        records = again;
        senders = again_senders;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Fails records whose payload says so, a given number of times.
    struct Flaky {
        calls: Arc<Mutex<Vec<Vec<String>>>>,
    }

    impl BatchWriter for Flaky {
        fn write_batch<'a>(&'a mut self, batch: &'a [Record]) -> BoxFuture<'a, Vec<Verdict>> {
            let names: Vec<String> = batch
                .iter()
                .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
                .collect();
            let mut calls = self.calls.lock().unwrap();
            calls.push(names.clone());
            let seen = |n: &str| calls.iter().filter(|c| c.iter().any(|x| x == n)).count();
            let v = names
                .iter()
                .map(|n| match n.as_str() {
                    "bad" => Verdict::Fail("rejected".into()),
                    "twice" if seen(n) <= 2 => Verdict::Retry("busy".into()),
                    "always" => Verdict::Retry("down".into()),
                    _ => Verdict::Done,
                })
                .collect();
            Box::pin(async move { v })
        }
    }

    fn rec(s: &str) -> Record {
        Record {
            payload: s.as_bytes().to_vec(),
            ..Record::default()
        }
    }

    #[tokio::test]
    async fn batches_retry_only_what_failed_and_give_up_after_the_limit() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let policy = RetryPolicy {
            max_retries: 3,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
        };
        let b = Batcher::spawn(
            Flaky {
                calls: calls.clone(),
            },
            10,
            Duration::from_millis(50),
            policy,
        );
        let mut outcomes = Vec::new();
        for s in ["ok", "bad", "twice", "always"] {
            outcomes.push(b.submit(rec(s)).await);
        }
        let results: Vec<_> = futures::future::join_all(outcomes).await;
        assert_eq!(results[0], Ok(()));
        assert_eq!(results[1], Err("rejected".into()));
        assert_eq!(results[2], Ok(()), "succeeds on the third attempt");
        assert!(
            results[3]
                .as_ref()
                .unwrap_err()
                .contains("gave up after 4 attempts"),
            "{results:?}"
        );
        let calls = calls.lock().unwrap();
        assert_eq!(
            calls[0],
            ["ok", "bad", "twice", "always"],
            "one batch first"
        );
        assert_eq!(
            calls[1],
            ["twice", "always"],
            "only retryable records again"
        );
        assert_eq!(calls.len(), 4, "first attempt + 3 retries");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_retries: 9,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        let pauses: Vec<u128> = (1..=6).map(|n| p.pause(n).as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1000, 1000]);
    }
}
