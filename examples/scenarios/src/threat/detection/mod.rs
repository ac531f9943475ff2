//! The `detection` consumer's logic: per-customer sliding windows over event time, anomaly
//! detectors per attack kind, alerts with cooldowns.
//!
//! [`Detection::observe`] takes one enriched, sampled flow and returns the alerts it raises.
//! Every piece of state belongs to one customer, and each customer has its own clock (the
//! latest event time among its flows), so flows of different customers may arrive in any
//! interleaving (different Kafka partitions) without changing any customer's alerts. Within a
//! customer flows are expected in time order (one partition per customer); a late flow counts
//! as of the customer's clock.
//!
//! Each attack kind has its own detector, on the keys and windows that kind needs:
//!
//! | kind | key | window feature | judged by |
//! |---|---|---|---|
//! | port scan | (src, dst) | distinct ports among probe-like flows in 10 s, scaled by sampling | a floor, as Zeek's and Snort's scan detectors use (scanners are new keys with no past to compare with), and enough sampled ports to trust the estimate |
//! | volumetric | dst (internal) | packets per second scaled, without the heaviest two sources; distinct sources | [`RobustZ`](datamesh::consumer_kit::RobustZ) against the destination's last minute, a ratio to its median second, floors on rate and fan-in |
//! | exfiltration | src (internal) | bytes per 10 s to external addresses scaled (lower confidence bound), top destination | [`Cusum`](datamesh::consumer_kit::Cusum) on robustly standardized log bytes against the host's own last 8 minutes, several times its median, sustained, to one new and rare destination |
//! | beaconing | (src, dst external) | inter-arrival times of small flows | [`Periodicity`](super::detectors::Periodicity): whole multiples of one period, to a rare destination |
//!
//! Sampling is accounted for throughout: counts, bytes and packets are scaled by each flow's
//! [`Flow::sampling`], and estimates resting on a few sampled flows that each stand for many
//! are not trusted (a lower confidence bound for bytes, a minimum of sampled ports for scans).
//!
//! "Rare" is destination prevalence: how many internal hosts of the customer talked to an
//! external address in the last 10 minutes. Telemetry agents and cloud storage are as
//! periodic or as heavy as the attacks, but many hosts use them; C2 servers and drop sites
//! see one. Reputation is supporting evidence: a known-bad party lowers the bar somewhat (a
//! scanner's port count, a C2's number of check-ins), a listed-benign destination (a partner
//! API polled every 30 s, an NTP pool server) is not alerted on, and every alert cites what is
//! known. Nothing needs reputation to fire, and [`Flow::attack`] is never read.
//!
//! Memory is bounded: every table is an LRU of at most `max_keys` keys per customer (about a
//! kilobyte per key at most), each key holding a bounded window, and at most `max_customers`
//! customers are tracked.

mod beacon;
mod exfil;
mod scan;
mod volumetric;

use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Duration;

use hashlink::LruCache;
use hashlink::linked_hash_map::Entry;

use super::model::{Alert, AttackKind, Flow};

pub use beacon::BeaconConfig;
pub use exfil::ExfilConfig;
pub use scan::ScanConfig;
pub use volumetric::VolumetricConfig;

/// How destination prevalence is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PrevalenceConfig {
    /// How far back internal hosts count.
    pub window: Duration,
    /// A destination talked to by at most this many internal hosts is rare.
    pub rare_max_sources: usize,
}

impl Default for PrevalenceConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(600),
            rare_max_sources: 2,
        }
    }
}

/// Everything [`Detection`] is tuned by.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionConfig {
    /// The most keys each table of each customer holds (least recently seen evicted first).
    pub max_keys: usize,
    /// The most customers tracked (least recently seen evicted first: beyond this many
    /// customers, a customer's alerts would depend on how customers interleave).
    pub max_customers: usize,
    /// A reputation score from which an address counts as known bad.
    pub bad_reputation: i32,
    /// A listed address scoring at most this counts as known benign.
    pub benign_reputation: i32,
    /// Destination prevalence.
    pub prevalence: PrevalenceConfig,
    /// Port scans.
    pub scan: ScanConfig,
    /// Volumetric floods.
    pub volumetric: VolumetricConfig,
    /// Exfiltration.
    pub exfiltration: ExfilConfig,
    /// Beaconing.
    pub beaconing: BeaconConfig,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        Self {
            max_keys: 20_000,
            max_customers: 1_024,
            bad_reputation: 70,
            benign_reputation: 10,
            prevalence: PrevalenceConfig::default(),
            scan: ScanConfig::default(),
            volumetric: VolumetricConfig::default(),
            exfiltration: ExfilConfig::default(),
            beaconing: BeaconConfig::default(),
        }
    }
}

