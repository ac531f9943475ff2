//! The analytics domain's live trends: plays per item and per genre in each minute of event
//! time, queryable while they count, and handed over minute by minute to be kept as the
//! `analytics.plays_per_minute` product.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::model::{Action, Interaction};

const MINUTE_MS: i64 = 60_000;

/// What a row of `analytics.plays_per_minute` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Dimension {
    /// Plays of one item.
    Item,
    /// Plays of one genre.
    Genre,
}

/// One row of `analytics.plays_per_minute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaysPerMinute {
    /// The minute's start, milliseconds since the epoch.
    pub minute: i64,
    /// What `key` is.
    pub dimension: Dimension,
    /// The item id or the genre.
    pub key: String,
    /// Plays in that minute.
    pub plays: i64,
}

#[derive(Debug, Default)]
struct Minute {
    items: HashMap<i64, i64>,
    genres: HashMap<String, i64>,
}

/// Live plays per minute.
///
/// Events may arrive a little out of order (several partitions): a minute stays open until
/// the newest event seen is `lateness` minutes past it; then it is closed and handed over by
/// [`Trends::take_closed`]. The last `keep` minutes stay queryable; older ones are dropped,
/// so memory is bounded whatever the stream's length.
#[derive(Debug)]
pub struct Trends {
    genre_of: HashMap<i64, String>,
    minutes: BTreeMap<i64, Minute>,
    closed_until: i64,
    newest: i64,
    lateness: i64,
    keep: usize,
    pending: Vec<PlaysPerMinute>,
    plays: u64,
    late: u64,
}

impl Default for Trends {
    fn default() -> Self {
        Self::new(2, 60)
    }
}

impl Trends {
    /// Minutes close `lateness` minutes after the newest event; the last `keep` stay
    /// queryable.
    pub fn new(lateness: i64, keep: usize) -> Self {
        Self {
            genre_of: HashMap::new(),
            minutes: BTreeMap::new(),
            closed_until: i64::MIN,
            newest: i64::MIN,
            lateness: lateness.max(0),
            keep: keep.max(1),
            pending: Vec::new(),
            plays: 0,
            late: 0,
        }
    }

    /// Tells the genre of an item (from the song and podcast catalogues).
    pub fn set_genre(&mut self, item_id: i64, genre: &str) {
        self.genre_of.insert(item_id, genre.to_owned());
    }

    /// Counts a play (other actions are ignored).
    pub fn observe(&mut self, event: &Interaction) {
        if event.action != Action::Play {
            return;
        }
        let minute = event.at.div_euclid(MINUTE_MS) * MINUTE_MS;
        if minute < self.closed_until {
            // Its minute was already handed over: counted nowhere rather than twice.
            self.late += 1;
            return;
        }
        self.plays += 1;
        let counts = self.minutes.entry(minute).or_default();
        *counts.items.entry(event.item_id).or_default() += 1;
        let genre = self
            .genre_of
            .get(&event.item_id)
            .map_or("unknown", String::as_str);
        match counts.genres.get_mut(genre) {
            Some(n) => *n += 1,
            None => {
                counts.genres.insert(genre.to_owned(), 1);
            }
        }
        if minute > self.newest {
            self.newest = minute;
            self.close_before(minute - self.lateness * MINUTE_MS);
        }
    }

    /// Closes every minute before `limit`.
    fn close_before(&mut self, limit: i64) {
        if limit <= self.closed_until {
            return;
        }
        for (&minute, counts) in self.minutes.range(..limit) {
            if minute < self.closed_until {
                continue;
            }
            self.pending.extend(rows(minute, counts));
        }
        self.closed_until = limit;
        while self.minutes.len() > self.keep {
            self.minutes.pop_first();
        }
    }

    /// The rows of minutes closed since the last call.
    pub fn take_closed(&mut self) -> Vec<PlaysPerMinute> {
        std::mem::take(&mut self.pending)
    }

    /// Closes every minute (the stream ended) and returns their rows.
    pub fn close_all(&mut self) -> Vec<PlaysPerMinute> {
        if let Some((&last, _)) = self.minutes.last_key_value() {
            self.close_before(last + MINUTE_MS);
        }
        self.take_closed()
    }

