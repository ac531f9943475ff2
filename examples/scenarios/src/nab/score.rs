//! NAB's scoring rules, reimplemented from the rules of numenta/NAB (`nab/sweeper.py`,
//! `nab/optimizer.py`, `nab/scorer.py`, `nab/runner.py`, `nab/util.py`) so that a score
//! here is comparable with NAB's published ones.
//!
//! The rules, for one cost profile ([`CostMatrix`]):
//!
//! - **Probation.** The first rows of each file are the detector's learning period and are
//!   not scored: `min(floor(0.15 × rows), 0.15 × 5000)` rows ([`probation_length`]). A
//!   window wholly inside it is neither hit nor missed; one reaching past it is scored on
//!   its later rows, with weights from its full width.
//! - **Row weights.** Every scored row gets the score it would earn if the detector fired on
//!   it ([`Scorer::row_weights`]). In a window of width `w` whose last row is `r`, row `i` sits
//!   at `-(r - i + 1) / w` (−1 on the first row, just below 0 on the last) and earns
//!   `tpWeight × σ(position) / σ(−1)`, where σ is the [`scaled_sigmoid`]: the full `tpWeight`
//!   at the start of the window, almost nothing at its end. Outside windows a detection adds
//!   `fpWeight × σ((i − r) / (w − 1))` (negative), measured from the end `r` of the previous
//!   window (of width `w`): little right after a window, the full `−fpWeight` from three
//!   widths on, and the full `−fpWeight` before the first window.
//! - **Counting.** At a threshold `t` the detector fires on every scored row whose anomaly
//!   score is `≥ t`. Each window counts once, by its best (earliest) detection, or
//!   `−fnWeight` if it has none; every detection outside windows adds its (negative) weight.
//!   The raw score of a corpus is the sum over its files.
//! - **Threshold.** One threshold for the whole corpus: every distinct anomaly score is tried
//!   as a threshold, from the highest down, starting above them all (NAB's 1.1: never fire),
//!   and the best raw score wins, the highest threshold among ties ([`Scorer::sweep`],
//!   [`Scorer::optimize`]).
//! - **Normalization.** `100 × (raw − null) / (perfect − null)`, where `null` is the raw score
//!   of a detector that never fires (`−fnWeight` per scored window) and `perfect` is
//!   `tpWeight ×` the number of *labels* (as NAB's runner counts them; see
//!   [`Series::label_count`]).
//!
//! NAB leaves a few cases undefined (it raises or divides by zero); here they are decided
//! and documented where they arise: the rows after a one-row window (their detections count
//! as far from any window), window ends that fall between rows (see [`Series::new`]), and a
//! file all of whose scored rows are above the threshold (NAB's per-file lookup finds no
//! row and fails; here every row fires, as the rule says).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::data::{LoadError, Series};

/// NAB's probationary percentage: the share of each file not scored.
pub const PROBATION_PERCENT: f64 = 0.15;

/// NAB's cap on the probationary period is this many rows times the probationary percentage.
const PROBATION_CAP_ROWS: f64 = 5000.0;

/// The threshold at which a detector never fires: NAB starts its sweep at 1.1, above every
/// anomaly score (scores are in `[0, 1]`).
pub const NEVER_FIRE: f64 = 1.1;

/// The weights of a NAB application profile (`config/profiles.json`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct CostMatrix {
    /// Reward for detecting a window at its very start.
    #[serde(rename = "tpWeight")]
    pub tp_weight: f64,
    /// Cost of a detection far from any window.
    #[serde(rename = "fpWeight")]
    pub fp_weight: f64,
    /// Cost of a window without any detection.
    #[serde(rename = "fnWeight")]
    pub fn_weight: f64,
    /// Unused by NAB's scoring; kept because profiles carry it.
    #[serde(rename = "tnWeight")]
    pub tn_weight: f64,
}