/// Counters of what [`Detection`] holds and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectionStats {
    /// Customers tracked now.
    pub customers: usize,
    /// Keys held now, all tables and customers together.
    pub keys: usize,
    /// Keys evicted to stay within `max_keys`, so far.
    pub evicted_keys: u64,
    /// Flows ignored because an address did not parse.
    pub skipped: u64,
    /// Alerts raised so far.
    pub alerts: u64,
}

/// The detection consumer: feed it flows, publish the alerts it returns.
pub struct Detection {
    config: DetectionConfig,
    customers: LruCache<String, CustomerState>,
    skipped: u64,
    alerts: u64,
}

impl fmt::Debug for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detection")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Detection {
    /// A detector tuned by `config`, with no state yet.
    pub fn new(config: DetectionConfig) -> Self {
        let customers = LruCache::new(config.max_customers.max(1));
        Self {
            config,
            customers,
            skipped: 0,
            alerts: 0,
        }
    }

    /// Takes one flow (sampled and enriched) and returns the alerts it raises, usually none.
    pub fn observe(&mut self, flow: &Flow) -> Vec<Alert> {
        let (Some(src), Some(dst)) = (parse_ip(&flow.src_ip), parse_ip(&flow.dst_ip)) else {
            self.skipped += 1;
            return Vec::new();
        };
        if !self.customers.contains_key(flow.customer.as_str()) {
            let state = CustomerState::new(&self.config, &flow.customer, flow.start);
            self.customers.insert(flow.customer.clone(), state);
        }
        // Present: inserted just above if it was not, and the capacity is at least 1.
        let Some(state) = self.customers.get_mut(flow.customer.as_str()) else {
            return Vec::new();
        };
        let alerts = state.observe(&self.config, flow, src, dst);
        self.alerts += alerts.len() as u64;
        alerts
    }

    /// What is held now, and what was dropped.
    pub fn stats(&self) -> DetectionStats {
        let (mut keys, mut evicted) = (0, 0);
        for (_, state) in self.customers.iter() {
            let (k, e) = state.keys();
            keys += k;
            evicted += e;
        }
        DetectionStats {
            customers: self.customers.len(),
            keys,
            evicted_keys: evicted,
            skipped: self.skipped,
            alerts: self.alerts,
        }
    }
}

/// One flow as the detectors see it: addresses parsed, time and weight settled.
#[derive(Debug)]
struct Observation<'a> {
    flow: &'a Flow,
    /// Event time: the flow's start, or the customer's clock if the flow is late.
    at: i64,
    /// The customer's first event time: before it nothing was observed, after it an absence
    /// of flows is a real zero.
    origin: i64,
    src: IpAddr,
    dst: IpAddr,
    src_internal: bool,
    dst_internal: bool,
    /// Raw flows this one stands for.
    weight: f64,
}

/// What a detector hands back when it decides: an alert without its id.
#[derive(Debug)]
struct Finding {
    kind: AttackKind,
    /// What the cooldown is per.
    subject: (IpAddr, IpAddr),
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    first_seen: i64,
    score: f64,
    detector: &'static str,
    evidence: String,
}

/// Read-only state the detectors consult.
#[derive(Clone, Copy)]
struct Context<'a> {
    config: &'a DetectionConfig,
    cooldowns: &'a Cooldowns,
    prevalence: &'a Prevalence,
}

impl Context<'_> {
    fn known_bad(&self, score: Option<i32>) -> bool {
        score.is_some_and(|s| s >= self.config.bad_reputation)
    }

    fn known_benign(&self, score: Option<i32>) -> bool {
        score.is_some_and(|s| s <= self.config.benign_reputation)
    }

    /// Whether an alert of `kind` about `subject` was raised too recently to raise another.
    fn cooling(&self, kind: AttackKind, subject: (IpAddr, IpAddr), at: i64) -> bool {
        self.cooldowns.active(kind, subject, at)
    }

    /// Internal hosts that talked to `dst` within the prevalence window.
    fn prevalence(&self, dst: IpAddr, at: i64) -> usize {
        self.prevalence
            .sources(dst, at, millis(self.config.prevalence.window))
    }

    fn rare(&self, dst: IpAddr, at: i64) -> bool {
        self.prevalence(dst, at) <= self.config.prevalence.rare_max_sources
    }

    /// When `src` first talked to `dst` (external), as far as is remembered.
    fn first_contact(&self, src: IpAddr, dst: IpAddr) -> Option<i64> {
        self.prevalence.first_contact(src, dst)
    }
}

