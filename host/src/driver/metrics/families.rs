//! The metric families a scrape is built of: histograms counted elsewhere
//! (turn times, plugin call times) and families of gauges and counters from
//! rows of (labels, value).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;

/// A histogram whose buckets were counted elsewhere (the turn statistics):
/// per-bucket counts, made cumulative by the encoder.
#[derive(Debug)]
pub(super) struct Counted {
    pub sum: f64,
    pub count: u64,
    /// (upper bound, observations above the previous bound and at or below
    /// this one); the last bound may be +Inf.
    pub buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for Counted {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Histograms counted elsewhere, one per label set.
#[derive(Debug)]
pub(super) struct LabeledCounted<L>(pub Vec<(L, Counted)>);

impl<L: EncodeLabelSet + std::fmt::Debug + Send + Sync> EncodeMetric for LabeledCounted<L> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, h) in &self.0 {
            h.encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

type IntGauges<L> = Family<L, Gauge<i64>>;
type FloatGauges<L> = Family<L, Gauge<f64, AtomicU64>>;
type Counters<L> = Family<L, Counter<u64>>;

/// A family of one metric per label set, each given its row's value.
fn family<L, M, V>(rows: impl IntoIterator<Item = (L, V)>, set: impl Fn(&M, V)) -> Family<L, M>
where
    L: Clone + std::hash::Hash + Eq,
    M: Default,
{
    let f = Family::<L, M>::default();
    for (labels, v) in rows {
        set(&f.get_or_create(&labels), v);
    }
    f
}

pub(super) fn int_gauges<L>(rows: impl IntoIterator<Item = (L, i64)>) -> IntGauges<L>
where
    L: Clone + std::hash::Hash + Eq,
{
    family(rows, |g: &Gauge<i64>, v| {
        g.set(v);
    })
}

pub(super) fn float_gauges<L>(rows: impl IntoIterator<Item = (L, f64)>) -> FloatGauges<L>
where
    L: Clone + std::hash::Hash + Eq,
{
    family(rows, |g: &Gauge<f64, AtomicU64>, v| {
        g.set(v);
    })
}

pub(super) fn counters<L>(rows: impl IntoIterator<Item = (L, u64)>) -> Counters<L>
where
    L: Clone + std::hash::Hash + Eq,
{
    family(rows, |c: &Counter<u64>, v| {
        c.inc_by(v);
    })
}

pub(super) fn gauge(v: i64) -> Gauge<i64> {
    let g = Gauge::<i64>::default();
    g.set(v);
    g
}

pub(super) fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