impl CostMatrix {
    /// NAB's `standard` profile.
    pub const STANDARD: Self = Self {
        tp_weight: 1.0,
        fp_weight: 0.11,
        fn_weight: 1.0,
        tn_weight: 1.0,
    };
    /// NAB's `reward_low_FP_rate` profile.
    pub const REWARD_LOW_FP_RATE: Self = Self {
        fp_weight: 0.22,
        ..Self::STANDARD
    };
    /// NAB's `reward_low_FN_rate` profile.
    pub const REWARD_LOW_FN_RATE: Self = Self {
        fn_weight: 2.0,
        ..Self::STANDARD
    };
}

/// Reads NAB's `profiles.json` (`{"standard": {"CostMatrix": {"tpWeight": ...}}, ...}`):
/// the cost matrix of each profile, by name.
pub fn load_profiles(path: impl AsRef<Path>) -> Result<BTreeMap<String, CostMatrix>, LoadError> {
    #[derive(Deserialize)]
    struct Profile {
        #[serde(rename = "CostMatrix")]
        cost_matrix: CostMatrix,
    }
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let profiles: BTreeMap<String, Profile> =
        serde_json::from_str(&text).map_err(|source| LoadError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(profiles
        .into_iter()
        .map(|(name, p)| (name, p.cost_matrix))
        .collect())
}

/// The number of leading rows of a file of `rows` rows that are not scored.
///
/// NAB's rule is `min(floor(p × rows), p × 5000)` compared with a row index by `i >= length`;
/// the second term can be fractional, hence its ceiling here.
pub fn probation_length(rows: usize, probation_percent: f64) -> usize {
    // Both terms are non-negative and at most `rows` or 5000, so the casts are exact.
    let by_rows = (probation_percent * rows as f64).floor();
    let cap = (probation_percent * PROBATION_CAP_ROWS).ceil();
    by_rows.min(cap).max(0.0) as usize
}

/// NAB's scaled sigmoid of a position relative to a window: `2 / (1 + e^(5x)) − 1`, or −1
/// beyond 3.
///
/// −1 is a window's first row (0.98661, the most a detection earns before scaling), 0 just
/// past its last row (0), and positive positions are distances after a window in window
/// widths (tending to −1: false positives cost more as they get further from the window).
pub fn scaled_sigmoid(relative_position: f64) -> f64 {
    if relative_position > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * relative_position).exp()) - 1.0
    }
}

/// What a row of a file would add to the score if the detector fired on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowWeight {
    /// The weighted score of a detection on this row (positive in a window).
    pub weight: f64,
    /// The index of the window (in [`Series::windows`]) the row is in, if any.
    pub window: Option<usize>,
    /// Whether the row is in the probationary period (then it is not scored at all).
    pub probationary: bool,
}

/// Row counts at a threshold, as NAB reports them (each scored row is one of the four).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows in a window the detector fired on.
    pub true_positives: usize,
    /// Rows outside windows the detector fired on.
    pub false_positives: usize,
    /// Rows in a window the detector did not fire on.
    pub false_negatives: usize,
    /// Rows outside windows the detector did not fire on.
    pub true_negatives: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
        self.true_negatives += other.true_negatives;
    }
}

/// The raw score of a corpus at one threshold of the sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdScore {
    /// Detections are the rows whose anomaly score is at least this.
    pub threshold: f64,
    /// The raw NAB score (sum over files).
    pub score: f64,
    /// The row counts.
    pub counts: Counts,
}

/// One file's result at the chosen threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct FileScore {
    /// The file's key.
    pub name: String,
    /// Its raw NAB score.
    pub score: f64,
    /// Its row counts.
    pub counts: Counts,
    /// Its scored windows (those with at least one row after probation).
    pub windows: usize,
    /// How many of them have a detection.
    pub windows_detected: usize,
}

