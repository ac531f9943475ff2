//! Attack episodes: planned up front, each a pure function of its own seed.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::random::{exponential, lognormal, mix, shuffle, uniform};
use super::world::{ip_string, pick_free, public_ip};
use super::{Generator, Raw};
use crate::threat::model::{AttackKind, Episode, Protocol};

/// Ports scanners try first when they do not sweep in order.
pub(super) const TOP_PORTS: [u16; 20] = [
    80, 443, 22, 21, 25, 3389, 110, 445, 139, 143, 53, 135, 3306, 8080, 1723, 111, 995, 993, 5900,
    1025,
];

/// The kind-specific part of an episode plan.
#[derive(Debug, Clone)]
pub(super) enum Shape {
    Scan {
        ports: Vec<u16>,
        rate: f64,
        fixed_src_port: Option<u16>,
        udp: bool,
    },
    Flood {
        sources: Vec<u32>,
        secs: f64,
        protocol: Protocol,
    },
    Exfil {
        secs: f64,
        rate: f64,
        port: u16,
    },
    Beacon {
        secs: f64,
        period_ms: f64,
        jitter: f64,
        port: u16,
    },
}

/// A planned episode: its flows are a pure function of the plan (its own seed).
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) kind: AttackKind,
    pub(super) label: String,
    pub(super) customer: usize,
    /// The attacker (scan source, internal exfiltrating or beaconing host).
    pub(super) src: u32,
    /// The victim (scan, flood) or external receiver (exfiltration, beaconing).
    pub(super) dst: u32,
    pub(super) start: i64,
    pub(super) seed: u64,
    pub(super) shape: Shape,
}

