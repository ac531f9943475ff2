//! Size-tiered compaction for tables that are written to in many small commits (appending
//! producers, stream sinks).
//!
//! Delta's compaction (`optimize`) merges contiguous runs of files, newest first, whose sizes
//! add up to at most a target, and leaves files above the target alone. Run every few commits
//! with the table's target file size (100 MiB by default), it rewrites the table's whole
//! small-file tail each time: a table of 18 MiB built from 1,200 appends was rewritten whole
//! every 25 appends, and each run took longer than the one before. On a 2-core machine the
//! appender next to it slowed down with it: its p50 commit went from 6.6 to 12.7 ms.
//!
//! Here each run is bounded instead: run `n` merges about what was written since the run
//! before (level 0), every [`FAN_IN`]th run merges about `FAN_IN` of those (level 1), every
//! `FAN_IN²`th about `FAN_IN²` (level 2), and so on up to the table's target file size. A
//! row is rewritten about once per level, not once per run; averaged over runs, a run
//! rewrites about the bytes written since the last one, once per level. The commit latency
//! of the same 1,200 appends stayed at 8.3-10.4 ms p50 per 100 appends from start to end
//! (`BENCH_APPENDS=1200 scripts/bench-producer` prints the p50 of each sixth).

use std::num::NonZeroU64;

use deltalake::table::config::TablePropertiesExt;
use deltalake::{DeltaTable, DeltaTableError};

/// How many compactions of one level make one of the next.
pub const FAN_IN: u64 = 8;

/// The level of the `run`th compaction (from 1): how many times [`FAN_IN`] divides `run`.
pub fn level(run: u64) -> u32 {
    let (mut run, mut level) = (run, 0);
    while run > 0 && run.is_multiple_of(FAN_IN) {
        run /= FAN_IN;
        level += 1;
    }
    level
}

/// The size bound of the `run`th compaction when about `recent` bytes were written since the
/// run before: `recent × FAN_IN^level`, at most `table_target`, at least 1. Whatever the
/// estimate, a run rewrites at most its bound.
pub fn target(recent: u64, run: u64, table_target: u64) -> u64 {
    let scale = FAN_IN.saturating_pow(level(run));
    recent.saturating_mul(scale).clamp(1, table_target.max(1))
}

/// Estimates the bytes of the last `writes` commits from the table's newest data files: their
/// median size times `writes`. The median, because a compaction that ran meanwhile may have
/// written one of the newest files, and counting it would make each run merge the last one's
/// output again. Writes of several files each (one per partition) are underestimated: level 0
/// then merges less, and higher levels catch up.
pub fn recent_bytes(table: &DeltaTable, writes: u64) -> Result<u64, DeltaTableError> {
    let state = table.snapshot()?;
    let mut files: Vec<(i64, u64)> = state
        .log_data()
        .iter()
        .map(|f| (f.modification_time(), u64::try_from(f.size()).unwrap_or(0)))
        .collect();
    files.sort_unstable_by_key(|&(modified, _)| std::cmp::Reverse(modified));
    files.truncate(usize::try_from(writes).unwrap_or(usize::MAX));
    let mut sizes: Vec<u64> = files.into_iter().map(|(_, size)| size).collect();
    sizes.sort_unstable();
    let median = sizes.get(sizes.len() / 2).copied().unwrap_or(0);
    Ok(median.saturating_mul(writes))
}

/// The `optimize` target size for the `run`th compaction of a loaded `table` that took `writes`
/// commits since the run before.
pub fn tiered_target(
    table: &DeltaTable,
    run: u64,
    writes: u64,
) -> Result<NonZeroU64, DeltaTableError> {
    let table_target = table.snapshot()?.table_config().target_file_size().get();
    let bound = target(recent_bytes(table, writes)?, run, table_target);
    Ok(NonZeroU64::new(bound).unwrap_or(NonZeroU64::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_bounds() {
        let levels: Vec<u32> = [1, 2, 7, 8, 16, 63, 64, 128, 512]
            .into_iter()
            .map(level)
            .collect();
        assert_eq!(levels, [0, 0, 0, 1, 1, 0, 2, 2, 3]);
        let table_target = 100 << 20;
        // Most runs merge what was written since the last one; every eighth, eight of those.
        assert_eq!(target(500_000, 3, table_target), 500_000);
        assert_eq!(target(500_000, 24, table_target), 4_000_000);
        assert_eq!(target(500_000, 64, table_target), 32_000_000);
        // Never past the table's target size, never zero.
        assert_eq!(target(500_000, 512, table_target), table_target);
        assert_eq!(target(u64::MAX, 8, table_target), table_target);
        assert_eq!(target(0, 1, table_target), 1);
    }

    #[test]
    fn averaged_over_runs_a_run_rewrites_what_was_written_once_per_level() {
        // Levels 0 to 4 in 8^4 runs: at most five times what each run found written.
        let runs = FAN_IN.pow(4);
        let rewritten: u64 = (1..=runs).map(|run| target(1000, run, u64::MAX)).sum();
        assert!(rewritten / runs <= 5 * 1000, "{}", rewritten / runs);
    }
}
