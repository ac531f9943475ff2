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

/// The genres: names (music first, then podcast) and the music genres' popularity.
#[derive(Debug, Clone)]
struct Genres {
    names: Vec<&'static str>,
    /// Per music genre.
    weights: Vec<f64>,
    pick: Weighted,
}

impl Genres {
    fn generate(rng: &mut StdRng) -> Self {
        // Zipf over a random order, so which genre leads varies by seed.
        let weights = shuffled_zipf(MUSIC_GENRES.len(), 0.7, rng);
        Self {
            names: MUSIC_GENRES
                .iter()
                .chain(&PODCAST_GENRES)
                .copied()
                .collect(),
            pick: Weighted::new(weights.iter().copied()),
            weights,
        }
    }

    /// A music genre by popularity.
    fn sample(&self, rng: &mut StdRng) -> usize {
        // The weights are all positive, so a genre is always drawn.
        self.pick.sample(rng).unwrap_or(0)
    }

    /// A podcast genre, uniformly.
    fn podcast(rng: &mut StdRng) -> usize {
        MUSIC_GENRES.len() + rng.random_range(0..PODCAST_GENRES.len())
    }
}

/// An item of the simulation: a song or a podcast by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SimItem {
    Song(u32),
    Podcast(u32),
}

#[derive(Debug, Clone)]
struct SongMeta {
    genre: usize,
    artist: usize,
    /// The next track of the album, if any.
    next_track: Option<u32>,
    /// Popularity within the genre (artist weight × track weight).
    weight: f64,
    /// How good the song is, in [0, 1): good songs are played more and skipped less by
    /// everyone (on top of each listener's taste).
    appeal: f64,
    released_at: i64,
    duration_ms: i32,
}

#[derive(Debug, Clone)]
struct ArtistMeta {
    genre: usize,
    weight: f64,
    /// Catalogue songs in album order, then later releases.
    songs: Vec<u32>,
    /// Picks among `songs` by popularity.
    tracks: Weighted,
    related: Vec<usize>,
}

/// A song released while the stream runs.
#[derive(Debug, Clone, Copy)]
struct Release {
    song: u32,
    /// The share of its genre's picks it draws right after release (halving every day).
    hype: f64,
}

/// The song side of the world. Songs are indexed densely: the catalogue's first, then the
/// releases'; ids are assigned separately.
#[derive(Debug, Clone)]
struct Songs {
    /// The catalogue's records, by index.
    catalogue: Vec<Song>,
    /// The releases' records, by release time.
    releases: Vec<Song>,
    /// The releases, in the same order.
    release_meta: Vec<Release>,
    meta: Vec<SongMeta>,
    /// Ids by index.
    ids: Vec<i64>,
    artists: Vec<ArtistMeta>,
    /// Per music genre: its artists and a picker over them by popularity.
    genre_artists: Vec<(Vec<usize>, Weighted)>,
    /// Per music genre: its catalogue songs and a picker over them by popularity.
    genre_songs: Vec<(Vec<u32>, Weighted)>,
    /// The most popular catalogue songs overall and a picker over them.
    chart: (Vec<u32>, Weighted),
}

impl Songs {
    fn generate(config: &WorldConfig, genres: &Genres, rng: &mut StdRng) -> Self {
        let mut songs = Self {
            catalogue: Vec::with_capacity(config.songs),
            releases: Vec::new(),
            release_meta: Vec::new(),
            meta: Vec::with_capacity(config.songs),
            ids: Vec::new(),
            artists: Vec::new(),
            genre_artists: Vec::new(),
            genre_songs: Vec::new(),
            chart: (Vec::new(), Weighted::default()),
        };
        let mut names = Vec::new();
        songs.add_artists(config, genres, &mut names, rng);
        songs.rank_artists(rng);
        songs.add_releases(config, genres, &names, rng);
        songs.number(config.songs, rng);
        songs.rank_tracks(genres, rng);
        songs
    }

