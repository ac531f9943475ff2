//! The baseline: recommend what is popular right now (decayed count of positive
//! interactions), minus what the user has already touched.
//!
//! It is the honest bar for the [`Recommender`](super::Recommender): the same signals, the
//! same event-time decay, the same exclusion of seen items and the same ranking cadence, but
//! nothing personal. Its default half-life (3 h) was tuned for the baseline itself: of 1 h,
//! 2 h, 3 h, 4 h, 6 h, 12 h, 24 h, 48 h and no decay, it was the best compromise on the small
//! and the default simulated worlds (short half-lives catch trending releases, long ones
//! are less noisy on little data).

use super::common::{FastMap, ForwardDecay, Signal, Touch, refresh_due, seen_items, top_n};
use super::model::{Interaction, Item, ItemKind};
use super::recommend::{Reason, Recommendation};
use super::{History, Keep};
use serde::{Deserialize, Serialize};

/// How the [`Popularity`] baseline counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopularityConfig {
    /// Half-life of the counts, in ms of event time.
    pub half_life_ms: i64,
    /// Users kept (least recently active evicted beyond).
    pub max_users: usize,
    /// Interactions kept per user: the items excluded from their recommendations.
    pub user_history: usize,
    /// Events between refreshes of the cached ranking (more often while the model is young:
    /// see the recommender's `refresh_every`).
    pub refresh_every: u32,
}

impl Default for PopularityConfig {
    fn default() -> Self {
        Self {
            half_life_ms: 3 * 3_600_000,
            max_users: 1_000_000,
            user_history: 300,
            refresh_every: 1_000,
        }
    }
}

/// Decayed global popularity, excluding items the user has touched.
#[derive(Debug)]
pub struct Popularity {
    config: PopularityConfig,
    index: FastMap<i64, u32>,
    /// Per item: id, kind, decayed positive weight (stored scale).
    items: Vec<(i64, ItemKind, f64)>,
    decay: ForwardDecay,
    users: History<i64, Touch>,
    clock: i64,
    ranking: Vec<u32>,
    since_refresh: u32,
    observed: u64,
}

impl Default for Popularity {
    fn default() -> Self {
        Self::new(PopularityConfig::default())
    }
}

impl Popularity {
    /// An empty baseline.
    pub fn new(config: PopularityConfig) -> Self {
        Self {
            decay: ForwardDecay::with_half_life(config.half_life_ms),
            users: History::new(Keep::Last(config.user_history.max(1)), config.max_users),
            config,
            index: FastMap::default(),
            items: Vec::new(),
            clock: i64::MIN,
            ranking: Vec::new(),
            since_refresh: 0,
            observed: 0,
        }
    }

    /// Adds an item of the catalogue (it ranks once it has positive interactions).
    pub fn add_item(&mut self, item: &Item) {
        self.item_index(item.item_id, item.kind);
    }

    fn item_index(&mut self, item_id: i64, kind: ItemKind) -> u32 {
        if let Some(&i) = self.index.get(&item_id) {
            return i;
        }
        // Saturates far beyond any catalogue this serves rather than wrapping.
        let i = u32::try_from(self.items.len()).unwrap_or(u32::MAX);
        self.items.push((item_id, kind, 0.0));
        self.index.insert(item_id, i);
        i
    }

    /// Counts one interaction.
    pub fn observe(&mut self, interaction: &Interaction) {
        self.clock = self.clock.max(interaction.at);
        if let Some(factor) = self.decay.rebase(self.clock) {
            for (_, _, popularity) in &mut self.items {
                *popularity *= factor;
            }
        }
        let item = self.item_index(interaction.item_id, interaction.kind);
        let signal = Signal::of(interaction);
        self.users.record(
            &interaction.user_id,
            interaction.at,
            Touch {
                item,
                kind: signal.into(),
            },
        );
        if let Signal::Positive(weight) = signal {
            self.items[item as usize].2 += weight * self.decay.weight(interaction.at);
        }
        self.since_refresh += 1;
        self.observed += 1;
        if refresh_due(self.since_refresh, self.config.refresh_every, self.observed) {
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        self.since_refresh = 0;
        let mut scored: Vec<(u32, f64)> = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, (_, _, p))| *p > 0.0)
            .map(|(i, (_, _, p))| (i as u32, *p))
            .collect();
        let all = scored.len();
        top_n(&mut scored, all);
        self.ranking = scored.into_iter().map(|(i, _)| i).collect();
    }

    /// The `k` most popular items the user has not touched, most popular first.
    pub fn recommend(&self, user_id: i64, k: usize) -> Vec<Recommendation> {
        let seen = seen_items(self.users.get(&user_id));
        let now = self.decay.present(self.clock);
        self.ranking
            .iter()
            .filter(|&&i| seen.binary_search(&i).is_err())
            .take(k)
            .map(|&i| {
                let (item_id, kind, popularity) = self.items[i as usize];
                Recommendation {
                    item_id,
                    kind,
                    score: popularity * now,
                    reason: Reason::Popular,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::model::{Action, Device};

    fn play(user_id: i64, item_id: i64, at: i64) -> Interaction {
        Interaction {
            user_id,
            item_id,
            kind: ItemKind::Song,
            action: Action::Play,
            at,
            device: Device::Web,
            session_id: 1,
            ms_played: 60_000,
        }
    }

    #[test]
    fn ranks_by_decayed_popularity_excluding_seen() {
        let config = PopularityConfig {
            half_life_ms: 1_000,
            refresh_every: 1,
            ..PopularityConfig::default()
        };
        let mut baseline = Popularity::new(config);
        // Item 1: three old plays; item 2: two recent ones; item 3: one recent.
        for u in 0..3 {
            baseline.observe(&play(u, 1, 0));
        }
        for u in 3..5 {
            baseline.observe(&play(u, 2, 10_000));
        }
        baseline.observe(&play(5, 3, 10_000));
        let ids: Vec<i64> = baseline
            .recommend(99, 3)
            .iter()
            .map(|r| r.item_id)
            .collect();
        assert_eq!(ids, [2, 3, 1]);
        let ids: Vec<i64> = baseline.recommend(3, 3).iter().map(|r| r.item_id).collect();
        assert_eq!(ids, [3, 1]);
    }
}
