//! Normal traffic: the processes of each site, woken by the generator's schedule.
//!
//! Each process queues the flows it starts at or after its wake-up time `t` (the generator's
//! ordering relies on it) and returns the milliseconds until it wants to wake again. Sizes
//! are in the initiator's direction (see [`Flow`](crate::threat::model::Flow)).

use std::f64::consts::TAU;

use rand::Rng;

use super::random::{exponential, lognormal, mix, poisson, uniform, zipf};
use super::{Generator, TICK_MS};
use crate::threat::model::Protocol;

/// Ports internet background noise probes.
pub(super) const NOISE_PORTS: [u16; 9] = [22, 23, 445, 3389, 1433, 5900, 8080, 6379, 9200];

impl Generator {
    /// External clients of the web servers: a Poisson stream per tick, with a slow swing,
    /// flash crowds on one server, and the first server taking media uploads.
    pub(super) fn external_clients(&mut self, c: usize, t: i64) -> i64 {
        let site = &self.sites[c];
        let secs = (t - self.config.start_ms) as f64 / 1000.0;
        let swing = 1.0 + 0.3 * (TAU * secs / 420.0 + site.web_phase).sin();
        let rate = 9.0 * site.scale * swing;
        let servers = site.web.len();
        let per_server = rate / servers as f64;
        let mut targets: Vec<(usize, f64)> = vec![];
        // Busier servers first: server k gets a share falling with k.
        let n = poisson(&mut self.rng, rate * TICK_MS as f64 / 1000.0);
        for _ in 0..n {
            targets.push((zipf(&mut self.rng, servers, 1.6), 1.0));
        }
        for crowd in &site.flash {
            if crowd.start <= t && t < crowd.end {
                let extra = per_server * (crowd.factor - 1.0) * TICK_MS as f64 / 1000.0;
                let n = poisson(&mut self.rng, extra);
                targets.extend((0..n).map(|_| (crowd.server, 1.0)));
            }
        }
        for (server, _) in targets {
            let dst = self.sites[c].web[server];
            let src = self.pools.clients[zipf(&mut self.rng, self.pools.clients.len(), 3.0)];
            let port = if self.rng.random_bool(0.88) { 443 } else { 80 };
            let start = t + self.rng.random_range(0..TICK_MS);
            // The first web server takes media uploads: eight times the packets per flow.
            let media = if server == 0 { 8.0 } else { 1.0 };
            let packets = (media * lognormal(&mut self.rng, 12.0, 0.9)).clamp(2.0, 30_000.0);
            let bpp = uniform(&mut self.rng, 60.0, 700.0);
            let dur = lognormal(&mut self.rng, 600.0, 1.0);
            let raw = self
                .conn(c, src, dst, Protocol::Tcp, port, start)
                .sized(packets, bpp, dur);
            self.push(raw);
        }
        TICK_MS
    }

    /// Application servers querying their databases, and now and then an external API.
    pub(super) fn app_servers(&mut self, c: usize, t: i64) -> i64 {
        let tick = TICK_MS as f64 / 1000.0;
        for a in 0..self.sites[c].app.len() {
            let (src, db_port) = (self.sites[c].app[a], self.sites[c].db_port);
            let n = poisson(&mut self.rng, 3.0 * tick);
            for k in 0..n {
                let db = &self.sites[c].db;
                let dst = db[(a + k as usize) % db.len()];
                let start = t + self.rng.random_range(0..TICK_MS);
                let packets = lognormal(&mut self.rng, 8.0, 0.7).clamp(2.0, 2000.0);
                let bpp = uniform(&mut self.rng, 90.0, 900.0);
                let dur = lognormal(&mut self.rng, 30.0, 0.8);
                let raw = self
                    .conn(c, src, dst, Protocol::Tcp, db_port, start)
                    .sized(packets, bpp, dur);
                self.push(raw);
            }
            let n = poisson(&mut self.rng, 0.3 * tick);
            for _ in 0..n {
                let dst = self.pools.popular[zipf(&mut self.rng, self.pools.popular.len(), 2.0)];
                let start = t + self.rng.random_range(0..TICK_MS);
                let packets = lognormal(&mut self.rng, 10.0, 0.6).clamp(3.0, 500.0);
                let bpp = uniform(&mut self.rng, 100.0, 600.0);
                let raw = self
                    .conn(c, src, dst, Protocol::Tcp, 443, start)
                    .sized(packets, bpp, 300.0);
                self.push(raw);
            }
        }
        TICK_MS
    }