    /// Artists with log-uniform 3–40 songs each, in albums of up to 12, until the catalogue
    /// is full.
    fn add_artists(
        &mut self,
        config: &WorldConfig,
        genres: &Genres,
        names: &mut Vec<String>,
        rng: &mut StdRng,
    ) {
        let start = config.start_ms;
        while self.catalogue.len() < config.songs {
            let artist = self.artists.len();
            let genre = genres.sample(rng);
            let count = (3.0_f64.ln() + rng.random::<f64>() * (40.0_f64 / 3.0).ln())
                .exp()
                .round() as usize;
            let count = count.clamp(1, config.songs - self.catalogue.len());
            let name = if rng.random_bool(0.3) {
                format!("The {} {}s", word(rng), word(rng))
            } else {
                format!("{} {}", first_name(rng), word(rng))
            };
            // Numbered, so names are unique (the creator is a key of the merged catalogue).
            names.push(format!("{name} #{artist}"));
            let mut songs = Vec::with_capacity(count);
            let mut left_in_album = 0;
            for _ in 0..count {
                let index = self.meta.len() as u32;
                if left_in_album == 0 {
                    left_in_album = rng.random_range(1..=12);
                } else if let Some(previous) = self.meta.last_mut() {
                    // The previous song is this artist's, on the same album.
                    previous.next_track = Some(index);
                }
                left_in_album -= 1;
                // Released over the last ten years, recent years likelier.
                let age = (rng.random::<f64>().powi(2) * 3650.0 * DAY_MS as f64) as i64;
                let released_at = start - DAY_MS - age;
                let duration_ms = song_ms(genre, rng);
                self.meta.push(SongMeta {
                    genre,
                    artist,
                    next_track: None,
                    weight: 0.0,
                    appeal: rng.random(),
                    released_at,
                    duration_ms,
                });
                self.catalogue.push(Song {
                    // Numbered once the catalogue is complete.
                    song_id: 0,
                    title: format!("{} {}", word(rng), word(rng)),
                    artist: names[artist].clone(),
                    genre: genres.names[genre].to_string(),
                    duration_ms,
                    released_at,
                });
                songs.push(index);
            }
            self.artists.push(ArtistMeta {
                genre,
                weight: 0.0,
                songs,
                tracks: Weighted::default(),
                related: Vec::new(),
            });
        }
    }

    /// Artist popularity (Zipf within the genre) and related artists (four of the same genre,
    /// popular ones likelier).
    fn rank_artists(&mut self, rng: &mut StdRng) {
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); MUSIC_GENRES.len()];
        for (a, artist) in self.artists.iter().enumerate() {
            members[artist.genre].push(a);
        }
        self.genre_artists = members
            .into_iter()
            .map(|members| {
                let weights = shuffled_zipf(members.len(), 1.0, rng);
                for (&a, &w) in members.iter().zip(&weights) {
                    self.artists[a].weight = w;
                }
                (members, Weighted::new(weights))
            })
            .collect();
        for (a, artist) in self.artists.iter_mut().enumerate() {
            let (members, pick) = &self.genre_artists[artist.genre];
            let mut related = Vec::new();
            for _ in 0..8 {
                if related.len() == 4 {
                    break;
                }
                if let Some(i) = pick.sample(rng) {
                    let other = members[i];
                    if other != a && !related.contains(&other) {
                        related.push(other);
                    }
                }
            }
            artist.related = related;
        }
    }

    /// Songs released during the stream: singles by artists picked by popularity.
    fn add_releases(
        &mut self,
        config: &WorldConfig,
        genres: &Genres,
        names: &[String],
        rng: &mut StdRng,
    ) {
        let count = (config.songs as f64 * config.release_share.max(0.0)).round() as usize;
        let span = (config.end_ms() - config.start_ms) as f64;
        let artists = Weighted::new(
            self.artists
                .iter()
                .map(|a| a.weight * genres.weights[a.genre]),
        );
        let mut releases = Vec::with_capacity(count);
        for _ in 0..count {
            let Some(artist) = artists.sample(rng) else {
                break;
            };
            let index = self.meta.len() as u32;
            let genre = self.artists[artist].genre;
            // Over the stream but its first and last hours, so each release has listeners.
            let released_at = config.start_ms
                + 2 * HOUR_MS
                + (rng.random::<f64>() * (span - 8.0 * HOUR_MS as f64).max(0.0)) as i64;
            let duration_ms = song_ms(genre, rng);
            self.meta.push(SongMeta {
                genre,
                artist,
                next_track: None,
                weight: 0.0,
                appeal: rng.random(),
                released_at,
                duration_ms,
            });
            self.artists[artist].songs.push(index);
            // A quarter are hyped: they draw a real share of their genre's picks.
            let hype = if rng.random_bool(0.25) {
                0.04 + 0.08 * rng.random::<f64>()
            } else {
                0.01 * rng.random::<f64>()
            };
            let record = Song {
                song_id: 0,
                title: format!("{} {}", word(rng), word(rng)),
                artist: names[artist].clone(),
                genre: genres.names[genre].to_string(),
                duration_ms,
                released_at,
            };
            releases.push((record, Release { song: index, hype }));
        }
        releases.sort_by_key(|(record, release)| (record.released_at, release.song));
        (self.releases, self.release_meta) = releases.into_iter().unzip();
    }

    /// Ids: the catalogue's in a random order (an id says nothing about artist or album),
    /// then the releases' in release order, as a catalogue would number them.
    fn number(&mut self, catalogue: usize, rng: &mut StdRng) {
        self.ids = vec![0; self.meta.len()];
        for (i, id) in permutation(catalogue, rng).into_iter().enumerate() {
            self.catalogue[i].song_id = id as i64 + 1;
            self.ids[i] = id as i64 + 1;
        }
        for (n, (record, release)) in self.releases.iter_mut().zip(&self.release_meta).enumerate() {
            record.song_id = (catalogue + n) as i64 + 1;
            self.ids[release.song as usize] = record.song_id;
        }
    }

    /// Track popularity (each artist's songs: Zipf over a random order, tilted by appeal),
    /// the genres' song pickers and the chart.
    fn rank_tracks(&mut self, genres: &Genres, rng: &mut StdRng) {
        for artist in &mut self.artists {
            let mut weights = shuffled_zipf(artist.songs.len(), 0.8, rng);
            for (&song, w) in artist.songs.iter().zip(&mut weights) {
                let meta = &mut self.meta[song as usize];
                *w *= 0.4 + meta.appeal;
                meta.weight = artist.weight * *w;
            }
            artist.tracks = Weighted::new(weights);
        }
        let catalogue = self.catalogue.len() as u32;
        self.genre_songs = (0..MUSIC_GENRES.len())
            .map(|g| {
                let songs: Vec<u32> = (0..catalogue)
                    .filter(|&s| self.meta[s as usize].genre == g)
                    .collect();
                let pick = Weighted::new(songs.iter().map(|&s| self.meta[s as usize].weight));
                (songs, pick)
            })
            .collect();
        // A song's global popularity: its genre's, times its share of the genre.
        let genre_total: Vec<f64> = self
            .genre_songs
            .iter()
            .map(|(songs, _)| songs.iter().map(|&s| self.meta[s as usize].weight).sum())
            .collect();
        let mut chart: Vec<(u32, f64)> = (0..catalogue)
            .map(|s| {
                let meta = &self.meta[s as usize];
                let share = meta.weight / genre_total[meta.genre].max(f64::MIN_POSITIVE);
                (s, genres.weights[meta.genre] * share)
            })
            .collect();
        chart.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        chart.truncate(CHART_LEN);
        self.chart = (
            chart.iter().map(|&(s, _)| s).collect(),
            Weighted::new(chart.iter().map(|&(_, w)| w)),
        );
    }
}

