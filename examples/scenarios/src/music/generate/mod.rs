//! A synthetic music service: catalogues and an interaction stream with the structure real
//! listening data has, deterministic from a seed.
//!
//! The point is to exercise a recommender honestly, so the structure is the kind a model can
//! learn from behaviour but not read off the data:
//!
//! - **Catalogue.** 16 genres (12 music, 4 podcast) with Zipf popularity. Artists belong to a
//!   genre, have Zipf popularity within it and a few related artists; their songs come in
//!   albums, with Zipf hits among them tilted by each song's appeal. A chart (the top 100
//!   overall) reaches listeners of every genre. Podcast shows belong to publishers. Song ids
//!   are shuffled, so an id says nothing about artist or album.
//! - **Users.** Taste: 1–3 core music genres, plus a breadth of 10–40% of picks going to any
//!   genre by global popularity, plus some chart picks; a few favourite artists; a replay
//!   habit; an activity level (log-normal, capped: a few heavy users, a long tail); a primary
//!   device; some are podcast fans. The profile's favourite genres are the core genres, but
//!   stale for some (one dropped, a stray one added). Some users sign up while the stream
//!   runs and listen a little: the cold users.
//! - **Sessions.** Each user's sessions are spread over the days with a daily rhythm and
//!   never overlap. Within a song session, listening wanders: the album's next track, more
//!   of the artist, a related artist, the genre's hits, a favourite again, or back to the
//!   user's taste; a skip sends the user back to their taste. So there is item-to-item
//!   structure, but noisy. Podcast sessions are a few episodes, of known shows first, then of
//!   the user's podcast genres or the same publisher.
//! - **Signals.** Skips are likelier off-taste and on songs of little appeal; likes and
//!   follows come with good plays; plays last most of the item, skips under 30 s.
//! - **Releases.** 3% more songs are released while the stream runs, by artists picked by
//!   popularity; a quarter of them are hyped and drawn by their genre's listeners right
//!   away, the pull halving every day.
//!
//! Everything is drawn from [`StdRng`]s seeded from the seed, with no hash-order or clock
//! dependence, so a `(config, seed)` pair always yields the same world and the same stream
//! (with this version of `rand`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

mod catalogue;
mod listeners;
mod stream;

use catalogue::{Genres, Podcasts, SimItem, Songs};
use listeners::{Plan, Taste, generate_users, plan_sessions};
pub use stream::Events;

use super::model::{
    Action, Device, Interaction, Item, ItemKind, MusicEvent, PODCAST_ID_BASE, Podcast, Song, User,
    merge_catalogue,
};

const MUSIC_GENRES: [&str; 12] = [
    "pop",
    "rock",
    "hip-hop",
    "electronic",
    "r&b",
    "indie",
    "latin",
    "country",
    "jazz",
    "classical",
    "metal",
    "folk",
];
const PODCAST_GENRES: [&str; 4] = ["news", "comedy", "true-crime", "technology"];
/// Typical song length per music genre, in seconds (same order as [`MUSIC_GENRES`]).
const GENRE_SECONDS: [f64; 12] = [
    200.0, 240.0, 210.0, 300.0, 220.0, 230.0, 210.0, 200.0, 330.0, 420.0, 280.0, 230.0,
];
const COUNTRIES: [(&str, f64); 10] = [
    ("US", 0.30),
    ("GB", 0.10),
    ("DE", 0.09),
    ("BR", 0.09),
    ("MX", 0.07),
    ("FR", 0.07),
    ("JP", 0.07),
    ("IN", 0.08),
    ("SE", 0.05),
    ("ES", 0.08),
];
const DEVICES: [(Device, f64); 4] = [
    (Device::Mobile, 0.55),
    (Device::Desktop, 0.2),
    (Device::Speaker, 0.1),
    (Device::Web, 0.15),
];
/// Relative session starts per hour of day (UTC; one market's rhythm is enough here).
const HOURLY: [f64; 24] = [
    0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 0.9, 1.1, 0.9, 0.8, 0.8, 0.9, 0.9, 0.8, 0.8, 0.9, 1.1, 1.3,
    1.4, 1.4, 1.2, 0.9, 0.5,
];
const WORDS: [&str; 32] = [
    "Midnight", "Golden", "Electric", "Silent", "Broken", "Neon", "Wild", "Paper", "Velvet",
    "Crystal", "Summer", "Hollow", "Burning", "Lonely", "Distant", "Shadow", "River", "Heart",
    "Echo", "Fire", "Dream", "Ocean", "Road", "Light", "Storm", "Garden", "Mirror", "City", "Rain",
    "Star", "Ghost", "Wolves",
];
const FIRST_NAMES: [&str; 16] = [
    "Ana", "Ben", "Chloe", "Diego", "Emma", "Farid", "Greta", "Hiro", "Ines", "Jon", "Kemi",
    "Liam", "Maya", "Noah", "Olga", "Priya",
];

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// 2024-06-01T00:00:00Z, the default start of simulated time.
const DEFAULT_START_MS: i64 = 1_717_200_000_000;
/// Interactions per item played or skipped: likes and follows come on top.
const EVENTS_PER_PLAY: f64 = 1.08;
/// Songs in the chart.
const CHART_LEN: usize = 100;
/// Favourites a user replays from.
const FAVOURITES: usize = 60;

