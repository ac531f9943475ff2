//! Time as the mesh records it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as events, table versions and the catalog record time;
/// 0 for a clock before the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
