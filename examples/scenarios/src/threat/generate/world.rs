//! The simulated world: customer sites (hosts, services, schedules) and the external
//! address pools they talk to.

use std::collections::HashSet;
use std::f64::consts::TAU;
use std::net::Ipv4Addr;

use rand::Rng;
use rand::rngs::StdRng;

use super::random::{lognormal, mix, shuffle, uniform};
use super::{CustomerProfile, GeneratorConfig};
use crate::threat::model::Protocol;

/// First octets of the simulated public addresses (all outside private and reserved ranges).
pub(super) const PUBLIC_FIRST_OCTETS: [u32; 32] = [
    23, 31, 34, 45, 46, 52, 54, 62, 64, 69, 74, 78, 81, 85, 89, 91, 93, 104, 107, 134, 141, 151,
    157, 178, 185, 188, 193, 195, 203, 209, 212, 217,
];

/// Ports a monitoring host may check on a server.
pub(super) const SERVICE_PORTS: [(u16, Protocol); 14] = [
    (22, Protocol::Tcp),
    (80, Protocol::Tcp),
    (443, Protocol::Tcp),
    (161, Protocol::Udp),
    (3306, Protocol::Tcp),
    (5432, Protocol::Tcp),
    (6379, Protocol::Tcp),
    (8080, Protocol::Tcp),
    (8443, Protocol::Tcp),
    (9090, Protocol::Tcp),
    (9100, Protocol::Tcp),
    (9200, Protocol::Tcp),
    (11211, Protocol::Tcp),
    (2379, Protocol::Tcp),
];

/// A flash crowd: one web server receiving `factor` times its usual client rate.
#[derive(Debug, Clone, Copy)]
pub(super) struct FlashCrowd {
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) server: usize,
    pub(super) factor: f64,
}

/// One customer's network.
#[derive(Debug)]
pub(super) struct Site {
    pub(super) name: String,
    pub(super) scale: f64,
    pub(super) workstations: Vec<u32>,
    /// Mean seconds between a workstation's activities (heavy users are short).
    pub(super) activity_gap_s: Vec<f64>,
    /// Until when each workstation is in a call or remote session (one at a time).
    pub(super) busy_until: Vec<i64>,
    pub(super) web: Vec<u32>,
    pub(super) app: Vec<u32>,
    pub(super) db: Vec<u32>,
    pub(super) resolver: u32,
    pub(super) monitor: u32,
    pub(super) backup: u32,
    pub(super) bastion: u32,
    /// Every server the monitoring host checks, with the ports it checks.
    pub(super) monitored: Vec<(u32, Vec<(u16, Protocol)>)>,
    /// The tenant's cloud storage endpoint (sync, uploads, backups).
    pub(super) cloud: u32,
    pub(super) telemetry: u32,
    pub(super) heartbeat_ms: i64,
    pub(super) db_port: u16,
    /// Mean bytes per second the backup server uploads.
    pub(super) backup_rate: f64,
    pub(super) web_phase: f64,
    pub(super) flash: Vec<FlashCrowd>,
    /// Partner APIs the application servers poll: (app server, partner, period).
    pub(super) pollers: Vec<(u32, u32, i64)>,
    /// The customer's off-site replica, which the first database server replicates to.
    pub(super) offsite: u32,
    /// Mean bytes per second of the replication.
    pub(super) replication_rate: f64,
    /// The application server publishing to ever-new rare destinations, if there is one.
    pub(super) mirror: Option<u32>,
    /// Where it publishes now, and until when.
    pub(super) mirror_to: (u32, i64),
    /// Workstations whose chat client long-polls a rare server: (workstation, server).
    pub(super) long_poll: Vec<(usize, u32)>,
    /// Mean milliseconds between a long-poll client's requests (beyond the 1.5 s minimum).
    pub(super) long_poll_gap_ms: Vec<f64>,
}