#[derive(Debug, Clone)]
struct PodcastMeta {
    genre: usize,
    publisher: usize,
    episode_ms: i32,
}

/// The podcast side of the world: shows by index (ids are [`PODCAST_ID_BASE`] + index + 1).
#[derive(Debug, Clone)]
struct Podcasts {
    records: Vec<Podcast>,
    meta: Vec<PodcastMeta>,
    /// Shows per publisher.
    publishers: Vec<Vec<u32>>,
    /// Per podcast genre (index minus the music genres): its shows and a Zipf picker.
    genre_shows: Vec<(Vec<u32>, Weighted)>,
}

impl Podcasts {
    /// Publishers with a home genre (where 80% of their shows are); shows Zipf-popular within
    /// their genre.
    fn generate(config: &WorldConfig, genres: &Genres, rng: &mut StdRng) -> Self {
        let n_publishers = (config.podcasts / 8).max(1);
        let home: Vec<usize> = (0..n_publishers).map(|_| Genres::podcast(rng)).collect();
        let mut records = Vec::with_capacity(config.podcasts);
        let mut meta = Vec::with_capacity(config.podcasts);
        let mut publishers: Vec<Vec<u32>> = vec![Vec::new(); n_publishers];
        for p in 0..config.podcasts {
            let publisher = rng.random_range(0..n_publishers);
            let genre = if rng.random_bool(0.8) {
                home[publisher]
            } else {
                Genres::podcast(rng)
            };
            let episode_ms = rng.random_range(15..=90) * MINUTE_MS as i32;
            publishers[publisher].push(p as u32);
            meta.push(PodcastMeta {
                genre,
                publisher,
                episode_ms,
            });
            records.push(Podcast {
                podcast_id: PODCAST_ID_BASE + p as i64 + 1,
                title: format!("The {} {} Show", word(rng), word(rng)),
                publisher: format!("{} Media #{publisher}", WORDS[publisher % WORDS.len()]),
                genre: genres.names[genre].to_string(),
                episode_ms,
            });
        }
        let genre_shows = (0..PODCAST_GENRES.len())
            .map(|g| {
                let shows: Vec<u32> = (0..config.podcasts as u32)
                    .filter(|&p| meta[p as usize].genre == MUSIC_GENRES.len() + g)
                    .collect();
                let pick = Weighted::new(shuffled_zipf(shows.len(), 1.0, rng));
                (shows, pick)
            })
            .collect();
        Self {
            records,
            meta,
            publishers,
            genre_shows,
        }
    }
}

