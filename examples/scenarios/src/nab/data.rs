//! Loading a NAB corpus: the data files, their labelled anomaly windows and their labels.
//!
//! A NAB directory holds `data/<category>/<file>.csv` (header `timestamp,value`, timestamps
//! like `2014-04-10 07:15:00`), `windows.json` (for each file, keyed by its path relative to
//! `data/` such as `realKnownCause/nyc_taxi.csv`, the list of `[start, end]` anomaly windows)
//! and, optionally, `labels.json` (for each file, the labelled anomaly timestamps the windows
//! were grown from; NAB's normalization counts them). [`load`] reads it into [`Series`] (and
//! [`load_built_in`] the copy built into the program), each checked once here so the detector
//! and the scorer can rely on it: values are finite, windows are in order, disjoint and cover
//! at least one row.
//!
//! Timestamps carry no zone in NAB; they are read as UTC and kept as milliseconds since the
//! epoch. They are not required to increase: three files of the corpus repeat or step back
//! an hour (daylight-saving artifacts of their sources), and NAB, which scores rows in file
//! order, accepts them; so do the loader, the detector and the scorer.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;

/// A labelled anomaly window, both ends included, as written in `windows.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first instant of the window, in milliseconds since the epoch (UTC).
    pub start_ms: i64,
    /// The last instant of the window, in milliseconds since the epoch (UTC).
    pub end_ms: i64,
}

/// The rows a [`Window`] covers in its series: indices `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Index of the window's first row.
    pub first: usize,
    /// Index of the window's last row (included).
    pub last: usize,
}

impl Span {
    /// Rows in the window.
    pub fn len(&self) -> usize {
        self.last - self.first + 1
    }

    /// Always false: a span covers at least one row ([`Series::new`] refuses empty windows).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether row `index` is in the window.
    pub fn contains(&self, index: usize) -> bool {
        (self.first..=self.last).contains(&index)
    }
}

/// One data file of the corpus: its rows, its anomaly windows and (if known) its labels.
///
/// Built by [`load`] or [`Series::new`], which check the invariants the scorer relies on.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    name: String,
    points: Vec<(i64, f64)>,
    windows: Vec<Window>,
    spans: Vec<Span>,
    labels: Option<Vec<i64>>,
}

/// Why a [`Series`] could not be built from its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeriesError {
    /// The series has no rows.
    Empty,
    /// Row `index` has a NaN or infinite value.
    NonFinite {
        /// The offending row.
        index: usize,
    },
    /// Window `window` ends before it starts.
    WindowReversed {
        /// Index of the window in the series' list.
        window: usize,
    },
    /// Window `window` covers no row of the series.
    WindowEmpty {
        /// Index of the window in the series' list.
        window: usize,
    },
    /// Window `window` shares rows with, or comes before, the window listed before it.
    WindowOverlap {
        /// Index of the window in the series' list.
        window: usize,
    },
}

impl fmt::Display for SeriesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the series has no rows"),
            Self::NonFinite { index } => write!(f, "row {index} has a NaN or infinite value"),
            Self::WindowReversed { window } => write!(f, "window {window} ends before it starts"),
            Self::WindowEmpty { window } => write!(f, "window {window} covers no row"),
            Self::WindowOverlap { window } => write!(
                f,
                "window {window} overlaps or precedes the window before it"
            ),
        }
    }
}

impl std::error::Error for SeriesError {}

