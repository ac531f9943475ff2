//! The catalogue: genres, artists with their albums and related artists, songs (and those
//! released while the stream runs), podcast shows and their publishers.

// A part of the generator: it shares the module's names (constants, helpers, the other parts).
use super::*;

/// The genres: names (music first, then podcast) and the music genres' popularity.
#[derive(Debug, Clone)]
pub(super) struct Genres {
    pub(super) names: Vec<&'static str>,
    /// Per music genre.
    pub(super) weights: Vec<f64>,
    pub(super) pick: Weighted,
}

impl Genres {
    pub(super) fn generate(rng: &mut StdRng) -> Self {
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
    pub(super) fn sample(&self, rng: &mut StdRng) -> usize {
        // The weights are all positive, so a genre is always drawn.
        self.pick.sample(rng).unwrap_or(0)
    }

    /// A podcast genre, uniformly.
    pub(super) fn podcast(rng: &mut StdRng) -> usize {
        MUSIC_GENRES.len() + rng.random_range(0..PODCAST_GENRES.len())
    }
}

/// An item of the simulation: a song or a podcast by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SimItem {
    Song(u32),
    Podcast(u32),
}

#[derive(Debug, Clone)]
pub(super) struct SongMeta {
    pub(super) genre: usize,
    pub(super) artist: usize,
    /// The next track of the album, if any.
    pub(super) next_track: Option<u32>,
    /// Popularity within the genre (artist weight × track weight).
    pub(super) weight: f64,
    /// How good the song is, in [0, 1): good songs are played more and skipped less by
    /// everyone (on top of each listener's taste).
    pub(super) appeal: f64,
    pub(super) released_at: i64,
    pub(super) duration_ms: i32,
}

#[derive(Debug, Clone)]
pub(super) struct ArtistMeta {
    pub(super) genre: usize,
    pub(super) weight: f64,
    /// Catalogue songs in album order, then later releases.
    pub(super) songs: Vec<u32>,
    /// Picks among `songs` by popularity.
    pub(super) tracks: Weighted,
    pub(super) related: Vec<usize>,
}

/// A song released while the stream runs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Release {
    pub(super) song: u32,
    /// The share of its genre's picks it draws right after release (halving every day).
    pub(super) hype: f64,
}

/// The song side of the world. Songs are indexed densely: the catalogue's first, then the
/// releases'; ids are assigned separately.
#[derive(Debug, Clone)]
pub(super) struct Songs {
    /// The catalogue's records, by index.
    pub(super) catalogue: Vec<Song>,
    /// The releases' records, by release time.
    pub(super) releases: Vec<Song>,
    /// The releases, in the same order.
    pub(super) release_meta: Vec<Release>,
    pub(super) meta: Vec<SongMeta>,
    /// Ids by index.
    pub(super) ids: Vec<i64>,
    pub(super) artists: Vec<ArtistMeta>,
    /// Per music genre: its artists and a picker over them by popularity.
    pub(super) genre_artists: Vec<(Vec<usize>, Weighted)>,
    /// Per music genre: its catalogue songs and a picker over them by popularity.
    pub(super) genre_songs: Vec<(Vec<u32>, Weighted)>,
    /// The most popular catalogue songs overall and a picker over them.
    pub(super) chart: (Vec<u32>, Weighted),
}

impl Songs {
    pub(super) fn generate(config: &WorldConfig, genres: &Genres, rng: &mut StdRng) -> Self {
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
    pub(super) fn add_artists(
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
    pub(super) fn rank_artists(&mut self, rng: &mut StdRng) {
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
    pub(super) fn add_releases(
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
    pub(super) fn number(&mut self, catalogue: usize, rng: &mut StdRng) {
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
    pub(super) fn rank_tracks(&mut self, genres: &Genres, rng: &mut StdRng) {
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
pub(super) struct PodcastMeta {
    pub(super) genre: usize,
    pub(super) publisher: usize,
    pub(super) episode_ms: i32,
}

/// The podcast side of the world: shows by index (ids are [`PODCAST_ID_BASE`] + index + 1).
#[derive(Debug, Clone)]
pub(super) struct Podcasts {
    pub(super) records: Vec<Podcast>,
    pub(super) meta: Vec<PodcastMeta>,
    /// Shows per publisher.
    pub(super) publishers: Vec<Vec<u32>>,
    /// Per podcast genre (index minus the music genres): its shows and a Zipf picker.
    pub(super) genre_shows: Vec<(Vec<u32>, Weighted)>,
}

impl Podcasts {
    /// Publishers with a home genre (where 80% of their shows are); shows Zipf-popular within
    /// their genre.
    pub(super) fn generate(config: &WorldConfig, genres: &Genres, rng: &mut StdRng) -> Self {
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