    /// The DNS resolver forwarding to public resolvers.
    pub(super) fn resolver(&mut self, c: usize, t: i64) -> i64 {
        let rate = 0.5 * self.sites[c].scale;
        let n = poisson(&mut self.rng, rate * 2.0 * TICK_MS as f64 / 1000.0);
        for _ in 0..n {
            let src = self.sites[c].resolver;
            let dst = self.pools.dns[self.rng.random_range(0..self.pools.dns.len())];
            let start = t + self.rng.random_range(0..2 * TICK_MS);
            let packets = self.rng.random_range(1..=2) as f64;
            let bpp = uniform(&mut self.rng, 60.0, 120.0);
            let raw = self
                .conn(c, src, dst, Protocol::Udp, 53, start)
                .sized(packets, bpp, 20.0);
            self.push(raw);
        }
        2 * TICK_MS
    }

    /// Internet background noise: known-bad addresses probing a port or three of a host.
    pub(super) fn noise(&mut self, c: usize, t: i64) -> i64 {
        let n = poisson(&mut self.rng, 0.3 + 0.05 * self.sites[c].scale);
        for _ in 0..n {
            let src = self.pools.noise[zipf(&mut self.rng, self.pools.noise.len(), 1.5)];
            let dst = if self.rng.random_bool(0.6) {
                let web = &self.sites[c].web;
                web[self.rng.random_range(0..web.len())]
            } else {
                self.sites[c].any_host(&mut self.rng)
            };
            let mut start = t + self.rng.random_range(0..1000);
            for _ in 0..self.rng.random_range(1..=3) {
                let port = NOISE_PORTS[self.rng.random_range(0..NOISE_PORTS.len())];
                let packets = self.rng.random_range(1..=2) as f64;
                let bpp = uniform(&mut self.rng, 40.0, 60.0);
                let raw = self
                    .conn(c, src, dst, Protocol::Tcp, port, start)
                    .sized(packets, bpp, 1.0);
                self.push(raw);
                start += self.rng.random_range(1..400);
            }
        }
        1000
    }

    /// Video calls: each is pushed whole when it starts (a flow every 5 s of steady UDP).
    pub(super) fn calls(&mut self, c: usize, t: i64) -> i64 {
        let hosts = self.sites[c].workstations.len() as f64;
        let n = poisson(&mut self.rng, hosts / 2400.0 * 10.0);
        for _ in 0..n {
            let i = self.rng.random_range(0..self.sites[c].workstations.len());
            if self.sites[c].busy_until[i] > t {
                continue;
            }
            let src = self.sites[c].workstations[i];
            let dst =
                self.pools.conferencing[self.rng.random_range(0..self.pools.conferencing.len())];
            let length = self.rng.random_range(120_000..600_000);
            let rate = uniform(&mut self.rng, 1.0e5, 3.5e5);
            let mut at = t + self.rng.random_range(0..10_000);
            let until = at + length;
            self.sites[c].busy_until[i] = until;
            while at < until {
                let bytes = rate * 5.0 * uniform(&mut self.rng, 0.85, 1.15);
                let raw = self.conn(c, src, dst, Protocol::Udp, 3478, at);
                let raw = raw.sized(bytes / 1100.0, 1100.0, 5000.0);
                self.push(raw);
                at += 5000;
            }
        }
        10_000
    }

    /// Remote-desktop and VPN sessions to rare external addresses: each is pushed whole when
    /// it starts (a flow every 5 s of steady upstream).
    pub(super) fn remote_sessions(&mut self, c: usize, t: i64) -> i64 {
        let hosts = self.sites[c].workstations.len() as f64;
        let n = poisson(&mut self.rng, hosts / 3000.0 * 10.0);
        for _ in 0..n {
            let i = self.rng.random_range(0..self.sites[c].workstations.len());
            if self.sites[c].busy_until[i] > t {
                continue;
            }
            let src = self.sites[c].workstations[i];
            let dst = self.pools.long_tail[self.rng.random_range(0..self.pools.long_tail.len())];
            let port = [443, 3389, 22, 1194][self.rng.random_range(0..4)];
            let length = self.rng.random_range(120_000..480_000);
            let rate = uniform(&mut self.rng, 6.0e4, 2.5e5);
            let mut at = t + self.rng.random_range(0..10_000);
            let until = at + length;
            self.sites[c].busy_until[i] = until;
            while at < until {
                let bytes = rate * 5.0 * lognormal(&mut self.rng, 1.0, 0.3);
                let raw = self
                    .conn(c, src, dst, Protocol::Tcp, port, at)
                    .sized_bytes(bytes, 5000.0);
                self.push(raw);
                at += 5000;
            }
        }
        10_000
    }

