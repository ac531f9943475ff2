//! The online recommender: item-to-item co-occurrence over users' recent positive
//! interactions, with time decay, and creator, genre, popularity and trending components that
//! carry cold users and cold items.
//!
//! # Model
//!
//! Every interaction updates the model in O(pair window × neighbour list) time, and a query
//! scores a few hundred candidates; nothing is ever retrained.
//!
//! - **Co-occurrence.** When a user has a positive interaction with item `j` (a play of 30 s
//!   or more, a like, or a follow at half weight), each of their last few distinct positive
//!   items `i` gains weight on the edge `i → j` (and half as much on `j → i`): more for the
//!   item just before `j` than for older ones, and more within a session than across
//!   sessions. A skip of `j` right after `i` takes weight off `i → j`. Weights decay
//!   exponentially on event time (forward decay: stored values are never rewritten as time
//!   passes, and new evidence outweighs old evidence of the same size).
//! - **Similarity.** `i → j` is read as a transition probability: the edge's weight over all
//!   the weight that left `i`, plus a shrinkage constant so items seen a few times make no
//!   confident claims. It is damped by `j`'s popularity, so the hits every item co-occurs
//!   with do not crowd out the specific neighbours.
//! - **Query.** The user's recent distinct positive items, in two parts: a short-term one
//!   (the last item weighs most) and a long-term one (all alike). While a session is going
//!   on the short-term part dominates; when the user comes back after a break, the long-term
//!   part does, since a new session starts from taste more than from the last song.
//! - **Score.** A mixture ([`Mix`]) of (a) the similarity from the query's items, (b) the
//!   popularity of the query creators' items (more by the same artist or publisher), (c) the
//!   popularity of an item within its genre times the user's affinity for the genre, (d)
//!   global popularity, and (e) short-term popularity within the genre times the affinity
//!   (trending: new releases rise here first). The genre affinity is recent behaviour
//!   (positives for a genre, skips against it), with the profile's favourite genres as a
//!   prior that is all a cold user has. Items the user has touched are excluded.
//!
//! Skips also feed an optional item quality factor (`skip_quality`), off by default: in the
//! simulated data skips mostly say who was exposed to an item (listeners outside its genre)
//! rather than how good it is, which the positive-only counts already capture, and the
//! factor measured slightly worse. On real data it is worth re-measuring.
//!
//! # Memory
//!
//! Bounded by the configuration: neighbour lists keep at most twice `neighbours` entries
//! (pruned back to the heaviest `neighbours`, so pruning is amortised), each user keeps
//! their last `user_history` interactions (16 bytes each), and at most `max_users` users are
//! kept, the least recently active evicted first; with the defaults that is at most
//! 128 × 8 bytes per item and about 480 MB of user history at 100,000 heavy users. Items (the
//! catalogue) and profiles (the users table) are kept whole, as the catalogues are.

use std::collections::VecDeque;

use super::common::{
    FastMap, ForwardDecay, Signal, Touch, TouchKind, refresh_due, seen_items, top_n,
};
use super::model::{Interaction, Item, ItemKind, User};
use super::{History, Keep};
use serde::{Deserialize, Serialize};

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The song or podcast id.
    pub item_id: i64,
    /// Which kind of item.
    pub kind: ItemKind,
    /// The model's score (higher is better; comparable within one response only).
    pub score: f64,
    /// The component that contributed most, for display ("because you played …").
    pub reason: Reason,
}

/// Why an item was recommended: the largest component of its score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reason {
    /// Listeners of `item_id`, which the user liked recently, went on to this item.
    Similar {
        /// The user's item it is similar to.
        item_id: i64,
    },
    /// By the same artist or publisher as `item_id`, which the user liked recently.
    SameCreator {
        /// The user's item it shares a creator with.
        item_id: i64,
    },
    /// Popular in a genre the user likes.
    Genre {
        /// The genre.
        genre: String,
    },
    /// Popular overall.
    Popular,
    /// Taking off right now in a genre the user likes.
    Trending,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Similar { item_id } => write!(f, "listeners of #{item_id} played it"),
            Self::SameCreator { item_id } => write!(f, "same creator as #{item_id}"),
            Self::Genre { genre } => write!(f, "popular in {genre}"),
            Self::Popular => f.write_str("popular"),
            Self::Trending => f.write_str("trending in a genre you like"),
        }
    }
}

/// The weights of the score's components (see the module docs). Only ratios matter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    /// Co-occurrence similarity to the user's recent items.
    pub similar: f64,
    /// Popularity among the items of the creators of the user's recent items.
    pub creator: f64,
    /// Popularity within the genre, times the user's genre affinity.
    pub genre: f64,
    /// Global popularity.
    pub popular: f64,
    /// Short-term popularity within the genre, times the user's genre affinity: what the
    /// user's genres are playing right now (new releases rise here first).
    pub trending: f64,
}