/// A corpus scored NAB's way: the threshold chosen by the sweep and what it gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The cost profile.
    pub cost: CostMatrix,
    /// The corpus-wide threshold the sweep chose.
    pub threshold: f64,
    /// The normalized score: 0 for the null detector, 100 for a perfect one (NaN if the
    /// corpus has neither windows nor labels).
    pub score: f64,
    /// The raw score (sum of the files' scores).
    pub raw_score: f64,
    /// The raw score of a detector that never fires.
    pub null_score: f64,
    /// The raw score NAB credits a perfect detector with (`tpWeight` × labels).
    pub perfect_score: f64,
    /// Row counts over the corpus.
    pub counts: Counts,
    /// Scored windows in the corpus.
    pub windows: usize,
    /// Windows with at least one detection.
    pub windows_detected: usize,
    /// Rows in the corpus, probation included.
    pub rows: usize,
    /// Per-file results, in corpus order.
    pub files: Vec<FileScore>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<62} {:>8} {:>7} {:>5} {:>6}",
            "file", "score", "windows", "hit", "FP"
        )?;
        for file in &self.files {
            writeln!(
                f,
                "{:<62} {:>8.3} {:>7} {:>5} {:>6}",
                file.name,
                file.score,
                file.windows,
                file.windows_detected,
                file.counts.false_positives
            )?;
        }
        writeln!(
            f,
            "{} files, {} rows; threshold {:.6}",
            self.files.len(),
            self.rows,
            self.threshold
        )?;
        writeln!(
            f,
            "windows detected {}/{}; rows: TP {} FP {} FN {} TN {}",
            self.windows_detected,
            self.windows,
            self.counts.true_positives,
            self.counts.false_positives,
            self.counts.false_negatives,
            self.counts.true_negatives
        )?;
        write!(
            f,
            "raw {:.3} (null {:.3}, perfect {:.3}); NAB score {:.2}",
            self.raw_score, self.null_score, self.perfect_score, self.score
        )
    }
}

/// Why anomaly scores could not be scored against a corpus.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScoreError {
    /// Not one list of scores per file.
    FileCount {
        /// Files in the corpus.
        files: usize,
        /// Lists of scores given.
        scores: usize,
    },
    /// A file's scores are not one per row.
    RowCount {
        /// The file.
        file: String,
        /// Its rows.
        rows: usize,
        /// Its scores.
        scores: usize,
    },
    /// An anomaly score is NaN or outside `[0, 1]` (NAB refuses these too).
    OutOfRange {
        /// The file.
        file: String,
        /// The row.
        row: usize,
        /// The score.
        value: f64,
    },
}

impl fmt::Display for ScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FileCount { files, scores } => {
                write!(f, "{scores} lists of scores for {files} files")
            }
            Self::RowCount { file, rows, scores } => {
                write!(f, "{file}: {scores} scores for {rows} rows")
            }
            Self::OutOfRange { file, row, value } => {
                write!(
                    f,
                    "{file}: row {row} has anomaly score {value}, not in [0, 1]"
                )
            }
        }
    }
}

impl std::error::Error for ScoreError {}

/// NAB's scorer for one cost profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scorer {
    /// The profile's weights.
    pub cost: CostMatrix,
    /// The share of each file not scored (NAB: 0.15).
    pub probation_percent: f64,
}

impl Default for Scorer {
    /// The standard profile with NAB's probation.
    fn default() -> Self {
        Self::new(CostMatrix::STANDARD)
    }
}

/// A scored row of the corpus, for the sweep.
#[derive(Debug, Clone, Copy)]
struct Scored {
    anomaly: f64,
    weight: f64,
    /// Corpus-wide window index, if in a window.
    window: Option<usize>,
}

impl Scorer {
    /// A scorer for `cost` with NAB's probation.
    pub fn new(cost: CostMatrix) -> Self {
        Self {
            cost,
            probation_percent: PROBATION_PERCENT,
        }
    }

