//! Schema compatibility: whether data written with one schema can be read with another, by
//! the rules of Avro schema resolution, and the seven compatibility levels of a registry.
//!
//! `apache-avro` has a checker too, but it reports types as debug dumps of whole schemas; a
//! producer told "incompatible" needs the path and the reason
//! (`$.song_id: a long cannot be read as an int`), so the mesh walks the schemas itself.
//! The tests hold this walk to `apache-avro`'s verdicts.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use apache_avro::Schema;
use apache_avro::schema::{InnerDecimalSchema, Name, RecordField, RecordSchema, UuidSchema};

use super::AvroSchema;
use super::conform::describe_schema;
use crate::error::{Error, Result};

/// A registry's compatibility level: which earlier versions a new schema is checked against,
/// and in which direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Level {
    /// The new schema can read data written with the latest version.
    #[default]
    Backward,
    /// The new schema can read data written with every earlier version.
    BackwardTransitive,
    /// The latest version can read data written with the new schema.
    Forward,
    /// Every earlier version can read data written with the new schema.
    ForwardTransitive,
    /// Backward and forward against the latest version.
    Full,
    /// Backward and forward against every earlier version.
    FullTransitive,
    /// No check.
    None,
}

impl Level {
    /// Every level, in Confluent's order.
    pub const ALL: [Level; 7] = [
        Level::Backward,
        Level::BackwardTransitive,
        Level::Forward,
        Level::ForwardTransitive,
        Level::Full,
        Level::FullTransitive,
        Level::None,
    ];

    /// The level's name as registries spell it: `BACKWARD`, `FULL_TRANSITIVE`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
            Self::None => "NONE",
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::Config {
                origin: Some("compatibility level".into()),
                reason: format!(
                    "{s:?} is not a compatibility level; expected one of {}",
                    Level::ALL.map(Level::as_str).join(", ")
                ),
            })
    }
}

/// One reason a reader cannot read a writer's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Where, from the root: `$`, `$.device.os`, `$.tags[]`, `$.attrs{}`.
    pub path: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Whether data written with `writer` can be read with `reader`; every reason it cannot.
///
/// The walk is linear in the schemas' sizes for ordinary schemas: fields are found by name,
/// and each pair of records is checked once (recursive types stop where they recur). Schemas
/// built to make the check blow up (named types used over and over inside recursive ones)
/// stop after [`MAX_STEPS`] with a reason saying so.
pub fn can_read(writer: &AvroSchema, reader: &AvroSchema) -> Result<(), Vec<Incompatibility>> {
    let mut walk = Walk {
        writer,
        reader,
        path: String::from("$"),
        found: Vec::new(),
        recording: true,
        records: HashMap::new(),
        checking: 0,
        lowest: usize::MAX,
        steps: 0,
    };
    walk.check(writer.schema(), None, reader.schema(), None);
    if walk.steps > MAX_STEPS {
        return Err(vec![Incompatibility {
            path: "$".into(),
            reason: format!(
                "the schemas are too intricate to compare (more than {MAX_STEPS} steps); simplify how they reuse named types"
            ),
        }]);
    }
    if walk.found.is_empty() {
        Ok(())
    } else {
        Err(walk.found)
    }
}

/// The most steps one check takes before it gives up (far above any real pair of schemas).
pub const MAX_STEPS: usize = 4_000_000;

/// One failed check of a new schema against an earlier version of its subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The new schema cannot read data written with an earlier version (BACKWARD).
    #[error("the new schema cannot read data written with version {version}: {found}")]
    CannotReadEarlier {
        /// The earlier version.
        version: i64,
        /// Where and why.
        found: Incompatibility,
    },
    /// An earlier version cannot read data written with the new schema (FORWARD).
    #[error("version {version} cannot read data written with the new schema: {found}")]
    EarlierCannotRead {
        /// The earlier version.
        version: i64,
        /// Where and why.
        found: Incompatibility,
    },
}