impl Series {
    /// A series named `name` (NAB's relative key, e.g. `realKnownCause/nyc_taxi.csv`) of
    /// `(timestamp_ms, value)` rows with its labelled anomaly `windows`.
    ///
    /// Rows are taken in the order given. As in NAB, each window covers the rows from the
    /// first stamped exactly at its start to the first after it stamped exactly at its end,
    /// scanning from the end of the previous window; when an end falls between rows (NAB
    /// would fail), the window takes the rows inside. Windows must be in time order and
    /// disjoint.
    pub fn new(
        name: impl Into<String>,
        points: Vec<(i64, f64)>,
        windows: Vec<Window>,
    ) -> Result<Self, SeriesError> {
        if points.is_empty() {
            return Err(SeriesError::Empty);
        }
        if let Some(index) = points.iter().position(|(_, v)| !v.is_finite()) {
            return Err(SeriesError::NonFinite { index });
        }
        let mut spans: Vec<Span> = Vec::with_capacity(windows.len());
        for (index, w) in windows.iter().enumerate() {
            if w.end_ms < w.start_ms {
                return Err(SeriesError::WindowReversed { window: index });
            }
            if index > 0 && windows[index - 1].end_ms >= w.start_ms {
                return Err(SeriesError::WindowOverlap { window: index });
            }
            // Rows are scanned in file order from the end of the previous window, as NAB
            // scans them; timestamps may step back, so no binary search. NAB enters on the
            // first row stamped exactly at the start and leaves on the first row stamped
            // exactly at the end; ends that fall between rows take the rows inside.
            let rows = |from: usize| (from..points.len()).map(|i| (i, points[i].0));
            let from = spans.last().map_or(0, |s| s.last + 1);
            let first = rows(from)
                .find(|(_, t)| *t == w.start_ms)
                .or_else(|| rows(from).find(|(_, t)| *t >= w.start_ms))
                .map(|(i, _)| i);
            let Some(first) = first else {
                return Err(SeriesError::WindowEmpty { window: index });
            };
            let last = match rows(first).find(|(_, t)| *t == w.end_ms) {
                Some((i, _)) => Some(i),
                None => match rows(first).find(|(_, t)| *t > w.end_ms) {
                    Some((i, _)) => i.checked_sub(1),
                    None => Some(points.len() - 1),
                },
            };
            match last {
                Some(last) if last >= first => spans.push(Span { first, last }),
                _ => return Err(SeriesError::WindowEmpty { window: index }),
            }
        }
        Ok(Self {
            name: name.into(),
            points,
            windows,
            spans,
            labels: None,
        })
    }

    /// The same series with its labelled anomaly timestamps (ms since the epoch), which
    /// NAB's normalization counts (see [`Series::label_count`]).
    pub fn with_labels(mut self, labels: Vec<i64>) -> Self {
        self.labels = Some(labels);
        self
    }

