//! Detectors this scenario adds to the kit's [`Cusum`](datamesh::consumer_kit::Cusum) and
//! [`RobustZ`](datamesh::consumer_kit::RobustZ), behind the same [`Detector`] trait.
//!
//! [`Periodicity`] judges a series of inter-arrival times: how well they fit whole multiples
//! of one period. Whole *multiples*, because the flows reaching a detector are sampled: of a
//! beacon every 6 s sampled 1-in-3, the detector sees gaps of 6, 12, 18 s, ... never a clean
//! 6 s rhythm.

use datamesh::consumer_kit::Detector;

/// Regularity of inter-arrival times, for beaconing.
///
/// The history is a series of gaps in seconds (oldest first). The period is estimated from
/// the shortest gap, or a half or a third of it (when sampling dropped every other check-in
/// even there), refined by least squares over the whole multiples assigned; the score is the
/// fraction of gaps within `tolerance` periods of a whole multiple, for the best candidate.
/// A gap shorter than `min_period_s` scores 0: check-ins do not come in bursts, browsing does,
/// and so does a fit of fewer than `min_intervals` gaps.
///
/// Random (Poisson) arrivals fit a multiple with probability about `2 * tolerance` per gap,
/// so `min_intervals` gaps fit by chance with probability about `0.1^5` for the defaults
/// (the shortest gap fits by construction); measured on spaced random arrivals judged at
/// every arrival over their last 15 gaps, 3 false fits in a million judgements. The
/// threshold leaves room for a few gaps off by more than the tolerance: a beacon's jitter
/// accumulates over the check-ins sampling dropped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Periodicity {
    /// The fewest gaps judged, and the fewest that must fit (fewer score 0).
    pub min_intervals: usize,
    /// The shortest period considered, in seconds.
    pub min_period_s: f64,
    /// The most periods one gap may span (check-ins lost to sampling in between).
    pub max_multiple: f64,
    /// How far from a whole number of periods a gap may be, in periods.
    pub tolerance: f64,
    /// The fraction of gaps that must fit.
    pub threshold: f64,
}

impl Default for Periodicity {
    fn default() -> Self {
        Self {
            min_intervals: 6,
            min_period_s: 1.5,
            max_multiple: 12.0,
            tolerance: 0.05,
            threshold: 0.8,
        }
    }
}

/// The best period found in a series of gaps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodFit {
    /// The estimated period, in seconds.
    pub period_s: f64,
    /// Gaps within tolerance of a whole multiple of the period.
    pub fitting: usize,
    /// Gaps judged.
    pub intervals: usize,
    /// Mean distance of the fitting gaps from their multiple, in periods.
    pub mean_deviation: f64,
}

impl PeriodFit {
    /// The fraction of gaps that fit.
    pub fn score(&self) -> f64 {
        if self.intervals == 0 {
            0.0
        } else {
            self.fitting as f64 / self.intervals as f64
        }
    }
}

impl Periodicity {
    /// The best-fitting period of `gaps` (seconds, oldest first), if there are enough gaps and
    /// none is shorter than `min_period_s`.
    pub fn fit(&self, gaps: &[f64]) -> Option<PeriodFit> {
        if gaps.len() < self.min_intervals.max(2) {
            return None;
        }
        let shortest = gaps.iter().copied().fold(f64::INFINITY, f64::min);
        if shortest.is_nan() || shortest < self.min_period_s {
            return None;
        }
        let mut best: Option<PeriodFit> = None;
        for divisor in 1..=3 {
            let mut period = shortest / f64::from(divisor);
            if period < self.min_period_s {
                break;
            }
            // Least squares for the multiples assigned: period = sum(gaps) / sum(multiples).
            for _ in 0..2 {
                let (mut sum_gap, mut sum_k) = (0.0, 0.0);
                for gap in gaps {
                    let k = (gap / period).round();
                    if (1.0..=self.max_multiple).contains(&k) {
                        sum_gap += gap;
                        sum_k += k;
                    }
                }
                if sum_k > 0.0 {
                    period = sum_gap / sum_k;
                }
            }
            let (mut fitting, mut deviation) = (0, 0.0);
            for gap in gaps {
                let ratio = gap / period;
                let k = ratio.round();
                let off = (ratio - k).abs();
                if (1.0..=self.max_multiple).contains(&k) && off <= self.tolerance {
                    fitting += 1;
                    deviation += off;
                }
            }
            let candidate = PeriodFit {
                period_s: period,
                fitting,
                intervals: gaps.len(),
                mean_deviation: if fitting > 0 {
                    deviation / fitting as f64
                } else {
                    0.0
                },
            };
            // Strictly better only: on a tie the longer period (fewer assumptions) stays.
            if best.is_none_or(|b| candidate.fitting > b.fitting) {
                best = Some(candidate);
            }
        }
        best
    }
}