/// Checks `new` against the earlier versions of a subject (oldest first, with their version
/// numbers) at `level`. Returns every failed check, newest version first; empty means
/// compatible.
pub fn check(level: Level, new: &AvroSchema, earlier: &[(i64, AvroSchema)]) -> Vec<Refusal> {
    let against: &[(i64, AvroSchema)] = match (level, earlier.split_last()) {
        (Level::None, _) | (_, None) => &[],
        (l, Some((latest, _))) if !l.transitive() => std::slice::from_ref(latest),
        _ => earlier,
    };
    let mut refusals = Vec::new();
    // Newest first: the most relevant failure leads.
    for (version, old) in against.iter().rev() {
        let version = *version;
        if level.backward()
            && let Err(found) = can_read(old, new)
        {
            refusals.extend(
                found
                    .into_iter()
                    .map(|found| Refusal::CannotReadEarlier { version, found }),
            );
        }
        if level.forward()
            && let Err(found) = can_read(new, old)
        {
            refusals.extend(
                found
                    .into_iter()
                    .map(|found| Refusal::EarlierCannotRead { version, found }),
            );
        }
    }
    refusals
}

struct Walk<'a> {
    writer: &'a AvroSchema,
    reader: &'a AvroSchema,
    path: String,
    found: Vec<Incompatibility>,
    /// Off while trying union branches: a failure there only means "not this branch", so it
    /// is neither described nor recorded.
    recording: bool,
    /// Record pairs (writer name, reader name) checked or being checked.
    records: HashMap<(String, String), Pair>,
    /// How many record pairs are being checked (the depth of `Pair::Checking`).
    checking: usize,
    /// The outermost pair still being checked that the current pair's verdict relied on.
    lowest: usize,
    steps: usize,
}

/// Where the check of a pair of records stands.
#[derive(Debug, Clone, Copy)]
enum Pair {
    /// Being checked, at this depth: meeting it again is recursion, taken as readable (the
    /// check in progress finds any reason it is not).
    Checking(usize),
    /// Checked. `described` tells whether its reasons are in `found` already.
    Done { ok: bool, described: bool },
}

/// Follows a reference to the named type it names.
fn resolve<'s>(
    root: &'s AvroSchema,
    schema: &'s Schema,
    ns: Option<&str>,
) -> (&'s Schema, Option<String>) {
    match schema {
        Schema::Ref { name } => {
            let full: Name = name.fully_qualified_name(ns).into_owned();
            match root.named(&full) {
                Some(target) => (target, full.namespace().map(str::to_owned)),
                None => (schema, ns.map(str::to_owned)),
            }
        }
        other => {
            let inner_ns = other
                .name()
                .and_then(|n| n.namespace().map(str::to_owned))
                .or_else(|| ns.map(str::to_owned));
            (other, inner_ns)
        }
    }
}

/// The reader's name or one of its aliases matches the writer's name.
fn names_match(writer: &Schema, reader: &Schema) -> bool {
    match (writer.name(), reader.name()) {
        (Some(w), Some(r)) => {
            w.name() == r.name()
                || reader_aliases(reader)
                    .iter()
                    .any(|a| a == w.name() || *a == w.fullname(None))
        }
        _ => true,
    }
}

fn reader_aliases(schema: &Schema) -> Vec<String> {
    let aliases = match schema {
        Schema::Record(r) => r.aliases.as_ref(),
        Schema::Enum(e) => e.aliases.as_ref(),
        // Logical types on a fixed are named types too, with the fixed's aliases.
        Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => {
            f.aliases.as_ref()
        }
        Schema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Fixed(f) => f.aliases.as_ref(),
            InnerDecimalSchema::Bytes => None,
        },
        _ => None,
    };
    aliases
        .map(|a| a.iter().map(|x| x.fullname(None)).collect())
        .unwrap_or_default()
}

/// The primitive family a schema is stored as: logical types resolve like their base type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Other,
}

fn base(schema: &Schema) -> Base {
    match schema {
        Schema::Null => Base::Null,
        Schema::Boolean => Base::Boolean,
        Schema::Int | Schema::Date | Schema::TimeMillis => Base::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Base::Long,
        Schema::Float => Base::Float,
        Schema::Double => Base::Double,
        Schema::Bytes
        | Schema::BigDecimal
        | Schema::Uuid(UuidSchema::Bytes)
        | Schema::Decimal(apache_avro::schema::DecimalSchema {
            inner: InnerDecimalSchema::Bytes,
            ..
        }) => Base::Bytes,
        Schema::String | Schema::Uuid(UuidSchema::String) => Base::String,
        _ => Base::Other,
    }
}