/// How the [`Recommender`] learns and scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommenderConfig {
    /// Users kept (least recently active evicted beyond).
    pub max_users: usize,
    /// Interactions kept per user: their recent items, genre affinity and the items excluded
    /// from their recommendations.
    pub user_history: usize,
    /// Earlier distinct positive items each new positive item is paired with.
    pub pair_window: usize,
    /// Neighbours kept per item (lists are pruned from twice this to this).
    pub neighbours: usize,
    /// Recent distinct positive items a query starts from.
    pub query_items: usize,
    /// The short-term part of a query: weights fall by `e` every this many items back.
    pub query_recency: f64,
    /// Share of the short-term part in a query while the user's session is going on (the
    /// rest is the long-term part: all query items alike).
    pub session_focus: f64,
    /// Share of the short-term part when the user's last interaction is older than
    /// `session_gap_ms` (a new session starts from taste more than from the last item).
    pub new_session_focus: f64,
    /// Half-life of co-occurrence weights, in ms of event time.
    pub cooccurrence_half_life_ms: i64,
    /// Half-life of popularity and skip counts, in ms of event time.
    pub popularity_half_life_ms: i64,
    /// Half-life of the short-term popularity behind `mix.trending`, in ms of event time.
    pub trending_half_life_ms: i64,
    /// Pairs further apart than this (ms) count as different sessions.
    pub session_gap_ms: i64,
    /// Weight of a cross-session pair relative to an in-session one.
    pub cross_session: f64,
    /// Weight taken off an edge `i → j` when `j` is skipped right after `i`, relative to
    /// what a positive adds.
    pub skip_penalty: f64,
    /// Shrinkage of transition probabilities: pseudo-weight added to every item's outgoing
    /// total, in units of one in-session pair of adjacent positives.
    pub shrinkage: f64,
    /// Exponent of the popularity damping of similarities: an item's similarity is divided
    /// by `((p + mean) / (2·mean))^damping`, `p` its popularity and `mean` the mean over
    /// played items (0: no damping).
    pub popularity_damping: f64,
    /// Exponent of the skip-rate quality factor (0: skips do not affect scores).
    pub skip_quality: f64,
    /// Weight of a skip against its genre in the user's genre affinity, relative to a
    /// positive for it.
    pub genre_skip: f64,
    /// Pseudo-count of the profile's favourite genres in a user's genre affinity, in
    /// interactions: a cold user's affinity is mostly the profile, an active user's mostly
    /// behaviour.
    pub profile_prior: f64,
    /// The score's components.
    pub mix: Mix,
    /// Events between refreshes of the cached popularity rankings the candidates come from.
    pub refresh_every: u32,
}

impl Default for RecommenderConfig {
    /// Tuned by prequential evaluation on the simulated worlds ([`crate::music::eval`]):
    /// seeds 1–3 of the small world and 1–2 of the default one, checked on seeds 11–13.
    /// Memory and latency settings (`max_users`, `user_history`, `neighbours`) are sized
    /// for a service of about 100,000 active users.
    fn default() -> Self {
        Self {
            max_users: 100_000,
            user_history: 300,
            pair_window: 8,
            neighbours: 64,
            query_items: 30,
            query_recency: 0.6,
            session_focus: 0.7,
            new_session_focus: 0.1,
            cooccurrence_half_life_ms: 3 * 24 * 3_600_000,
            popularity_half_life_ms: 24 * 3_600_000,
            trending_half_life_ms: 3 * 3_600_000,
            session_gap_ms: 30 * 60_000,
            cross_session: 0.3,
            skip_penalty: 0.25,
            shrinkage: 10.0,
            popularity_damping: 0.3,
            skip_quality: 0.0,
            genre_skip: 1.0,
            profile_prior: 5.0,
            mix: Mix {
                similar: 0.5,
                creator: 0.25,
                genre: 0.25,
                popular: 0.1,
                trending: 0.2,
            },
            refresh_every: 1_000,
        }
    }
}

/// Marks items with no known creator (seen in interactions before their catalogue row).
const NO_CREATOR: u32 = u32::MAX;
/// Candidates taken from each of the user's top genres' rankings.
const GENRE_CANDIDATES: usize = 60;
/// Candidates taken from the global ranking (more if `k` is larger).
const POPULAR_CANDIDATES: usize = 60;
/// Candidates taken from each of the query's creators (their most popular items).
const CREATOR_CANDIDATES: usize = 100;
/// Genres whose rankings supply candidates.
const CANDIDATE_GENRES: usize = 3;
/// Ranking lengths kept per genre and overall: candidates plus room for seen items.
const RANKING_LEN: usize = 400;