    /// NAB's key for the file: its path relative to `data/`, with `/` separators.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rows, in file order: `(timestamp_ms, value)`.
    pub fn points(&self) -> &[(i64, f64)] {
        &self.points
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Always false: a series has at least one row.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The labelled anomaly windows, in order.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The rows each window covers, in the order of [`Series::windows`].
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// The labelled anomaly timestamps, if they were given.
    pub fn labels(&self) -> Option<&[i64]> {
        self.labels.as_deref()
    }

    /// How many true positives a perfect detector is credited with in NAB's normalization:
    /// the number of labels, or of windows if no labels were given.
    ///
    /// The two can differ: NAB merges overlapping windows, so one window can hold two labels
    /// (twice in this corpus). NAB still counts labels, which is why even a perfect detector
    /// does not quite reach 100 on its corpus.
    pub fn label_count(&self) -> usize {
        self.labels.as_ref().map_or(self.windows.len(), Vec::len)
    }
}

/// Why a NAB directory could not be loaded; each variant names the file (and the line when
/// the input is at fault).
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or directory could not be read.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A JSON file is not valid JSON or not of the expected shape (the cause says where).
    Json {
        /// The file.
        path: PathBuf,
        /// The cause, with its line and column.
        source: serde_json::Error,
    },
    /// A file holds something it should not: a bad row, timestamp or window.
    Parse {
        /// The file.
        path: PathBuf,
        /// The 1-based line at fault, when it can be told.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A data file has no entry in `windows.json`, so it cannot be scored.
    Unlabelled {
        /// The `windows.json` file.
        path: PathBuf,
        /// The data file's key that is missing.
        key: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Json { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Parse {
                path,
                line: Some(line),
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            Self::Parse {
                path,
                line: None,
                message,
            } => write!(f, "{}: {message}", path.display()),
            Self::Unlabelled { path, key } => {
                write!(f, "{}: no entry for data file {key:?}", path.display())
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Json { source, .. } => Some(source),
            Self::Parse { .. } | Self::Unlabelled { .. } => None,
        }
    }
}

/// The corpus in this repository (`examples/scenarios/data/nab`, MIT licence, see its
/// `LICENSE.txt`), built into the program so a binary runs away from the checkout: each
/// file's text under its path in the corpus.
const BUILT_IN: &[(&str, &str)] = &[
    ("labels.json", include_str!("../../data/nab/labels.json")),
    ("windows.json", include_str!("../../data/nab/windows.json")),
    (
        "data/artificialNoAnomaly/art_daily_no_noise.csv",
        include_str!("../../data/nab/data/artificialNoAnomaly/art_daily_no_noise.csv"),
    ),
    (
        "data/artificialNoAnomaly/art_daily_perfect_square_wave.csv",
        include_str!("../../data/nab/data/artificialNoAnomaly/art_daily_perfect_square_wave.csv"),
    ),
    (
        "data/artificialNoAnomaly/art_daily_small_noise.csv",
        include_str!("../../data/nab/data/artificialNoAnomaly/art_daily_small_noise.csv"),
    ),
    (
        "data/artificialNoAnomaly/art_flatline.csv",
        include_str!("../../data/nab/data/artificialNoAnomaly/art_flatline.csv"),
    ),
    (
        "data/artificialNoAnomaly/art_noisy.csv",
        include_str!("../../data/nab/data/artificialNoAnomaly/art_noisy.csv"),
    ),
    (
        "data/artificialWithAnomaly/art_daily_flatmiddle.csv",
        include_str!("../../data/nab/data/artificialWithAnomaly/art_daily_flatmiddle.csv"),
    ),
    (
        "data/artificialWithAnomaly/art_daily_jumpsdown.csv",
        include_str!("../../data/nab/data/artificialWithAnomaly/art_daily_jumpsdown.csv"),
    ),
    (
        "data/artificialWithAnomaly/art_daily_jumpsup.csv",
        include_str!("../../data/nab/data/artificialWithAnomaly/art_daily_jumpsup.csv"),
    ),
    (
        "data/artificialWithAnomaly/art_daily_nojump.csv",
        include_str!("../../data/nab/data/artificialWithAnomaly/art_daily_nojump.csv"),
    ),
    (
        "data/artificialWithAnomaly/art_increase_spike_density.csv",
        include_str!("../../data/nab/data/artificialWithAnomaly/art_increase_spike_density.csv"),
    ),
    (
        "data/artificialWithAnomaly/art_load_balancer_spikes.csv",
        include_str!("../../data/nab/data/artificialWithAnomaly/art_load_balancer_spikes.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_53ea38.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_cpu_utilization_77c1ca.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_77c1ca.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_fe7f93.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_disk_write_bytes_c0d644.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_network_in_257a54.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_network_in_257a54.csv"),
    ),
    (
        "data/realAWSCloudwatch/ec2_network_in_5abac7.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/ec2_network_in_5abac7.csv"),
    ),
    (
        "data/realAWSCloudwatch/elb_request_count_8c0756.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/elb_request_count_8c0756.csv"),
    ),
    (
        "data/realAWSCloudwatch/grok_asg_anomaly.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/grok_asg_anomaly.csv"),
    ),
    (
        "data/realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
        include_str!(
            "../../data/nab/data/realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv"
        ),
    ),
    (
        "data/realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/rds_cpu_utilization_cc0c53.csv"),
    ),
    (
        "data/realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv",
        include_str!("../../data/nab/data/realAWSCloudwatch/rds_cpu_utilization_e47b3b.csv"),
    ),
    (
        "data/realKnownCause/ambient_temperature_system_failure.csv",
        include_str!("../../data/nab/data/realKnownCause/ambient_temperature_system_failure.csv"),
    ),
    (
        "data/realKnownCause/cpu_utilization_asg_misconfiguration.csv",
        include_str!("../../data/nab/data/realKnownCause/cpu_utilization_asg_misconfiguration.csv"),
    ),
    (
        "data/realKnownCause/ec2_request_latency_system_failure.csv",
        include_str!("../../data/nab/data/realKnownCause/ec2_request_latency_system_failure.csv"),
    ),
    (
        "data/realKnownCause/machine_temperature_system_failure.csv",
        include_str!("../../data/nab/data/realKnownCause/machine_temperature_system_failure.csv"),
    ),
    (
        "data/realKnownCause/nyc_taxi.csv",
        include_str!("../../data/nab/data/realKnownCause/nyc_taxi.csv"),
    ),
    (
        "data/realKnownCause/rogue_agent_key_hold.csv",
        include_str!("../../data/nab/data/realKnownCause/rogue_agent_key_hold.csv"),
    ),
    (
        "data/realKnownCause/rogue_agent_key_updown.csv",
        include_str!("../../data/nab/data/realKnownCause/rogue_agent_key_updown.csv"),
    ),
];