/// The size and shape of a generated world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldConfig {
    /// Users, cold users included.
    pub users: usize,
    /// Songs in the catalogue when the stream starts (at least 1; 0 is taken as 1).
    pub songs: usize,
    /// Podcast shows.
    pub podcasts: usize,
    /// Interactions in the stream (approximately: whole sessions are generated).
    pub interactions: usize,
    /// Simulated days the stream covers.
    pub days: u32,
    /// Start of simulated time, epoch ms.
    pub start_ms: i64,
    /// Songs released while the stream runs, as a share of `songs`.
    pub release_share: f64,
    /// Share of users who sign up while the stream runs (and listen little).
    pub cold_user_share: f64,
    /// Share of users who listen to podcasts.
    pub podcast_fan_share: f64,
}

impl Default for WorldConfig {
    /// The demo world: 2,000 users, 5,000 songs, 500 podcasts, 200,000 interactions over four
    /// days.
    fn default() -> Self {
        Self {
            users: 2_000,
            songs: 5_000,
            podcasts: 500,
            interactions: 200_000,
            days: 4,
            start_ms: DEFAULT_START_MS,
            release_share: 0.03,
            cold_user_share: 0.1,
            podcast_fan_share: 0.3,
        }
    }
}

impl WorldConfig {
    /// A world for tests: 500 users, 1,500 songs, 150 podcasts, 20,000 interactions over two
    /// days.
    pub fn small() -> Self {
        Self {
            users: 500,
            songs: 1_500,
            podcasts: 150,
            interactions: 20_000,
            days: 2,
            ..Self::default()
        }
    }

    /// End of simulated time, epoch ms.
    pub fn end_ms(&self) -> i64 {
        self.start_ms + i64::from(self.days) * DAY_MS
    }
}

/// Draws indices in proportion to weights (cumulative sums and a binary search).
#[derive(Debug, Clone, Default)]
struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        Self { cumulative }
    }

    /// An index, or `None` if there are no weights or they are all zero.
    fn sample(&self, rng: &mut StdRng) -> Option<usize> {
        let total = *self.cumulative.last()?;
        if total <= 0.0 {
            return None;
        }
        let x = rng.random::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        Some(i.min(self.cumulative.len() - 1))
    }
}

/// A random permutation of `0..n`.
fn permutation(n: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    order
}

/// Zipf weights `1/(rank+1)^s` over a random order of `n` entries.
fn shuffled_zipf(n: usize, s: f64, rng: &mut StdRng) -> Vec<f64> {
    let mut weights = vec![0.0; n];
    for (rank, i) in permutation(n, rng).into_iter().enumerate() {
        weights[i] = 1.0 / ((rank + 1) as f64).powf(s);
    }
    weights
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// One of `items`, in proportion to the weights (linear: for short lists); `None` if empty.
fn pick<'a, T>(items: &'a [(T, f64)], rng: &mut StdRng) -> Option<&'a T> {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return Some(item);
        }
        x -= w;
    }
    // Rounding left a sliver past the last weight: the last item owns it.
    items.last().map(|(item, _)| item)
}

