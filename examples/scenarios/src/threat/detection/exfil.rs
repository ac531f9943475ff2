//! Exfiltration: an internal host sending far more than its own usual to one external
//! address that is new to it and rare among the customer's hosts, for a sustained time.
//!
//! Per internal source: bytes sent to external addresses per `bucket` (scaled by sampling,
//! with the variance sampling adds) and each bucket's top destination, over the last
//! `history_buckets` buckets (buckets without flows are zeros). When a bucket closes, the
//! newest `cusum.recent` buckets are judged on:
//!
//! - volume: their rate at a lower confidence bound (a few sampled flows that each stand for
//!   many could overstate it) reaches `min_rate`, and not in one bucket only;
//! - the host's own past: at least `min_factor` times its median bucket, and a CUSUM shift in
//!   log bytes, robustly standardized (median and MAD of the baseline, the baseline clipped,
//!   so idle gaps of a busy host or earlier uploads of a quiet one neither mask nor fake a
//!   shift); logs because hosts differ by orders of magnitude;
//! - the destination: most of the bytes go to one, first contacted by the host shortly
//!   before, talked to by few of the customer's hosts, and not listed as benign.
//!
//! The look-alikes each fail one of these: a single large upload (one bucket), a whole-folder
//! upload to cloud storage (to a destination every host uses), a video call or a
//! remote-desktop session (to a rare destination, but a fraction of the rate, which sampling
//! noise must not inflate), the backup server (to popular storage, all the time), a database
//! replicating to an off-site replica no one else uses (rare and heavy, and after a pause it
//! looks like a step up: but the replica is no new destination), an application server
//! publishing megabytes per second to a new rare destination every minute or two (its own
//! baseline).

use std::net::IpAddr;
use std::time::Duration;

use hashlink::LruCache;

use super::{
    Context, Finding, Observation, category_of, human_bytes, median, millis, reputation_note, touch,
};
use crate::threat::model::AttackKind;
use datamesh::consumer_kit::{Cusum, Detector};
use datamesh::consumer_kit::{History, Keep};

/// Tuning of the exfiltration detector.
#[derive(Debug, Clone, PartialEq)]
pub struct ExfilConfig {
    /// The length of a bucket.
    pub bucket: Duration,
    /// Buckets kept per host (the baseline is all but the newest `cusum.recent`).
    pub history_buckets: usize,
    /// The shift detector over `ln(1 + bytes / log_scale_bytes)` per bucket.
    pub cusum: Cusum,
    /// Bytes per bucket that count as noise in the log scale: differences among smaller
    /// values (a few web requests or none) hardly move the baseline.
    pub log_scale_bytes: f64,
    /// The smallest robust spread of the baseline's log bytes (a steady host still varies by
    /// this much: `e^0.5`, about 1.6 times).
    pub min_spread: f64,
    /// Baseline values are clipped to this many robust spreads from the median before the
    /// CUSUM sees them (idle gaps of a busy host, earlier uploads of a quiet one).
    pub clip: f64,
    /// Bytes per second the recent buckets must average (the lower confidence bound of the
    /// estimate from sampled flows).
    pub min_rate: f64,
    /// How many standard errors below the estimate the lower confidence bound is.
    pub confidence_z: f64,
    /// The recent buckets must average (at the lower confidence bound) this many times the
    /// baseline's median bucket. The kit's CUSUM is two-sided: this also makes the shift an
    /// increase.
    pub min_factor: f64,
    /// Buckets of baseline needed before a host is judged (a deployment can warm the history
    /// from stored flows instead of waiting).
    pub min_baseline: usize,
    /// The share of the recent bytes that must go to the top destination.
    pub min_top_share: f64,
    /// The destination must be new to the host: first contacted at most this long before
    /// the judged buckets (a replica or backup site the host has long used is part of its
    /// baseline; a drop site is not).
    pub novelty: Duration,
    /// No second alert about the same (host, destination) within this.
    pub cooldown: Duration,
}

impl Default for ExfilConfig {
    fn default() -> Self {
        Self {
            bucket: Duration::from_secs(10),
            history_buckets: 48,
            cusum: Cusum {
                k: 0.5,
                h: 3.0,
                recent: 3,
            },
            log_scale_bytes: 100_000.0,
            min_spread: 0.5,
            clip: 3.0,
            min_rate: 500_000.0,
            confidence_z: 1.5,
            min_factor: 3.0,
            min_baseline: 18,
            min_top_share: 0.6,
            novelty: Duration::from_secs(120),
            cooldown: Duration::from_secs(300),
        }
    }
}

