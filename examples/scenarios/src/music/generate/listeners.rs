//! The listeners: each user's taste and record, and when their sessions start.

// A part of the generator: it shares the module's names (constants, helpers, the other parts).
use super::*;

/// How a user listens.
#[derive(Debug, Clone)]
pub(super) struct Taste {
    /// Core music genres (indices) and their weights, most favoured first.
    pub(super) genres: Vec<(usize, f64)>,
    pub(super) favourite_artists: Vec<usize>,
    pub(super) podcast_genres: Vec<usize>,
    /// Share of sessions spent on podcasts.
    pub(super) podcast_share: f64,
    /// Chance a taste pick goes to any genre (by global popularity) instead of the core
    /// ones: the breadth of the user's listening.
    pub(super) explore: f64,
    /// Chance a taste pick comes from the chart.
    pub(super) chart: f64,
    /// Scales how much a session follows the current item (versus going back to taste).
    pub(super) coherence: f64,
    /// Chance a session starts with a favourite again.
    pub(super) replay: f64,
    pub(super) skip_bias: f64,
    pub(super) device: Device,
    /// Relative share of the sessions.
    pub(super) activity: f64,
}

impl Taste {
    /// How much the user likes a genre: its core weight, 0.6 for their podcast genres, 0 for
    /// the rest.
    pub(super) fn affinity(&self, genre: usize) -> f64 {
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
pub(super) fn generate_users(
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
pub(super) struct Plan {
    pub(super) start: i64,
    pub(super) items: u32,
    pub(super) podcast: bool,
}

/// Each user's sessions, by start time: cold users listen right after signing up; then
/// sessions go to users by activity until the stream has its interactions.
pub(super) fn plan_sessions(
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
