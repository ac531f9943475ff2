//! A deterministic simulator of the flow records a fleet of customer networks exports, with
//! labelled attack episodes injected into realistic normal traffic.
//!
//! Each customer is an internal subnet `10.<c>.0.0/16` with workstations, web, application and
//! database servers, a DNS resolver, a monitoring host, a backup server and an SSH bastion.
//! Traffic volume scales with [`CustomerProfile::scale`], so customers differ by an order of
//! magnitude (which is what the adaptive sampler downstream is for).
//!
//! Normal traffic is a set of independent processes, each deliberately including the benign
//! look-alikes a naive detector would flag:
//!
//! - browsing (DNS lookup, then a burst of connections to popular or long-tail sites, a user
//!   often staying on one rare site for a while), SaaS, internal apps, SSH, cloud sync;
//! - single large uploads and whole-folder uploads to the tenant's cloud storage (sustained
//!   megabytes per second, like exfiltration, but to a destination many hosts use);
//! - video calls (minutes of steady upstream UDP to a conferencing service);
//! - a backup server uploading megabytes per second all the time to cloud storage, and a
//!   database server replicating as much to the customer's own off-site address (heavy but
//!   normal hosts, the second to a destination no one else uses and no feed lists), database
//!   dumps of hundreds of megabytes to the backup server (huge packet counts from one source),
//!   and at customers with two application servers or more, the second one publishing
//!   megabytes per second to a rare destination that changes every minute or two (a heavy
//!   host whose destinations are always new: only its own baseline clears it);
//! - remote-desktop and VPN sessions from workstations to rare external addresses (minutes of
//!   sustained upstream, a fraction of an exfiltration's rate), and chat clients long-polling
//!   a rare server at random intervals (small flows, spaced, irregular);
//! - external clients of the web servers with a slow daily-like swing and flash crowds
//!   (several times the usual rate, from many sources), the first web server taking media
//!   uploads (thousands of packets per second from many sources on a normal day);
//! - a monitoring host checking a dozen service ports of every server each minute;
//! - periodic agents: telemetry heartbeats and NTP (popular destinations), and application
//!   servers polling partner APIs (one host, one destination, strictly periodic, listed as
//!   benign by threat intel);
//! - internet background noise: known-bad addresses probing a port or two.
//!
//! Attack episodes (see [`AttackKind`]) are planned up front, each with its own random
//! stream, so [`Generator::episodes`] is known before iteration and the flows are the same
//! whichever way they are consumed. Time is simulated: `config.start_ms` plus offsets, never
//! the wall clock. The iterator yields flows ordered by `start` (ties in a fixed order), each
//! with `sampling = 1`; sampling is the next stage's job ([`super::sampling`]).
//!
//! It is a discrete-event simulation with bounded memory: every process (a workstation, the
//! web servers' clients, an episode, ...) wakes at its own times and queues the flows it
//! starts then or later; a queued flow is released once no process can start an earlier
//! one. `world` holds the sites and address pools, `traffic` the normal processes,
//! `episodes` the attacks, `random` the distributions.

mod episodes;
mod random;
mod traffic;
mod world;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::model::{AttackKind, Episode, Flow, Protocol};
use episodes::{Plan, Shape};
pub(crate) use random::mix;
use world::{Pools, Site, ip_string, is_internal};

/// One customer (tenant) of the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerProfile {
    /// The customer's name, as in [`Flow::customer`].
    pub name: String,
    /// Relative size: host counts and traffic rates scale with it (1.0 is about 18 raw flows
    /// per second).
    pub scale: f64,
}

impl CustomerProfile {
    /// A customer named `name` of relative size `scale`.
    pub fn new(name: &str, scale: f64) -> Self {
        Self {
            name: name.to_owned(),
            scale,
        }
    }
}