fn word(rng: &mut StdRng) -> &'static str {
    WORDS[rng.random_range(0..WORDS.len())]
}

fn first_name(rng: &mut StdRng) -> &'static str {
    FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())]
}

fn device(rng: &mut StdRng) -> Device {
    pick(&DEVICES, rng).copied().unwrap_or(Device::Mobile)
}

/// A duration around the genre's typical song length, in ms.
fn song_ms(genre: usize, rng: &mut StdRng) -> i32 {
    (GENRE_SECONDS[genre] * (0.7 + 0.6 * rng.random::<f64>()) * 1000.0) as i32
}

/// A generated world: the catalogues at the start of the stream and everything needed to
/// replay its event stream ([`World::events`]).
#[derive(Debug, Clone)]
pub struct World {
    config: WorldConfig,
    seed: u64,
    users: Vec<User>,
    genres: Genres,
    songs: Songs,
    podcasts: Podcasts,
    tastes: Vec<Taste>,
    plans: Vec<Vec<Plan>>,
}

impl World {
    /// Generates a world from `config`, deterministically from `seed`.
    pub fn generate(config: WorldConfig, seed: u64) -> Self {
        // Users need something to play.
        let config = WorldConfig {
            songs: config.songs.max(1),
            ..config
        };
        let mut rng = StdRng::seed_from_u64(seed);
        let genres = Genres::generate(&mut rng);
        let songs = Songs::generate(&config, &genres, &mut rng);
        let podcasts = Podcasts::generate(&config, &genres, &mut rng);
        let (users, tastes) = generate_users(&config, &genres, &songs, &mut rng);
        let plans = plan_sessions(&config, &users, &tastes, &mut rng);
        Self {
            config,
            seed,
            users,
            genres,
            songs,
            podcasts,
            tastes,
            plans,
        }
    }

    /// The configuration the world was generated from.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// Start of simulated time, epoch ms.
    pub fn start_ms(&self) -> i64 {
        self.config.start_ms
    }

    /// End of simulated time, epoch ms: no event is later.
    pub fn end_ms(&self) -> i64 {
        self.config.end_ms()
    }

    /// Every user (the `users` catalogue), cold users who sign up during the stream included.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// The `songs` catalogue at the start of the stream.
    pub fn songs(&self) -> &[Song] {
        &self.songs.catalogue
    }

    /// The `podcasts` catalogue.
    pub fn podcasts(&self) -> &[Podcast] {
        &self.podcasts.records
    }

    /// Songs released while the stream runs, in release order (each is also a
    /// [`MusicEvent::Released`] of the stream).
    pub fn releases(&self) -> &[Song] {
        &self.songs.releases
    }

    /// The merged item catalogue at the start of the stream (songs, then podcasts).
    pub fn items(&self) -> Vec<Item> {
        merge_catalogue(self.songs(), self.podcasts())
    }