#[derive(Debug, Clone)]
struct ItemState {
    id: i64,
    kind: ItemKind,
    genre: u16,
    creator: u32,
    /// Decayed positive weight (popularity clock, stored scale).
    popularity: f64,
    /// Decayed skips (popularity clock, stored scale).
    skips: f64,
    /// Decayed positive weight on the trending clock (stored scale).
    trending: f64,
    /// Decayed co-occurrence weight that left this item, pruned edges included
    /// (co-occurrence clock, stored scale).
    out: f64,
    /// Heaviest co-occurring items and their decayed weights (co-occurrence clock).
    neighbours: Vec<(u32, f32)>,
}

/// The online recommender. See the module docs for the model.
#[derive(Debug)]
pub struct Recommender {
    config: RecommenderConfig,
    index: FastMap<i64, u32>,
    items: Vec<ItemState>,
    genres: Vec<String>,
    genre_index: FastMap<String, u16>,
    creator_index: FastMap<String, u32>,
    /// Per creator: their items and their total popularity.
    creators: Vec<(Vec<u32>, f64)>,
    genre_popularity: Vec<f64>,
    total_popularity: f64,
    genre_trending: Vec<f64>,
    profiles: FastMap<i64, Vec<u16>>,
    users: History<i64, Touch>,
    cooccurrence: ForwardDecay,
    popularity: ForwardDecay,
    trending: ForwardDecay,
    /// The latest event time seen: the model's "now".
    clock: i64,
    /// Items by popularity, overall and per genre (refreshed every `refresh_every` events).
    ranking: Vec<u32>,
    genre_ranking: Vec<Vec<u32>>,
    /// Items by trending popularity (refreshed with the others).
    trending_ranking: Vec<u32>,
    since_refresh: u32,
    /// Items with a positive popularity at the last refresh.
    popular_items: usize,
    /// Interactions observed.
    observed: u64,
    /// Reused by `observe`: the earlier positive items a new one pairs with.
    scratch: Vec<(u32, i64)>,
}

impl Default for Recommender {
    fn default() -> Self {
        Self::new(RecommenderConfig::default())
    }
}