impl Detector for Periodicity {
    /// The fraction of gaps fitting whole multiples of the best period (0 to 1; 0 if fewer
    /// than `min_intervals` fit).
    fn score(&self, history: &[f64]) -> f64 {
        self.fit(history)
            .filter(|fit| fit.fitting >= self.min_intervals)
            .map_or(0.0, |fit| fit.score())
    }

    fn threshold(&self) -> f64 {
        self.threshold
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Gaps between the kept check-ins of a beacon every `period` s with `jitter`, sampled
    /// 1-in-`n` (each check-in kept with probability 1/n).
    fn sampled_beacon(
        rng: &mut StdRng,
        period: f64,
        jitter: f64,
        n: u32,
        count: usize,
    ) -> Vec<f64> {
        let mut gaps = Vec::new();
        let mut since = 0.0;
        while gaps.len() < count {
            since += period * (1.0 + rng.random_range(-jitter..=jitter));
            if rng.random_range(0..n) == 0 {
                gaps.push(since);
                since = 0.0;
            }
        }
        gaps
    }

    #[test]
    fn sampled_beacons_fit() {
        // As the beaconing detector judges a pair: at each check-in, over its last 15 gaps.
        let mut rng = StdRng::seed_from_u64(1);
        let detector = Periodicity::default();
        let mut found = 0;
        for _ in 0..200 {
            let period = rng.random_range(3.0..10.0);
            let jitter = rng.random_range(0.005..0.03);
            let gaps = sampled_beacon(&mut rng, period, jitter, 3, 15);
            let first = (detector.min_intervals..=gaps.len())
                .find(|end| detector.is_anomaly(&gaps[..*end]));
            if let Some(end) = first {
                found += 1;
                // The period found is the beacon's, or a multiple of it.
                let fit = detector.fit(&gaps[..end]).map_or(0.0, |f| f.period_s);
                let k = (fit / period).round().max(1.0);
                assert!(
                    (fit / k - period).abs() / period < 0.03,
                    "{fit} vs {period}"
                );
            }
        }
        assert!(found >= 190, "{found} of 200");
    }

    #[test]
    fn random_arrivals_do_not() {
        let mut rng = StdRng::seed_from_u64(2);
        let detector = Periodicity::default();
        let mut hits = 0;
        for _ in 0..20_000 {
            let mean = rng.random_range(3.0..60.0);
            let gaps: Vec<f64> = (0..9)
                .map(|_| 1.5 - mean * (1.0 - rng.random::<f64>()).ln())
                .collect();
            if detector.is_anomaly(&gaps) {
                hits += 1;
            }
        }
        assert!(hits <= 2, "{hits} of 20000");
    }

    #[test]
    fn bursts_score_zero() {
        let gaps = [5.0, 5.0, 0.2, 5.0, 5.0, 5.0, 5.0, 5.0];
        assert_eq!(Periodicity::default().score(&gaps), 0.0);
    }
}