/// How a user listens.
#[derive(Debug, Clone)]
struct Taste {
    /// Core music genres (indices) and their weights, most favoured first.
    genres: Vec<(usize, f64)>,
    favourite_artists: Vec<usize>,
    podcast_genres: Vec<usize>,
    /// Share of sessions spent on podcasts.
    podcast_share: f64,
    /// Chance a taste pick goes to any genre (by global popularity) instead of the core
    /// ones: the breadth of the user's listening.
    explore: f64,
    /// Chance a taste pick comes from the chart.
    chart: f64,
    /// Scales how much a session follows the current item (versus going back to taste).
    coherence: f64,
    /// Chance a session starts with a favourite again.
    replay: f64,
    skip_bias: f64,
    device: Device,
    /// Relative share of the sessions.
    activity: f64,
}

impl Taste {
    /// How much the user likes a genre: its core weight, 0.6 for their podcast genres, 0 for
    /// the rest.
    fn affinity(&self, genre: usize) -> f64 {
        if self.podcast_genres.contains(&genre) {
            return 0.6;
        }
        self.genres
            .iter()
            .find(|(g, _)| *g == genre)
            .map_or(0.0, |(_, w)| *w)
    }
}

/// The users' records and tastes.
fn generate_users(
    config: &WorldConfig,
    genres: &Genres,
    songs: &Songs,
    rng: &mut StdRng,
) -> (Vec<User>, Vec<Taste>) {
    let start = config.start_ms;
    let span = config.end_ms() - start;
    let mut users = Vec::with_capacity(config.users);
    let mut tastes = Vec::with_capacity(config.users);
    for u in 0..config.users {
        let cold = rng.random_bool(config.cold_user_share.clamp(0.0, 1.0));
        let signed_up_at = if cold {
            // Early enough in the stream to listen.
            start + (rng.random::<f64>() * span as f64 * 0.9) as i64
        } else {
            start - DAY_MS - (rng.random::<f64>() * 1000.0 * DAY_MS as f64) as i64
        };

        let n_core = 1 + usize::from(rng.random_bool(0.5)) + usize::from(rng.random_bool(0.25));
        let mut core: Vec<(usize, f64)> = Vec::with_capacity(n_core);
        while core.len() < n_core {
            let g = genres.sample(rng);
            if !core.iter().any(|(c, _)| *c == g) {
                core.push((g, 0.2 + rng.random::<f64>()));
            }
        }
        let total: f64 = core.iter().map(|(_, w)| w).sum();
        for (_, w) in &mut core {
            *w /= total;
        }
        core.sort_by(|a, b| b.1.total_cmp(&a.1));

        let mut favourite_artists = Vec::new();
        for _ in 0..rng.random_range(2..=8) {
            let Some(&g) = pick(&core, rng) else { break };
            let (artists, by_popularity) = &songs.genre_artists[g];
            if let Some(i) = by_popularity.sample(rng)
                && !favourite_artists.contains(&artists[i])
            {
                favourite_artists.push(artists[i]);
            }
        }

        let fan = config.podcasts > 0 && rng.random_bool(config.podcast_fan_share.clamp(0.0, 1.0));
        let mut podcast_genres = Vec::new();
        if fan {
            podcast_genres.push(Genres::podcast(rng));
            let second = Genres::podcast(rng);
            if rng.random_bool(0.4) && !podcast_genres.contains(&second) {
                podcast_genres.push(second);
            }
        }

        // The profile: the core genres and podcast genres, stale for some users.
        let mut favourite_genres: Vec<String> = core
            .iter()
            .map(|(g, _)| *g)
            .chain(podcast_genres.iter().copied())
            .map(|g| genres.names[g].to_string())
            .collect();
        if favourite_genres.len() > 1 && rng.random_bool(0.3) {
            favourite_genres.pop();
        }
        if rng.random_bool(0.2) {
            let stray = genres.names[genres.sample(rng)].to_string();
            if !favourite_genres.contains(&stray) {
                favourite_genres.push(stray);
            }
        }

        tastes.push(Taste {
            genres: core,
            favourite_artists,
            podcast_genres,
            podcast_share: if fan {
                0.15 + 0.35 * rng.random::<f64>()
            } else {
                0.0
            },
            explore: 0.1 + 0.3 * rng.random::<f64>(),
            chart: 0.03 + 0.12 * rng.random::<f64>(),
            coherence: 0.7 + 0.45 * rng.random::<f64>(),
            replay: 0.1 + 0.25 * rng.random::<f64>(),
            skip_bias: 0.04 + 0.1 * rng.random::<f64>(),
            device: device(rng),
            // Log-normal, capped so the heaviest users still fit their sessions into the
            // days; cold users listen a tenth as much.
            activity: (0.8 * normal(rng)).exp().min(6.0) * if cold { 0.1 } else { 1.0 },
        });
        users.push(User {
            user_id: u as i64 + 1,
            name: format!(
                "{} {}.",
                first_name(rng),
                char::from(b'A' + rng.random_range(0..26u8))
            ),
            country: pick(&COUNTRIES, rng).copied().unwrap_or("US").to_string(),
            signed_up_at,
            favourite_genres,
        });
    }
    (users, tastes)
}