/// External address pools, shared by all customers.
#[derive(Debug, Default)]
pub(super) struct Pools {
    pub(super) popular: Vec<u32>,
    pub(super) long_tail: Vec<u32>,
    pub(super) cloud: Vec<u32>,
    pub(super) telemetry: Vec<u32>,
    pub(super) conferencing: Vec<u32>,
    pub(super) ntp: Vec<u32>,
    pub(super) dns: Vec<u32>,
    pub(super) partners: Vec<u32>,
    pub(super) offsite: Vec<u32>,
    pub(super) clients: Vec<u32>,
    pub(super) noise: Vec<u32>,
    pub(super) botnet: Vec<u32>,
}

impl Pools {
    /// Fresh pools, every address distinct from every other (and from `used`).
    pub(super) fn new(rng: &mut StdRng, used: &mut HashSet<u32>) -> Self {
        let mut pool = |n: usize| -> Vec<u32> { (0..n).map(|_| public_ip(rng, used)).collect() };
        Self {
            popular: pool(300),
            long_tail: pool(20_000),
            cloud: pool(6),
            telemetry: pool(3),
            conferencing: pool(4),
            ntp: pool(4),
            // Everyone's well-known resolvers (outside the generated ranges).
            dns: vec![
                u32::from(Ipv4Addr::new(8, 8, 8, 8)),
                u32::from(Ipv4Addr::new(1, 1, 1, 1)),
            ],
            partners: pool(40),
            offsite: pool(250),
            clients: pool(40_000),
            noise: pool(150),
            botnet: pool(3_000),
        }
    }

    /// `count` distinct botnet members.
    pub(super) fn botnet_sample(&self, rng: &mut StdRng, count: usize) -> Vec<u32> {
        let count = count.min(self.botnet.len());
        let mut chosen = HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let ip = self.botnet[rng.random_range(0..self.botnet.len())];
            if chosen.insert(ip) {
                out.push(ip);
            }
        }
        out
    }
}

impl Site {
    /// Customer `index` (subnet `10.<index + 1>.0.0/16`), its hosts sized by the profile's
    /// scale, and its schedules (flash crowds, pollers, long-poll clients).
    pub(super) fn new(
        index: usize,
        profile: &CustomerProfile,
        config: &GeneratorConfig,
        pools: &Pools,
        rng: &mut StdRng,
    ) -> Self {
        let subnet = (index + 1) as u32;
        let host = |a: u32, b: u32| (10 << 24) | (subnet << 16) | (a << 8) | b;
        let scale = profile.scale.max(0.05);
        let count = |per_unit: f64| ((per_unit * scale).round() as u32).max(1);
        let workstations: Vec<u32> = (0..count(14.0).clamp(3, 2000))
            .map(|i| host(16 + i / 200, 20 + i % 200))
            .collect();
        let activity_gap_s = workstations
            .iter()
            .map(|_| lognormal(rng, 18.0, 0.6).clamp(4.0, 120.0))
            .collect();
        let web: Vec<u32> = (0..count(0.6).min(200)).map(|i| host(1, 10 + i)).collect();
        let app: Vec<u32> = (0..count(0.8).min(200)).map(|i| host(2, 10 + i)).collect();
        let db: Vec<u32> = (0..count(0.4).min(200)).map(|i| host(3, 10 + i)).collect();
        let (resolver, monitor, backup, bastion) =
            (host(0, 53), host(0, 10), host(0, 20), host(0, 22));
        let mut monitored = Vec::new();
        for server in web
            .iter()
            .chain(&app)
            .chain(&db)
            .chain(&[resolver, backup, bastion])
        {
            let n = rng.random_range(4..=12);
            let mut ports = SERVICE_PORTS.to_vec();
            shuffle(rng, &mut ports);
            ports.truncate(n);
            monitored.push((*server, ports));
        }
        let start = config.start_ms;
        let duration = i64::from(config.duration_s) * 1000;
        let crowds = (duration / 240_000).max(1);
        let flash = (0..crowds)
            .map(|_| {
                let at = start + rng.random_range(30_000..(duration - 60_000).max(30_001));
                FlashCrowd {
                    start: at,
                    end: at + rng.random_range(15_000..60_000),
                    server: rng.random_range(0..web.len()),
                    factor: uniform(rng, 2.0, 5.0),
                }
            })
            .collect();
        let pollers = app
            .iter()
            .take(3)
            .map(|a| {
                let partner = pools.partners[rng.random_range(0..pools.partners.len())];
                let period = if rng.random_bool(0.5) { 30_000 } else { 60_000 };
                (*a, partner, period)
            })
            .collect();
        // Every tenth workstation runs a chat client, each on its own rare server.
        let long_poll: Vec<(usize, u32)> = (0..workstations.len())
            .filter(|i| i % 10 == 3)
            .map(|i| {
                let server = mix(u64::from(workstations[i]), 0x10_9011) as usize;
                (i, pools.long_tail[server % pools.long_tail.len()])
            })
            .collect();
        let long_poll_gap_ms = long_poll
            .iter()
            .map(|_| uniform(rng, 5_000.0, 20_000.0))
            .collect();
        Self {
            name: profile.name.clone(),
            scale,
            busy_until: vec![0; workstations.len()],
            offsite: pools.offsite[index % pools.offsite.len()],
            replication_rate: 1.2e6 * (0.5 + scale / 10.0),
            mirror: app.get(1).copied(),
            mirror_to: (0, 0),
            long_poll,
            long_poll_gap_ms,
            workstations,
            activity_gap_s,
            web,
            app,
            db,
            resolver,
            monitor,
            backup,
            bastion,
            monitored,
            cloud: pools.cloud[index % pools.cloud.len()],
            telemetry: pools.telemetry[index % pools.telemetry.len()],
            heartbeat_ms: if index.is_multiple_of(2) {
                30_000
            } else {
                60_000
            },
            db_port: if index.is_multiple_of(2) { 5432 } else { 3306 },
            backup_rate: 1.5e6 * (0.5 + scale / 10.0),
            web_phase: uniform(rng, 0.0, TAU),
            flash,
            pollers,
        }
    }

