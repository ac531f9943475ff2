//! Random draws from the distributions traffic is made of, and seed derivation.

use std::f64::consts::TAU;

use rand::Rng;
use rand::rngs::StdRng;

/// Shuffles `items` in place (Fisher-Yates).
pub(super) fn shuffle<T>(rng: &mut StdRng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
}

/// SplitMix64 of `a` and `b`: derives independent seeds and stable hashes.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(super) fn uniform(rng: &mut StdRng, low: f64, high: f64) -> f64 {
    if high <= low {
        return low;
    }
    low + (high - low) * rng.random::<f64>()
}

pub(super) fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// A standard normal draw (Box-Muller).
pub(super) fn normal(rng: &mut StdRng) -> f64 {
    let u = 1.0 - rng.random::<f64>();
    let v = rng.random::<f64>();
    (-2.0 * u.ln()).sqrt() * (TAU * v).cos()
}

pub(super) fn lognormal(rng: &mut StdRng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

pub(super) fn poisson(rng: &mut StdRng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        return (mean + mean.sqrt() * normal(rng)).round().max(0.0) as u32;
    }
    // Knuth: count uniforms until their product drops below e^-mean.
    let limit = (-mean).exp();
    let mut product: f64 = rng.random();
    let mut n = 0;
    while product > limit {
        product *= rng.random::<f64>();
        n += 1;
    }
    n
}

/// An index in `0..n`, skewed to the low end (the higher `skew`, the more).
pub(super) fn zipf(rng: &mut StdRng, n: usize, skew: f64) -> usize {
    let index = (n as f64 * rng.random::<f64>().powf(skew)) as usize;
    index.min(n.saturating_sub(1))
}