/// The NAB corpus to run on: the directory `MESH_NAB_DIR` names (data kept outside this
/// repository, to score on what nothing here was tuned on), else the built-in copy.
pub fn load_configured() -> Result<Vec<Series>, LoadError> {
    match std::env::var_os("MESH_NAB_DIR") {
        Some(dir) => load(PathBuf::from(dir)),
        None => load_built_in(),
    }
}

/// Loads the corpus built into the program (see [`load`] for what is checked).
pub fn load_built_in() -> Result<Vec<Series>, LoadError> {
    load_from(&Source::BuiltIn(BUILT_IN))
}

/// Loads the NAB corpus in `dir` (the directory holding `data/` and `windows.json`): every
/// `.csv` file under `data/`, in path order, with its windows and, if `labels.json` exists,
/// its labels.
///
/// Every data file must have an entry in `windows.json` (an empty list if it has no
/// anomaly); entries without a data file are ignored, so a subset of the corpus loads with
/// the full label files.
pub fn load(dir: impl AsRef<Path>) -> Result<Vec<Series>, LoadError> {
    load_from(&Source::Dir(dir.as_ref()))
}

/// Where a corpus's files come from.
enum Source<'a> {
    /// A NAB directory.
    Dir(&'a Path),
    /// Texts built into the program, by their path in the corpus.
    BuiltIn(&'a [(&'a str, &'a str)]),
}

impl Source<'_> {
    /// How errors name the file at `relative`.
    fn path(&self, relative: &str) -> PathBuf {
        match self {
            Self::Dir(dir) => dir.join(relative),
            Self::BuiltIn(_) => PathBuf::from(format!("(built in) {relative}")),
        }
    }

    /// The text of the file at `relative`; `None` if there is no such file.
    fn read(&self, relative: &str) -> Result<Option<String>, LoadError> {
        match self {
            Self::Dir(dir) => match fs::read_to_string(dir.join(relative)) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(LoadError::Io {
                    path: dir.join(relative),
                    source,
                }),
            },
            Self::BuiltIn(files) => Ok(files
                .iter()
                .find(|(path, _)| *path == relative)
                .map(|(_, text)| (*text).to_owned())),
        }
    }

    /// The data files' keys (their paths under `data/`), sorted.
    fn data_keys(&self) -> Result<Vec<String>, LoadError> {
        let mut keys = match self {
            Self::Dir(dir) => {
                let data_dir = dir.join("data");
                let mut files = Vec::new();
                collect_csv(&data_dir, &mut files)?;
                files.iter().map(|f| relative_key(&data_dir, f)).collect()
            }
            Self::BuiltIn(files) => files
                .iter()
                .filter_map(|(path, _)| path.strip_prefix("data/"))
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        };
        keys.sort();
        Ok(keys)
    }
}