/// Everything known about one customer.
struct CustomerState {
    name: String,
    origin: i64,
    clock: i64,
    alerts: u64,
    prevalence: Prevalence,
    cooldowns: Cooldowns,
    scan: scan::ScanState,
    volumetric: volumetric::VolumetricState,
    exfil: exfil::ExfilState,
    beacon: beacon::BeaconState,
}

impl CustomerState {
    fn new(config: &DetectionConfig, name: &str, origin: i64) -> Self {
        let max_keys = config.max_keys.max(1);
        Self {
            name: name.to_owned(),
            origin,
            clock: origin,
            alerts: 0,
            prevalence: Prevalence::new(max_keys),
            cooldowns: Cooldowns::new(max_keys),
            scan: scan::ScanState::new(&config.scan, max_keys),
            volumetric: volumetric::VolumetricState::new(&config.volumetric, max_keys),
            exfil: exfil::ExfilState::new(&config.exfiltration, max_keys),
            beacon: beacon::BeaconState::new(&config.beaconing, max_keys),
        }
    }

    fn observe(
        &mut self,
        config: &DetectionConfig,
        flow: &Flow,
        src: IpAddr,
        dst: IpAddr,
    ) -> Vec<Alert> {
        self.clock = self.clock.max(flow.start);
        let obs = Observation {
            flow,
            at: self.clock,
            origin: self.origin,
            src,
            dst,
            src_internal: is_internal(src),
            dst_internal: is_internal(dst),
            weight: flow.weight(),
        };
        if obs.src_internal && !obs.dst_internal {
            self.prevalence.observe(src, dst, obs.at);
        }
        let context = Context {
            config,
            cooldowns: &self.cooldowns,
            prevalence: &self.prevalence,
        };
        let findings = [
            self.scan.observe(&obs, &context),
            self.volumetric.observe(&obs, &context),
            self.exfil.observe(&obs, &context),
            self.beacon.observe(&obs, &context),
        ];
        let mut alerts = Vec::new();
        for finding in findings.into_iter().flatten() {
            let cooldown = match finding.kind {
                AttackKind::PortScan => config.scan.cooldown,
                AttackKind::Volumetric => config.volumetric.cooldown,
                AttackKind::Exfiltration => config.exfiltration.cooldown,
                AttackKind::Beaconing => config.beaconing.cooldown,
            };
            self.cooldowns.start(
                finding.kind,
                finding.subject,
                obs.at.saturating_add(millis(cooldown)),
            );
            self.alerts += 1;
            alerts.push(Alert {
                alert_id: format!("{}-{}-{}", self.name, finding.kind.as_str(), self.alerts),
                kind: finding.kind,
                customer: self.name.clone(),
                src_ip: finding.src.map(|ip| ip.to_string()),
                dst_ip: finding.dst.map(|ip| ip.to_string()),
                first_seen: finding.first_seen,
                raised_at: obs.at,
                score: finding.score,
                detector: finding.detector.to_owned(),
                evidence: finding.evidence,
            });
        }
        alerts
    }

    /// Keys held and keys evicted, all tables together.
    fn keys(&self) -> (usize, u64) {
        let parts = [
            self.scan.keys(),
            self.volumetric.keys(),
            self.exfil.keys(),
            self.beacon.keys(),
            (self.prevalence.hosts.len(), 0),
            (self.cooldowns.until.len(), 0),
        ];
        parts
            .iter()
            .fold((0, 0), |(k, e), (pk, pe)| (k + pk, e + pe))
    }
}

/// When the cooldown of each (kind, subject) ends.
struct Cooldowns {
    until: LruCache<(AttackKind, IpAddr, IpAddr), i64>,
}

impl Cooldowns {
    fn new(max_keys: usize) -> Self {
        Self {
            until: LruCache::new(max_keys),
        }
    }

    fn active(&self, kind: AttackKind, subject: (IpAddr, IpAddr), at: i64) -> bool {
        self.until
            .peek(&(kind, subject.0, subject.1))
            .is_some_and(|until| at < *until)
    }