    /// What a detection on each row of `series` would be worth (NAB's sweep scores).
    pub fn row_weights(&self, series: &Series) -> Vec<RowWeight> {
        let rows = series.len();
        let probation = probation_length(rows, self.probation_percent);
        let max_tp = scaled_sigmoid(-1.0);
        let spans = series.spans();
        let mut out = Vec::with_capacity(rows);
        // `next` is the first window not yet left behind.
        let mut next = 0;
        for i in 0..rows {
            while spans.get(next).is_some_and(|s| s.last < i) {
                next += 1;
            }
            let current = spans.get(next).filter(|s| s.contains(i));
            let (weight, window) = match current {
                Some(span) => {
                    let position = -((span.last - i + 1) as f64) / span.len() as f64;
                    (
                        scaled_sigmoid(position) * self.cost.tp_weight / max_tp,
                        Some(next),
                    )
                }
                None => {
                    let unweighted = match next.checked_sub(1).and_then(|k| spans.get(k)) {
                        // Before any window: as far from one as can be.
                        None => -1.0,
                        // NAB divides by zero after a one-row window; count its false
                        // positives as far away, like those before any window.
                        Some(prev) if prev.len() == 1 => -1.0,
                        Some(prev) => {
                            scaled_sigmoid((i - prev.last) as f64 / (prev.len() - 1) as f64)
                        }
                    };
                    (unweighted * self.cost.fp_weight, None)
                }
            };
            out.push(RowWeight {
                weight,
                window,
                probationary: i < probation,
            });
        }
        out
    }

    /// NAB's threshold sweep over a corpus: the raw score for every distinct anomaly score
    /// taken as the threshold, from [`NEVER_FIRE`] down to the lowest score.
    ///
    /// `scores[f][i]` is the anomaly score of row `i` of `corpus[f]`.
    pub fn sweep(
        &self,
        corpus: &[Series],
        scores: &[Vec<f64>],
    ) -> Result<Vec<ThresholdScore>, ScoreError> {
        check(corpus, scores)?;
        let mut rows = Vec::new();
        let mut windows = 0;
        for (series, scores) in corpus.iter().zip(scores) {
            let mut scored_windows = Vec::new();
            for (w, &anomaly) in self.row_weights(series).iter().zip(scores) {
                if w.probationary {
                    continue;
                }
                let window = w.window.map(|k| {
                    if scored_windows.last() != Some(&k) {
                        scored_windows.push(k);
                    }
                    // Windows are numbered in corpus order; only those with a scored row
                    // take part (one wholly in probation is neither hit nor missed).
                    windows + scored_windows.len() - 1
                });
                rows.push(Scored {
                    anomaly,
                    weight: w.weight,
                    window,
                });
            }
            windows += scored_windows.len();
        }
        Ok(self.sweep_rows(rows, windows))
    }

    fn sweep_rows(&self, mut rows: Vec<Scored>, windows: usize) -> Vec<ThresholdScore> {
        // Highest anomaly first; a stable sort keeps equal scores in corpus order, though
        // nothing depends on their order: a threshold takes all of them or none.
        rows.sort_by(|a, b| b.anomaly.total_cmp(&a.anomaly));
        let mut best = vec![-self.cost.fn_weight; windows];
        let mut fp_total = 0.0;
        let mut counts = Counts::default();
        for row in &rows {
            if row.window.is_some() {
                counts.false_negatives += 1;
            } else {
                counts.true_negatives += 1;
            }
        }
        // The score is re-summed at each threshold rather than updated, as NAB does, so that
        // ties between thresholds are decided on the same sums.
        let total = |fp_total: f64, best: &[f64]| fp_total + best.iter().sum::<f64>();
        let mut out = Vec::new();
        let mut threshold = NEVER_FIRE;
        for row in &rows {
            if row.anomaly != threshold {
                out.push(ThresholdScore {
                    threshold,
                    score: total(fp_total, &best),
                    counts,
                });
                threshold = row.anomaly;
            }
            match row.window {
                Some(k) => {
                    counts.true_positives += 1;
                    counts.false_negatives -= 1;
                    best[k] = best[k].max(row.weight);
                }
                None => {
                    counts.false_positives += 1;
                    counts.true_negatives -= 1;
                    fp_total += row.weight;
                }
            }
        }
        out.push(ThresholdScore {
            threshold,
            score: total(fp_total, &best),
            counts,
        });
        out
    }

