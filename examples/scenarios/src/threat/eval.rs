//! Episode-level precision and recall of alerts against the injected ground truth.
//!
//! An alert *matches* an episode if both are of the same kind and customer, the alert's
//! source or destination is one of the episode's addresses, and the alert was raised between
//! the episode's start and its end plus a grace period. Per kind, precision is the fraction
//! of alerts that match some episode, recall the fraction of episodes matched by some alert.
//! Several alerts for one episode are all true positives (re-alerts after a cooldown on a
//! long episode are right, merely repetitive).

use std::fmt;

use super::model::{Alert, AttackKind, Episode};

/// The results for one attack kind.
#[derive(Debug, Clone, PartialEq)]
pub struct KindReport {
    /// The kind.
    pub kind: AttackKind,
    /// Episodes of this kind.
    pub episodes: usize,
    /// Episodes matched by at least one alert.
    pub detected: usize,
    /// Alerts of this kind.
    pub alerts: usize,
    /// Alerts matching an episode.
    pub true_alerts: usize,
    /// Labels of the episodes no alert matched.
    pub missed: Vec<String>,
    /// Ids of the alerts that matched no episode.
    pub false_alerts: Vec<String>,
}

impl KindReport {
    /// Matching alerts over alerts (1 when there are no alerts).
    pub fn precision(&self) -> f64 {
        ratio(self.true_alerts, self.alerts)
    }

    /// Detected episodes over episodes (1 when there are no episodes).
    pub fn recall(&self) -> f64 {
        ratio(self.detected, self.episodes)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Precision and recall per attack kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The grace after an episode's end within which alerts still match it, milliseconds.
    pub grace_ms: i64,
    /// One entry per kind, in [`AttackKind::ALL`] order.
    pub kinds: Vec<KindReport>,
}

impl Report {
    /// The results for `kind`.
    pub fn kind(&self, kind: AttackKind) -> Option<&KindReport> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// Whether every kind reaches both `precision` and `recall`.
    pub fn meets(&self, precision: f64, recall: f64) -> bool {
        self.kinds
            .iter()
            .all(|k| k.precision() >= precision && k.recall() >= recall)
    }
}

/// Whether `alert` matches `episode` (see the module documentation).
pub fn matches(alert: &Alert, episode: &Episode, grace_ms: i64) -> bool {
    let involved = |ip: &Option<String>| {
        ip.as_deref()
            .is_some_and(|ip| ip == episode.src_ip || ip == episode.dst_ip)
    };
    alert.kind == episode.kind
        && alert.customer == episode.customer
        && (involved(&alert.src_ip) || involved(&alert.dst_ip))
        && episode.start <= alert.raised_at
        && alert.raised_at <= episode.end.saturating_add(grace_ms)
}

/// Scores `alerts` against `episodes`.
pub fn evaluate(episodes: &[Episode], alerts: &[Alert], grace_ms: i64) -> Report {
    let kinds = AttackKind::ALL
        .into_iter()
        .map(|kind| {
            let episodes: Vec<&Episode> = episodes.iter().filter(|e| e.kind == kind).collect();
            let alerts: Vec<&Alert> = alerts.iter().filter(|a| a.kind == kind).collect();
            let false_alerts: Vec<String> = alerts
                .iter()
                .filter(|a| !episodes.iter().any(|e| matches(a, e, grace_ms)))
                .map(|a| a.alert_id.clone())
                .collect();
            let missed: Vec<String> = episodes
                .iter()
                .filter(|e| !alerts.iter().any(|a| matches(a, e, grace_ms)))
                .map(|e| e.label.clone())
                .collect();
            KindReport {
                kind,
                episodes: episodes.len(),
                detected: episodes.len() - missed.len(),
                alerts: alerts.len(),
                true_alerts: alerts.len() - false_alerts.len(),
                missed,
                false_alerts,
            }
        })
        .collect();
    Report { grace_ms, kinds }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<13} {:>9} {:>6} {:>9} {:>6}   (grace {} s)",
            "kind",
            "precision",
            "alerts",
            "recall",
            "found",
            self.grace_ms / 1000
        )?;
        for k in &self.kinds {
            writeln!(
                f,
                "{:<13} {:>9.3} {:>2}/{:<3} {:>9.3} {:>2}/{:<3}",
                k.kind.as_str(),
                k.precision(),
                k.true_alerts,
                k.alerts,
                k.recall(),
                k.detected,
                k.episodes,
            )?;
            if !k.missed.is_empty() {
                writeln!(f, "  missed: {}", k.missed.join(", "))?;
            }
            if !k.false_alerts.is_empty() {
                writeln!(f, "  false alerts: {}", k.false_alerts.join(", "))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode(kind: AttackKind, src: &str, dst: &str, start: i64, end: i64) -> Episode {
        Episode {
            label: format!("{kind}#{start}"),
            kind,
            customer: "acme".into(),
            src_ip: src.into(),
            dst_ip: dst.into(),
            start,
            end,
        }
    }

    fn alert(id: &str, kind: AttackKind, src: Option<&str>, dst: Option<&str>, at: i64) -> Alert {
        Alert {
            alert_id: id.into(),
            kind,
            customer: "acme".into(),
            src_ip: src.map(Into::into),
            dst_ip: dst.map(Into::into),
            first_seen: at,
            raised_at: at,
            score: 1.0,
            detector: "test".into(),
            evidence: String::new(),
        }
    }

    #[test]
    fn counts_matches_per_kind() {
        let episodes = [
            episode(AttackKind::PortScan, "1.1.1.1", "10.0.0.1", 100, 200),
            episode(AttackKind::PortScan, "2.2.2.2", "10.0.0.2", 100, 200),
            episode(AttackKind::Volumetric, "3.3.3.3", "10.0.0.3", 100, 200),
        ];
        let alerts = [
            alert(
                "a",
                AttackKind::PortScan,
                Some("1.1.1.1"),
                Some("10.0.0.1"),
                150,
            ),
            // Within the grace.
            alert(
                "b",
                AttackKind::PortScan,
                Some("1.1.1.1"),
                Some("10.0.0.1"),
                205,
            ),
            // Too late.
            alert(
                "c",
                AttackKind::PortScan,
                Some("2.2.2.2"),
                Some("10.0.0.2"),
                300,
            ),
            // A flood alert names only the victim.
            alert("d", AttackKind::Volumetric, None, Some("10.0.0.3"), 100),
            // Right hosts, wrong kind.
            alert("e", AttackKind::Beaconing, Some("1.1.1.1"), None, 150),
        ];
        let report = evaluate(&episodes, &alerts, 10);
        let scan = report.kind(AttackKind::PortScan).cloned();
        let scan = scan.unwrap_or_else(|| panic!("no port scan entry"));
        assert_eq!((scan.alerts, scan.true_alerts), (3, 2));
        assert_eq!((scan.episodes, scan.detected), (2, 1));
        assert_eq!(scan.missed, ["port_scan#100"]);
        assert_eq!(scan.false_alerts, ["c"]);
        let flood = report
            .kind(AttackKind::Volumetric)
            .map(|k| (k.precision(), k.recall()));
        assert_eq!(flood, Some((1.0, 1.0)));
        let beacon = report
            .kind(AttackKind::Beaconing)
            .map(|k| (k.precision(), k.recall()));
        assert_eq!(beacon, Some((0.0, 1.0)));
        assert!(!report.meets(0.9, 0.9));
        assert!(report.to_string().contains("false alerts: c"));
    }
}
