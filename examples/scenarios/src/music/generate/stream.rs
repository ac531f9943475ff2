//! The event stream: users as agents in a discrete-event simulation of sessions.

// A part of the generator: it shares the module's names (constants, helpers, the other parts).
use super::*;

/// A user's state while the stream runs.
#[derive(Debug, Default, Clone)]
pub(super) struct Agent {
    pub(super) next_plan: usize,
    /// No session starts before this (the end of the last one plus a break).
    pub(super) free_at: i64,
    pub(super) session: Option<Session>,
    /// Likes and follows decided with a play, emitted at their own times.
    pub(super) pending: VecDeque<Interaction>,
    /// Songs played through, most recent last, without repeats.
    pub(super) favourites: VecDeque<u32>,
    /// Podcast shows listened to.
    pub(super) shows: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Session {
    pub(super) id: i64,
    pub(super) left: u32,
    pub(super) podcast: bool,
    pub(super) device: Device,
    pub(super) next_at: i64,
    /// The last item and whether it was played through.
    pub(super) last: Option<(SimItem, bool)>,
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

impl<'w> Events<'w> {
    /// The stream of `world` from its start.
    pub(super) fn new(world: &'w World) -> Self {
        let mut heap = BinaryHeap::new();
        for (u, plans) in world.plans.iter().enumerate() {
            if let Some(first) = plans.first() {
                heap.push(Reverse((first.start, u as u32)));
            }
        }
        Self {
            world,
            // A stream of its own, so the same world replays the same events.
            rng: StdRng::seed_from_u64(world.seed ^ 0x5eed_0fe7_e775),
            heap,
            agents: vec![Agent::default(); world.users.len()],
            next_release: 0,
            released: vec![Vec::new(); MUSIC_GENRES.len()],
            next_session_id: 1,
        }
    }

    /// The agent's next event, due at `at`: a pending like or follow, or the session's next
    /// item (starting the session if need be). Reschedules the agent.
    pub(super) fn step(&mut self, u: usize, at: i64) -> Option<Interaction> {
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

    pub(super) fn reschedule(&mut self, u: usize) {
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

    pub(super) fn remember(&mut self, u: usize, song: u32) {
        let favourites = &mut self.agents[u].favourites;
        if !favourites.contains(&song) {
            favourites.push_back(song);
            if favourites.len() > FAVOURITES {
                favourites.pop_front();
            }
        }
    }

    /// A favourite song, recent ones likelier.
    pub(super) fn replay(&mut self, u: usize) -> Option<u32> {
        let favourites = &self.agents[u].favourites;
        let back = (favourites.len() as f64 * self.rng.random::<f64>().powi(2)) as usize;
        let i = favourites.len().checked_sub(1 + back)?;
        favourites.get(i).copied()
    }

    /// A song of the artist already out at `at`, hits likelier.
    pub(super) fn artist_song(&mut self, artist: usize, at: i64) -> Option<u32> {
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
    pub(super) fn genre_song(&mut self, genre: usize, at: i64) -> Option<u32> {
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
    pub(super) fn chart_song(&mut self) -> Option<u32> {
        let (songs, by_popularity) = &self.world.songs.chart;
        by_popularity.sample(&mut self.rng).map(|i| songs[i])
    }

    /// A song by the user's taste: from the chart, or a genre (a core one, or any by
    /// popularity) and then a favourite artist's song or the genre's.
    pub(super) fn taste_song(&mut self, u: usize, at: i64) -> Option<u32> {
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
    pub(super) fn next_song(&mut self, u: usize, at: i64, session: Session) -> (u32, bool) {
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

    pub(super) fn song_item(
        &mut self,
        u: usize,
        at: i64,
        session: Session,
    ) -> (Interaction, SimItem) {
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

    pub(super) fn podcast_item(
        &mut self,
        u: usize,
        at: i64,
        session: Session,
    ) -> (Interaction, SimItem) {
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
    pub(super) fn play(
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
    pub(super) fn follow_ups(&mut self, u: usize, play: &Interaction, p_like: f64, p_follow: f64) {
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
