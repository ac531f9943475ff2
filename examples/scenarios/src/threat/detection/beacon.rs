//! Beaconing: an internal host checking in with one external address at a fixed period.
//!
//! Per (internal src, external dst) pair: the times of its small flows (check-ins are small;
//! uploads and page loads are not judged here), the last `keep` of them. When a pair has
//! enough, [`Periodicity`] judges the gaps: do they fit whole multiples of one period
//! (multiples, since sampling drops check-ins)? A pair that fits, to a destination few of the
//! customer's hosts talk to and not listed as benign, is beaconing. A listed-bad destination
//! needs fewer check-ins.
//!
//! The look-alikes: telemetry heartbeats and NTP are exactly periodic but go to destinations
//! every host uses; a partner API polled every 30 s by one server is periodic and rare but
//! listed as benign; a user reading a rare site for minutes visits it repeatedly but in
//! bursts at irregular times.

use std::net::IpAddr;
use std::time::Duration;

use super::{Context, Finding, Observation, category_of, reputation_note};
use crate::threat::detectors::Periodicity;
use crate::threat::model::{AttackKind, Protocol};
use datamesh::consumer_kit::Detector;
use datamesh::consumer_kit::{History, Keep};

/// Tuning of the beaconing detector.
#[derive(Debug, Clone, PartialEq)]
pub struct BeaconConfig {
    /// Flows sending more bytes than this are not check-ins.
    pub max_bytes: i64,
    /// Check-in times kept per pair (the gaps judged are between these).
    pub keep: usize,
    /// The regularity detector (its `min_intervals` is the usual number of gaps needed).
    pub periodicity: Periodicity,
    /// Gaps needed when the destination is known bad.
    pub min_intervals_known_bad: usize,
    /// No second alert about the same pair within this.
    pub cooldown: Duration,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        Self {
            max_bytes: 2_048,
            keep: 16,
            periodicity: Periodicity::default(),
            min_intervals_known_bad: 5,
            cooldown: Duration::from_secs(600),
        }
    }
}

/// The check-ins of each pair.
pub(super) struct BeaconState {
    checkins: History<(IpAddr, IpAddr), i64>,
    /// Scratch space for the gaps.
    gaps: Vec<f64>,
}

impl BeaconState {
    pub(super) fn new(config: &BeaconConfig, max_keys: usize) -> Self {
        Self {
            checkins: History::new(Keep::Last(config.keep.max(3)), max_keys),
            gaps: Vec::new(),
        }
    }

    pub(super) fn keys(&self) -> (usize, u64) {
        (self.checkins.len(), self.checkins.evicted())
    }

    pub(super) fn observe(&mut self, obs: &Observation<'_>, ctx: &Context<'_>) -> Option<Finding> {
        let config = &ctx.config.beaconing;
        let flow = obs.flow;
        if !obs.src_internal
            || obs.dst_internal
            || flow.bytes > config.max_bytes
            || flow.protocol == Protocol::Icmp
        {
            return None;
        }
        let pair = (obs.src, obs.dst);
        let checkins = self.checkins.record(&pair, obs.at, flow.bytes);
        let bad = ctx.known_bad(flow.dst_reputation);
        let detector = Periodicity {
            min_intervals: if bad {
                config.min_intervals_known_bad
            } else {
                config.periodicity.min_intervals
            },
            ..config.periodicity
        };
        if checkins.len() <= detector.min_intervals
            || ctx.known_benign(flow.dst_reputation)
            || !ctx.rare(obs.dst, obs.at)
            || ctx.cooling(AttackKind::Beaconing, pair, obs.at)
        {
            return None;
        }
        self.gaps.clear();
        self.gaps.extend(
            checkins
                .iter()
                .zip(checkins.iter().skip(1))
                .map(|((a, _), (b, _))| (b - a) as f64 / 1000.0),
        );
        if !detector.is_anomaly(&self.gaps) {
            return None;
        }
        let fit = detector.fit(&self.gaps)?;
        let mean_bytes =
            checkins.iter().map(|(_, b)| *b as f64).sum::<f64>() / checkins.len() as f64;
        let first_seen = checkins.front().map_or(obs.at, |(t, _)| *t);
        let evidence = format!(
            "{} contacted {} at a period of {:.1} s: {} of {} gaps between its last {} small \
             flows within {:.0}% of whole periods (mean {:.1}%, sampling 1-in-{}), ~{:.0} B \
             each; {} seen from {} internal host(s) in {} s{}",
            obs.src,
            obs.dst,
            fit.period_s,
            fit.fitting,
            fit.intervals,
            checkins.len(),
            detector.tolerance * 100.0,
            fit.mean_deviation * 100.0,
            flow.sampling,
            mean_bytes,
            obs.dst,
            ctx.prevalence(obs.dst, obs.at),
            ctx.config.prevalence.window.as_secs(),
            reputation_note(
                "destination",
                flow.dst_reputation,
                category_of(flow, flow.dst_reputation)
            ),
        );
        Some(Finding {
            kind: AttackKind::Beaconing,
            subject: pair,
            src: Some(obs.src),
            dst: Some(obs.dst),
            first_seen,
            score: fit.score(),
            detector: "beaconing/periodicity",
            evidence,
        })
    }
}