/// The ranges `(low, high)` the parameters of injected episodes are drawn from (uniformly).
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeShapes {
    /// Ports a scanner sweeps.
    pub scan_ports: (u32, u32),
    /// Ports per second a scanner probes.
    pub scan_rate: (f64, f64),
    /// Sources of a flood.
    pub flood_sources: (u32, u32),
    /// Seconds a flood lasts.
    pub flood_secs: (f64, f64),
    /// Seconds an exfiltration lasts.
    pub exfil_secs: (f64, f64),
    /// Bytes per second an exfiltration sends.
    pub exfil_rate: (f64, f64),
    /// Seconds a beaconing implant is active.
    pub beacon_secs: (f64, f64),
    /// Seconds between beacons.
    pub beacon_period_s: (f64, f64),
    /// Jitter of each beacon interval, as a fraction of the period (the implant sleeps
    /// `period * (1 ± jitter)`).
    pub beacon_jitter: (f64, f64),
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Simulated time of the first flow, epoch milliseconds.
    pub start_ms: i64,
    /// Simulated seconds of traffic.
    pub duration_s: u32,
    /// The customers, each its own subnet (at most 250).
    pub customers: Vec<CustomerProfile>,
    /// Episodes injected of each [`AttackKind`], spread over the customers.
    pub episodes_per_kind: usize,
    /// No episode starts before this many seconds: detectors that judge a key against its
    /// own past need some past (beaconing, which needs none, may start earlier).
    pub warmup_s: u32,
    /// The shapes of the episodes.
    pub shapes: EpisodeShapes,
}

/// 2024-05-01T00:00:00Z.
const DEFAULT_START_MS: i64 = 1_714_521_600_000;

impl Default for GeneratorConfig {
    /// The demo size: five customers from scale 10 down to 1, 12 simulated minutes, about
    /// 300k raw flows, 10 episodes of each kind.
    fn default() -> Self {
        Self {
            start_ms: DEFAULT_START_MS,
            duration_s: 720,
            customers: vec![
                CustomerProfile::new("acme", 10.0),
                CustomerProfile::new("globex", 5.0),
                CustomerProfile::new("initech", 3.0),
                CustomerProfile::new("umbrella", 2.0),
                CustomerProfile::new("hooli", 1.0),
            ],
            episodes_per_kind: 10,
            warmup_s: 180,
            shapes: EpisodeShapes {
                scan_ports: (150, 1000),
                scan_rate: (10.0, 150.0),
                flood_sources: (40, 250),
                flood_secs: (3.0, 10.0),
                exfil_secs: (60.0, 180.0),
                exfil_rate: (1.5e6, 6.0e6),
                beacon_secs: (240.0, 420.0),
                beacon_period_s: (3.0, 10.0),
                beacon_jitter: (0.005, 0.04),
            },
        }
    }
}

impl GeneratorConfig {
    /// The test size: three customers (scale 4, 1.7 and 0.4), 6 simulated minutes, about 50k
    /// raw flows, 5 episodes of each kind.
    pub fn small() -> Self {
        let demo = Self::default();
        Self {
            duration_s: 360,
            customers: vec![
                CustomerProfile::new("acme", 4.0),
                CustomerProfile::new("globex", 1.7),
                CustomerProfile::new("hooli", 0.4),
            ],
            episodes_per_kind: 5,
            warmup_s: 180,
            shapes: EpisodeShapes {
                exfil_secs: (50.0, 100.0),
                beacon_secs: (150.0, 230.0),
                beacon_period_s: (3.0, 6.0),
                ..demo.shapes
            },
            ..demo
        }
    }
}

/// Aggregate processes (external clients, application servers, ...) run on this tick.
const TICK_MS: i64 = 250;

/// A flow before it is materialized as a [`Flow`] (addresses as integers, no strings), so
/// the queue of pending flows stays small.
#[derive(Debug, Clone, Copy)]
struct Raw {
    start: i64,
    end: i64,
    customer: u16,
    src: u32,
    dst: u32,
    src_port: u16,
    dst_port: u16,
    protocol: Protocol,
    bytes: i64,
    packets: i64,
    /// Index of the episode the flow belongs to.
    episode: Option<u32>,
}

impl Raw {
    /// Sets the size: `packets` packets of `bytes_per_packet` bytes over `duration_ms`.
    fn sized(mut self, packets: f64, bytes_per_packet: f64, duration_ms: f64) -> Self {
        let packets = packets.round().max(1.0);
        self.packets = packets as i64;
        self.bytes = (packets * bytes_per_packet.max(28.0)).round() as i64;
        self.end = self.start + duration_ms.max(0.0).round() as i64;
        self
    }

    /// Sets the size from a byte count, in full-size packets.
    fn sized_bytes(self, bytes: f64, duration_ms: f64) -> Self {
        let packets = (bytes / 1400.0).ceil().max(1.0);
        let mut raw = self.sized(packets, 1400.0, duration_ms);
        raw.bytes = bytes.round().max(1.0) as i64;
        raw
    }
}

