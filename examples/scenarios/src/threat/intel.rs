//! The threat-intel domain's reputation product, and the flows domain's enrichment from it.
//!
//! [`reputation_table`] plays the threat-intel domain: it lists part of the simulation's
//! benign infrastructure (CDNs, cloud storage, SaaS, resolvers: clean scores), the customers'
//! partner APIs (an allowlist), part of the long tail of sites (mostly clean, a few dubious or bad, as real feeds are), the internet's
//! background scanners, and *some* of the attackers of the injected episodes: about 60% of
//! external scanners, 35% of flood sources, 30% of exfiltration drops and half of the C2
//! servers. Internal attackers are never listed. So reputation can support a detection but
//! cannot make one: detectors must find the unlisted half on behaviour alone.
//!
//! [`ReputationIndex`] is the lookup the flows domain enriches each flow with.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::generate::{ExternalRole, Generator, mix};
use super::model::{Flow, Reputation};

/// The reputation table the threat-intel domain publishes for `generator`'s world.
///
/// Deterministic from the generator's seed; listed attackers are chosen at random, per
/// address.
pub fn reputation_table(generator: &Generator) -> Vec<Reputation> {
    let mut rng = StdRng::seed_from_u64(mix(generator.seed(), 0x1e7e1));
    let now = generator.config().start_ms;
    let mut table = Vec::new();
    for (ip, role) in generator.external_addresses() {
        // (probability of being listed, score range, category)
        let (listed, scores, category): (f64, (i32, i32), &str) = match role {
            // Feeds know much of the big infrastructure, not all of it: detectors must tell
            // popular services by their prevalence, not by a listing.
            ExternalRole::Popular => (0.6, (0, 3), "cdn"),
            ExternalRole::Cloud => (0.5, (0, 0), "cloud-storage"),
            ExternalRole::Telemetry => (0.3, (0, 2), "saas"),
            ExternalRole::Conferencing => (0.0, (0, 2), "conferencing"),
            // Public NTP pools are well known (and used by a host or two of a small customer:
            // periodic, small and rare, behaviour alone cannot clear them).
            ExternalRole::Ntp => (1.0, (0, 0), "ntp"),
            ExternalRole::Dns => (1.0, (0, 0), "dns"),
            // The customers' partners are on the allowlist the feed carries for them.
            ExternalRole::Partner => (1.0, (0, 5), "partner"),
            ExternalRole::LongTail => {
                // A third of the long tail is known; of that, most is clean, some dubious,
                // a little bad (normal users do visit bad sites).
                let roll: f64 = rng.random();
                if roll < 0.28 {
                    (1.0, (0, 15), "web")
                } else if roll < 0.32 {
                    (1.0, (20, 45), "newly-registered")
                } else if roll < 0.335 {
                    (1.0, (70, 85), "phishing")
                } else {
                    (0.0, (0, 0), "")
                }
            }
            ExternalRole::Noise => (1.0, (70, 95), "scanner"),
            ExternalRole::Scanner => (0.6, (80, 100), "scanner"),
            ExternalRole::FloodSource => (0.35, (70, 95), "botnet"),
            ExternalRole::ExfilDrop => (0.3, (50, 75), "suspicious-hosting"),
            ExternalRole::C2 => (0.5, (85, 100), "c2"),
        };
        if listed <= 0.0 || !rng.random_bool(listed) {
            continue;
        }
        let age_ms = rng.random_range(3_600_000..30 * 86_400_000);
        table.push(Reputation {
            ip: Ipv4Addr::from(ip).to_string(),
            score: rng.random_range(scores.0..=scores.1),
            category: category.to_owned(),
            updated_at: now - age_ms,
        });
    }
    table
}

/// Reputation by address, for enriching flows.
#[derive(Debug, Clone, Default)]
pub struct ReputationIndex {
    by_ip: HashMap<String, Reputation>,
}

impl ReputationIndex {
    /// An index of `entries`; when an address is listed twice, the latest update wins.
    pub fn new(entries: impl IntoIterator<Item = Reputation>) -> Self {
        let mut by_ip: HashMap<String, Reputation> = HashMap::new();
        for entry in entries {
            match by_ip.get(&entry.ip) {
                Some(known) if known.updated_at > entry.updated_at => {}
                _ => {
                    by_ip.insert(entry.ip.clone(), entry);
                }
            }
        }
        Self { by_ip }
    }

    /// The entry for `ip`, if listed.
    pub fn get(&self, ip: &str) -> Option<&Reputation> {
        self.by_ip.get(ip)
    }

    /// Addresses listed.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// Fills `flow`'s reputation fields: each side's score if listed, and the category of the
    /// worse-scored listed side (the source on a tie).
    pub fn enrich(&self, flow: &mut Flow) {
        let src = self.by_ip.get(&flow.src_ip);
        let dst = self.by_ip.get(&flow.dst_ip);
        flow.src_reputation = src.map(|r| r.score);
        flow.dst_reputation = dst.map(|r| r.score);
        let worse = match (src, dst) {
            (Some(s), Some(d)) => Some(if d.score > s.score { d } else { s }),
            (side, None) | (None, side) => side,
        };
        flow.reputation_category = worse.map(|r| r.category.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threat::generate::GeneratorConfig;
    use crate::threat::model::{AttackKind, Protocol};

    #[test]
    fn lists_some_attackers_but_not_all() {
        let generator = Generator::new(GeneratorConfig::default(), 5);
        let index = ReputationIndex::new(reputation_table(&generator));
        let c2: Vec<bool> = generator
            .episodes()
            .iter()
            .filter(|e| e.kind == AttackKind::Beaconing)
            .map(|e| index.get(&e.dst_ip).is_some())
            .collect();
        assert!(c2.iter().any(|l| *l) && c2.iter().any(|l| !*l), "{c2:?}");
        assert!(index.len() > 5_000);
    }

    #[test]
    fn enrich_fills_both_sides_and_the_worse_category() {
        let index = ReputationIndex::new([
            Reputation {
                ip: "1.2.3.4".into(),
                score: 90,
                category: "c2".into(),
                updated_at: 1,
            },
            Reputation {
                ip: "1.2.3.4".into(),
                score: 10,
                category: "old".into(),
                updated_at: 0,
            },
            Reputation {
                ip: "10.0.0.1".into(),
                score: 5,
                category: "internal".into(),
                updated_at: 0,
            },
        ]);
        let mut flow = Flow {
            customer: "c".into(),
            src_ip: "10.0.0.1".into(),
            dst_ip: "1.2.3.4".into(),
            src_port: 1,
            dst_port: 443,
            protocol: Protocol::Tcp,
            bytes: 1,
            packets: 1,
            start: 0,
            end: 0,
            sampling: 1,
            src_reputation: None,
            dst_reputation: None,
            reputation_category: None,
            attack: None,
        };
        index.enrich(&mut flow);
        assert_eq!(
            (flow.src_reputation, flow.dst_reputation),
            (Some(5), Some(90))
        );
        assert_eq!(flow.reputation_category.as_deref(), Some("c2"));
        flow.dst_ip = "9.9.9.9".into();
        index.enrich(&mut flow);
        assert_eq!(flow.dst_reputation, None);
        assert_eq!(flow.reputation_category.as_deref(), Some("internal"));
    }
}