impl Recommender {
    /// An empty model.
    pub fn new(config: RecommenderConfig) -> Self {
        let users = History::new(Keep::Last(config.user_history.max(1)), config.max_users);
        Self {
            cooccurrence: ForwardDecay::with_half_life(config.cooccurrence_half_life_ms),
            popularity: ForwardDecay::with_half_life(config.popularity_half_life_ms),
            trending: ForwardDecay::with_half_life(config.trending_half_life_ms),
            config,
            index: FastMap::default(),
            items: Vec::new(),
            genres: Vec::new(),
            genre_index: FastMap::default(),
            creator_index: FastMap::default(),
            creators: Vec::new(),
            genre_popularity: Vec::new(),
            total_popularity: 0.0,
            genre_trending: Vec::new(),
            profiles: FastMap::default(),
            users,
            clock: i64::MIN,
            ranking: Vec::new(),
            genre_ranking: Vec::new(),
            trending_ranking: Vec::new(),
            since_refresh: 0,
            popular_items: 0,
            observed: 0,
            scratch: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RecommenderConfig {
        &self.config
    }

    /// Items known (catalogued or seen in interactions).
    pub fn items(&self) -> usize {
        self.items.len()
    }

    /// Users with a history held now.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    fn genre(&mut self, name: &str) -> u16 {
        if let Some(&g) = self.genre_index.get(name) {
            return g;
        }
        // Genres are a short list (tens); u16 is far beyond any catalogue's.
        let g = u16::try_from(self.genres.len()).unwrap_or(u16::MAX);
        self.genres.push(name.to_string());
        self.genre_index.insert(name.to_string(), g);
        self.genre_popularity.push(0.0);
        self.genre_trending.push(0.0);
        self.genre_ranking.push(Vec::new());
        g
    }

    fn creator(&mut self, name: &str) -> u32 {
        if let Some(&c) = self.creator_index.get(name) {
            return c;
        }
        let c = u32::try_from(self.creators.len()).unwrap_or(NO_CREATOR);
        self.creators.push((Vec::new(), 0.0));
        self.creator_index.insert(name.to_string(), c);
        c
    }

    /// Adds an item of the merged catalogue (or updates it: an item seen in interactions
    /// before its catalogue row gets its genre and creator now).
    pub fn add_item(&mut self, item: &Item) {
        let genre = self.genre(&item.genre);
        let creator = self.creator(&item.creator);
        let index = self.item_index(item.item_id, item.kind);
        let state = &mut self.items[index as usize];
        state.kind = item.kind;
        let popularity = state.popularity;
        if state.genre != genre {
            self.genre_popularity[usize::from(state.genre)] -= popularity;
            self.genre_popularity[usize::from(genre)] += popularity;
            self.genre_trending[usize::from(state.genre)] -= state.trending;
            self.genre_trending[usize::from(genre)] += state.trending;
            state.genre = genre;
        }
        if state.creator != creator {
            if let Some((items, total)) = self.creators.get_mut(state.creator as usize) {
                items.retain(|&i| i != index);
                *total -= popularity;
            }
            if let Some((items, total)) = self.creators.get_mut(creator as usize) {
                items.push(index);
                *total += popularity;
            }
            state.creator = creator;
        }
    }

    /// Adds a user's profile: their favourite genres are the prior of their genre affinity,
    /// which is all a cold user has.
    pub fn add_user(&mut self, user: &User) {
        let genres = user
            .favourite_genres
            .iter()
            .map(|name| self.genre(name))
            .collect();
        self.profiles.insert(user.user_id, genres);
    }

    /// The dense index of an item, registering it (genre "unknown", no creator) if new.
    fn item_index(&mut self, item_id: i64, kind: ItemKind) -> u32 {
        if let Some(&i) = self.index.get(&item_id) {
            return i;
        }
        let genre = self.genre("unknown");
        // Four billion items is beyond any catalogue this serves; saturate rather than wrap.
        let i = u32::try_from(self.items.len()).unwrap_or(u32::MAX - 1);
        self.items.push(ItemState {
            id: item_id,
            kind,
            genre,
            creator: NO_CREATOR,
            popularity: 0.0,
            skips: 0.0,
            trending: 0.0,
            out: 0.0,
            neighbours: Vec::new(),
        });
        self.index.insert(item_id, i);
        i
    }

    /// Learns from one interaction (in any order; event time drives the decay).
    pub fn observe(&mut self, interaction: &Interaction) {
        self.clock = self.clock.max(interaction.at);
        self.rebase();
        let item = self.item_index(interaction.item_id, interaction.kind);
        let signal = Signal::of(interaction);
        let at = interaction.at;
        let log = self.users.record(
            &interaction.user_id,
            at,
            Touch {
                item,
                kind: signal.into(),
            },
        );

        // The earlier distinct positive items (the new touch is the log's last entry).
        let window = match signal {
            Signal::Positive(_) => self.config.pair_window,
            // A skip only counts against what was playing just before it.
            Signal::Skip => 2,
            Signal::Neutral => 0,
        };
        self.scratch.clear();
        let mut repeat = false;
        for &(t, touch) in log.iter().rev().skip(1) {
            if self.scratch.len() >= window {
                break;
            }
            if touch.kind != TouchKind::Positive {
                continue;
            }
            if touch.item == item {
                // The user already had this item among their recent positives: its pairs
                // were counted then (replays and likes after a play add no new evidence).
                repeat = true;
                break;
            }
            if !self.scratch.iter().any(|&(i, _)| i == touch.item) {
                self.scratch.push((touch.item, t));
            }
        }

        match signal {
            Signal::Positive(weight) => {
                let w = weight * self.popularity.weight(at);
                let trend = weight * self.trending.weight(at);
                let state = &mut self.items[item as usize];
                state.popularity += w;
                state.trending += trend;
                self.genre_popularity[usize::from(state.genre)] += w;
                self.genre_trending[usize::from(state.genre)] += trend;
                if let Some((_, total)) = self.creators.get_mut(state.creator as usize) {
                    *total += w;
                }
                self.total_popularity += w;
                if !repeat {
                    let w = weight * self.cooccurrence.weight(at);
                    for rank in 0..self.scratch.len() {
                        let (other, t) = self.scratch[rank];
                        let s = w * self.proximity(rank, at - t);
                        self.add_edge(other, item, s);
                        // The reverse direction is weaker evidence (listening has an order).
                        self.add_edge(item, other, 0.5 * s);
                    }
                }
            }
            Signal::Skip => {
                self.items[item as usize].skips += self.popularity.weight(at);
                let w = self.config.skip_penalty * self.cooccurrence.weight(at);
                for rank in 0..self.scratch.len() {
                    let (other, t) = self.scratch[rank];
                    if at - t <= self.config.session_gap_ms {
                        self.weaken_edge(other, item, w * self.proximity(rank, 0));
                    }
                }
            }
            Signal::Neutral => {}
        }

        self.since_refresh += 1;
        self.observed += 1;
        if refresh_due(self.since_refresh, self.config.refresh_every, self.observed) {
            self.refresh();
        }
    }

    /// How much a pair counts: less the further back the earlier item is in the user's
    /// positives, and less across sessions.
    fn proximity(&self, rank: usize, gap_ms: i64) -> f64 {
        let session = if gap_ms <= self.config.session_gap_ms {
            1.0
        } else {
            self.config.cross_session
        };
        session / (1.0 + rank as f64)
    }

    fn add_edge(&mut self, from: u32, to: u32, weight: f64) {
        let cap = self.config.neighbours.max(1);
        let state = &mut self.items[from as usize];
        state.out += weight;
        if let Some(entry) = state.neighbours.iter_mut().find(|(j, _)| *j == to) {
            entry.1 += weight as f32;
            return;
        }
        if state.neighbours.len() >= 2 * cap {
            // Keep the heaviest `cap` (ties by id, for determinism). Forward decay makes new
            // weights larger than old ones of the same worth, so fresh pairs compete fairly.
            let heavier = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
            state.neighbours.select_nth_unstable_by(cap - 1, heavier);
            state.neighbours.truncate(cap);
        }
        state.neighbours.push((to, weight as f32));
    }

    fn weaken_edge(&mut self, from: u32, to: u32, weight: f64) {
        let state = &mut self.items[from as usize];
        if let Some(entry) = state.neighbours.iter_mut().find(|(j, _)| *j == to) {
            entry.1 = (entry.1 - weight as f32).max(0.0);
        }
    }

    /// Moves the decays' origins forward when their factors grow large, rescaling every
    /// stored value (rare: every ~29 half-lives of event time).
    fn rebase(&mut self) {
        if let Some(factor) = self.cooccurrence.rebase(self.clock) {
            for state in &mut self.items {
                state.out *= factor;
                for entry in &mut state.neighbours {
                    entry.1 = (f64::from(entry.1) * factor) as f32;
                }
            }
        }
        if let Some(factor) = self.popularity.rebase(self.clock) {
            for state in &mut self.items {
                state.popularity *= factor;
                state.skips *= factor;
            }
            for (_, total) in &mut self.creators {
                *total *= factor;
            }
            for total in &mut self.genre_popularity {
                *total *= factor;
            }
            self.total_popularity *= factor;
        }
        if let Some(factor) = self.trending.rebase(self.clock) {
            for state in &mut self.items {
                state.trending *= factor;
            }
            for total in &mut self.genre_trending {
                *total *= factor;
            }
        }
    }

    /// Recomputes the cached rankings candidates come from, and sorts each creator's items
    /// by popularity.
    fn refresh(&mut self) {
        self.since_refresh = 0;
        let items = &self.items;
        for (list, _) in &mut self.creators {
            list.sort_unstable_by(|&a, &b| {
                let (pa, pb) = (items[a as usize].popularity, items[b as usize].popularity);
                pb.total_cmp(&pa).then(a.cmp(&b))
            });
        }
        let mut scored: Vec<(u32, f64)> = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, s)| s.popularity > 0.0)
            .map(|(i, s)| (i as u32, s.popularity))
            .collect();
        let all = scored.len();
        self.popular_items = all;
        top_n(&mut scored, all);
        for ranking in &mut self.genre_ranking {
            ranking.clear();
        }
        for &(i, _) in &scored {
            let ranking = &mut self.genre_ranking[usize::from(self.items[i as usize].genre)];
            if ranking.len() < RANKING_LEN {
                ranking.push(i);
            }
        }
        self.ranking.clear();
        self.ranking
            .extend(scored.iter().take(RANKING_LEN).map(|&(i, _)| i));

