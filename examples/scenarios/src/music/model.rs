//! The records the producer domains publish, and the merged item catalogue the
//! `recommendations` consumer builds from them.
//!
//! The published records ([`User`], [`Song`], [`Podcast`], [`Interaction`]) become Avro
//! records, so their names, fields and types are the contract: `i64` and `i32` map to Avro
//! `long` and `int`, times are epoch milliseconds, and the enums are unit-variant Avro enums
//! whose symbols are the SCREAMING_SNAKE_CASE variant names. Change them only through the
//! schema-evolution rules of the registry.

use serde::{Deserialize, Serialize};

/// Podcast ids start here, so song and podcast ids never collide in the merged catalogue.
pub const PODCAST_ID_BASE: i64 = 1_000_000_000;

/// A listener (the `users` domain's catalogue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id.
    pub user_id: i64,
    /// Display name.
    pub name: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// When the user signed up, epoch ms.
    pub signed_up_at: i64,
    /// Genres the user picked on sign-up (most favoured first). A prior only: tastes drift and
    /// profiles go stale, so models should trust behaviour once there is some.
    pub favourite_genres: Vec<String>,
}

/// A song (the `songs` domain's catalogue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Song {
    /// The song's id, below [`PODCAST_ID_BASE`].
    pub song_id: i64,
    /// Title.
    pub title: String,
    /// Performing artist.
    pub artist: String,
    /// Genre, lower case (`"hip-hop"`).
    pub genre: String,
    /// Length, in ms.
    pub duration_ms: i32,
    /// When the song was released, epoch ms.
    pub released_at: i64,
}

/// A podcast show (the `podcasts` domain's catalogue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Podcast {
    /// The show's id, from [`PODCAST_ID_BASE`] up.
    pub podcast_id: i64,
    /// Title.
    pub title: String,
    /// Publisher.
    pub publisher: String,
    /// Genre, lower case (`"true-crime"`).
    pub genre: String,
    /// Typical length of an episode, in ms.
    pub episode_ms: i32,
}

/// What kind of item an interaction is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ItemKind {
    /// A [`Song`].
    Song,
    /// A [`Podcast`] (an episode of the show).
    Podcast,
}

/// What the user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// Played the item (see [`Interaction::ms_played`] for how long).
    Play,
    /// Skipped the item early (`ms_played` is how long before the skip).
    Skip,
    /// Liked the item (`ms_played` is 0: an action, not a playback).
    Like,
    /// Followed the item's artist or show (`ms_played` is 0).
    Follow,
}

/// Where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Device {
    /// A phone.
    Mobile,
    /// The desktop app.
    Desktop,
    /// A smart speaker.
    Speaker,
    /// The web player.
    Web,
}

/// One user action on one item (the `interactions` domain's stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    /// Who.
    pub user_id: i64,
    /// On what: a song or podcast id.
    pub item_id: i64,
    /// Which kind of item `item_id` is.
    pub kind: ItemKind,
    /// What they did.
    pub action: Action,
    /// When, epoch ms (event time).
    pub at: i64,
    /// Where.
    pub device: Device,
    /// The listening session: a user's consecutive interactions share it.
    pub session_id: i64,
    /// How long the item played, in ms: most of it for a play, under 30 s for a skip, 0 for
    /// a like or a follow.
    pub ms_played: i32,
}

/// The shortest play that counts as a positive signal (the industry's "stream" threshold).
pub const POSITIVE_PLAY_MS: i32 = 30_000;

impl Interaction {
    /// Whether this is a positive signal on its item: a play of at least 30 s, or a like.
    /// Evaluation test cases are positive interactions; follows are not counted, as they
    /// are about the artist or show rather than the item.
    pub fn is_positive(&self) -> bool {
        match self.action {
            Action::Play => self.ms_played >= POSITIVE_PLAY_MS,
            Action::Like => true,
            Action::Skip | Action::Follow => false,
        }
    }
}

/// One item of the merged catalogue: a song or a podcast show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The song or podcast id.
    pub item_id: i64,
    /// Which catalogue it came from.
    pub kind: ItemKind,
    /// Title.
    pub title: String,
    /// The song's artist or the show's publisher.
    pub creator: String,
    /// Genre.
    pub genre: String,
    /// Song length or typical episode length, in ms.
    pub duration_ms: i32,
    /// When a song was released (epoch ms); `None` for podcasts.
    pub released_at: Option<i64>,
}

impl From<&Song> for Item {
    fn from(song: &Song) -> Self {
        Self {
            item_id: song.song_id,
            kind: ItemKind::Song,
            title: song.title.clone(),
            creator: song.artist.clone(),
            genre: song.genre.clone(),
            duration_ms: song.duration_ms,
            released_at: Some(song.released_at),
        }
    }
}

impl From<&Podcast> for Item {
    fn from(podcast: &Podcast) -> Self {
        Self {
            item_id: podcast.podcast_id,
            kind: ItemKind::Podcast,
            title: podcast.title.clone(),
            creator: podcast.publisher.clone(),
            genre: podcast.genre.clone(),
            duration_ms: podcast.episode_ms,
            released_at: None,
        }
    }
}

/// Merges the song and podcast catalogues into one item catalogue, songs first.
pub fn merge_catalogue(songs: &[Song], podcasts: &[Podcast]) -> Vec<Item> {
    songs
        .iter()
        .map(Item::from)
        .chain(podcasts.iter().map(Item::from))
        .collect()
}

/// One event of the simulated world, in event-time order: what the consumer receives from
/// the interaction stream and from the songs catalogue's new versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MusicEvent {
    /// A user interaction.
    Interaction(Interaction),
    /// A song released while the stream runs (a new row of the songs catalogue).
    Released(Song),
}

impl MusicEvent {
    /// The event's time, epoch ms.
    pub fn at(&self) -> i64 {
        match self {
            Self::Interaction(interaction) => interaction.at,
            Self::Released(song) => song.released_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_use_avro_symbols() {
        let json = serde_json::to_string(&(ItemKind::Podcast, Action::Skip, Device::Speaker))
            .unwrap_or_default();
        assert_eq!(json, r#"["PODCAST","SKIP","SPEAKER"]"#);
    }

    #[test]
    fn positives_are_long_plays_and_likes() {
        let mut event = Interaction {
            user_id: 1,
            item_id: 2,
            kind: ItemKind::Song,
            action: Action::Play,
            at: 0,
            device: Device::Web,
            session_id: 1,
            ms_played: POSITIVE_PLAY_MS,
        };
        assert!(event.is_positive());
        event.ms_played -= 1;
        assert!(!event.is_positive());
        event.action = Action::Like;
        event.ms_played = 0;
        assert!(event.is_positive());
        event.action = Action::Follow;
        assert!(!event.is_positive());
    }
}
