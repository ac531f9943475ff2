//! Volumetric floods: many sources sending far more packets than usual to one internal host.
//!
//! Per internal destination: the current second's packets and bytes (scaled by sampling) per
//! sampled source, and the packets of each of its last `history_s` seconds (seconds without
//! flows are zeros). The current second, while it fills, is judged by its packets *without
//! its heaviest sources* (a flood is many sources each sending a lot; one or two heavy
//! clients are not a flood): against that history by a robust z-score (median and MAD, so an
//! earlier flood or flash crowd does not inflate the baseline) and by its ratio to the median
//! second, with floors on the rate and on the fan-in.
//!
//! Each condition alone has a benign look-alike: a flash crowd on the media server has the
//! fan-in and thousands of packets per second, but a few times the usual; a database dump
//! has millions of packets from one source; a quiet server has a median near zero, so any
//! burst is a huge z-score and ratio.

use std::net::IpAddr;
use std::time::Duration;

use hashlink::LruCache;

use super::{Context, Finding, Observation, human_bytes, median, touch};
use crate::threat::model::AttackKind;
use datamesh::consumer_kit::{Detector, RobustZ};
use datamesh::consumer_kit::{History, Keep};

/// Tuning of the flood detector.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumetricConfig {
    /// Seconds of per-second packet counts kept per destination.
    pub history_s: usize,
    /// The robust z-score of the current second from which it is anomalous.
    pub detector: RobustZ,
    /// The current second must be at least this many times the median second.
    pub min_ratio: f64,
    /// And at least this many packets (scaled).
    pub min_packets_per_s: f64,
    /// And come from at least this many distinct sources (sampled: a lower bound).
    pub min_sources: usize,
    /// The packets of this many heaviest sources of the second are left out of its rate.
    pub exclude_top_sources: usize,
    /// No second alert about the same destination within this.
    pub cooldown: Duration,
}

impl Default for VolumetricConfig {
    fn default() -> Self {
        Self {
            history_s: 60,
            detector: RobustZ { threshold: 8.0 },
            min_ratio: 10.0,
            min_packets_per_s: 15_000.0,
            min_sources: 8,
            exclude_top_sources: 2,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// Distinct sources remembered per second (enough to pass any sensible `min_sources`; the
/// packets of sources beyond count in the total but are never left out as the heaviest).
const MAX_SOURCES: usize = 64;

/// The second being filled, for one destination.
#[derive(Debug)]
struct Second {
    second: i64,
    first_ms: i64,
    packets: f64,
    bytes: f64,
    /// Packets per sampled source.
    sources: Vec<(IpAddr, f64)>,
    bad_sources: usize,
}

impl Second {
    fn new(second: i64, at: i64) -> Self {
        Self {
            second,
            first_ms: at,
            packets: 0.0,
            bytes: 0.0,
            sources: Vec::new(),
            bad_sources: 0,
        }
    }
}

/// The per-destination seconds.
pub(super) struct VolumetricState {
    open: LruCache<IpAddr, Second>,
    series: History<IpAddr, f64>,
    /// Scratch space for the detector's input.
    values: Vec<f64>,
}

impl VolumetricState {
    pub(super) fn new(config: &VolumetricConfig, max_keys: usize) -> Self {
        Self {
            open: LruCache::new(max_keys),
            series: History::new(Keep::Last(config.history_s.max(8)), max_keys),
            values: Vec::new(),
        }
    }

    pub(super) fn keys(&self) -> (usize, u64) {
        (self.open.len() + self.series.len(), self.series.evicted())
    }

    pub(super) fn observe(&mut self, obs: &Observation<'_>, ctx: &Context<'_>) -> Option<Finding> {
        if !obs.dst_internal {
            return None;
        }
        let config = &ctx.config.volumetric;
        let flow = obs.flow;
        let second = obs.at.div_euclid(1000);
        let (open, created) = touch(&mut self.open, obs.dst, || Second::new(second, obs.at));
        if created || open.second < second {
            if !created {
                self.series
                    .record(&obs.dst, open.second * 1000, open.packets);
                *open = Second::new(second, obs.at);
            }
            // Seconds without flows since the last one recorded (or since the customer's
            // first flow) are zeros, up to a full history.
            let last = self
                .series
                .get(&obs.dst)
                .and_then(|s| s.back())
                .map_or(obs.origin.div_euclid(1000) - 1, |(t, _)| t.div_euclid(1000));
            let from = (last + 1).max(second - config.history_s as i64);
            for s in from..second {
                self.series.record(&obs.dst, s * 1000, 0.0);
            }
        }
        let packets = flow.packets as f64 * obs.weight;
        open.packets += packets;
        open.bytes += flow.bytes as f64 * obs.weight;
        if let Some((_, sent)) = open.sources.iter_mut().find(|(ip, _)| *ip == obs.src) {
            *sent += packets;
        } else if open.sources.len() < MAX_SOURCES {
            open.sources.push((obs.src, packets));
            if ctx.known_bad(flow.src_reputation) {
                open.bad_sources += 1;
            }
        }
        if open.packets < config.min_packets_per_s
            || open.sources.len() < config.min_sources
            || ctx.cooling(AttackKind::Volumetric, (obs.dst, obs.dst), obs.at)
        {
            return None;
        }
        self.values.clear();
        self.values
            .extend(open.sources.iter().map(|(_, sent)| *sent));
        self.values.sort_unstable_by(|a, b| b.total_cmp(a));
        let heaviest: f64 = self.values.iter().take(config.exclude_top_sources).sum();
        let spread = open.packets - heaviest;
        if spread < config.min_packets_per_s {
            return None;
        }
        self.values.clear();
        if let Some(past) = self.series.get(&obs.dst) {
            self.values.extend(past.iter().map(|(_, v)| *v));
        }
        self.values.push(spread);
        let z = config.detector.score(&self.values);
        let past = self.values.len() - 1;
        let typical = median(&mut self.values[..past]);
        let ratio = spread / typical.max(1.0);
        if z < config.detector.threshold() || ratio < config.min_ratio {
            return None;
        }
        let sources = if open.sources.len() >= MAX_SOURCES {
            format!("{MAX_SOURCES}+")
        } else {
            open.sources.len().to_string()
        };
        let evidence = format!(
            "{} received ~{:.0} packets ({}) from {sources} distinct sampled sources in {} ms; \
             without the {} heaviest, {spread:.0} packets, {ratio:.0}x its median second of the \
             last {past} s ({typical:.0} packets), robust z {z:.1}; {} of the sources known bad",
            obs.dst,
            open.packets,
            human_bytes(open.bytes),
            obs.at - open.first_ms + 1,
            config.exclude_top_sources,
            open.bad_sources,
        );
        Some(Finding {
            kind: AttackKind::Volumetric,
            subject: (obs.dst, obs.dst),
            src: None,
            dst: Some(obs.dst),
            first_seen: open.first_ms,
            score: z,
            detector: "volumetric/robust_z",
            evidence,
        })
    }
}