/// A planned session: when it may start, how many items, whether podcasts.
#[derive(Debug, Clone, Copy)]
struct Plan {
    start: i64,
    items: u32,
    podcast: bool,
}

/// Each user's sessions, by start time: cold users listen right after signing up; then
/// sessions go to users by activity until the stream has its interactions.
fn plan_sessions(
    config: &WorldConfig,
    users: &[User],
    tastes: &[Taste],
    rng: &mut StdRng,
) -> Vec<Vec<Plan>> {
    let start = config.start_ms;
    let end = config.end_ms();
    let hours = Weighted::new(HOURLY);
    let session = |u: usize, at: i64, rng: &mut StdRng| {
        let podcast = rng.random_bool(tastes[u].podcast_share);
        let items = if podcast {
            rng.random_range(1..=3)
        } else {
            // Geometric with mean 10, at most 60.
            let mut n = 1;
            while n < 60 && rng.random_bool(0.9) {
                n += 1;
            }
            n
        };
        Plan {
            start: at,
            items,
            podcast,
        }
    };
    let mut plans: Vec<Vec<Plan>> = vec![Vec::new(); users.len()];
    let target = config.interactions as f64 / EVENTS_PER_PLAY;
    let mut planned = 0.0;
    for (u, user) in users.iter().enumerate() {
        if user.signed_up_at >= start {
            let at = user.signed_up_at + rng.random_range(MINUTE_MS..30 * MINUTE_MS);
            let plan = session(u, at, rng);
            planned += f64::from(plan.items);
            plans[u].push(plan);
        }
    }
    let by_activity = Weighted::new(tastes.iter().map(|t| t.activity));
    while planned < target {
        let Some(u) = by_activity.sample(rng) else {
            break;
        };
        let from = users[u].signed_up_at.max(start);
        // A day, then an hour by the daily rhythm; drawn again if before sign-up.
        let mut at = None;
        for _ in 0..8 {
            let day = rng.random_range(0..i64::from(config.days.max(1)));
            let hour = hours.sample(rng).unwrap_or(12) as i64;
            let t = start + day * DAY_MS + hour * HOUR_MS + rng.random_range(0..HOUR_MS);
            if t >= from {
                at = Some(t);
                break;
            }
        }
        let at = at.unwrap_or_else(|| from + rng.random_range(0..(end - from).max(1)));
        let plan = session(u, at, rng);
        planned += f64::from(plan.items);
        plans[u].push(plan);
    }
    for plan in &mut plans {
        plan.sort_by_key(|p| p.start);
    }
    plans
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
        let mut heap = BinaryHeap::new();
        for (u, plans) in self.plans.iter().enumerate() {
            if let Some(first) = plans.first() {
                heap.push(Reverse((first.start, u as u32)));
            }
        }
        Events {
            world: self,
            // A stream of its own, so the same world replays the same events.
            rng: StdRng::seed_from_u64(self.seed ^ 0x5eed_0fe7_e775),
            heap,
            agents: vec![Agent::default(); self.users.len()],
            next_release: 0,
            released: vec![Vec::new(); MUSIC_GENRES.len()],
            next_session_id: 1,
        }
    }

    fn item_id(&self, item: SimItem) -> (i64, ItemKind) {
        match item {
            SimItem::Song(s) => (self.songs.ids[s as usize], ItemKind::Song),
            SimItem::Podcast(p) => (PODCAST_ID_BASE + i64::from(p) + 1, ItemKind::Podcast),
        }
    }
}

