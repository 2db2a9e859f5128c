//! `fmesh run`'s live lines: one per member, its replicas' counters summed, with the rate since
//! the previous line. Pure, so the text is tested directly.

use fmesh_runner::{Kind, Metrics};

/// One member's counters at one moment, summed over its replicas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub received: u64,
    pub processed: u64,
    /// User and system exceptions.
    pub errors: u64,
}

impl Counts {
    /// The sum over a member's instances.
    pub fn of<'a>(metrics: impl IntoIterator<Item = &'a Metrics>) -> Counts {
        metrics.into_iter().fold(Counts::default(), |c, m| Counts {
            received: c.received + m.received.get(),
            processed: c.processed + m.processed.get(),
            errors: c.errors + m.user_exceptions.get() + m.system_exceptions.get(),
        })
    }
}

/// `[  12s] mesh/member  function x2  received 120  processed 118  errors 0  59.0 msg/s`.
/// `stamp` is the elapsed time, or `final` for the closing totals; the rate is of `processed`.
pub fn line(
    stamp: &str,
    label: &str,
    width: usize,
    kind: Kind,
    replicas: u32,
    now: Counts,
    rate: f64,
) -> String {
    let kind = match kind {
        Kind::Function => "function",
        Kind::Source => "source",
        Kind::Sink => "sink",
    };
    format!(
        "[{stamp:>5}] {label:<width$}  {kind:<8} x{replicas}  received {:>8}  processed {:>8}  errors {:>5}  {rate:>9.1} msg/s",
        now.received, now.processed, now.errors
    )
}

/// Messages per second between two readings.
pub fn rate(before: Counts, now: Counts, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    now.processed.saturating_sub(before.processed) as f64 / secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_the_member_and_its_counts() {
        let now = Counts {
            received: 120,
            processed: 118,
            errors: 2,
        };
        let text = line("12s", "m/up", 6, Kind::Function, 2, now, 59.0);
        assert_eq!(
            text,
            "[  12s] m/up    function x2  received      120  processed      118  errors     2       59.0 msg/s"
        );
    }

    #[test]
    fn counts_sum_replicas_and_rates_use_processed() {
        let (a, b) = (
            Metrics::new("t", "n", "f", 0, "c"),
            Metrics::new("t", "n", "f", 1, "c"),
        );
        a.processed.inc_by(3);
        b.processed.inc_by(4);
        b.user_exceptions.inc();
        a.system_exceptions.inc();
        let now = Counts::of([&a, &b]);
        assert_eq!((now.processed, now.errors), (7, 2));
        assert_eq!(rate(Counts::default(), now, 2.0), 3.5);
        assert_eq!(rate(now, now, 0.0), 0.0);
    }
}