        let mut trending: Vec<(u32, f64)> = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, s)| s.trending > 0.0)
            .map(|(i, s)| (i as u32, s.trending))
            .collect();
        top_n(&mut trending, RANKING_LEN);
        self.trending_ranking.clear();
        self.trending_ranking
            .extend(trending.into_iter().map(|(i, _)| i));
    }

    /// The top `k` items for the user (at most `k`), best first, excluding the items in
    /// their retained history (`user_history`). "Now" is the latest event time observed,
    /// so a query answers as of the stream's position. Unknown users get their profile's
    /// genres (if [`Recommender::add_user`] was called), else what is popular.
    pub fn recommend(&self, user_id: i64, k: usize) -> Vec<Recommendation> {
        if k == 0 || self.items.is_empty() {
            return Vec::new();
        }
        let log = self.users.get(&user_id);
        let seen = seen_items(log);
        let query = self.query(log);
        let affinity = self.genre_affinity(user_id, log);
        let candidates = self.candidates(&query, &affinity, &seen, k);

        let mix = self.config.mix;
        let (w_similar, w_creator) = if query.is_empty() {
            (0.0, 0.0)
        } else {
            (mix.similar, mix.creator)
        };
        // Popularity ratios are scale-free, so stored (forward-decayed) values serve as they
        // are; only absolute pseudo-counts need the present scale.
        let pop_now = self.popularity.present(self.clock);
        let mean_popularity = self.total_popularity / self.popular_items.max(1) as f64;
        let mut scored: Vec<Scored> = candidates
            .into_iter()
            .map(|(j, c)| {
                let state = &self.items[j as usize];
                let p = state.popularity;
                let damping = if self.config.popularity_damping > 0.0 && mean_popularity > 0.0 {
                    // 1 for an item of mean popularity, less above, more below (at most
                    // 2^damping for an item never played).
                    ((p + mean_popularity) / (2.0 * mean_popularity))
                        .powf(-self.config.popularity_damping)
                } else {
                    1.0
                };
                let genre = usize::from(state.genre);
                let genre_total = self.genre_popularity[genre];
                let genre_trend = self.genre_trending[genre];
                let parts = [
                    w_similar * c.similar * damping,
                    w_creator * c.creator,
                    if genre_total > 0.0 {
                        mix.genre * affinity[genre] * p / genre_total
                    } else {
                        0.0
                    },
                    if self.total_popularity > 0.0 {
                        mix.popular * p / self.total_popularity
                    } else {
                        0.0
                    },
                    if genre_trend > 0.0 {
                        mix.trending * affinity[genre] * state.trending / genre_trend
                    } else {
                        0.0
                    },
                ];
                // The share of plays that were not skips, smoothed by one play (in present
                // units) so items with little data are neither boosted nor sunk.
                let prior = 1.0 / pop_now;
                let quality =
                    ((p + prior) / (p + state.skips + prior)).powf(self.config.skip_quality);
                Scored {
                    item: j,
                    score: parts.iter().sum::<f64>() * quality,
                    parts,
                    candidate: c,
                }
            })
            .collect();
        let better = |a: &Scored, b: &Scored| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item));
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, better);
            scored.truncate(k);
        }
        scored.sort_unstable_by(better);
        scored
            .into_iter()
            .map(|s| {
                let state = &self.items[s.item as usize];
                Recommendation {
                    item_id: state.id,
                    kind: state.kind,
                    score: s.score,
                    reason: self.reason(&s),
                }
            })
            .collect()
    }

    /// The candidates and their similarity and creator components: the neighbours of the
    /// query, the popular items of the query's creators, the top of the user's genres and of
    /// everything; none of them seen.
    fn candidates(
        &self,
        query: &[(u32, f64)],
        affinity: &[f64],
        seen: &[u32],
        k: usize,
    ) -> FastMap<u32, Candidate> {
        let is_seen = |i: u32| seen.binary_search(&i).is_ok();
        let mut candidates: FastMap<u32, Candidate> = FastMap::default();
        let co_now = self.cooccurrence.present(self.clock);
        for &(q, r) in query {
            let state = &self.items[q as usize];
            let denominator = state.out * co_now + self.config.shrinkage;
            for &(j, weight) in &state.neighbours {
                if weight <= 0.0 || is_seen(j) {
                    continue;
                }
                let v = r * f64::from(weight) * co_now / denominator;
                let c = candidates.entry(j).or_default();
                c.similar += v;
                if v > c.similar_best {
                    c.similar_best = v;
                    c.similar_from = q;
                }
            }
        }
        if self.config.mix.creator > 0.0 {
            // Each creator once, with the query weight of all their items (and the heaviest
            // as the reason).
            let mut creators: Vec<(u32, f64, u32)> = Vec::new();
            for &(q, r) in query {
                let creator = self.items[q as usize].creator;
                match creators.iter_mut().find(|(c, _, _)| *c == creator) {
                    Some(entry) => entry.1 += r,
                    None => creators.push((creator, r, q)),
                }
            }
            for (creator, r, q) in creators {
                let Some((items, total)) = self.creators.get(creator as usize) else {
                    continue;
                };
                if *total <= 0.0 {
                    continue;
                }
                // The lists are sorted by popularity at each refresh: the head is what
                // matters, and big catalogues ("Various Artists") stay cheap.
                for &j in items.iter().take(CREATOR_CANDIDATES) {
                    let p = self.items[j as usize].popularity;
                    if p <= 0.0 || is_seen(j) {
                        continue;
                    }
                    let v = r * p / total;
                    let c = candidates.entry(j).or_default();
                    c.creator += v;
                    if v > c.creator_best {
                        c.creator_best = v;
                        c.creator_from = q;
                    }
                }
            }
        }
        let mut top_genres: Vec<(u32, f64)> = affinity
            .iter()
            .enumerate()
            .map(|(g, &a)| (g as u32, a))
            .filter(|&(_, a)| a > 0.0)
            .collect();
        top_n(&mut top_genres, CANDIDATE_GENRES);
        for &(g, _) in &top_genres {
            for &j in self.genre_ranking[g as usize]
                .iter()
                .filter(|&&j| !is_seen(j))
                .take(GENRE_CANDIDATES)
            {
                candidates.entry(j).or_default();
            }
        }
        for &j in self
            .ranking
            .iter()
            .filter(|&&j| !is_seen(j))
            .take(POPULAR_CANDIDATES.max(k))
        {
            candidates.entry(j).or_default();
        }
        if self.config.mix.trending > 0.0 {
            for &j in self
                .trending_ranking
                .iter()
                .filter(|&&j| !is_seen(j))
                .take(POPULAR_CANDIDATES)
            {
                candidates.entry(j).or_default();
            }
        }
        candidates
    }

    /// The largest component of a score, as a reason.
    fn reason(&self, scored: &Scored) -> Reason {
        let [similar, creator, in_genre, popular, trending] = scored.parts;
        let c = &scored.candidate;
        if trending > 0.0 && trending >= similar.max(creator).max(in_genre).max(popular) {
            Reason::Trending
        } else if similar > 0.0 && similar >= creator.max(in_genre).max(popular) {
            Reason::Similar {
                item_id: self.items[c.similar_from as usize].id,
            }
        } else if creator > 0.0 && creator >= in_genre.max(popular) {
            Reason::SameCreator {
                item_id: self.items[c.creator_from as usize].id,
            }
        } else if in_genre > 0.0 && in_genre >= popular {
            let genre = usize::from(self.items[scored.item as usize].genre);
            Reason::Genre {
                genre: self.genres[genre].clone(),
            }
        } else {
            Reason::Popular
        }
    }

    /// The items a query starts from and their weights (summing to 1): the user's recent
    /// distinct positive items, mixing a short-term part (the last few, the last most) and a
    /// long-term part (all alike), the short-term one weighing more while a session is
    /// going on.
    fn query(&self, log: Option<&VecDeque<(i64, Touch)>>) -> Vec<(u32, f64)> {
        let Some(log) = log else {
            return Vec::new();
        };
        let mut query: Vec<(u32, f64)> = Vec::with_capacity(self.config.query_items);
        for (_, touch) in log.iter().rev() {
            if query.len() >= self.config.query_items {
                break;
            }
            if touch.kind == TouchKind::Positive && !query.iter().any(|&(i, _)| i == touch.item) {
                let w = (-(query.len() as f64) / self.config.query_recency.max(1e-9)).exp();
                query.push((touch.item, w));
            }
        }
        let in_session = log
            .back()
            .is_some_and(|(t, _)| self.clock - t <= self.config.session_gap_ms);
        let focus = if in_session {
            self.config.session_focus
        } else {
            self.config.new_session_focus
        };
        let short: f64 = query.iter().map(|(_, w)| w).sum();
        let n = query.len() as f64;
        for (_, w) in &mut query {
            *w = focus * *w / short + (1.0 - focus) / n;
        }
        query
    }

    /// The user's affinity per genre: recent behaviour (positives for, skips against), the
    /// profile's genres as a prior, and a little of every genre's global share; sums to 1.
    fn genre_affinity(&self, user_id: i64, log: Option<&VecDeque<(i64, Touch)>>) -> Vec<f64> {
        let mut affinity = vec![0.0; self.genres.len()];
        if let Some(log) = log {
            for (back, (_, touch)) in log.iter().rev().enumerate() {
                // Recent behaviour weighs more: e-fold every 100 interactions back.
                let w = (-(back as f64) / 100.0).exp();
                let genre = usize::from(self.items[touch.item as usize].genre);
                match touch.kind {
                    TouchKind::Positive => affinity[genre] += w,
                    TouchKind::Skip => affinity[genre] -= self.config.genre_skip * w,
                    TouchKind::Neutral => {}
                }
            }
            for a in &mut affinity {
                *a = a.max(0.0);
            }
        }
        if let Some(profile) = self.profiles.get(&user_id)
            && !profile.is_empty()
        {
            let share = self.config.profile_prior / profile.len() as f64;
            for &g in profile {
                affinity[usize::from(g)] += share;
            }
        }
        // A little of everything, by global share: nobody's taste is closed.
        if self.total_popularity > 0.0 {
            for (a, total) in affinity.iter_mut().zip(&self.genre_popularity) {
                *a += 0.5 * total / self.total_popularity;
            }
        }
        let sum: f64 = affinity.iter().sum();
        if sum > 0.0 {
            for a in &mut affinity {
                *a /= sum;
            }
        }
        affinity
    }
}