/// Avro's promotions: what a reader of `reader` accepts from a writer of `writer`.
fn promotes(writer: Base, reader: Base) -> bool {
    use Base as B;
    writer == reader
        || matches!(
            (writer, reader),
            (B::Int, B::Long | B::Float | B::Double)
                | (B::Long, B::Float | B::Double)
                | (B::Float, B::Double)
                | (B::String, B::Bytes)
                | (B::Bytes, B::String)
        )
}

fn fixed_size(schema: &Schema) -> Option<usize> {
    match schema {
        Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => Some(f.size),
        Schema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Fixed(f) => Some(f.size),
            InnerDecimalSchema::Bytes => None,
        },
        _ => None,
    }
}

fn with_article(noun: &str) -> String {
    let vowel = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if vowel { "an" } else { "a" })
}

impl Walk<'_> {
    /// Records a reason (when recording) and answers `false`, for `return self.fail(...)`.
    fn fail(&mut self, reason: impl FnOnce() -> String) -> bool {
        if self.recording {
            self.found.push(Incompatibility {
                path: self.path.clone(),
                reason: reason(),
            });
        }
        false
    }

    fn at(&mut self, segment: &str, f: impl FnOnce(&mut Self) -> bool) -> bool {
        let len = self.path.len();
        self.path.push_str(segment);
        let ok = f(self);
        self.path.truncate(len);
        ok
    }

    /// Whether the reader can read the writer here, without recording anything.
    fn readable(&mut self, w: &Schema, w_ns: Option<&str>, r: &Schema, r_ns: Option<&str>) -> bool {
        let recording = std::mem::replace(&mut self.recording, false);
        let ok = self.check(w, w_ns, r, r_ns);
        self.recording = recording;
        ok
    }

    fn check(&mut self, w: &Schema, w_ns: Option<&str>, r: &Schema, r_ns: Option<&str>) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return false;
        }
        let (w, w_ns) = resolve(self.writer, w, w_ns);
        let (r, r_ns) = resolve(self.reader, r, r_ns);
        let (w_ns, r_ns) = (w_ns.as_deref(), r_ns.as_deref());

        if let (Schema::Union(wu), _) = (w, r) {
            // Every branch the writer may have written must be readable.
            let mut ok = true;
            for branch in wu.variants() {
                let readable = match r {
                    Schema::Union(ru) => ru
                        .variants()
                        .iter()
                        .any(|rb| self.readable(branch, w_ns, rb, r_ns)),
                    _ => self.readable(branch, w_ns, r, r_ns),
                };
                if !readable {
                    ok = self.fail(|| {
                        format!(
                            "the writer's union branch {} has no match in the reader's {}",
                            describe_schema(branch),
                            describe_schema(r)
                        )
                    });
                    if !self.recording {
                        return false;
                    }
                }
            }
            return ok;
        }
        if let Schema::Union(ru) = r {
            if ru
                .variants()
                .iter()
                .any(|rb| self.readable(w, w_ns, rb, r_ns))
            {
                return true;
            }
            return self.fail(|| {
                format!(
                    "{} cannot be read as any branch of {}",
                    with_article(&describe_schema(w)),
                    describe_schema(r)
                )
            });
        }

        if !names_match(w, r) {
            return self.fail(|| {
                let (wn, rn) = (
                    w.name().map(|n| n.fullname(None)),
                    r.name().map(|n| n.fullname(None)),
                );
                format!(
                    "the writer's type {} and the reader's type {} have different names (and no alias joins them)",
                    wn.unwrap_or_default(),
                    rn.unwrap_or_default()
                )
            });
        }

        match (w, r) {
            (Schema::Record(wr), Schema::Record(rr)) => self.records_pair(wr, w_ns, rr, r_ns),
            (Schema::Enum(we), Schema::Enum(re)) => {
                if re.default.is_some() {
                    return true;
                }
                let known: HashSet<&str> = re.symbols.iter().map(String::as_str).collect();
                let missing: Vec<&str> = we
                    .symbols
                    .iter()
                    .map(String::as_str)
                    .filter(|s| !known.contains(s))
                    .collect();
                if missing.is_empty() {
                    return true;
                }
                self.fail(|| {
                    format!(
                        "the reader's enum {} lacks the writer's symbols {} and has no default",
                        re.name.fullname(None),
                        missing.join(", ")
                    )
                })
            }
            (Schema::Array(wa), Schema::Array(ra)) => {
                self.at("[]", |s| s.check(&wa.items, w_ns, &ra.items, r_ns))
            }
            (Schema::Map(wm), Schema::Map(rm)) => {
                self.at("{}", |s| s.check(&wm.types, w_ns, &rm.types, r_ns))
            }
            (Schema::Decimal(wd), Schema::Decimal(rd))
                if wd.precision != rd.precision || wd.scale != rd.scale =>
            {
                self.fail(|| {
                    format!(
                        "decimal({}, {}) cannot be read as decimal({}, {})",
                        wd.precision, wd.scale, rd.precision, rd.scale
                    )
                })
            }
            _ => match (fixed_size(w), fixed_size(r)) {
                (Some(ws), Some(rs)) if ws != rs => self.fail(|| {
                    format!("a fixed of {ws} bytes cannot be read as a fixed of {rs} bytes")
                }),
                (Some(_), Some(_)) => true,
                (ws, rs) => {
                    let (wb, rb) = (base(w), base(r));
                    let ok = ws.is_none()
                        && rs.is_none()
                        && wb != Base::Other
                        && rb != Base::Other
                        && promotes(wb, rb);
                    ok || self.fail(|| {
                        format!(
                            "{} cannot be read as {}",
                            with_article(&describe_schema(w)),
                            with_article(&describe_schema(r))
                        )
                    })
                }
            },
        }
    }

    /// A pair of records: each checked once; recursion stops where the pair recurs.
    fn records_pair(
        &mut self,
        wr: &RecordSchema,
        w_ns: Option<&str>,
        rr: &RecordSchema,
        r_ns: Option<&str>,
    ) -> bool {
        let key = (wr.name.fullname(None), rr.name.fullname(None));
        match self.records.get(&key) {
            Some(Pair::Checking(depth)) => {
                self.lowest = self.lowest.min(*depth);
                return true;
            }
            Some(Pair::Done { ok: true, .. }) => return true,
            // Failed: described already, or not wanted now.
            Some(Pair::Done {
                ok: false,
                described,
            }) if *described || !self.recording => {
                return false;
            }
            // Not seen yet, or failed while trying a union branch and now to be described.
            _ => {}
        }
        let depth = self.checking;
        self.checking += 1;
        self.records.insert(key.clone(), Pair::Checking(depth));
        let outer_lowest = std::mem::replace(&mut self.lowest, usize::MAX);

        // Writer fields by name (apache-avro's own lookup also holds the writer's aliases,
        // which resolution ignores): a map, not a scan per field, so wide records check in
        // linear time.
        let writer_fields: HashMap<&str, &RecordField> =
            wr.fields.iter().map(|f| (f.name.as_str(), f)).collect();
        let mut ok = true;
        for rf in &rr.fields {
            let wf = std::iter::once(&rf.name)
                .chain(rf.aliases.iter())
                .find_map(|n| writer_fields.get(n.as_str()).copied());
            let field_ok = match wf {
                Some(wf) => self.at(&format!(".{}", rf.name), |s| {
                    s.check(&wf.schema, w_ns, &rf.schema, r_ns)
                }),
                None if rf.default.is_none() => self.at(&format!(".{}", rf.name), |s| {
                    s.fail(|| {
                        "the reader's field has no default and the writer does not write it"
                            .to_owned()
                    })
                }),
                None => true,
            };
            ok &= field_ok;
            if !ok && !self.recording {
                break;
            }
        }

        self.checking -= 1;
        let relied_on_outer = self.lowest < depth;
        if !ok {
            // A failure found while assuming outer pairs readable is a failure all the same.
            self.records.insert(
                key,
                Pair::Done {
                    ok: false,
                    described: self.recording,
                },
            );
        } else if relied_on_outer {
            // Readable only if an outer pair still being checked is: decided again next time.
            self.records.remove(&key);
        } else {
            self.records.insert(
                key,
                Pair::Done {
                    ok: true,
                    described: true,
                },
            );
        }
        self.lowest = if relied_on_outer {
            outer_lowest.min(self.lowest)
        } else {
            outer_lowest
        };
        ok
    }
}

#[cfg(test)]
mod tests;