    /// The event stream, in event-time order. Each call replays the same stream.
    pub fn events(&self) -> Events<'_> {
        Events::new(self)
    }

    fn item_id(&self, item: SimItem) -> (i64, ItemKind) {
        match item {
            SimItem::Song(s) => (self.songs.ids[s as usize], ItemKind::Song),
            SimItem::Podcast(p) => (PODCAST_ID_BASE + i64::from(p) + 1, ItemKind::Podcast),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn interactions(world: &World) -> Vec<Interaction> {
        world
            .events()
            .filter_map(|e| match e {
                MusicEvent::Interaction(i) => Some(i),
                MusicEvent::Released(_) => None,
            })
            .collect()
    }

    #[test]
    fn is_deterministic_and_time_ordered() {
        let a = World::generate(WorldConfig::small(), 3);
        let b = World::generate(WorldConfig::small(), 3);
        let ea: Vec<MusicEvent> = a.events().collect();
        let eb: Vec<MusicEvent> = b.events().collect();
        assert_eq!(ea, eb);
        assert_eq!(a.users(), b.users());
        assert_eq!(
            ea,
            a.events().collect::<Vec<_>>(),
            "replays the same stream"
        );
        assert!(ea.windows(2).all(|w| w[0].at() <= w[1].at()));
        assert!(
            ea.iter()
                .all(|e| e.at() >= a.start_ms() && e.at() < a.end_ms())
        );
        let other: Vec<MusicEvent> = World::generate(WorldConfig::small(), 4).events().collect();
        assert_ne!(ea, other);
    }

    #[test]
    fn has_the_configured_shape() {
        let config = WorldConfig::small();
        let world = World::generate(config.clone(), 11);
        assert_eq!(world.users().len(), config.users);
        assert_eq!(world.songs().len(), config.songs);
        assert_eq!(world.podcasts().len(), config.podcasts);
        assert!(
            world
                .podcasts()
                .iter()
                .all(|p| p.podcast_id > PODCAST_ID_BASE)
        );
        let ids: HashSet<i64> = world
            .items()
            .iter()
            .map(|i| i.item_id)
            .chain(world.releases().iter().map(|s| s.song_id))
            .collect();
        assert_eq!(
            ids.len(),
            config.songs + config.podcasts + world.releases().len()
        );

        let events = interactions(&world);
        let n = events.len() as f64;
        let target = config.interactions as f64;
        assert!(
            (0.85 * target..1.15 * target).contains(&n),
            "{n} interactions"
        );
        let skips = events.iter().filter(|i| i.action == Action::Skip).count() as f64;
        assert!(
            (0.08..0.4).contains(&(skips / n)),
            "skip rate {}",
            skips / n
        );
        assert!(events.iter().any(|i| i.kind == ItemKind::Podcast));
        assert!(events.iter().any(|i| i.action == Action::Like));
        assert!(events.iter().any(|i| i.action == Action::Follow));
        let released: HashSet<i64> = world.releases().iter().map(|s| s.song_id).collect();
        assert!(
            events.iter().any(|i| released.contains(&i.item_id)),
            "releases are played"
        );
        for i in &events {
            assert!(ids.contains(&i.item_id));
            match i.action {
                Action::Skip => assert!(i.ms_played < 30_000),
                Action::Like | Action::Follow => assert_eq!(i.ms_played, 0),
                Action::Play => assert!(i.ms_played > 0),
            }
        }
    }

    #[test]
    fn sessions_belong_to_one_user_and_do_not_overlap() {
        let world = World::generate(WorldConfig::small(), 5);
        let mut owner = HashMap::new();
        let mut last_session = HashMap::new();
        for i in interactions(&world) {
            assert_eq!(*owner.entry(i.session_id).or_insert(i.user_id), i.user_id);
            let previous = last_session.insert(i.user_id, i.session_id);
            assert!(
                previous.is_none_or(|p| p <= i.session_id),
                "sessions interleave"
            );
        }
    }

    #[test]
    fn cold_users_listen_after_signing_up() {
        let world = World::generate(WorldConfig::small(), 9);
        let signed_up: HashMap<i64, i64> = world
            .users()
            .iter()
            .map(|u| (u.user_id, u.signed_up_at))
            .collect();
        let cold = signed_up
            .values()
            .filter(|&&t| t >= world.start_ms())
            .count();
        assert!(cold > 0);
        for i in interactions(&world) {
            assert!(i.at >= signed_up[&i.user_id]);
        }
    }

    #[test]
    fn degenerate_configs_do_not_panic() {
        let config = WorldConfig {
            users: 3,
            songs: 0,
            podcasts: 0,
            interactions: 50,
            ..WorldConfig::small()
        };
        let world = World::generate(config, 1);
        assert_eq!(world.songs().len(), 1);
        assert!(
            interactions(&world)
                .iter()
                .all(|i| i.kind == ItemKind::Song)
        );
    }
}
