//! Pieces shared by the recommender and the baseline: how an interaction reads as a signal,
//! forward exponential decay on event time, a per-user log of touched items, and a fast
//! deterministic hasher for the models' integer-keyed maps.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use super::model::{Action, Interaction};

/// FxHash (the rustc hasher): a multiply-rotate over integer keys. The models hash only ids
/// they assign or receive, never attacker-chosen strings in bulk, so a DoS-resistant hasher
/// buys nothing and costs about a third of `observe`'s time; and it is deterministic, so no
/// result ever depends on a random hash seed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_i64(&mut self, n: i64) {
        self.add(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`FxHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// What an interaction says about the user's taste for the item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Signal {
    /// They liked it, with this weight.
    Positive(f64),
    /// They skipped it.
    Skip,
    /// Nothing to learn beyond "seen" (a play too short to count).
    Neutral,
}

impl Signal {
    /// Reads an interaction. Plays of 30 s or more and likes weigh 1; a follow is about the
    /// artist or show more than the item, so it weighs half.
    pub(crate) fn of(interaction: &Interaction) -> Self {
        match interaction.action {
            Action::Play | Action::Like if interaction.is_positive() => Self::Positive(1.0),
            Action::Follow => Self::Positive(0.5),
            Action::Skip => Self::Skip,
            Action::Play | Action::Like => Self::Neutral,
        }
    }
}

/// One entry of a user's log: an item (by the model's dense index) and the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Touch {
    pub(crate) item: u32,
    pub(crate) kind: TouchKind,
}

/// The signal of a [`Touch`], compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TouchKind {
    Positive,
    Skip,
    Neutral,
}

impl From<Signal> for TouchKind {
    fn from(signal: Signal) -> Self {
        match signal {
            Signal::Positive(_) => Self::Positive,
            Signal::Skip => Self::Skip,
            Signal::Neutral => Self::Neutral,
        }
    }
}

/// The items of a user's log, sorted and deduplicated, for exclusion by binary search.
pub(crate) fn seen_items(log: Option<&VecDeque<(i64, Touch)>>) -> Vec<u32> {
    let mut seen: Vec<u32> = log
        .map(|log| log.iter().map(|(_, touch)| touch.item).collect())
        .unwrap_or_default();
    seen.sort_unstable();
    seen.dedup();
    seen
}

/// Forward exponential decay: a weight recorded at event time `t` is stored as
/// `w·exp(λ(t − origin))`, so every stored value decays at the same rate without being
/// touched, and the values' order never changes as time passes (rankings stay valid). A
/// stored value's worth at time `now` is `stored·exp(−λ(now − origin))`. As `t − origin`
/// grows the factors grow; [`ForwardDecay::rebase`] tells the owner when to rescale its values
/// and move the origin, long before `f32` could overflow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForwardDecay {
    /// λ, per ms.
    rate: f64,
    /// Set from the first event, so the exponents start near 0 whatever the epoch.
    origin: Option<i64>,
}

/// Rebase once the factors reach e^20 ≈ 5·10⁸: values accumulated over a while stay far
/// from `f32::MAX` (3·10³⁸), and old values lose no more precision than they are worth.
const MAX_EXPONENT: f64 = 20.0;

impl ForwardDecay {
    /// Decay with this half-life (ms); a non-positive half-life means no decay.
    pub(crate) fn with_half_life(half_life_ms: i64) -> Self {
        let rate = if half_life_ms > 0 {
            std::f64::consts::LN_2 / half_life_ms as f64
        } else {
            0.0
        };
        Self { rate, origin: None }
    }

    /// The stored weight of a unit observed at `at`.
    pub(crate) fn weight(&mut self, at: i64) -> f64 {
        let origin = *self.origin.get_or_insert(at);
        ((at - origin) as f64 * self.rate).exp()
    }

    /// What a stored unit is worth at `now`: multiply stored values by this to read them.
    pub(crate) fn present(&self, now: i64) -> f64 {
        match self.origin {
            Some(origin) => (-((now - origin) as f64) * self.rate).exp(),
            None => 1.0,
        }
    }

    /// If the factors at `now` have grown too large, moves the origin to `now` and returns
    /// the factor the owner must multiply every stored value by.
    pub(crate) fn rebase(&mut self, now: i64) -> Option<f64> {
        let origin = self.origin?;
        if ((now - origin) as f64 * self.rate).abs() < MAX_EXPONENT {
            return None;
        }
        self.origin = Some(now);
        Some((-((now - origin) as f64) * self.rate).exp())
    }
}

/// Whether a cached ranking is due for a refresh: every `every` events, and more often while
/// the model is young (whenever it has seen an eighth more events), so a fresh model ranks
/// what it has seen instead of nothing. The young phase adds only a logarithmic number of
/// refreshes, of small rankings.
pub(crate) fn refresh_due(since: u32, every: u32, observed: u64) -> bool {
    let ramp = u32::try_from(observed / 8 + 1).unwrap_or(u32::MAX);
    since >= every.min(ramp)
}

/// Keeps the `n` largest of `scored` (by score, then smaller id on ties, so results are
/// deterministic), best first.
pub(crate) fn top_n(scored: &mut Vec<(u32, f64)>, n: usize) {
    let better = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if scored.len() > n && n > 0 {
        scored.select_nth_unstable_by(n - 1, better);
        scored.truncate(n);
    } else if n == 0 {
        scored.clear();
    }
    scored.sort_unstable_by(better);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_decay_halves_per_half_life() {
        let mut decay = ForwardDecay::with_half_life(1_000);
        let first = decay.weight(5_000);
        let later = decay.weight(6_000);
        assert!((later / first - 2.0).abs() < 1e-9);
        assert!((first * decay.present(6_000) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn rebase_preserves_present_values() {
        let mut decay = ForwardDecay::with_half_life(1_000);
        let stored = decay.weight(0) + decay.weight(25_000);
        let before = stored * decay.present(30_000);
        let factor = decay.rebase(30_000).unwrap_or(1.0);
        assert!(factor < 1.0);
        let after = stored * factor * decay.present(30_000);
        assert!((before - after).abs() < 1e-9 * before);
    }

    #[test]
    fn a_log_entry_takes_16_bytes() {
        // The memory bound in the recommender's docs counts on it.
        assert_eq!(std::mem::size_of::<(i64, Touch)>(), 16);
    }

    #[test]
    fn top_n_is_ordered_and_deterministic() {
        let mut scored = vec![(3, 1.0), (1, 2.0), (2, 1.0), (0, 0.5)];
        top_n(&mut scored, 3);
        assert_eq!(scored, [(1, 2.0), (2, 1.0), (3, 1.0)]);
    }
}