fn load_from(source: &Source<'_>) -> Result<Vec<Series>, LoadError> {
    let windows_path = source.path("windows.json");
    let windows_text = source.read("windows.json")?.ok_or_else(|| LoadError::Io {
        path: windows_path.clone(),
        source: io::Error::from(io::ErrorKind::NotFound),
    })?;
    let windows: BTreeMap<String, Vec<(String, String)>> =
        parse_json(&windows_path, &windows_text)?;

    let labels_path = source.path("labels.json");
    let labels_text = source.read("labels.json")?;
    let labels: Option<BTreeMap<String, Vec<String>>> = labels_text
        .as_deref()
        .map(|text| parse_json(&labels_path, text))
        .transpose()?;

    let keys = source.data_keys()?;
    let mut corpus = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(limits) = windows.get(&key) else {
            return Err(LoadError::Unlabelled {
                path: windows_path,
                key,
            });
        };
        let file = format!("data/{key}");
        let csv_path = source.path(&file);
        let text = source.read(&file)?.ok_or_else(|| LoadError::Io {
            path: csv_path.clone(),
            source: io::Error::from(io::ErrorKind::NotFound),
        })?;
        let points = parse_csv(&csv_path, &text)?;
        let json_error =
            |path: &Path, text: &str, needle: &str, message: String| LoadError::Parse {
                path: path.to_path_buf(),
                line: line_of(text, needle),
                message,
            };
        let mut file_windows = Vec::with_capacity(limits.len());
        for (start, end) in limits {
            let parse = |s: &str| {
                parse_timestamp(s).ok_or_else(|| {
                    json_error(
                        &windows_path,
                        &windows_text,
                        s,
                        format!("{key}: bad window timestamp {s:?}"),
                    )
                })
            };
            file_windows.push(Window {
                start_ms: parse(start)?,
                end_ms: parse(end)?,
            });
        }
        let mut series = Series::new(key.clone(), points, file_windows).map_err(|e| {
            // Row problems are caught by `parse_csv` with their line; what is left is about
            // the windows, so point at the offending window in windows.json.
            let needle = match e {
                SeriesError::WindowReversed { window }
                | SeriesError::WindowEmpty { window }
                | SeriesError::WindowOverlap { window } => {
                    limits.get(window).map_or(key.as_str(), |(s, _)| s.as_str())
                }
                _ => key.as_str(),
            };
            json_error(&windows_path, &windows_text, needle, format!("{key}: {e}"))
        })?;
        if let (Some(labels), Some(text)) = (&labels, &labels_text) {
            let stamps = labels.get(&key).map(Vec::as_slice).unwrap_or_default();
            let parsed = stamps
                .iter()
                .map(|s| {
                    parse_timestamp(s).ok_or_else(|| {
                        json_error(
                            &labels_path,
                            text,
                            s,
                            format!("{key}: bad label timestamp {s:?}"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            series = series.with_labels(parsed);
        }
        corpus.push(series);
    }
    Ok(corpus)
}

/// Parses a NAB timestamp, `YYYY-MM-DD HH:MM:SS` with optional fractional seconds, as UTC
/// milliseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, LoadError> {
    serde_json::from_str(text).map_err(|source| LoadError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The 1-based line of the first occurrence of `needle` as a JSON string in `text`.
///
/// serde_json reports where the syntax breaks but not where a well-formed value came from,
/// so a bad value is located by its text. Its first occurrence is the culprit or an
/// identical (so equally bad) copy of it.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    let quoted = format!("\"{needle}\"");
    text.find(&quoted)
        .map(|at| text[..at].bytes().filter(|b| *b == b'\n').count() + 1)
}

fn collect_csv(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io_error = |source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let path = entry.path();
        if entry.file_type().map_err(io_error)?.is_dir() {
            collect_csv(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "csv") {
            out.push(path);
        }
    }
    Ok(())
}

/// NAB's key for a data file: its path under `data/`, `/`-separated on every platform.
fn relative_key(data_dir: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(data_dir).unwrap_or(file);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Parses one data file (`path` names it in errors): a `timestamp,value` header, then one
/// row a line (blank lines are skipped).
fn parse_csv(path: &Path, text: &str) -> Result<Vec<(i64, f64)>, LoadError> {
    let error = |line: usize, message: String| LoadError::Parse {
        path: path.to_path_buf(),
        line: Some(line),
        message,
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    match lines.next() {
        Some((_, header)) if header.trim_start_matches('\u{feff}') == "timestamp,value" => {}
        Some((line, header)) => {
            return Err(error(
                line,
                format!("expected the header \"timestamp,value\", found {header:?}"),
            ));
        }
        None => return Err(error(1, "empty file".to_owned())),
    }
    let mut points: Vec<(i64, f64)> = Vec::with_capacity(text.len() / 24);
    for (line, row) in lines {
        if row.is_empty() {
            continue;
        }
        let Some((stamp, value)) = row.split_once(',') else {
            return Err(error(
                line,
                format!("expected \"timestamp,value\", found {row:?}"),
            ));
        };
        let timestamp = parse_timestamp(stamp)
            .ok_or_else(|| error(line, format!("bad timestamp {stamp:?}")))?;
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| error(line, format!("bad value {value:?}")))?;
        if !value.is_finite() {
            return Err(error(line, format!("value {value} is not finite")));
        }
        points.push((timestamp, value));
    }
    if points.is_empty() {
        return Err(error(1, "no rows after the header".to_owned()));
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A throw-away NAB directory under the system temp dir, removed on drop.
    struct TempCorpus(PathBuf);

    impl TempCorpus {
        fn new(tag: &str, windows: &str, files: &[(&str, &str)]) -> io::Result<Self> {
            let root = std::env::temp_dir().join(format!("nab-data-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(&root)?;
            fs::write(root.join("windows.json"), windows)?;
            for (name, body) in files {
                let path = root.join("data").join(name);
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::write(path, body)?;
            }
            Ok(Self(root))
        }
    }

    impl Drop for TempCorpus {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn ms(text: &str) -> i64 {
        parse_timestamp(text).unwrap_or(i64::MIN)
    }

    #[test]
    fn parses_timestamps_with_and_without_fractions() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:01"), Some(1_000));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01.500000"), Some(1_500));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01"), None);
    }

    #[test]
    fn loads_a_corpus_with_windows_and_labels() -> TestResult {
        let csv = "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2.5\n\
                   2014-01-01 00:10:00,3\n2014-01-01 00:15:00,4\n";
        let corpus = TempCorpus::new(
            "ok",
            r#"{"a/x.csv": [["2014-01-01 00:05:00.000000", "2014-01-01 00:10:00.000000"]],
                "b/y.csv": [], "c/not-here.csv": []}"#,
            &[("a/x.csv", csv), ("b/y.csv", csv)],
        )?;
        fs::write(
            corpus.0.join("labels.json"),
            r#"{"a/x.csv": ["2014-01-01 00:05:00"], "b/y.csv": []}"#,
        )?;
        let series = load(&corpus.0)?;
        assert_eq!(series.len(), 2);
        let x = &series[0];
        assert_eq!(x.name(), "a/x.csv");
        assert_eq!(x.len(), 4);
        assert_eq!(x.points()[1], (ms("2014-01-01 00:05:00"), 2.5));
        assert_eq!(x.spans(), [Span { first: 1, last: 2 }]);
        assert_eq!(x.labels(), Some(&[ms("2014-01-01 00:05:00")][..]));
        assert_eq!((x.label_count(), series[1].label_count()), (1, 0));
        Ok(())
    }

    #[test]
    fn a_bad_row_is_reported_with_its_file_and_line() -> TestResult {
        let corpus = TempCorpus::new(
            "bad-row",
            r#"{"a/x.csv": []}"#,
            &[(
                "a/x.csv",
                "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,oops\n",
            )],
        )?;
        let err = load(&corpus.0).err().ok_or("loaded a bad row")?;
        let text = err.to_string();
        assert!(text.contains("x.csv:3:") && text.contains("oops"), "{text}");
        Ok(())
    }

    #[test]
    fn a_bad_window_is_reported_with_its_line_in_windows_json() -> TestResult {
        let corpus = TempCorpus::new(
            "bad-window",
            "{\n \"a/x.csv\": [\n  [\"2014-01-01 00:05\", \"2014-01-01 00:10:00\"]\n ]\n}",
            &[("a/x.csv", "timestamp,value\n2014-01-01 00:00:00,1\n")],
        )?;
        let err = load(&corpus.0).err().ok_or("loaded a bad window")?;
        let text = err.to_string();
        assert!(text.contains("windows.json:3:"), "{text}");
        Ok(())
    }

    #[test]
    fn a_file_missing_from_windows_json_is_an_error() -> TestResult {
        let corpus = TempCorpus::new(
            "unlabelled",
            "{}",
            &[("a/x.csv", "timestamp,value\n2014-01-01 00:00:00,1\n")],
        )?;
        let err = load(&corpus.0).err().ok_or("loaded an unlabelled file")?;
        assert!(matches!(err, LoadError::Unlabelled { ref key, .. } if key == "a/x.csv"));
        Ok(())
    }

    #[test]
    fn windows_map_to_rows_as_nab_enters_and_leaves_them() {
        let points = vec![(0, 0.0), (10, 0.0), (10, 0.0), (20, 0.0), (30, 0.0)];
        let spans = |windows: &[(i64, i64)]| {
            let windows = windows
                .iter()
                .map(|&(start_ms, end_ms)| Window { start_ms, end_ms })
                .collect();
            Series::new("s", points.clone(), windows).map(|s| s.spans().to_vec())
        };
        // Exact ends: enter at the first row at the start, leave at the first row at the end.
        assert_eq!(spans(&[(10, 20)]), Ok(vec![Span { first: 1, last: 3 }]));
        assert_eq!(spans(&[(0, 10)]), Ok(vec![Span { first: 0, last: 1 }]));
        // Ends between rows: the rows inside.
        assert_eq!(spans(&[(5, 25)]), Ok(vec![Span { first: 1, last: 3 }]));
        assert_eq!(spans(&[(25, 99)]), Ok(vec![Span { first: 4, last: 4 }]));
        for empty in [(21, 29), (-9, -1), (31, 40)] {
            assert_eq!(
                spans(&[empty]),
                Err(SeriesError::WindowEmpty { window: 0 }),
                "{empty:?}"
            );
        }
        assert_eq!(
            spans(&[(0, 10), (10, 30)]),
            Err(SeriesError::WindowOverlap { window: 1 })
        );
        assert_eq!(
            spans(&[(20, 10)]),
            Err(SeriesError::WindowReversed { window: 0 })
        );
    }

    #[test]
    fn timestamps_may_repeat_or_step_back() {
        // As in machine_temperature_system_failure.csv: an hour replayed. NAB enters on the
        // row stamped exactly at the start, though an earlier row is later than it.
        let points = vec![
            (0, 1.0),
            (10, 1.0),
            (20, 1.0),
            (5, 1.0),
            (15, 1.0),
            (25, 1.0),
        ];
        let windows = vec![Window {
            start_ms: 15,
            end_ms: 25,
        }];
        let s = Series::new("s", points, windows).map(|s| s.spans().to_vec());
        assert_eq!(s, Ok(vec![Span { first: 4, last: 5 }]));
    }
}