    /// The newest minute with plays.
    pub fn latest_minute(&self) -> Option<i64> {
        self.minutes.last_key_value().map(|(m, _)| *m)
    }

    /// The `k` keys with the most plays in `minute` (the newest when `None`), most first.
    pub fn top(&self, dimension: Dimension, minute: Option<i64>, k: usize) -> Vec<(String, i64)> {
        let Some(minute) = minute.or_else(|| self.latest_minute()) else {
            return Vec::new();
        };
        let Some(counts) = self.minutes.get(&minute) else {
            return Vec::new();
        };
        let mut top: Vec<(String, i64)> = match dimension {
            Dimension::Item => counts
                .items
                .iter()
                .map(|(id, n)| (id.to_string(), *n))
                .collect(),
            Dimension::Genre => counts.genres.iter().map(|(g, n)| (g.clone(), *n)).collect(),
        };
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(k);
        top
    }

    /// Plays counted, and plays that came after their minute had closed.
    pub fn counts(&self) -> (u64, u64) {
        (self.plays, self.late)
    }
}

fn rows(minute: i64, counts: &Minute) -> impl Iterator<Item = PlaysPerMinute> + '_ {
    let items = counts.items.iter().map(move |(id, n)| PlaysPerMinute {
        minute,
        dimension: Dimension::Item,
        key: id.to_string(),
        plays: *n,
    });
    let genres = counts.genres.iter().map(move |(g, n)| PlaysPerMinute {
        minute,
        dimension: Dimension::Genre,
        key: g.clone(),
        plays: *n,
    });
    items.chain(genres)
}

#[cfg(test)]
mod tests {
    use super::super::model::{Device, ItemKind};
    use super::*;

    fn play(item_id: i64, at: i64) -> Interaction {
        Interaction {
            user_id: 1,
            item_id,
            kind: ItemKind::Song,
            action: Action::Play,
            at,
            device: Device::Mobile,
            session_id: 1,
            ms_played: 60_000,
        }
    }

    #[test]
    fn counts_plays_per_item_and_genre_and_closes_minutes_after_the_lateness() {
        let mut trends = Trends::new(1, 10);
        trends.set_genre(1, "jazz");
        trends.set_genre(2, "rock");
        for at in [0, 10_000, 20_000] {
            trends.observe(&play(1, at));
        }
        trends.observe(&play(2, 30_000));
        let mut skip = play(2, 40_000);
        skip.action = Action::Skip;
        trends.observe(&skip);
        assert_eq!(
            trends.top(Dimension::Genre, None, 5),
            vec![("jazz".into(), 3), ("rock".into(), 1)]
        );
        // Minute 1 opens: minute 0 is still within the lateness.
        trends.observe(&play(2, 61_000));
        assert!(trends.take_closed().is_empty());
        // Minute 2 closes minute 0.
        trends.observe(&play(2, 121_000));
        let mut closed = trends.take_closed();
        closed.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(closed.len(), 4, "{closed:?}");
        assert!(closed.iter().all(|r| r.minute == 0));
        let jazz = closed.iter().find(|r| r.key == "jazz").map(|r| r.plays);
        assert_eq!(jazz, Some(3));
        // A play for the closed minute is not counted twice.
        trends.observe(&play(1, 5_000));
        assert_eq!(trends.counts(), (6, 1));
        let rest = trends.close_all();
        assert_eq!(
            rest.iter()
                .filter(|r| r.dimension == Dimension::Genre)
                .count(),
            2
        );
    }

    #[test]
    fn memory_keeps_only_the_newest_minutes() {
        let mut trends = Trends::new(0, 3);
        for m in 0..20 {
            trends.observe(&play(1, m * MINUTE_MS));
        }
        assert!(trends.minutes.len() <= 3);
        assert_eq!(trends.latest_minute(), Some(19 * MINUTE_MS));
        assert_eq!(trends.top(Dimension::Item, None, 1), vec![("1".into(), 1)]);
    }
}
