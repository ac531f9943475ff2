//! Size-tiered compaction for tables that are written to in many small commits (appending
//! producers, stream sinks), run in the background next to the writer.
//!
//! Delta's compaction (`optimize`) merges contiguous runs of files, newest first, whose sizes
//! add up to at most a target, and leaves files above the target alone. Run every few commits
//! with the table's target file size (100 MiB by default), it would rewrite the table's whole
//! small-file tail each time, each run longer than the one before, and slow the writer next
//! to it more and more.
//!
//! Here each run is bounded instead: run `n` merges about what was written since the run
//! before (level 0), every [`FAN_IN`]th run merges about `FAN_IN` of those (level 1), every
//! `FAN_IN²`th about `FAN_IN²` (level 2), and so on up to the table's target file size. A
//! row is rewritten about once per level, not once per run; averaged over runs, a run
//! rewrites about the bytes written since the last one, once per level.
//! `BENCH_APPENDS=1200 scripts/bench-producer` prints the commit latency of each sixth of
//! the appends, which this keeps flat.
//!
//! [`Compactor`] is the one policy both kits use ([`CompactionPolicy`]): every
//! [`DEFAULT_COMPACT_EVERY`] commits of a table, a run in the background, one at a time per
//! table, one rewrite at a time so it never takes more than a core from the writer; tracked,
//! so a writer's shutdown waits for the runs in flight ([`Compactor::drain`]).

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};

use deltalake::table::config::TablePropertiesExt;
use deltalake::{DeltaTable, DeltaTableError};
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::{Commit, ProductTable};

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

/// Commits of a table between two compactions, by default. Each commit adds a file and a
/// commit costs more the more files the table has; compacting every so often keeps the number
/// of files, and so the cost of a commit, bounded.
pub const DEFAULT_COMPACT_EVERY: u64 = 25;

/// When a [`Compactor`] compacts, and how hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Commits of a table between two runs; 0 never compacts.
    pub every: u64,
    /// Files rewritten at once by a run: 1 keeps a run to one core, next to the writer.
    pub max_concurrent_tasks: usize,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            every: DEFAULT_COMPACT_EVERY,
            max_concurrent_tasks: 1,
        }
    }
}

impl CompactionPolicy {
    /// The default policy, compacting every `commits` commits (0: never).
    pub fn every(commits: u64) -> Self {
        Self {
            every: commits,
            ..Self::default()
        }
    }
}

/// Background compaction of the tables one writer commits to. Count each commit with
/// [`Compactor::committed`]: when a table's run is due and none runs, one starts in the
/// background from the writer's own handle (no reload of the log). Delta keeps both writers'
/// commits (compaction removes only files it rewrote, appends only add), and the writer's
/// next commit picks the compaction up. Cheap to clone; clones share the runs.
#[derive(Debug, Clone)]
pub struct Compactor {
    policy: CompactionPolicy,
    tables: Arc<Mutex<HashMap<String, Runs>>>,
    tasks: TaskTracker,
}

/// Marks a table's run finished when dropped: at the end of the run, or while a panic
/// unwinds it.
struct Finished {
    tables: Arc<Mutex<HashMap<String, Runs>>>,
    uri: String,
}

impl Drop for Finished {
    fn drop(&mut self) {
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(runs) = tables.get_mut(&self.uri) {
            runs.running = false;
        }
    }
}

/// Where a table is in its compactions.
#[derive(Debug, Default)]
struct Runs {
    /// Commits since the last run started.
    since: u64,
    /// Runs started so far: numbers the runs for [`level`].
    started: u64,
    /// Whether one runs now.
    running: bool,
}

impl Default for Compactor {
    fn default() -> Self {
        Self::new(CompactionPolicy::default())
    }
}

impl Compactor {
    /// A compactor with `policy`.
    pub fn new(policy: CompactionPolicy) -> Self {
        Self {
            policy,
            tables: Arc::default(),
            tasks: TaskTracker::new(),
        }
    }

    /// The policy.
    pub fn policy(&self) -> CompactionPolicy {
        self.policy
    }

    /// Counts a commit of `table` (as the commit left it); starts a run in the background,
    /// committed with `commit`'s metadata, if one is due. Returns whether one started. Call
    /// from within a Tokio runtime.
    pub fn committed(&self, table: &ProductTable, commit: &Commit) -> bool {
        let Some((run, commits)) = self.due(table.uri()) else {
            return false;
        };
        let mut table = table.clone();
        let commit = commit.clone();
        let tables = Arc::clone(&self.tables);
        let tasks = self.policy.max_concurrent_tasks;
        self.tasks.spawn(async move {
            // Cleared however the run ends (deltalake may panic on some I/O failures): a run
            // that did not finish must not stop every later one.
            let _finished = Finished {
                tables,
                uri: table.uri().to_owned(),
            };
            let outcome = async {
                let target = tiered_target(table.delta_table(), run, commits)
                    .map_err(|e| table.error(e))?;
                let metrics = table.compact(Some(target), Some(tasks), &commit).await?;
                Ok::<_, super::TableError>((metrics, target))
            }
            .await;
            match outcome {
                Ok((m, target)) => {
                    info!(product = %table.product(), run, target, removed = m.num_files_removed, added = m.num_files_added, "compacted in the background");
                }
                Err(e) => {
                    warn!(product = %table.product(), error = %e, "background compaction failed; the next one will try again");
                }
            }
        });
        true
    }

    /// Counts a commit of the table at `uri`; the run to start now (its number and the
    /// commits it merges), if one is due and none runs.
    fn due(&self, uri: &str) -> Option<(u64, u64)> {
        if self.policy.every == 0 {
            return None;
        }
        let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let runs = tables.entry(uri.to_owned()).or_default();
        runs.since += 1;
        if runs.since < self.policy.every || runs.running {
            return None;
        }
        runs.started += 1;
        runs.running = true;
        let commits = std::mem::take(&mut runs.since);
        Some((runs.started, commits))
    }

    /// Runs in flight now.
    pub fn running(&self) -> usize {
        self.tasks.len()
    }

    /// Waits for the runs in flight; runs may start again after.
    pub async fn drain(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.tasks.reopen();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_due_every_so_many_commits_and_one_at_a_time() {
        let compactor = Compactor::new(CompactionPolicy::every(3));
        let due: Vec<_> = (0..4).map(|_| compactor.due("t")).collect();
        assert_eq!(due, [None, None, Some((1, 3)), None]);
        // While run 1 runs, commits count on but start nothing.
        assert_eq!(compactor.due("t"), None);
        assert_eq!(compactor.due("t"), None);
        assert_eq!(compactor.due("other"), None);
        if let Some(runs) = compactor
            .tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut("t")
        {
            runs.running = false;
        }
        assert_eq!(compactor.due("t"), Some((2, 4)));
        assert_eq!(Compactor::new(CompactionPolicy::every(0)).due("t"), None);
    }

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