/// A user's state while the stream runs.
#[derive(Debug, Default, Clone)]
struct Agent {
    next_plan: usize,
    /// No session starts before this (the end of the last one plus a break).
    free_at: i64,
    session: Option<Session>,
    /// Likes and follows decided with a play, emitted at their own times.
    pending: VecDeque<Interaction>,
    /// Songs played through, most recent last, without repeats.
    favourites: VecDeque<u32>,
    /// Podcast shows listened to.
    shows: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Session {
    id: i64,
    left: u32,
    podcast: bool,
    device: Device,
    next_at: i64,
    /// The last item and whether it was played through.
    last: Option<(SimItem, bool)>,
}

/// The event stream of a [`World`], in event-time order (see [`World::events`]).
///
/// Users are agents in a discrete-event simulation: a heap holds each one's next event time,
/// and the earliest acts (or a release comes out, if it is earlier).
#[derive(Debug)]
pub struct Events<'w> {
    world: &'w World,
    rng: StdRng,
    /// Agents by the time of their next event (ties by user index, for determinism).
    heap: BinaryHeap<Reverse<(i64, u32)>>,
    agents: Vec<Agent>,
    next_release: usize,
    /// Per music genre: the releases out so far, with release time and hype.
    released: Vec<Vec<(u32, i64, f64)>>,
    next_session_id: i64,
}

impl Iterator for Events<'_> {
    type Item = MusicEvent;

    fn next(&mut self) -> Option<MusicEvent> {
        loop {
            let next_agent = self.heap.peek().map(|Reverse((t, _))| *t);
            let songs = &self.world.songs;
            if let Some(record) = songs.releases.get(self.next_release)
                && next_agent.is_none_or(|t| record.released_at <= t)
            {
                let release = songs.release_meta[self.next_release];
                let genre = songs.meta[release.song as usize].genre;
                self.released[genre].push((release.song, record.released_at, release.hype));
                self.next_release += 1;
                return Some(MusicEvent::Released(record.clone()));
            }
            let Reverse((at, user)) = self.heap.pop()?;
            if let Some(interaction) = self.step(user as usize, at) {
                return Some(MusicEvent::Interaction(interaction));
            }
        }
    }
}