    /// The first database server replicating to the customer's off-site replica, all the
    /// time, with the odd pause. Returns the milliseconds to the next chunk.
    pub(super) fn replication(&mut self, c: usize, t: i64) -> i64 {
        let gap = self.rng.random_range(1000..3000);
        let (src, dst, rate) = {
            let site = &self.sites[c];
            (site.db[0], site.offsite, site.replication_rate)
        };
        let bytes = rate * lognormal(&mut self.rng, 1.0, 0.5) * gap as f64 / 1000.0;
        let raw = self
            .conn(c, src, dst, Protocol::Tcp, 5432, t)
            .sized_bytes(bytes, gap as f64);
        self.push(raw);
        if self.rng.random_bool(0.005) {
            return gap + self.rng.random_range(20_000..60_000);
        }
        gap
    }

    /// The second application server publishing (artifacts, a feed) at megabytes per second
    /// to a rare destination that changes every minute or two. Returns the milliseconds to
    /// the next chunk.
    pub(super) fn mirror(&mut self, c: usize, t: i64) -> i64 {
        let Some(src) = self.sites[c].mirror else {
            return 60_000;
        };
        if self.sites[c].mirror_to.1 <= t {
            let tail = &self.pools.long_tail;
            let dst = tail[self.rng.random_range(0..tail.len())];
            let until = t + self.rng.random_range(60_000..180_000);
            self.sites[c].mirror_to = (dst, until);
        }
        let dst = self.sites[c].mirror_to.0;
        let gap = self.rng.random_range(1000..3000);
        let bytes = 1.5e6 * lognormal(&mut self.rng, 1.0, 0.5) * gap as f64 / 1000.0;
        let raw = self.conn(c, src, dst, Protocol::Tcp, 443, t);
        self.push(raw.sized_bytes(bytes, gap as f64));
        gap
    }

    /// The monitoring host checking each server's service ports, every minute.
    pub(super) fn monitor(&mut self, c: usize, t: i64) -> i64 {
        let monitor = self.sites[c].monitor;
        for j in 0..self.sites[c].monitored.len() {
            let (server, ports) = self.sites[c].monitored[j].clone();
            for (k, (port, protocol)) in ports.into_iter().enumerate() {
                let start = t + j as i64 * 150 + k as i64 * 15 + self.rng.random_range(0..10);
                let packets = match protocol {
                    Protocol::Udp => self.rng.random_range(1..=2),
                    _ => self.rng.random_range(2..=6),
                } as f64;
                let bpp = uniform(&mut self.rng, 60.0, 200.0);
                let raw = self
                    .conn(c, monitor, server, protocol, port, start)
                    .sized(packets, bpp, 5.0);
                self.push(raw);
            }
        }
        60_000 + self.rng.random_range(-200..=200)
    }

    /// The backup server's continuous upload, and now and then a database dump to it.
    /// Returns the milliseconds to the next chunk.
    pub(super) fn backup(&mut self, c: usize, t: i64) -> i64 {
        let gap = self.rng.random_range(1000..3000);
        let (backup, cloud, rate) = {
            let site = &self.sites[c];
            (site.backup, site.cloud, site.backup_rate)
        };
        let bytes = rate * lognormal(&mut self.rng, 1.0, 0.45) * gap as f64 / 1000.0;
        let raw = self
            .conn(c, backup, cloud, Protocol::Tcp, 443, t)
            .sized_bytes(bytes, gap as f64);
        self.push(raw);
        if self.rng.random_bool(gap as f64 / 240_000.0) {
            let db = &self.sites[c].db;
            let src = db[self.rng.random_range(0..db.len())];
            let bytes = lognormal(&mut self.rng, 6.0e8, 0.6);
            let dur = uniform(&mut self.rng, 30_000.0, 120_000.0);
            let raw = self
                .conn(c, src, backup, Protocol::Tcp, 873, t + 1)
                .sized_bytes(bytes, dur);
            self.push(raw);
        }
        gap
    }