/// A pending flow in the time-ordered queue: by start, then by the order it was created in.
#[derive(Debug)]
struct Pending {
    seq: u64,
    raw: Raw,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.raw.start, self.seq) == (other.raw.start, other.seq)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.raw.start, self.seq).cmp(&(other.raw.start, other.seq))
    }
}

/// What a simulated process does when it wakes.
#[derive(Debug, Clone, Copy)]
enum Proc {
    ExternalClients(usize),
    AppServers(usize),
    Resolver(usize),
    Monitor(usize),
    Backup(usize),
    Noise(usize),
    Calls(usize),
    Replication(usize),
    Mirror(usize),
    RemoteSessions(usize),
    LongPoll(usize, usize),
    Workstation(usize, usize),
    Heartbeat(usize, usize),
    Ntp(usize, usize),
    Poller(usize, usize),
    Episode(usize),
}

/// External addresses the threat-intel domain may know about, by what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExternalRole {
    /// A popular web or CDN address.
    Popular,
    /// A rarely visited site.
    LongTail,
    /// A cloud storage endpoint.
    Cloud,
    /// A telemetry (SaaS heartbeat) endpoint.
    Telemetry,
    /// A conferencing service.
    Conferencing,
    /// A public NTP server.
    Ntp,
    /// A public DNS resolver.
    Dns,
    /// A partner API polled by application servers.
    Partner,
    /// A background-noise prober.
    Noise,
    /// An external port scanner of an episode.
    Scanner,
    /// A source of a flood episode.
    FloodSource,
    /// The receiver of an exfiltration episode.
    ExfilDrop,
    /// The command-and-control server of a beaconing episode.
    C2,
}

/// The simulator: an iterator of [`Flow`]s in time order, plus the [`Episode`]s injected.
pub struct Generator {
    config: GeneratorConfig,
    seed: u64,
    rng: StdRng,
    end_ms: i64,
    sites: Vec<Site>,
    pools: Pools,
    plans: Vec<Plan>,
    episodes: Vec<Episode>,
    procs: Vec<Proc>,
    wake: BinaryHeap<Reverse<(i64, usize)>>,
    pending: BinaryHeap<Reverse<Pending>>,
    seq: u64,
}