    fn start(&mut self, kind: AttackKind, subject: (IpAddr, IpAddr), until: i64) {
        self.until.insert((kind, subject.0, subject.1), until);
    }
}

/// The internal hosts that recently talked to each external address, with when each first
/// and last did (the most recent few hosts: "rare" needs to know only whether there are more
/// than a couple).
struct Prevalence {
    hosts: LruCache<IpAddr, Recent>,
}

/// Internal hosts kept per external address.
const PREVALENCE_SLOTS: usize = 4;

/// A host that talked to an external address: (host, first time, last time).
type Contact = (IpAddr, i64, i64);

#[derive(Debug, Clone, Copy)]
struct Recent {
    hosts: [Contact; PREVALENCE_SLOTS],
    len: usize,
}

impl Prevalence {
    fn new(max_keys: usize) -> Self {
        Self {
            hosts: LruCache::new(max_keys),
        }
    }

    fn observe(&mut self, src: IpAddr, dst: IpAddr, at: i64) {
        let (recent, _) = touch(&mut self.hosts, dst, || Recent {
            hosts: [(src, at, at); PREVALENCE_SLOTS],
            len: 0,
        });
        let len = recent.len;
        if let Some(slot) = recent.hosts[..len]
            .iter_mut()
            .find(|(host, ..)| *host == src)
        {
            slot.2 = at;
        } else if len < PREVALENCE_SLOTS {
            recent.hosts[len] = (src, at, at);
            recent.len += 1;
        } else if let Some(oldest) = recent.hosts.iter_mut().min_by_key(|(.., last)| *last) {
            // Full: the host seen longest ago makes room.
            *oldest = (src, at, at);
        }
    }

    /// Internal hosts that talked to `dst` within `window_ms` before `at`.
    fn sources(&self, dst: IpAddr, at: i64, window_ms: i64) -> usize {
        self.hosts.peek(&dst).map_or(0, |recent| {
            recent.hosts[..recent.len]
                .iter()
                .filter(|(.., last)| at - *last <= window_ms)
                .count()
        })
    }

    /// When `src` first talked to `dst`, as far as is remembered.
    fn first_contact(&self, src: IpAddr, dst: IpAddr) -> Option<i64> {
        let recent = self.hosts.peek(&dst)?;
        recent.hosts[..recent.len]
            .iter()
            .find(|(host, ..)| *host == src)
            .map(|(_, first, _)| *first)
    }
}

/// The value of `key`, created by `make` if absent, marked most recently used; and whether
/// it was created.
fn touch<K: Hash + Eq, V>(
    cache: &mut LruCache<K, V>,
    key: K,
    make: impl FnOnce() -> V,
) -> (&mut V, bool) {
    match cache.entry(key) {
        Entry::Occupied(mut occupied) => {
            occupied.to_back();
            (occupied.into_mut(), false)
        }
        Entry::Vacant(vacant) => (vacant.insert(make()), true),
    }
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// Private, loopback and link-local addresses are the customer's own.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unique_local() || v6.is_loopback() || v6.is_unicast_link_local(),
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `bytes` for a human: `812 B`, `4.2 kB`, `31.0 MB`.
fn human_bytes(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.1} GB", bytes / 1e9)
    } else if bytes >= 1e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else if bytes >= 1e3 {
        format!("{:.1} kB", bytes / 1e3)
    } else {
        format!("{bytes:.0} B")
    }
}

/// `; <what> reputation <score> (<category>)` if listed, for evidence texts.
fn reputation_note(what: &str, score: Option<i32>, category: Option<&str>) -> String {
    match (score, category) {
        (Some(score), Some(category)) => format!("; {what} reputation {score} ({category})"),
        (Some(score), None) => format!("; {what} reputation {score}"),
        (None, _) => String::new(),
    }
}

/// The flow's reputation category if it is `score`'s side's: the category on a flow is the
/// worse-scored side's.
fn category_of(flow: &Flow, score: Option<i32>) -> Option<&str> {
    let score = score?;
    let worse = flow
        .src_reputation
        .into_iter()
        .chain(flow.dst_reputation)
        .max()?;
    (worse == score)
        .then_some(flow.reputation_category.as_deref())
        .flatten()
}

/// The median of `values` (reordered; the upper one of an even count, 0 if empty).
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

#[cfg(test)]
mod tests;