    /// One activity of a user: mostly browsing, then internal apps, cloud sync, SSH, SaaS,
    /// and now and then a large upload or a whole folder.
    pub(super) fn workstation(&mut self, c: usize, i: usize, t: i64) -> i64 {
        let ws = self.sites[c].workstations[i];
        let roll: f64 = self.rng.random();
        if roll < 0.60 {
            self.page_load(c, ws, t);
        } else if roll < 0.72 {
            let n = self.rng.random_range(1..=4);
            for k in 0..n {
                let app = &self.sites[c].app;
                let dst = app[self.rng.random_range(0..app.len())];
                let port = if self.rng.random_bool(0.7) { 443 } else { 8443 };
                let packets = lognormal(&mut self.rng, 10.0, 0.6).clamp(3.0, 800.0);
                let bpp = uniform(&mut self.rng, 80.0, 500.0);
                let raw = self
                    .conn(c, ws, dst, Protocol::Tcp, port, t + k * 300)
                    .sized(packets, bpp, 400.0);
                self.push(raw);
            }
        } else if roll < 0.80 {
            // Cloud sync client: a couple of small requests to the tenant's storage.
            let cloud = self.sites[c].cloud;
            for k in 0..self.rng.random_range(1..=2) {
                let packets = self.rng.random_range(4..=12) as f64;
                let bpp = uniform(&mut self.rng, 100.0, 400.0);
                let raw = self
                    .conn(c, ws, cloud, Protocol::Tcp, 443, t + k * 200)
                    .sized(packets, bpp, 300.0);
                self.push(raw);
            }
        } else if roll < 0.85 {
            let bastion = self.sites[c].bastion;
            let packets = lognormal(&mut self.rng, 80.0, 1.2).clamp(10.0, 50_000.0);
            let bpp = uniform(&mut self.rng, 60.0, 150.0);
            let dur = lognormal(&mut self.rng, 60_000.0, 1.0);
            let raw = self
                .conn(c, ws, bastion, Protocol::Tcp, 22, t)
                .sized(packets, bpp, dur);
            self.push(raw);
        } else if roll < 0.865 {
            // One large upload (a video, an archive) to the tenant's cloud storage.
            let cloud = self.sites[c].cloud;
            let bytes = lognormal(&mut self.rng, 6.0e6, 1.0).clamp(2.0e5, 2.0e8);
            let dur = bytes / uniform(&mut self.rng, 2.0e6, 2.0e7) * 1000.0;
            let raw = self
                .conn(c, ws, cloud, Protocol::Tcp, 443, t)
                .sized_bytes(bytes, dur);
            self.push(raw);
        } else if roll < 0.868 {
            // A whole folder: megabytes per second for a minute or two, like exfiltration,
            // but to storage every host of the tenant uses.
            let cloud = self.sites[c].cloud;
            let mut at = t;
            for _ in 0..self.rng.random_range(5..=25) {
                let bytes = lognormal(&mut self.rng, 8.0e6, 0.8).clamp(1.0e5, 2.0e8);
                let dur = bytes / uniform(&mut self.rng, 3.0e6, 2.0e7) * 1000.0;
                let raw = self
                    .conn(c, ws, cloud, Protocol::Tcp, 443, at)
                    .sized_bytes(bytes, dur);
                self.push(raw);
                at += dur as i64 + exponential(&mut self.rng, 1500.0) as i64;
            }
        } else {
            // SaaS and mail: a few small flows to popular services.
            for k in 0..self.rng.random_range(1..=3) {
                let dst = self.pools.popular[zipf(&mut self.rng, self.pools.popular.len(), 2.5)];
                let packets = lognormal(&mut self.rng, 8.0, 0.6).clamp(3.0, 400.0);
                let bpp = uniform(&mut self.rng, 80.0, 400.0);
                let raw = self
                    .conn(c, ws, dst, Protocol::Tcp, 443, t + k * 150)
                    .sized(packets, bpp, 500.0);
                self.push(raw);
            }
        }
        let gap = exponential(&mut self.rng, self.sites[c].activity_gap_s[i] * 1000.0);
        gap.max(200.0) as i64
    }