impl Generator {
    /// Plans `episodes_per_kind` episodes of each kind, spread over the customers in turn,
    /// and records the ground truth (each episode's first and last flow times).
    pub(super) fn plan_episodes(&mut self, used: &mut HashSet<u32>) {
        if self.sites.is_empty() {
            return;
        }
        // Internal hosts already given a role in an episode, so episodes do not stack on one
        // host (which would make the ground truth ambiguous).
        let mut busy: HashSet<u32> = self.sites.iter().filter_map(|s| s.mirror).collect();
        // Floods planned so far: (victim, start offset, end offset).
        let mut floods: Vec<(u32, i64, i64)> = Vec::new();
        let shapes = self.config.shapes.clone();
        let start = self.config.start_ms;
        let warmup = i64::from(self.config.warmup_s) * 1000;
        let duration = i64::from(self.config.duration_s) * 1000;
        for (kind_index, kind) in AttackKind::ALL.into_iter().enumerate() {
            for n in 0..self.config.episodes_per_kind {
                let customer = (n + kind_index) % self.sites.len();
                let seed = mix(self.seed, (kind_index as u64) << 32 | n as u64);
                let rng = &mut self.rng;
                let site = &self.sites[customer];
                let (src, dst, length_ms, earliest, shape) = match kind {
                    AttackKind::PortScan => {
                        let internal = rng
                            .random_bool(0.3)
                            .then(|| pick_free(rng, &site.workstations, &mut busy))
                            .flatten();
                        let src = internal.unwrap_or_else(|| public_ip(rng, used));
                        let dst = site.any_host(rng);
                        let count = rng.random_range(shapes.scan_ports.0..=shapes.scan_ports.1);
                        let rate = uniform(rng, shapes.scan_rate.0, shapes.scan_rate.1);
                        let ports = scan_ports(rng, count as usize);
                        // Expected sweep time: the probes are exponentially spaced.
                        let length = (f64::from(count) / rate * 1000.0) as i64;
                        let shape = Shape::Scan {
                            ports,
                            rate,
                            fixed_src_port: rng
                                .random_bool(0.4)
                                .then(|| rng.random_range(33_000..61_000)),
                            udp: rng.random_bool(0.1),
                        };
                        (src, dst, length, warmup, shape)
                    }
                    AttackKind::Volumetric => {
                        let dst = if rng.random_bool(0.75) {
                            site.web[rng.random_range(0..site.web.len())]
                        } else {
                            site.any_server(rng)
                        };
                        let count =
                            rng.random_range(shapes.flood_sources.0..=shapes.flood_sources.1);
                        let sources = self.pools.botnet_sample(rng, count as usize);
                        let secs = uniform(rng, shapes.flood_secs.0, shapes.flood_secs.1);
                        let protocol = match rng.random_range(0..10) {
                            0..5 => Protocol::Udp,
                            5..8 => Protocol::Tcp,
                            _ => Protocol::Icmp,
                        };
                        let shape = Shape::Flood {
                            sources,
                            secs,
                            protocol,
                        };
                        (0, dst, (secs * 1000.0) as i64, warmup, shape)
                    }
                    AttackKind::Exfiltration => {
                        let server = rng
                            .random_bool(0.3)
                            .then(|| pick_free(rng, &site.app, &mut busy))
                            .flatten();
                        let src = server
                            .or_else(|| pick_free(rng, &site.workstations, &mut busy))
                            .unwrap_or(site.workstations[0]);
                        let secs = uniform(rng, shapes.exfil_secs.0, shapes.exfil_secs.1);
                        let rate = uniform(rng, shapes.exfil_rate.0, shapes.exfil_rate.1);
                        let port = [443, 443, 443, 22, 8443][rng.random_range(0..5)];
                        let shape = Shape::Exfil { secs, rate, port };
                        let dst = public_ip(rng, used);
                        (src, dst, (secs * 1000.0) as i64, warmup, shape)
                    }
                    AttackKind::Beaconing => {
                        let src = pick_free(rng, &site.workstations, &mut busy)
                            .unwrap_or(site.workstations[0]);
                        let secs = uniform(rng, shapes.beacon_secs.0, shapes.beacon_secs.1);
                        let period =
                            uniform(rng, shapes.beacon_period_s.0, shapes.beacon_period_s.1);
                        let jitter = uniform(rng, shapes.beacon_jitter.0, shapes.beacon_jitter.1);
                        let port = [443, 443, 443, 80, 8080, 8443][rng.random_range(0..6)];
                        let shape = Shape::Beacon {
                            secs,
                            period_ms: period * 1000.0,
                            jitter,
                            port,
                        };
                        let dst = public_ip(rng, used);
                        (src, dst, (secs * 1000.0) as i64, 30_000, shape)
                    }
                };
                // Start anywhere that leaves the whole episode (and a margin) in the run, and
                // (floods) a minute away from other floods of the same victim, so each flood
                // is its own incident.
                let latest = (duration - length_ms - 15_000).max(earliest);
                let mut offset = rng.random_range(earliest..=latest);
                if kind == AttackKind::Volumetric {
                    for _ in 0..100 {
                        let clash = floods.iter().any(|(victim, from, to)| {
                            *victim == dst
                                && offset < to + 60_000
                                && *from < offset + length_ms + 60_000
                        });
                        if !clash {
                            break;
                        }
                        offset = rng.random_range(earliest..=latest);
                    }
                    floods.push((dst, offset, offset + length_ms));
                }
                let label = format!("{}#{n}", kind.as_str());
                let mut plan = Plan {
                    kind,
                    label,
                    customer,
                    src,
                    dst,
                    start: start + offset,
                    seed,
                    shape,
                };
                if let Shape::Flood { sources, .. } = &plan.shape {
                    plan.src = sources.first().copied().unwrap_or(0);
                }
                self.plans.push(plan);
            }
        }
        self.plans.sort_by_key(|plan| plan.start);
        self.episodes = self
            .plans
            .iter()
            .enumerate()
            .map(|(index, plan)| {
                let flows = plan.flows(index);
                let first = flows.iter().map(|f| f.start).min().unwrap_or(plan.start);
                let last = flows.iter().map(|f| f.start).max().unwrap_or(plan.start);
                Episode {
                    label: plan.label.clone(),
                    kind: plan.kind,
                    customer: self.sites[plan.customer].name.clone(),
                    src_ip: ip_string(plan.src),
                    dst_ip: ip_string(plan.dst),
                    start: first,
                    end: last,
                }
            })
            .collect();
    }
}