impl Events<'_> {
    /// The agent's next event, due at `at`: a pending like or follow, or the session's next
    /// item (starting the session if need be). Reschedules the agent.
    fn step(&mut self, u: usize, at: i64) -> Option<Interaction> {
        let world = self.world;
        if let Some(event) = self.agents[u].pending.pop_front() {
            self.reschedule(u);
            return Some(event);
        }
        if self.agents[u].session.is_none() {
            let plan = *world.plans[u].get(self.agents[u].next_plan)?;
            let device = if self.rng.random_bool(0.7) {
                world.tastes[u].device
            } else {
                device(&mut self.rng)
            };
            let agent = &mut self.agents[u];
            agent.next_plan += 1;
            agent.session = Some(Session {
                id: self.next_session_id,
                left: plan.items,
                podcast: plan.podcast,
                device,
                next_at: at,
                last: None,
            });
            self.next_session_id += 1;
        }
        let session = self.agents[u].session?;
        let (interaction, item) = if session.podcast {
            self.podcast_item(u, at, session)
        } else {
            self.song_item(u, at, session)
        };
        let gap = if interaction.action == Action::Skip {
            500
        } else {
            self.rng.random_range(500..4_000)
        };
        let next_at = at + i64::from(interaction.ms_played) + gap;
        let agent = &mut self.agents[u];
        if session.left <= 1 || next_at >= world.end_ms() {
            agent.session = None;
            // A break of 15 min to 3 h before the next session.
            agent.free_at = next_at + self.rng.random_range(15 * MINUTE_MS..3 * HOUR_MS);
        } else if let Some(s) = agent.session.as_mut() {
            s.left -= 1;
            s.next_at = next_at;
            s.last = Some((item, interaction.is_positive()));
        }
        self.reschedule(u);
        Some(interaction)
    }

    fn reschedule(&mut self, u: usize) {
        let agent = &self.agents[u];
        let next = if let Some(event) = agent.pending.front() {
            Some(event.at)
        } else if let Some(session) = &agent.session {
            Some(session.next_at)
        } else {
            self.world.plans[u]
                .get(agent.next_plan)
                .map(|plan| plan.start.max(agent.free_at))
                .filter(|&t| t < self.world.end_ms())
        };
        if let Some(t) = next {
            self.heap.push(Reverse((t, u as u32)));
        }
    }

    fn remember(&mut self, u: usize, song: u32) {
        let favourites = &mut self.agents[u].favourites;
        if !favourites.contains(&song) {
            favourites.push_back(song);
            if favourites.len() > FAVOURITES {
                favourites.pop_front();
            }
        }
    }

    /// A favourite song, recent ones likelier.
    fn replay(&mut self, u: usize) -> Option<u32> {
        let favourites = &self.agents[u].favourites;
        let back = (favourites.len() as f64 * self.rng.random::<f64>().powi(2)) as usize;
        let i = favourites.len().checked_sub(1 + back)?;
        favourites.get(i).copied()
    }

    /// A song of the artist already out at `at`, hits likelier.
    fn artist_song(&mut self, artist: usize, at: i64) -> Option<u32> {
        let songs = &self.world.songs;
        let meta = &songs.artists[artist];
        for _ in 0..4 {
            let song = meta.songs[meta.tracks.sample(&mut self.rng)?];
            if songs.meta[song as usize].released_at <= at {
                return Some(song);
            }
        }
        None
    }

    /// A song of the genre: a fresh release with the pull of the genre's recent releases,
    /// otherwise by catalogue popularity.
    fn genre_song(&mut self, genre: usize, at: i64) -> Option<u32> {
        let fresh: Vec<(u32, f64)> = self.released[genre]
            .iter()
            .map(|&(song, released, hype)| {
                let age_days = (at - released).max(0) as f64 / DAY_MS as f64;
                (song, hype * 0.5_f64.powf(age_days))
            })
            .collect();
        let pull: f64 = fresh.iter().map(|(_, w)| w).sum();
        if pull > 0.0 && self.rng.random_bool(pull.min(0.4)) {
            return pick(&fresh, &mut self.rng).copied();
        }
        let (songs, by_popularity) = &self.world.songs.genre_songs[genre];
        by_popularity.sample(&mut self.rng).map(|i| songs[i])
    }

    /// A song from the chart.
    fn chart_song(&mut self) -> Option<u32> {
        let (songs, by_popularity) = &self.world.songs.chart;
        by_popularity.sample(&mut self.rng).map(|i| songs[i])
    }

    /// A song by the user's taste: from the chart, or a genre (a core one, or any by
    /// popularity) and then a favourite artist's song or the genre's.
    fn taste_song(&mut self, u: usize, at: i64) -> Option<u32> {
        let world = self.world;
        let taste = &world.tastes[u];
        if self.rng.random_bool(taste.chart) {
            return self.chart_song();
        }
        let genre = if self.rng.random_bool(taste.explore) {
            world.genres.sample(&mut self.rng)
        } else {
            *pick(&taste.genres, &mut self.rng)?
        };
        if self.rng.random_bool(0.3) {
            let favourites: Vec<(usize, f64)> = taste
                .favourite_artists
                .iter()
                .filter(|&&a| world.songs.artists[a].genre == genre)
                .map(|&a| (a, 1.0))
                .collect();
            if let Some(&artist) = pick(&favourites, &mut self.rng)
                && let Some(song) = self.artist_song(artist, at)
            {
                return Some(song);
            }
        }
        self.genre_song(genre, at)
    }

    /// The next song: following the last one if it was played through (as much as this user
    /// does), else a favourite or a taste pick.
    fn next_song(&mut self, u: usize, at: i64, session: Session) -> (u32, bool) {
        let world = self.world;
        let taste = &world.tastes[u];
        let mut replayed = false;
        let mut chosen = None;
        match session.last {
            Some((SimItem::Song(last), true)) => {
                let meta = &world.songs.meta[last as usize];
                let r = self.rng.random::<f64>() / taste.coherence;
                chosen = if r < 0.2 {
                    meta.next_track
                        .or_else(|| self.artist_song(meta.artist, at))
                } else if r < 0.36 {
                    self.artist_song(meta.artist, at)
                } else if r < 0.5 {
                    let related = &world.songs.artists[meta.artist].related;
                    match related.get(self.rng.random_range(0..related.len().max(1))) {
                        Some(&artist) => self.artist_song(artist, at),
                        None => None,
                    }
                } else if r < 0.66 {
                    self.genre_song(meta.genre, at)
                } else if r < 0.74 {
                    replayed = true;
                    self.replay(u)
                } else {
                    None
                };
            }
            None if self.rng.random_bool(taste.replay) => {
                replayed = true;
                chosen = self.replay(u);
            }
            _ => {}
        }
        let not_again = |s: &u32| session.last != Some((SimItem::Song(*s), true));
        if let Some(song) = chosen.filter(not_again) {
            return (song, replayed);
        }
        let song = self
            .taste_song(u, at)
            // A taste genre without songs (tiny catalogues): the chart.
            .or_else(|| self.chart_song())
            // The catalogue has at least one song (see `World::generate`), so the chart does.
            .unwrap_or(0);
        (song, false)
    }

    fn song_item(&mut self, u: usize, at: i64, session: Session) -> (Interaction, SimItem) {
        let world = self.world;
        let (song, replayed) = self.next_song(u, at, session);
        let taste = &world.tastes[u];
        let meta = &world.songs.meta[song as usize];
        let affinity = taste.affinity(meta.genre);
        let favourite_artist = taste.favourite_artists.contains(&meta.artist);
        let mut p_skip = taste.skip_bias
            + 0.2 * (0.5 - meta.appeal)
            + if affinity > 0.0 {
                0.15 * (1.0 - affinity)
            } else {
                0.4
            };
        if replayed {
            p_skip *= 0.4;
        }
        if favourite_artist {
            p_skip *= 0.5;
        }
        let item = SimItem::Song(song);
        let interaction = self.play(u, at, session, item, meta.duration_ms, p_skip);
        if interaction.is_positive() {
            self.remember(u, song);
            let p_like = 0.03 + 0.08 * affinity + if favourite_artist { 0.06 } else { 0.0 };
            let p_follow = if favourite_artist { 0.03 } else { 0.008 };
            self.follow_ups(u, &interaction, p_like, p_follow);
        }
        (interaction, item)
    }

    fn podcast_item(&mut self, u: usize, at: i64, session: Session) -> (Interaction, SimItem) {
        let world = self.world;
        let podcasts = &world.podcasts;
        let taste = &world.tastes[u];
        let known = &self.agents[u].shows;
        let show = if !known.is_empty() && self.rng.random_bool(0.6) {
            known.get(self.rng.random_range(0..known.len())).copied()
        } else if let Some((SimItem::Podcast(last), true)) = session.last
            && self.rng.random_bool(0.35)
        {
            // Another show of the same publisher.
            let siblings = &podcasts.publishers[podcasts.meta[last as usize].publisher];
            siblings
                .get(self.rng.random_range(0..siblings.len()))
                .copied()
        } else {
            let genre = if !taste.podcast_genres.is_empty() && self.rng.random_bool(0.9) {
                taste.podcast_genres[self.rng.random_range(0..taste.podcast_genres.len())]
            } else {
                Genres::podcast(&mut self.rng)
            };
            let (shows, by_popularity) = &podcasts.genre_shows[genre - MUSIC_GENRES.len()];
            by_popularity.sample(&mut self.rng).map(|i| shows[i])
        };
        // A podcast genre without shows: the first show (podcast sessions are only planned
        // when there are shows).
        let show = show.unwrap_or(0);
        let meta = &podcasts.meta[show as usize];
        let first = !self.agents[u].shows.contains(&show);
        let p_skip = taste.skip_bias
            + if taste.affinity(meta.genre) > 0.0 {
                0.05
            } else {
                0.4
            };
        let item = SimItem::Podcast(show);
        let interaction = self.play(u, at, session, item, meta.episode_ms, p_skip);
        if interaction.is_positive() {
            if first {
                self.agents[u].shows.push(show);
            }
            let p_follow = if first { 0.2 } else { 0.02 };
            self.follow_ups(u, &interaction, 0.03, p_follow);
        }
        (interaction, item)
    }

    /// A play or a skip of `item`, with a plausible `ms_played`.
    fn play(
        &mut self,
        u: usize,
        at: i64,
        session: Session,
        item: SimItem,
        duration: i32,
        p_skip: f64,
    ) -> Interaction {
        let (item_id, kind) = self.world.item_id(item);
        let (action, ms_played) = if self.rng.random_bool(p_skip.clamp(0.0, 0.95)) {
            (
                Action::Skip,
                self.rng.random_range(1_000..29_000).min(duration),
            )
        } else if self.rng.random_bool(0.03) {
            // Stopped early for other reasons: a play too short to count either way.
            (
                Action::Play,
                self.rng.random_range(5_000..29_000).min(duration),
            )
        } else if self.rng.random_bool(0.4) {
            (Action::Play, duration)
        } else {
            let share = 0.5 + 0.5 * self.rng.random::<f64>();
            (
                Action::Play,
                ((f64::from(duration) * share) as i32).max(30_000),
            )
        };
        Interaction {
            user_id: self.world.users[u].user_id,
            item_id,
            kind,
            action,
            at,
            device: session.device,
            session_id: session.id,
            ms_played,
        }
    }

    /// Likes and follows of a good play, during the play (and within the stream).
    fn follow_ups(&mut self, u: usize, play: &Interaction, p_like: f64, p_follow: f64) {
        let mut at = play.at + i64::from(play.ms_played / 2);
        for (action, p) in [(Action::Like, p_like), (Action::Follow, p_follow)] {
            if self.rng.random_bool(p.clamp(0.0, 1.0)) {
                at += 1_000;
                if at < self.world.end_ms() {
                    self.agents[u].pending.push_back(Interaction {
                        action,
                        at,
                        ms_played: 0,
                        ..play.clone()
                    });
                }
            }
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