    /// A DNS lookup, then a burst of connections to a site (and a CDN or two).
    pub(super) fn page_load(&mut self, c: usize, ws: u32, t: i64) {
        let resolver = self.sites[c].resolver;
        let bpp = uniform(&mut self.rng, 60.0, 110.0);
        let raw = self
            .conn(c, ws, resolver, Protocol::Udp, 53, t)
            .sized(1.0, bpp, 10.0);
        self.push(raw);
        let roll: f64 = self.rng.random();
        let site_ip = if roll < 0.55 {
            self.pools.popular[zipf(&mut self.rng, self.pools.popular.len(), 2.5)]
        } else if roll < 0.8 {
            // The rare site this user is reading these few minutes: repeated visits to one
            // rare destination at irregular intervals.
            let focus = mix(u64::from(ws), (t / 150_000) as u64) as usize;
            self.pools.long_tail[focus % self.pools.long_tail.len()]
        } else {
            self.pools.long_tail[self.rng.random_range(0..self.pools.long_tail.len())]
        };
        let n = 2 + poisson(&mut self.rng, 3.5);
        for _ in 0..n {
            let dst = if self.rng.random_bool(0.75) {
                site_ip
            } else {
                self.pools.popular[zipf(&mut self.rng, self.pools.popular.len(), 2.5)]
            };
            let port = if self.rng.random_bool(0.85) { 443 } else { 80 };
            let start = t + 20 + self.rng.random_range(0..1500);
            let packets = lognormal(&mut self.rng, 9.0, 0.7).clamp(3.0, 400.0);
            let bpp = uniform(&mut self.rng, 80.0, 450.0);
            let dur = lognormal(&mut self.rng, 1500.0, 1.0);
            let raw = self
                .conn(c, ws, dst, Protocol::Tcp, port, start)
                .sized(packets, bpp, dur);
            self.push(raw);
        }
    }

    /// A workstation's chat client long-polling its rare server at random intervals.
    pub(super) fn long_poll(&mut self, c: usize, p: usize, t: i64) -> i64 {
        let (i, dst) = self.sites[c].long_poll[p];
        let src = self.sites[c].workstations[i];
        let packets = f64::from(self.rng.random_range(3..=8));
        let bytes = lognormal(&mut self.rng, 600.0, 0.4).clamp(200.0, 1800.0);
        let dur = uniform(&mut self.rng, 50.0, 400.0);
        let raw = self.conn(c, src, dst, Protocol::Tcp, 443, t);
        self.push(raw.sized(packets, bytes / packets, dur));
        (1500.0 + exponential(&mut self.rng, self.sites[c].long_poll_gap_ms[p])) as i64
    }

    /// A workstation's telemetry agent: a small flow every 30 or 60 s, to the same service
    /// as every other host of the customer.
    pub(super) fn heartbeat(&mut self, c: usize, i: usize, t: i64) -> i64 {
        let (src, dst) = (self.sites[c].workstations[i], self.sites[c].telemetry);
        let packets = f64::from(self.rng.random_range(5..=9));
        let bpp = uniform(&mut self.rng, 100.0, 250.0);
        let dur = uniform(&mut self.rng, 50.0, 300.0);
        let raw = self.conn(c, src, dst, Protocol::Tcp, 443, t);
        self.push(raw.sized(packets, bpp, dur));
        self.sites[c].heartbeat_ms + self.rng.random_range(-150..=150)
    }

    /// A workstation's NTP client: one datagram every 64 s to a public pool server.
    pub(super) fn ntp(&mut self, c: usize, i: usize, t: i64) -> i64 {
        let src = self.sites[c].workstations[i];
        let dst = self.pools.ntp[i % self.pools.ntp.len()];
        let raw = self.conn(c, src, dst, Protocol::Udp, 123, t);
        self.push(raw.sized(1.0, 76.0, 5.0));
        64_000 + self.rng.random_range(-30..=30)
    }

    /// An application server polling a partner API, strictly periodically.
    pub(super) fn poller(&mut self, c: usize, p: usize, t: i64) -> i64 {
        let (src, dst, period) = self.sites[c].pollers[p];
        let packets = f64::from(self.rng.random_range(6..=12));
        let bpp = uniform(&mut self.rng, 100.0, 300.0);
        let raw = self.conn(c, src, dst, Protocol::Tcp, 443, t);
        self.push(raw.sized(packets, bpp, 200.0));
        period + self.rng.random_range(-40..=40)
    }
}