    /// NAB's optimizer: the best point of the [`sweep`](Scorer::sweep), the highest threshold
    /// among equal scores.
    pub fn optimize(
        &self,
        corpus: &[Series],
        scores: &[Vec<f64>],
    ) -> Result<ThresholdScore, ScoreError> {
        let sweep = self.sweep(corpus, scores)?;
        Ok(best_of(&sweep))
    }

    /// One file's result at `threshold`: it fires on the scored rows whose anomaly score is
    /// at least `threshold`.
    pub fn score_file(
        &self,
        series: &Series,
        scores: &[f64],
        threshold: f64,
    ) -> Result<FileScore, ScoreError> {
        check_file(series, scores)?;
        let mut best = vec![None::<f64>; series.windows().len()];
        let mut scored = vec![false; series.windows().len()];
        let mut fp_total = 0.0;
        let mut counts = Counts::default();
        for (w, &anomaly) in self.row_weights(series).iter().zip(scores) {
            if w.probationary {
                continue;
            }
            let fires = anomaly >= threshold;
            match (w.window, fires) {
                (Some(k), true) => {
                    counts.true_positives += 1;
                    scored[k] = true;
                    best[k] = Some(best[k].map_or(w.weight, |b| b.max(w.weight)));
                }
                (Some(k), false) => {
                    counts.false_negatives += 1;
                    scored[k] = true;
                }
                (None, true) => {
                    counts.false_positives += 1;
                    fp_total += w.weight;
                }
                (None, false) => counts.true_negatives += 1,
            }
        }
        let windows = scored.iter().filter(|s| **s).count();
        let windows_detected = best.iter().filter(|b| b.is_some()).count();
        let window_total: f64 = best
            .iter()
            .zip(&scored)
            .filter(|(_, s)| **s)
            .map(|(b, _)| b.unwrap_or(-self.cost.fn_weight))
            .sum();
        Ok(FileScore {
            name: series.name().to_owned(),
            score: fp_total + window_total,
            counts,
            windows,
            windows_detected,
        })
    }

    /// Scores a corpus as NAB does: sweeps the threshold, keeps the best, scores each file at
    /// it and normalizes the total against the null and perfect detectors.
    pub fn evaluate(&self, corpus: &[Series], scores: &[Vec<f64>]) -> Result<Report, ScoreError> {
        let sweep = self.sweep(corpus, scores)?;
        let best = best_of(&sweep);
        // The first point of the sweep is "never fire": the null detector.
        let null_score = sweep.first().map_or(0.0, |s| s.score);
        let labels: usize = corpus.iter().map(Series::label_count).sum();
        let perfect_score = self.cost.tp_weight * labels as f64;
        let files = corpus
            .iter()
            .zip(scores)
            .map(|(series, scores)| self.score_file(series, scores, best.threshold))
            .collect::<Result<Vec<_>, _>>()?;
        let mut counts = Counts::default();
        for file in &files {
            counts += file.counts;
        }
        Ok(Report {
            cost: self.cost,
            threshold: best.threshold,
            score: 100.0 * (best.score - null_score) / (perfect_score - null_score),
            raw_score: best.score,
            null_score,
            perfect_score,
            counts,
            windows: files.iter().map(|f| f.windows).sum(),
            windows_detected: files.iter().map(|f| f.windows_detected).sum(),
            rows: corpus.iter().map(Series::len).sum(),
            files,
        })
    }
}

/// The best point of a sweep: the highest score, the first (highest threshold) among ties,
/// as NAB's stable sort picks it.
fn best_of(sweep: &[ThresholdScore]) -> ThresholdScore {
    let mut best = ThresholdScore {
        threshold: NEVER_FIRE,
        score: f64::NEG_INFINITY,
        counts: Counts::default(),
    };
    for point in sweep {
        if point.score > best.score {
            best = *point;
        }
    }
    best
}

fn check(corpus: &[Series], scores: &[Vec<f64>]) -> Result<(), ScoreError> {
    if corpus.len() != scores.len() {
        return Err(ScoreError::FileCount {
            files: corpus.len(),
            scores: scores.len(),
        });
    }
    corpus
        .iter()
        .zip(scores)
        .try_for_each(|(series, scores)| check_file(series, scores))
}