/// A scored candidate: its score's parts (similar, creator, genre, popular, trending) and
/// total.
#[derive(Debug, Clone, Copy)]
struct Scored {
    item: u32,
    score: f64,
    parts: [f64; 5],
    candidate: Candidate,
}

/// A candidate's components while scoring.
#[derive(Debug, Default, Clone, Copy)]
struct Candidate {
    similar: f64,
    similar_best: f64,
    similar_from: u32,
    creator: f64,
    creator_best: f64,
    creator_from: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::model::{Action, Device};

    fn item(id: i64, genre: &str, creator: &str) -> Item {
        Item {
            item_id: id,
            kind: ItemKind::Song,
            title: format!("song {id}"),
            creator: creator.to_string(),
            genre: genre.to_string(),
            duration_ms: 200_000,
            released_at: Some(0),
        }
    }

    fn play(user_id: i64, item_id: i64, at: i64) -> Interaction {
        Interaction {
            user_id,
            item_id,
            kind: ItemKind::Song,
            action: Action::Play,
            at,
            device: Device::Mobile,
            session_id: user_id,
            ms_played: 180_000,
        }
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn is_send_and_sync() {
        assert_send_sync::<Recommender>();
        assert_send_sync::<crate::music::Popularity>();
        assert_send_sync::<crate::music::Evaluator>();
    }

    #[test]
    fn learns_item_to_item_transitions() {
        let mut model = Recommender::default();
        for id in 1..=20 {
            model.add_item(&item(id, "rock", &format!("artist {id}")));
        }
        // Many users play 1 then 2; item 3 is popular on its own.
        for u in 0..30 {
            model.observe(&play(u, 1, u * 1_000_000));
            model.observe(&play(u, 2, u * 1_000_000 + 200_000));
            model.observe(&play(100 + u, 3, u * 1_000_000));
            model.observe(&play(200 + u, 3, u * 1_000_000));
        }
        model.observe(&play(999, 1, 40_000_000));
        let recs = model.recommend(999, 3);
        assert_eq!(recs.first().map(|r| r.item_id), Some(2));
        assert_eq!(recs[0].reason, Reason::Similar { item_id: 1 });
        assert!(
            recs.iter().all(|r| r.item_id != 1),
            "seen items are excluded"
        );
    }

    #[test]
    fn cold_users_get_their_profile_genres() {
        let mut model = Recommender::default();
        model.add_item(&item(1, "jazz", "a"));
        model.add_item(&item(2, "metal", "b"));
        for u in 0..10 {
            model.observe(&play(u, 2, u));
        }
        for u in 0..3 {
            model.observe(&play(u, 1, 100 + u));
        }
        model.add_user(&User {
            user_id: 77,
            name: "Ana".into(),
            country: "SE".into(),
            signed_up_at: 0,
            favourite_genres: vec!["jazz".into()],
        });
        let recs = model.recommend(77, 1);
        assert_eq!(recs.first().map(|r| r.item_id), Some(1));
        assert_eq!(
            recs[0].reason,
            Reason::Genre {
                genre: "jazz".into()
            }
        );
    }

    #[test]
    fn is_deterministic() {
        let world = crate::music::World::generate(crate::music::WorldConfig::small(), 2);
        let run = || {
            let mut model = Recommender::default();
            let mut baseline = crate::music::Popularity::default();
            crate::music::load(&world, &mut model, &mut baseline);
            for event in world.events().take(10_000) {
                match event {
                    crate::music::MusicEvent::Interaction(i) => model.observe(&i),
                    crate::music::MusicEvent::Released(song) => model.add_item(&Item::from(&song)),
                }
            }
            (1..=50).map(|u| model.recommend(u, 10)).collect::<Vec<_>>()
        };
        let first = run();
        assert!(first.iter().any(|recs| recs.len() == 10));
        assert_eq!(first, run());
    }

    #[test]
    fn users_are_bounded() {
        let config = RecommenderConfig {
            max_users: 10,
            ..RecommenderConfig::default()
        };
        let mut model = Recommender::new(config);
        for u in 0..100 {
            model.observe(&play(u, u % 7, u));
        }
        assert_eq!(model.users(), 10);
    }

    #[test]
    fn neighbour_lists_stay_bounded() {
        let config = RecommenderConfig {
            neighbours: 4,
            ..RecommenderConfig::default()
        };
        let mut model = Recommender::new(config);
        for u in 0..200 {
            model.observe(&play(u, 1, u * 10));
            model.observe(&play(u, 100 + u, u * 10 + 1));
        }
        assert!(model.items.iter().all(|s| s.neighbours.len() <= 8));
    }

    #[test]
    fn unknown_items_are_learned_and_catalogued_later() {
        let mut model = Recommender::default();
        model.observe(&play(1, 5, 0));
        assert_eq!(model.items(), 1);
        model.add_item(&item(5, "folk", "x"));
        assert_eq!(model.items(), 1);
        let folk = usize::from(model.genre_index["folk"]);
        assert!(model.genre_popularity[folk] > 0.0);
    }
}
