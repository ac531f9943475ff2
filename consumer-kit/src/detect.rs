//! Per-key anomaly detectors for per-event models: each event's value is judged against the
//! key's recent history (see [`crate::History`]).
//!
//! Detectors are behind one trait so a model can swap them; two come with the kit:
//! [`Cusum`] (two-sided cumulative sums of standardized deviations: slow drifts and level
//! shifts) and [`RobustZ`] (median and MAD: isolated spikes, robust to earlier outliers).

/// Judges the newest value of a series against the values before it.
pub trait Detector: Send + Sync {
    /// A score for the newest value of `history` (oldest first, newest last); higher is
    /// more anomalous. Compare with [`Detector::threshold`].
    fn score(&self, history: &[f64]) -> f64;

    /// The score from which a value is an anomaly.
    fn threshold(&self) -> f64;

    /// Whether the newest value is an anomaly.
    fn is_anomaly(&self, history: &[f64]) -> bool {
        self.score(history) >= self.threshold()
    }
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Two-sided CUSUM over the window: the largest cumulative sum of standardized deviations
/// (beyond the slack `k`) ending at the newest value, in standard deviations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cusum {
    /// Deviations smaller than this many standard deviations are ignored (the slack).
    pub k: f64,
    /// The decision interval, in standard deviations.
    pub h: f64,
    /// How many of the newest values the sums run over (the rest set the baseline).
    pub recent: usize,
}

impl Default for Cusum {
    fn default() -> Self {
        Self {
            k: 0.5,
            h: 5.0,
            recent: 10,
        }
    }
}

impl Detector for Cusum {
    fn score(&self, history: &[f64]) -> f64 {
        if history.len() < self.recent + 5 {
            return 0.0;
        }
        let split = history.len() - self.recent;
        let (mean, std) = mean_std(&history[..split]);
        let std = if std > f64::EPSILON { std } else { 1.0 };
        let (mut high, mut low) = (0.0f64, 0.0f64);
        for v in &history[split..] {
            let z = (v - mean) / std;
            high = (high + z - self.k).max(0.0);
            low = (low - z - self.k).max(0.0);
        }
        high.max(low)
    }

    fn threshold(&self) -> f64 {
        self.h
    }
}

/// Robust z-score of the newest value: its distance from the median of the values before
/// it, in median absolute deviations (scaled to standard deviations).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RobustZ {
    /// The score from which a value is an anomaly.
    pub threshold: f64,
}

impl Default for RobustZ {
    fn default() -> Self {
        Self { threshold: 4.0 }
    }
}

fn median(values: &mut [f64]) -> f64 {
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

impl Detector for RobustZ {
    fn score(&self, history: &[f64]) -> f64 {
        let Some((newest, before)) = history.split_last() else {
            return 0.0;
        };
        if before.len() < 5 {
            return 0.0;
        }
        let mut scratch: Vec<f64> = before.to_vec();
        let med = median(&mut scratch);
        for v in &mut scratch {
            *v = (*v - med).abs();
        }
        let mad = median(&mut scratch) * 1.4826;
        let mad = if mad > f64::EPSILON {
            mad
        } else {
            1e-9_f64.max(med.abs() * 1e-3)
        };
        (newest - med).abs() / mad
    }

    fn threshold(&self) -> f64 {
        self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 10.0 + ((i * 7919) % 13) as f64 / 13.0)
            .collect()
    }

    #[test]
    fn cusum_sees_a_level_shift_and_not_noise() {
        let mut series = steady(50);
        assert!(!Cusum::default().is_anomaly(&series));
        for v in series.iter_mut().skip(42) {
            *v += 3.0;
        }
        assert!(
            Cusum::default().is_anomaly(&series),
            "score {}",
            Cusum::default().score(&series)
        );
    }

    #[test]
    fn robust_z_sees_a_spike_despite_earlier_outliers() {
        let mut series = steady(49);
        series[10] = 500.0;
        series.push(10.5);
        assert!(!RobustZ::default().is_anomaly(&series));
        series.push(60.0);
        assert!(RobustZ::default().is_anomaly(&series));
    }
}