fn check_file(series: &Series, scores: &[f64]) -> Result<(), ScoreError> {
    if series.len() != scores.len() {
        return Err(ScoreError::RowCount {
            file: series.name().to_owned(),
            rows: series.len(),
            scores: scores.len(),
        });
    }
    match scores.iter().position(|s| !(0.0..=1.0).contains(s)) {
        Some(row) => Err(ScoreError::OutOfRange {
            file: series.name().to_owned(),
            row,
            value: scores[row],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nab::data::Window;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// A series of `rows` rows one second apart with windows given as row ranges.
    fn series(name: &str, rows: usize, windows: &[(usize, usize)]) -> Series {
        let points = (0..rows).map(|i| (i as i64 * 1000, 0.0)).collect();
        let windows = windows
            .iter()
            .map(|&(a, b)| Window {
                start_ms: a as i64 * 1000,
                end_ms: b as i64 * 1000,
            })
            .collect();
        Series::new(name, points, windows).unwrap_or_else(|e| panic!("bad test series: {e}"))
    }

    /// Scores that fire (1.0) exactly on the given rows.
    fn firing(rows: usize, on: &[usize]) -> Vec<f64> {
        let mut s = vec![0.0; rows];
        for &i in on {
            s[i] = 1.0;
        }
        s
    }

    #[test]
    fn the_sigmoid_matches_nab_at_the_window_edges() {
        assert!((scaled_sigmoid(-1.0) - 0.986_614_298).abs() < 1e-9);
        assert!((scaled_sigmoid(-0.5) - 0.848_283_639).abs() < 1e-9);
        assert_eq!(scaled_sigmoid(0.0), 0.0);
        assert!((scaled_sigmoid(1.0) + 0.986_614_298).abs() < 1e-9);
        assert_eq!(scaled_sigmoid(3.5), -1.0);
    }

    #[test]
    fn probation_is_fifteen_percent_capped_at_750_rows() {
        assert_eq!(probation_length(4032, PROBATION_PERCENT), 604);
        assert_eq!(probation_length(10_320, PROBATION_PERCENT), 750);
        assert_eq!(probation_length(1243, PROBATION_PERCENT), 186);
        assert_eq!(probation_length(0, PROBATION_PERCENT), 0);
    }

    #[test]
    fn a_detection_earns_full_weight_at_the_window_start_and_little_at_its_end() {
        let s = series("s", 100, &[(40, 49)]);
        let w = Scorer::default().row_weights(&s);
        assert!(close(w[40].weight, 1.0));
        assert_eq!(w[40].window, Some(0));
        // Last row: position -1/10.
        let last = scaled_sigmoid(-0.1) / scaled_sigmoid(-1.0);
        assert!(close(w[49].weight, last) && w[49].weight > 0.0 && w[49].weight < 0.26);
        // Before any window: the full false-positive cost. Right after: much less.
        assert!(close(w[20].weight, -0.11));
        assert!(close(w[50].weight, 0.11 * scaled_sigmoid(1.0 / 9.0)));
        assert!(close(w[99].weight, -0.11));
        assert!(w[14].probationary && !w[15].probationary);
    }

    #[test]
    fn perfect_detector_scores_100_and_null_detector_0() -> TestResult {
        let corpus = vec![
            series("a", 200, &[(50, 59), (120, 139)]),
            series("b", 100, &[(70, 79)]),
            series("c", 100, &[]),
        ];
        let perfect = vec![
            firing(200, &[50, 120]),
            firing(100, &[70]),
            firing(100, &[]),
        ];
        let report = Scorer::default().evaluate(&corpus, &perfect)?;
        assert!(close(report.score, 100.0), "{report}");
        assert_eq!((report.windows, report.windows_detected), (3, 3));
        assert!(close(report.null_score, -3.0) && close(report.perfect_score, 3.0));

        let null = vec![vec![0.5; 200], vec![0.5; 100], vec![0.5; 100]];
        let report = Scorer::default().evaluate(&corpus, &null)?;
        assert!(close(report.score, 0.0), "{report}");
        assert_eq!(report.threshold, NEVER_FIRE);
        assert_eq!(
            report.counts.false_positives + report.counts.true_positives,
            0
        );
        Ok(())
    }

    #[test]
    fn a_small_case_by_hand() -> TestResult {
        // 100 rows, probation 15, one window on rows 40..=49 (width 10).
        let corpus = vec![series("s", 100, &[(40, 49)])];
        let mut scores = vec![0.0; 100];
        scores[10] = 0.9; // in probation: ignored
        scores[30] = 0.8; // before the window: −0.11
        scores[45] = 0.8; // 6th row of the window: position −5/10
        scores[47] = 0.9; // later in the window: does not count, 45 is earlier
        scores[52] = 0.7; // 3 rows after the window: position 3/9
        let scorer = Scorer::default();

        let tp = scaled_sigmoid(-0.5) / scaled_sigmoid(-1.0);
        let fp_after = 0.11 * scaled_sigmoid(3.0 / 9.0);
        let at_08 = tp - 0.11;
        let at_09 = scaled_sigmoid(-0.3) / scaled_sigmoid(-1.0);
        let at_07 = at_08 + fp_after;

        let sweep = scorer.sweep(&corpus, &[scores.clone()])?;
        let points: Vec<(f64, f64)> = sweep.iter().map(|s| (s.threshold, s.score)).collect();
        assert_eq!(points.len(), 5, "{points:?}");
        assert_eq!(points[0].0, NEVER_FIRE);
        assert!(close(points[0].1, -1.0));
        assert!(points[1].0 == 0.9 && close(points[1].1, at_09));
        assert!(points[2].0 == 0.8 && close(points[2].1, at_08));
        assert!(points[3].0 == 0.7 && close(points[3].1, at_07));
        // At 0.0 everything fires: 85 scored rows of which 10 in the window.
        assert_eq!(points[4].0, 0.0);
        assert_eq!(sweep[4].counts.true_positives, 10);
        assert_eq!(sweep[4].counts.false_positives, 75);

        let best = scorer.optimize(&corpus, &[scores.clone()])?;
        assert_eq!(best.threshold, 0.8);
        assert!(close(best.score, at_08));
        assert_eq!(
            best.counts,
            Counts {
                true_positives: 2,
                false_positives: 1,
                false_negatives: 8,
                true_negatives: 74,
            }
        );
        let file = scorer.score_file(&corpus[0], &scores, 0.8)?;
        assert!(close(file.score, at_08));
        assert_eq!(file.counts, best.counts);
        Ok(())
    }

    #[test]
    fn ties_choose_the_highest_threshold() -> TestResult {
        // Firing at 0.6 adds a detection with zero weight (nothing else changes the score).
        let corpus = vec![series("s", 100, &[(40, 49)])];
        let mut scores = vec![0.0; 100];
        scores[40] = 0.9;
        scores[45] = 0.6;
        let best = Scorer::default().optimize(&corpus, &[scores])?;
        assert_eq!(best.threshold, 0.9);
        Ok(())
    }

    #[test]
    fn windows_in_probation_are_neither_hit_nor_missed() -> TestResult {
        let corpus = vec![series("s", 100, &[(2, 5), (60, 69)])];
        let report = Scorer::default().evaluate(&corpus, &[firing(100, &[3])])?;
        assert_eq!(report.windows, 1);
        assert!(close(report.null_score, -1.0));
        Ok(())
    }

    #[test]
    fn bad_scores_are_refused() {
        let corpus = vec![series("s", 10, &[])];
        let mut scores = vec![0.0; 10];
        scores[3] = f64::NAN;
        assert!(matches!(
            Scorer::default().sweep(&corpus, &[scores]),
            Err(ScoreError::OutOfRange { row: 3, .. })
        ));
        assert!(matches!(
            Scorer::default().sweep(&corpus, &[vec![0.0; 9]]),
            Err(ScoreError::RowCount { .. })
        ));
    }
}