/// Destinations tracked per open bucket (the rest only count in the total).
const MAX_DESTINATIONS: usize = 8;

/// Bytes to one destination, and its reputation as the flows carried it.
#[derive(Debug, Clone, Copy)]
struct Sent {
    dst: IpAddr,
    bytes: f64,
    reputation: Option<i32>,
}

/// A closed bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    bytes: f64,
    /// The variance of `bytes` as an estimate under sampling.
    variance: f64,
    top: Option<Sent>,
}

/// The bucket being filled, for one host.
#[derive(Debug)]
struct Open {
    index: i64,
    bytes: f64,
    variance: f64,
    destinations: Vec<Sent>,
}

impl Open {
    fn new(index: i64) -> Self {
        Self {
            index,
            bytes: 0.0,
            variance: 0.0,
            destinations: Vec::new(),
        }
    }

    fn close(&self) -> Bucket {
        let top = self
            .destinations
            .iter()
            .max_by(|a, b| a.bytes.total_cmp(&b.bytes))
            .copied();
        Bucket {
            bytes: self.bytes,
            variance: self.variance,
            top,
        }
    }
}

/// The per-host buckets.
pub(super) struct ExfilState {
    open: LruCache<IpAddr, Open>,
    series: History<IpAddr, Bucket>,
    /// Scratch space for the detector's input.
    values: Vec<f64>,
}

impl ExfilState {
    pub(super) fn new(config: &ExfilConfig, max_keys: usize) -> Self {
        Self {
            open: LruCache::new(max_keys),
            series: History::new(Keep::Last(config.history_buckets.max(8)), max_keys),
            values: Vec::new(),
        }
    }

    pub(super) fn keys(&self) -> (usize, u64) {
        (self.open.len() + self.series.len(), self.series.evicted())
    }

    pub(super) fn observe(&mut self, obs: &Observation<'_>, ctx: &Context<'_>) -> Option<Finding> {
        if !obs.src_internal || obs.dst_internal {
            return None;
        }
        let config = &ctx.config.exfiltration;
        let bucket_ms = millis(config.bucket).max(1);
        let index = obs.at.div_euclid(bucket_ms);
        let (open, created) = touch(&mut self.open, obs.src, || Open::new(index));
        let mut closed = false;
        if created || open.index < index {
            if !created {
                self.series
                    .record(&obs.src, open.index * bucket_ms, open.close());
                *open = Open::new(index);
                closed = true;
            }
            // Buckets without flows since the last one recorded (or since the customer's
            // first flow) are zeros, up to a full history.
            let last = self
                .series
                .get(&obs.src)
                .and_then(|s| s.back())
                .map_or(obs.origin.div_euclid(bucket_ms) - 1, |(t, _)| {
                    t.div_euclid(bucket_ms)
                });
            let from = (last + 1).max(index - config.history_buckets as i64);
            let empty = Bucket {
                bytes: 0.0,
                variance: 0.0,
                top: None,
            };
            for i in from..index {
                self.series.record(&obs.src, i * bucket_ms, empty);
            }
        }
        let raw = obs.flow.bytes as f64;
        let bytes = raw * obs.weight;
        open.bytes += bytes;
        // Horvitz-Thompson: a flow kept with probability 1/N adds N(N-1)x² to the variance.
        open.variance += obs.weight * (obs.weight - 1.0) * raw * raw;
        if let Some(sent) = open.destinations.iter_mut().find(|s| s.dst == obs.dst) {
            sent.bytes += bytes;
            sent.reputation = obs.flow.dst_reputation;
        } else if open.destinations.len() < MAX_DESTINATIONS {
            open.destinations.push(Sent {
                dst: obs.dst,
                bytes,
                reputation: obs.flow.dst_reputation,
            });
        }
        if closed { self.judge(obs, ctx) } else { None }
    }