impl Plan {
    /// The episode's flows, a pure function of the plan.
    pub(super) fn flows(&self, index: usize) -> Vec<Raw> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let rng = &mut rng;
        let base = Raw {
            start: self.start,
            end: self.start,
            customer: self.customer as u16,
            src: self.src,
            dst: self.dst,
            src_port: 0,
            dst_port: 0,
            protocol: Protocol::Tcp,
            bytes: 0,
            packets: 0,
            episode: Some(index as u32),
        };
        let ephemeral = |rng: &mut StdRng| rng.random_range(32_768..61_000);
        let mut out = Vec::new();
        match &self.shape {
            Shape::Scan {
                ports,
                rate,
                fixed_src_port,
                udp,
            } => {
                let mut at = self.start as f64;
                for port in ports {
                    let raw = Raw {
                        start: at as i64,
                        src_port: fixed_src_port.unwrap_or_else(|| ephemeral(rng)),
                        dst_port: *port,
                        protocol: if *udp { Protocol::Udp } else { Protocol::Tcp },
                        ..base
                    };
                    let packets = if rng.random_bool(0.7) { 1.0 } else { 2.0 };
                    let bpp = uniform(rng, 40.0, 60.0);
                    out.push(raw.sized(packets, bpp, uniform(rng, 0.0, 3.0)));
                    at += exponential(rng, 1000.0 / rate);
                }
            }
            Shape::Flood {
                sources,
                secs,
                protocol,
            } => {
                let length = secs * 1000.0;
                for src in sources {
                    let mut second = 0.0;
                    while second * 1000.0 < length {
                        let offset = (second * 1000.0 + uniform(rng, 0.0, 1000.0)).min(length);
                        let (src_port, dst_port, bpp) = match protocol {
                            // Reflection: from amplifier service ports to random ports.
                            Protocol::Udp => (
                                [53, 123, 1900, 11211][rng.random_range(0..4)],
                                rng.random_range(1024..65_535),
                                uniform(rng, 400.0, 1400.0),
                            ),
                            // SYN flood.
                            Protocol::Tcp => (
                                ephemeral(rng),
                                if rng.random_bool(0.5) { 80 } else { 443 },
                                60.0,
                            ),
                            Protocol::Icmp => (0, 0, uniform(rng, 64.0, 1000.0)),
                        };
                        let raw = Raw {
                            start: self.start + offset as i64,
                            src: *src,
                            src_port,
                            dst_port,
                            protocol: *protocol,
                            ..base
                        };
                        let packets = lognormal(rng, 1500.0, 0.6).clamp(300.0, 10_000.0);
                        out.push(raw.sized(packets, bpp, 1000.0));
                        second += 1.0;
                    }
                }
            }
            Shape::Exfil { secs, rate, port } => {
                let until = self.start as f64 + secs * 1000.0;
                let mut at = self.start as f64;
                while at < until {
                    let gap = uniform(rng, 500.0, 2000.0);
                    let bytes = rate * gap / 1000.0 * uniform(rng, 0.8, 1.2);
                    let raw = Raw {
                        start: at as i64,
                        src_port: ephemeral(rng),
                        dst_port: *port,
                        ..base
                    };
                    out.push(raw.sized_bytes(bytes, gap));
                    at += gap;
                }
            }
            Shape::Beacon {
                secs,
                period_ms,
                jitter,
                port,
            } => {
                let until = self.start as f64 + secs * 1000.0;
                let mut at = self.start as f64;
                while at <= until {
                    let raw = Raw {
                        start: at as i64,
                        src_port: ephemeral(rng),
                        dst_port: *port,
                        ..base
                    };
                    let packets = rng.random_range(3..=8) as f64;
                    let bytes = lognormal(rng, 500.0, 0.3).clamp(200.0, 1500.0);
                    out.push(raw.sized(packets, bytes / packets, uniform(rng, 50.0, 400.0)));
                    at += period_ms * (1.0 + uniform(rng, -jitter, *jitter));
                }
            }
        }
        out
    }
}

/// `count` distinct ports in a scanner's order: a sequential sweep, the well-known ports
/// first, or random.
pub(super) fn scan_ports(rng: &mut StdRng, count: usize) -> Vec<u16> {
    let count = count.clamp(1, 60_000);
    match rng.random_range(0..10) {
        0..5 => (1..=count as u16).collect(),
        5..8 => {
            let mut rest: Vec<u16> = (1..=count.max(1024) as u16)
                .filter(|p| !TOP_PORTS.contains(p))
                .collect();
            shuffle(rng, &mut rest);
            TOP_PORTS.iter().copied().chain(rest).take(count).collect()
        }
        _ => {
            let mut seen = HashSet::with_capacity(count);
            let mut out = Vec::with_capacity(count);
            while out.len() < count {
                let port = rng.random_range(1..=65_535u16);
                if seen.insert(port) {
                    out.push(port);
                }
            }
            out
        }
    }
}