    /// A web, application or database server, uniformly.
    pub(super) fn any_server(&self, rng: &mut StdRng) -> u32 {
        let servers = self.web.len() + self.app.len() + self.db.len();
        let k = rng.random_range(0..servers);
        if k < self.web.len() {
            self.web[k]
        } else if k < self.web.len() + self.app.len() {
            self.app[k - self.web.len()]
        } else {
            self.db[k - self.web.len() - self.app.len()]
        }
    }

    /// A server (60%) or a workstation.
    pub(super) fn any_host(&self, rng: &mut StdRng) -> u32 {
        if rng.random_bool(0.6) {
            self.any_server(rng)
        } else {
            self.workstations[rng.random_range(0..self.workstations.len())]
        }
    }
}

/// Whether `ip` is in the simulated internal space (10/8).
pub(super) fn is_internal(ip: u32) -> bool {
    ip >> 24 == 10
}

/// Dotted-quad text of `ip`.
pub(super) fn ip_string(ip: u32) -> String {
    Ipv4Addr::from(ip).to_string()
}

/// A fresh public address, distinct from every address handed out before.
pub(super) fn public_ip(rng: &mut StdRng, used: &mut HashSet<u32>) -> u32 {
    loop {
        let first = PUBLIC_FIRST_OCTETS[rng.random_range(0..PUBLIC_FIRST_OCTETS.len())];
        let ip = (first << 24) | (rng.random::<u32>() & 0x00ff_ffff);
        let last = ip & 0xff;
        if last != 0 && last != 255 && used.insert(ip) {
            return ip;
        }
    }
}

/// A host of `hosts` no other episode uses, if there is one.
pub(super) fn pick_free(rng: &mut StdRng, hosts: &[u32], busy: &mut HashSet<u32>) -> Option<u32> {
    let free: Vec<u32> = hosts
        .iter()
        .copied()
        .filter(|h| !busy.contains(h))
        .collect();
    let ip = *free.get(rng.random_range(0..free.len().max(1)))?;
    busy.insert(ip);
    Some(ip)
}