    /// Judges the host's buckets up to the one just closed.
    fn judge(&mut self, obs: &Observation<'_>, ctx: &Context<'_>) -> Option<Finding> {
        let config = &ctx.config.exfiltration;
        let buckets = self.series.get(&obs.src)?;
        let recent = config.cusum.recent.max(1);
        let n = buckets.len();
        if n < recent + config.min_baseline.max(2) {
            return None;
        }
        let bucket_s = config.bucket.as_secs_f64();
        let window_s = recent as f64 * bucket_s;
        let (mut total, mut variance, mut sustained) = (0.0, 0.0, 0);
        for (_, b) in buckets.range(n - recent..) {
            total += b.bytes;
            variance += b.variance;
            sustained += usize::from(b.bytes >= 0.25 * config.min_rate * bucket_s);
        }
        // The rate's lower confidence bound: a few sampled flows that happen to stand for
        // more than was sent must not make a modest upload look like an exfiltration.
        let lower = (total - config.confidence_z * variance.sqrt()).max(0.0);
        let rate = lower / window_s;
        if rate < config.min_rate || sustained + 1 < recent {
            return None;
        }
        // What the host usually sends: a minority of idle buckets (a paused replication) does
        // not lower the bar, a minority of upload buckets does not raise it.
        self.values.clear();
        self.values
            .extend(buckets.range(..n - recent).map(|(_, b)| b.bytes));
        let usual = median(&mut self.values);
        if lower / (recent as f64) < config.min_factor * usual {
            return None;
        }
        // The destination with the most bytes among the buckets' tops.
        let mut tops: Vec<Sent> = Vec::with_capacity(recent);
        for top in buckets.range(n - recent..).filter_map(|(_, b)| b.top) {
            match tops.iter_mut().find(|s| s.dst == top.dst) {
                Some(sent) => {
                    sent.bytes += top.bytes;
                    sent.reputation = top.reputation;
                }
                None => tops.push(top),
            }
        }
        let top = tops
            .into_iter()
            .max_by(|a, b| a.bytes.total_cmp(&b.bytes))?;
        let share = top.bytes / total;
        let window_start = buckets[n - recent].0;
        let established = ctx
            .first_contact(obs.src, top.dst)
            .is_some_and(|first| first < window_start - millis(config.novelty));
        if share < config.min_top_share
            || established
            || !ctx.rare(top.dst, obs.at)
            || ctx.known_benign(top.reputation)
            || ctx.cooling(AttackKind::Exfiltration, (obs.src, top.dst), obs.at)
        {
            return None;
        }
        // Log bytes, standardized robustly (median and MAD of the baseline, the MAD no less
        // than `min_spread`), the baseline clipped to ±`clip` (Huber): the kit's CUSUM then
        // standardizes by a mean and deviation that a minority of uploads or idle gaps cannot
        // inflate.
        let scale = config.log_scale_bytes.max(1.0);
        let log = |b: &Bucket| (b.bytes / scale).ln_1p();
        self.values.clear();
        self.values
            .extend(buckets.range(..n - recent).map(|(_, b)| log(b)));
        let center = median(&mut self.values);
        for v in &mut self.values {
            *v = (*v - center).abs();
        }
        let spread = (median(&mut self.values) * 1.4826).max(config.min_spread);
        self.values.clear();
        self.values.extend(
            buckets
                .range(..n - recent)
                .map(|(_, b)| ((log(b) - center) / spread).clamp(-config.clip, config.clip)),
        );
        self.values.extend(
            buckets
                .range(n - recent..)
                .map(|(_, b)| (log(b) - center) / spread),
        );
        let score = config.cusum.score(&self.values);
        if score < config.cusum.threshold() {
            return None;
        }
        let first_seen = window_start;
        let evidence = format!(
            "{} sent ~{} to external addresses in the last {window_s:.0} s (at least {}/s at \
             {:.1} standard errors, {:.0}% of it to {}), against a median of {} per \
             {bucket_s:.0} s over the {} s before (CUSUM of log bytes {score:.1}); {} seen from \
             {} internal host(s) in {} s{}",
            obs.src,
            human_bytes(total),
            human_bytes(rate),
            config.confidence_z,
            share * 100.0,
            top.dst,
            human_bytes(usual),
            (n - recent) as f64 * bucket_s,
            top.dst,
            ctx.prevalence(top.dst, obs.at),
            ctx.config.prevalence.window.as_secs(),
            reputation_note(
                "destination",
                top.reputation,
                // The flow at hand may be to another destination.
                (obs.dst == top.dst)
                    .then(|| category_of(obs.flow, top.reputation))
                    .flatten()
            ),
        );
        Some(Finding {
            kind: AttackKind::Exfiltration,
            subject: (obs.src, top.dst),
            src: Some(obs.src),
            dst: Some(top.dst),
            first_seen,
            score,
            detector: "exfiltration/cusum",
            evidence,
        })
    }
}