impl fmt::Debug for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("seed", &self.seed)
            .field("customers", &self.sites.len())
            .field("episodes", &self.episodes.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Generator {
    /// A simulation of `config`, every random choice drawn from `seed`.
    pub fn new(config: GeneratorConfig, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(mix(seed, 0x5eed));
        let mut used = HashSet::new();
        let pools = Pools::new(&mut rng, &mut used);
        let sites: Vec<Site> = config
            .customers
            .iter()
            .take(250)
            .enumerate()
            .map(|(i, profile)| Site::new(i, profile, &config, &pools, &mut rng))
            .collect();
        let end_ms = config.start_ms + i64::from(config.duration_s) * 1000;
        let mut generator = Self {
            seed,
            rng,
            end_ms,
            sites,
            pools,
            plans: Vec::new(),
            episodes: Vec::new(),
            procs: Vec::new(),
            wake: BinaryHeap::new(),
            pending: BinaryHeap::new(),
            seq: 0,
            config,
        };
        generator.plan_episodes(&mut used);
        generator.schedule();
        generator
    }

    /// The configuration simulated.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The seed every random choice is drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The injected episodes (the ground truth), ordered by start.
    pub fn episodes(&self) -> &[Episode] {
        &self.episodes
    }

    /// External addresses with what they are, for the threat-intel domain's table: every
    /// benign pool and every external attacker (flood sources once per flood).
    pub(crate) fn external_addresses(&self) -> Vec<(u32, ExternalRole)> {
        let p = &self.pools;
        let pools: [(&[u32], ExternalRole); 9] = [
            (&p.popular, ExternalRole::Popular),
            (&p.long_tail, ExternalRole::LongTail),
            (&p.cloud, ExternalRole::Cloud),
            (&p.telemetry, ExternalRole::Telemetry),
            (&p.conferencing, ExternalRole::Conferencing),
            (&p.ntp, ExternalRole::Ntp),
            (&p.dns, ExternalRole::Dns),
            (&p.partners, ExternalRole::Partner),
            (&p.noise, ExternalRole::Noise),
        ];
        let mut out: Vec<(u32, ExternalRole)> = pools
            .iter()
            .flat_map(|(ips, role)| ips.iter().map(move |ip| (*ip, *role)))
            .collect();
        for plan in &self.plans {
            match (&plan.kind, &plan.shape) {
                (AttackKind::PortScan, _) if !is_internal(plan.src) => {
                    out.push((plan.src, ExternalRole::Scanner));
                }
                (AttackKind::Volumetric, Shape::Flood { sources, .. }) => {
                    out.extend(sources.iter().map(|ip| (*ip, ExternalRole::FloodSource)));
                }
                (AttackKind::Exfiltration, _) => out.push((plan.dst, ExternalRole::ExfilDrop)),
                (AttackKind::Beaconing, _) => out.push((plan.dst, ExternalRole::C2)),
                _ => {}
            }
        }
        out
    }

    /// Schedules every process's first wake-up.
    fn schedule(&mut self) {
        let t0 = self.config.start_ms;
        let mut first: Vec<(Proc, i64)> = Vec::new();
        for (c, site) in self.sites.iter().enumerate() {
            first.push((Proc::ExternalClients(c), t0));
            first.push((Proc::AppServers(c), t0));
            first.push((Proc::Resolver(c), t0));
            first.push((Proc::Noise(c), t0));
            first.push((Proc::Calls(c), t0));
            first.push((Proc::RemoteSessions(c), t0));
            first.push((Proc::Replication(c), t0 + self.rng.random_range(0..2_000)));
            if site.mirror.is_some() {
                first.push((Proc::Mirror(c), t0 + self.rng.random_range(0..2_000)));
            }
            for p in 0..site.long_poll.len() {
                first.push((Proc::LongPoll(c, p), t0 + self.rng.random_range(0..10_000)));
            }
            first.push((Proc::Monitor(c), t0 + self.rng.random_range(0..60_000)));
            first.push((Proc::Backup(c), t0 + self.rng.random_range(0..2_000)));
            for (i, gap) in site.activity_gap_s.iter().enumerate() {
                let gap_ms = (gap * 1000.0) as i64;
                first.push((
                    Proc::Workstation(c, i),
                    t0 + self.rng.random_range(0..gap_ms),
                ));
                let phase = self.rng.random_range(0..site.heartbeat_ms);
                first.push((Proc::Heartbeat(c, i), t0 + phase));
                if i % 3 == 0 {
                    first.push((Proc::Ntp(c, i), t0 + self.rng.random_range(0..64_000)));
                }
            }
            for (p, (_, _, period)) in site.pollers.iter().enumerate() {
                first.push((Proc::Poller(c, p), t0 + self.rng.random_range(0..*period)));
            }
        }
        for (e, plan) in self.plans.iter().enumerate() {
            first.push((Proc::Episode(e), plan.start));
        }
        for (id, (proc, at)) in first.into_iter().enumerate() {
            self.procs.push(proc);
            self.wake.push(Reverse((at, id)));
        }
    }

    fn push(&mut self, raw: Raw) {
        self.seq += 1;
        self.pending.push(Reverse(Pending { seq: self.seq, raw }));
    }

    /// A connection of customer `c` from `src` to `dst` at `start`, from an ephemeral port;
    /// size it with [`Raw::sized`].
    fn conn(
        &mut self,
        c: usize,
        src: u32,
        dst: u32,
        protocol: Protocol,
        dst_port: u16,
        start: i64,
    ) -> Raw {
        let src_port = if protocol == Protocol::Icmp {
            0
        } else {
            self.rng.random_range(32_768..61_000)
        };
        Raw {
            start,
            end: start,
            customer: c as u16,
            src,
            dst,
            src_port,
            dst_port: if protocol == Protocol::Icmp {
                0
            } else {
                dst_port
            },
            protocol,
            bytes: 0,
            packets: 0,
            episode: None,
        }
    }

    /// Runs process `id` at `t`; returns when it next wakes (never, for an episode: it
    /// queues all its flows at once).
    fn step(&mut self, id: usize, t: i64) -> Option<i64> {
        let wait = match self.procs[id] {
            Proc::ExternalClients(c) => self.external_clients(c, t),
            Proc::AppServers(c) => self.app_servers(c, t),
            Proc::Resolver(c) => self.resolver(c, t),
            Proc::Monitor(c) => self.monitor(c, t),
            Proc::Backup(c) => self.backup(c, t),
            Proc::Noise(c) => self.noise(c, t),
            Proc::Calls(c) => self.calls(c, t),
            Proc::Replication(c) => self.replication(c, t),
            Proc::Mirror(c) => self.mirror(c, t),
            Proc::RemoteSessions(c) => self.remote_sessions(c, t),
            Proc::LongPoll(c, p) => self.long_poll(c, p, t),
            Proc::Workstation(c, i) => self.workstation(c, i, t),
            Proc::Heartbeat(c, i) => self.heartbeat(c, i, t),
            Proc::Ntp(c, i) => self.ntp(c, i, t),
            Proc::Poller(c, p) => self.poller(c, p, t),
            Proc::Episode(e) => {
                for raw in self.plans[e].flows(e) {
                    self.push(raw);
                }
                return None;
            }
        };
        Some(t + wait.max(1))
    }

    fn materialize(&self, raw: Raw) -> Flow {
        Flow {
            customer: self.sites[usize::from(raw.customer)].name.clone(),
            src_ip: ip_string(raw.src),
            dst_ip: ip_string(raw.dst),
            src_port: i32::from(raw.src_port),
            dst_port: i32::from(raw.dst_port),
            protocol: raw.protocol,
            bytes: raw.bytes,
            packets: raw.packets,
            start: raw.start,
            end: raw.end,
            sampling: 1,
            src_reputation: None,
            dst_reputation: None,
            reputation_category: None,
            attack: raw.episode.map(|e| self.plans[e as usize].label.clone()),
        }
    }
}

impl Iterator for Generator {
    type Item = Flow;

    fn next(&mut self) -> Option<Flow> {
        loop {
            // A pending flow can go once no process can still create an earlier one: every
            // process creates flows at or after its wake-up time.
            let ready = match (self.pending.peek(), self.wake.peek()) {
                (Some(Reverse(p)), Some(Reverse((at, _)))) => p.raw.start <= *at,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if ready {
                if let Some(Reverse(p)) = self.pending.pop()
                    && p.raw.start < self.end_ms
                {
                    return Some(self.materialize(p.raw));
                }
                continue;
            }
            let Reverse((at, id)) = self.wake.pop()?;
            if at >= self.end_ms {
                continue;
            }
            if let Some(next) = self.step(id, at)
                && next < self.end_ms
            {
                self.wake.push(Reverse((next, id)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_come_in_time_order_with_labels_of_known_episodes() {
        let generator = Generator::new(GeneratorConfig::small(), 7);
        let labels: HashSet<String> = generator
            .episodes()
            .iter()
            .map(|e| e.label.clone())
            .collect();
        let mut last = i64::MIN;
        let mut count = 0;
        let mut attack = 0;
        for flow in generator {
            assert!(flow.start >= last, "out of order at {}", flow.start);
            last = flow.start;
            count += 1;
            if let Some(label) = &flow.attack {
                assert!(labels.contains(label), "unknown label {label}");
                attack += 1;
            }
        }
        assert!((40_000..=60_000).contains(&count), "{count} flows");
        assert!(attack > 1_000, "{attack} attack flows");
    }

    #[test]
    fn the_same_seed_gives_the_same_flows() {
        let a: Vec<Flow> = Generator::new(GeneratorConfig::small(), 3)
            .take(5_000)
            .collect();
        let b: Vec<Flow> = Generator::new(GeneratorConfig::small(), 3)
            .take(5_000)
            .collect();
        assert_eq!(a, b);
        let c: Vec<Flow> = Generator::new(GeneratorConfig::small(), 4)
            .take(5_000)
            .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn episodes_cover_every_kind_and_fit_the_run() {
        let config = GeneratorConfig::small();
        let end = config.start_ms + i64::from(config.duration_s) * 1000;
        let generator = Generator::new(config.clone(), 11);
        for kind in AttackKind::ALL {
            let n = generator
                .episodes()
                .iter()
                .filter(|e| e.kind == kind)
                .count();
            assert_eq!(n, config.episodes_per_kind, "{kind}");
        }
        for e in generator.episodes() {
            assert!(
                config.start_ms <= e.start && e.start <= e.end && e.end < end,
                "{e:?}"
            );
        }
    }
}
