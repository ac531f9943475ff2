//! Port scans: one source probing many ports of one host.
//!
//! Per (src, dst) pair, the probe-like flows (a SYN, a SYN and a RST, a lone UDP datagram:
//! at most `probe_max_packets` packets) of the last `window`. Each distinct port among the
//! sampled probes stands for `sampling` ports probed (a sweep touches each port once), so the
//! estimate of distinct ports probed is the sum of their weights. A pair probing at least
//! `min_ports` distinct ports is a scan; a listed-bad source needs fewer.
//!
//! No z-score here: a scanner is usually a key never seen before, with no past to compare
//! with, so the judgement is a floor, as Zeek's and Snort's scan detectors use. What makes it
//! hold is the feature: a monitoring host checks a dozen ports per server, browsers and apps
//! use one or two.

use std::net::IpAddr;
use std::time::Duration;

use super::{Context, Finding, Observation, category_of, reputation_note};
use crate::threat::model::{AttackKind, Protocol};
use datamesh::consumer_kit::{History, Keep};

/// Tuning of the port-scan detector.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanConfig {
    /// How far back probes count.
    pub window: Duration,
    /// Flows of at most this many packets are probes.
    pub probe_max_packets: i64,
    /// Estimated distinct ports from which a pair is a scan.
    pub min_ports: f64,
    /// The same, when the source is known bad.
    pub min_ports_known_bad: f64,
    /// Distinct ports that must be among the sampled probes, whatever they stand for: an
    /// estimate from two or three sampled probes at 1-in-8 is mostly sampling noise.
    pub min_sampled_ports: usize,
    /// The most probes kept per pair.
    pub max_probes: usize,
    /// No second alert about the same pair within this.
    pub cooldown: Duration,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            probe_max_packets: 3,
            min_ports: 40.0,
            min_ports_known_bad: 25.0,
            min_sampled_ports: 6,
            max_probes: 512,
            cooldown: Duration::from_secs(60),
        }
    }
}

/// One sampled probe.
#[derive(Debug, Clone, Copy)]
struct Probe {
    port: i32,
    weight: f32,
}

/// The probes of each pair.
pub(super) struct ScanState {
    probes: History<(IpAddr, IpAddr), Probe>,
    /// Scratch space for counting distinct ports.
    ports: Vec<(i32, f32)>,
}

impl ScanState {
    pub(super) fn new(config: &ScanConfig, max_keys: usize) -> Self {
        let keep = Keep::Window {
            window: config.window,
            cap: config.max_probes,
        };
        Self {
            probes: History::new(keep, max_keys),
            ports: Vec::new(),
        }
    }

    pub(super) fn keys(&self) -> (usize, u64) {
        (self.probes.len(), self.probes.evicted())
    }

    pub(super) fn observe(&mut self, obs: &Observation<'_>, ctx: &Context<'_>) -> Option<Finding> {
        let config = &ctx.config.scan;
        let flow = obs.flow;
        if flow.packets > config.probe_max_packets || flow.protocol == Protocol::Icmp {
            return None;
        }
        let pair = (obs.src, obs.dst);
        let probe = Probe {
            port: flow.dst_port,
            weight: obs.weight as f32,
        };
        let probes = self.probes.record(&pair, obs.at, probe);
        let bad = ctx.known_bad(flow.src_reputation);
        let min_ports = if bad {
            config.min_ports_known_bad
        } else {
            config.min_ports
        };
        // Distinct ports cannot outnumber probes: a cheap bound before sorting.
        let bound: f64 = probes.iter().map(|(_, p)| f64::from(p.weight)).sum();
        if bound < min_ports || ctx.cooling(AttackKind::PortScan, pair, obs.at) {
            return None;
        }
        self.ports.clear();
        self.ports
            .extend(probes.iter().map(|(_, p)| (p.port, p.weight)));
        self.ports.sort_unstable_by_key(|(port, _)| *port);
        let (mut distinct, mut estimate, mut last) = (0usize, 0.0, None);
        for (port, weight) in &self.ports {
            if last != Some(*port) {
                distinct += 1;
                estimate += f64::from(*weight);
                last = Some(*port);
            }
        }
        if estimate < min_ports || distinct < config.min_sampled_ports {
            return None;
        }
        let first_seen = probes.front().map_or(obs.at, |(t, _)| *t);
        let evidence = format!(
            "{} probed ~{estimate:.0} distinct ports of {} within {} s ({distinct} distinct \
             ports in {} sampled probes of at most {} packets, sampling 1-in-{}){}",
            obs.src,
            obs.dst,
            config.window.as_secs(),
            probes.len(),
            config.probe_max_packets,
            flow.sampling,
            reputation_note(
                "source",
                flow.src_reputation,
                category_of(flow, flow.src_reputation)
            ),
        );
        Some(Finding {
            kind: AttackKind::PortScan,
            subject: pair,
            src: Some(obs.src),
            dst: Some(obs.dst),
            first_seen,
            score: estimate,
            detector: "port_scan/distinct_ports",
            evidence,
        })
    }
}
