//! Per-key history for per-event models: the last N values (or the values of the last time
//! window) of each key, in bounded memory.
//!
//! The pattern: for each `<key, value>` event, record it, read the key's recent values, run a
//! detector, act. [`History::record`] does the first two in one step and returns the key's
//! values, oldest first. Memory is bounded twice: at most `per_key` values per key (or the
//! window's), and at most `max_keys` keys, the least recently seen key evicted first.

use std::collections::VecDeque;
use std::hash::Hash;
use std::time::Duration;

use hashlink::LruCache;

/// How much history each key keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The last `n` values.
    Last(usize),
    /// The values of the last `window` (by event time), at most `cap` of them.
    Window {
        /// How far back.
        window: Duration,
        /// The most values kept whatever the window holds.
        cap: usize,
    },
}

/// The history of many keys.
pub struct History<K, V> {
    keep: Keep,
    keys: LruCache<K, VecDeque<(i64, V)>>,
    evicted: u64,
}

impl<K, V> std::fmt::Debug for History<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("keep", &self.keep)
            .field("keys", &self.keys.len())
            .field("evicted", &self.evicted)
            .finish()
    }
}

impl<K: Eq + Hash + Clone, V> History<K, V> {
    /// A history of at most `max_keys` keys, each keeping what `keep` says.
    pub fn new(keep: Keep, max_keys: usize) -> Self {
        Self {
            keep,
            keys: LruCache::new(max_keys.max(1)),
            evicted: 0,
        }
    }

    fn cap(&self) -> usize {
        match self.keep {
            Keep::Last(n) => n.max(1),
            Keep::Window { cap, .. } => cap.max(1),
        }
    }

    /// Records `value` for `key` at event time `at_ms` and returns the key's history, oldest
    /// first, the new value last.
    pub fn record(&mut self, key: &K, at_ms: i64, value: V) -> &VecDeque<(i64, V)> {
        let cap = self.cap();
        if !self.keys.contains_key(key) {
            if self.keys.len() >= self.keys.capacity() {
                self.evicted += 1;
            }
            self.keys
                .insert(key.clone(), VecDeque::with_capacity(cap.min(64)));
        }
        let keep = self.keep;
        // Present: inserted just above if it was not.
        let values = self
            .keys
            .get_mut(key)
            .unwrap_or_else(|| unreachable!("the key was just inserted"));
        values.push_back((at_ms, value));
        while values.len() > cap {
            values.pop_front();
        }
        if let Keep::Window { window, .. } = keep {
            let horizon =
                at_ms.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
            while values.front().is_some_and(|(t, _)| *t < horizon) {
                values.pop_front();
            }
        }
        values
    }

    /// Fills the history from rows already stored (a product's table, say), oldest first, so
    /// a model starts warm instead of empty: `(key, event time in ms, value)`.
    ///
    /// ```no_run
    /// # async fn demo(data: consumer_kit::StaticData) -> consumer_kit::Result<()> {
    /// use consumer_kit::{History, Keep};
    /// #[derive(serde::Deserialize)]
    /// struct Row { host: String, at: i64, bytes: f64 }
    /// let rows: Vec<Row> = data.rows("SELECT host, at, bytes FROM flows.samples ORDER BY at").await?;
    /// let mut history = History::new(Keep::Last(50), 100_000);
    /// history.warm(rows.into_iter().map(|r| (r.host, r.at, r.bytes)));
    /// # Ok(()) }
    /// ```
    pub fn warm(&mut self, rows: impl IntoIterator<Item = (K, i64, V)>) {
        for (key, at, value) in rows {
            self.record(&key, at, value);
        }
    }

    /// The key's history, if it has one (does not count as seeing the key).
    pub fn get(&self, key: &K) -> Option<&VecDeque<(i64, V)>> {
        self.keys.peek(key)
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys evicted to stay within the bound, so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_values_of_each_key() {
        let mut h = History::new(Keep::Last(3), 10);
        for i in 0..5 {
            h.record(&"a", i, i);
        }
        let values: Vec<i64> = h
            .get(&"a")
            .map(|v| v.iter().map(|(_, x)| *x).collect())
            .unwrap_or_default();
        assert_eq!(values, [2, 3, 4]);
    }

    #[test]
    fn windows_drop_old_values() {
        let mut h = History::new(
            Keep::Window {
                window: Duration::from_secs(10),
                cap: 100,
            },
            10,
        );
        for t in [0, 5_000, 9_000, 16_000] {
            h.record(&1, t, t);
        }
        let values: Vec<i64> = h
            .get(&1)
            .map(|v| v.iter().map(|(t, _)| *t).collect())
            .unwrap_or_default();
        assert_eq!(values, [9_000, 16_000]);
    }

    #[test]
    fn warms_from_stored_rows() {
        let mut h = History::new(Keep::Last(2), 10);
        h.warm([("a", 1, 1.0), ("a", 2, 2.0), ("a", 3, 3.0), ("b", 1, 9.0)]);
        let a: Vec<f64> = h
            .get(&"a")
            .map(|v| v.iter().map(|(_, x)| *x).collect())
            .unwrap_or_default();
        assert_eq!(a, [2.0, 3.0]);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn evicts_the_least_recently_seen_key() {
        let mut h = History::new(Keep::Last(2), 2);
        h.record(&"a", 0, 1);
        h.record(&"b", 0, 1);
        h.record(&"a", 1, 2);
        h.record(&"c", 0, 1);
        assert!(h.get(&"b").is_none(), "b was the least recently seen");
        assert!(h.get(&"a").is_some() && h.get(&"c").is_some());
        assert_eq!((h.len(), h.evicted()), (2, 1));
    }
}
