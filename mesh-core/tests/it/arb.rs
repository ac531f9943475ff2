//! Strategies: random schemas (as [`Model`]s), valid values of them, and their JSON.
//!
//! Schemas are small: a root record of up to four fields, nesting a few levels of arrays,
//! maps, unions, records, enums and fixed types, sometimes recursive. A reference may name a
//! type defined earlier, or an enclosing record when an array, a map or a nullable union lies
//! between (so every recursive type has finite values, as real ones do).

use std::collections::BTreeSet;
use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::{Decimal, Duration};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use crate::model::{Def, Field, FixedKind, Logical, Model, Ty};

/// A schema as drawn, before names and references are settled.
#[derive(Debug, Clone)]
enum Raw {
    /// A primitive or logical type, by index of [`LEAVES`].
    Leaf(u8),
    Array(Box<Raw>),
    Map(Box<Raw>),
    /// Whether `null` is a branch, then the other branches.
    Union(bool, Vec<Raw>),
    /// Whether it declares its own namespace, then its fields with a default flavor each
    /// (a multiple of 3 asks for a default).
    Record(bool, Vec<(Raw, u8)>),
    /// Symbols (1-4), and whether it has a default.
    Enum(u8, bool),
    /// Size, and kind.
    Fixed(u8, u8),
    /// A named type, chosen among those a reference may name here.
    Ref(u8),
}

const LEAVES: usize = 8 + Logical::ALL.len() + 1;

fn leaf(i: u8) -> Ty {
    let primitives = [
        Ty::Null,
        Ty::Boolean,
        Ty::Int,
        Ty::Long,
        Ty::Float,
        Ty::Double,
        Ty::Bytes,
        Ty::String,
    ];
    let i = usize::from(i) % LEAVES;
    match (primitives.get(i), Logical::ALL.get(i.wrapping_sub(8))) {
        (Some(p), _) => p.clone(),
        (None, Some(l)) => Ty::Logical(*l),
        // Past Decimal128's 38 digits: Arrow refuses it, the mapping must say so.
        (None, None) => Ty::Logical(Logical::Decimal {
            precision: 40,
            scale: 2,
        }),
    }
}

fn raw() -> impl Strategy<Value = Raw> {
    let leaves = prop_oneof![
        8 => any::<u8>().prop_map(Raw::Leaf),
        1 => (1u8..5, any::<bool>()).prop_map(|(n, d)| Raw::Enum(n, d)),
        1 => (any::<u8>(), 0u8..4).prop_map(|(s, k)| Raw::Fixed(s, k)),
        2 => any::<u8>().prop_map(Raw::Ref),
    ];
    leaves.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            1 => inner.clone().prop_map(|r| Raw::Array(Box::new(r))),
            1 => inner.clone().prop_map(|r| Raw::Map(Box::new(r))),
            2 => (any::<bool>(), prop::collection::vec(inner.clone(), 1..3))
                .prop_map(|(n, b)| Raw::Union(n, b)),
            2 => (prop::bool::weighted(0.2), prop::collection::vec((inner, any::<u8>()), 0..4))
                .prop_map(|(ns, f)| Raw::Record(ns, f)),
        ]
    })
}

/// Random schemas: a root record, namespaced.
pub(crate) fn model() -> impl Strategy<Value = Model> {
    (
        prop::collection::vec((raw(), any::<u8>()), 1..5),
        prop::sample::select(vec!["mesh.test", "a", "x.y.z"]),
    )
        .prop_map(|(fields, ns)| {
            let mut b = Builder::default();
            let root = b.record(false, &fields);
            let mut model = Model {
                namespace: ns.to_owned(),
                defs: b.defs,
                root,
            };
            // The flavors stand in the defaults until now: take them all out first.
            let wanted: Vec<(usize, usize, u64)> = b
                .wants_default
                .iter()
                .map(|&(def, field)| {
                    let seed = match &model.defs[def] {
                        Def::Record { fields, .. } => fields[field].default.clone(),
                        _ => None,
                    };
                    set_default(&mut model, def, field, None);
                    (def, field, seed.and_then(|j| j.as_u64()).unwrap_or(0))
                })
                .collect();
            for (def, field, seed) in wanted {
                let Def::Record { fields, .. } = &model.defs[def] else {
                    continue;
                };
                let ty = fields[field].ty.clone();
                let default = minimal(&model, &ty, seed, 6).and_then(|v| json_of(&model, &ty, &v));
                set_default(&mut model, def, field, default);
                // apache-avro refuses some defaults the specification allows (of duration and
                // non-string uuid fields, of fields whose type is a record still being
                // defined); the parser is apache-avro's, so those schemas cannot be had.
                if apache_avro::Schema::parse_str(&model.text()).is_err() {
                    set_default(&mut model, def, field, None);
                }
            }
            model
        })
}

fn set_default(model: &mut Model, def: usize, field: usize, default: Option<Json>) {
    if let Def::Record { fields, .. } = &mut model.defs[def] {
        fields[field].default = default;
    }
}

#[derive(Default)]
struct Builder {
    defs: Vec<Def>,
    /// Named types whose definitions are complete: any reference may name them.
    done: Vec<usize>,
    /// Records being built, outermost first, each with whether an escape (an array, a map,
    /// a nullable union) lies between it and here.
    enclosing: Vec<(usize, bool)>,
    /// Fields (record, index) to get a default once the whole model exists; the default
    /// holds the flavor until then.
    wants_default: Vec<(usize, usize)>,
    /// For each named type, the records it refers to (itself included) through references
    /// to records that were still being built: naming it elsewhere closes a cycle through
    /// them, which needs an escape there too.
    uses: Vec<BTreeSet<usize>>,
    /// What the records being built refer to so far, like `enclosing`.
    collecting: Vec<BTreeSet<usize>>,
}

impl Builder {
    fn escaped<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved: Vec<bool> = self.enclosing.iter().map(|(_, e)| *e).collect();
        for e in &mut self.enclosing {
            e.1 = true;
        }
        let out = f(self);
        for (e, s) in self.enclosing.iter_mut().zip(saved) {
            e.1 = s;
        }
        out
    }

    fn ty(&mut self, raw: &Raw) -> Ty {
        match raw {
            Raw::Leaf(i) => leaf(*i),
            Raw::Array(items) => Ty::Array(Box::new(self.escaped(|b| b.ty(items)))),
            Raw::Map(values) => Ty::Map(Box::new(self.escaped(|b| b.ty(values)))),
            Raw::Union(nullable, branches) => {
                let built: Vec<Ty> = if *nullable {
                    self.escaped(|b| branches.iter().map(|r| b.ty(r)).collect())
                } else {
                    branches.iter().map(|r| self.ty(r)).collect()
                };
                let mut out: Vec<Ty> = Vec::new();
                let mut kinds: Vec<String> = Vec::new();
                let candidates =
                    nullable
                        .then_some(Ty::Null)
                        .into_iter()
                        .chain(built.into_iter().flat_map(|t| match t {
                            Ty::Union(inner) => inner,
                            other => vec![other],
                        }));
                for t in candidates {
                    let kind = self.kind(&t);
                    if !kinds.contains(&kind) {
                        kinds.push(kind);
                        out.push(t);
                    }
                }
                Ty::Union(out)
            }
            Raw::Record(own_ns, fields) => Ty::Named(self.record(*own_ns, fields)),
            Raw::Enum(n, default) => {
                let symbols: Vec<String> = ["A", "B", "C", "D"]
                    .iter()
                    .take(usize::from(*n).clamp(1, 4))
                    .map(|s| (*s).to_owned())
                    .collect();
                let i = self.defs.len();
                self.uses.push(BTreeSet::new());
                self.defs.push(Def::Enum {
                    name: format!("E{i}"),
                    aliases: Vec::new(),
                    default: default.then(|| symbols[0].clone()),
                    symbols,
                });
                self.done.push(i);
                Ty::Named(i)
            }
            Raw::Fixed(size, kind) => {
                let i = self.defs.len();
                let (size, kind) = match kind % 4 {
                    1 => (12, FixedKind::Duration),
                    2 => (16, FixedKind::Uuid),
                    3 => {
                        let size = 1 + usize::from(*size) % 20;
                        // The most digits `size` bytes of two's complement hold.
                        let precision = (((8 * size - 1) as f64) * 2f64.log10()).floor() as u32;
                        let precision = precision.max(1);
                        let scale = precision.min(2);
                        (size, FixedKind::Decimal { precision, scale })
                    }
                    _ => (usize::from(*size) % 20, FixedKind::Plain),
                };
                self.uses.push(BTreeSet::new());
                self.defs.push(Def::Fixed {
                    name: format!("F{i}"),
                    aliases: Vec::new(),
                    size,
                    kind,
                });
                self.done.push(i);
                Ty::Named(i)
            }
            Raw::Ref(k) => {
                // A done type may be named if every record it reaches that is still being
                // built is reached here through an escape too.
                let reachable = |x: &usize| {
                    self.done.contains(x) || self.enclosing.iter().any(|(e, esc)| e == x && *esc)
                };
                let mut candidates: Vec<usize> = self
                    .done
                    .iter()
                    .copied()
                    .filter(|d| self.uses[*d].iter().all(reachable))
                    .collect();
                candidates.extend(self.enclosing.iter().filter(|(_, e)| *e).map(|(i, _)| *i));
                match candidates.len() {
                    0 => Ty::Int,
                    n => {
                        let target = candidates[usize::from(*k) % n];
                        let mut used = self.uses[target].clone();
                        if !self.done.contains(&target) {
                            used.insert(target);
                        }
                        for c in &mut self.collecting {
                            c.extend(used.iter().copied());
                        }
                        Ty::Named(target)
                    }
                }
            }
        }
    }

    fn record(&mut self, own_ns: bool, fields: &[(Raw, u8)]) -> usize {
        let i = self.defs.len();
        self.uses.push(BTreeSet::new());
        self.collecting.push(BTreeSet::new());
        self.defs.push(Def::Record {
            name: format!("R{i}"),
            namespace: own_ns.then(|| format!("ns{i}")),
            aliases: Vec::new(),
            fields: Vec::new(),
        });
        self.enclosing.push((i, false));
        let mut built = Vec::with_capacity(fields.len());
        for (n, (raw, flavor)) in fields.iter().enumerate() {
            let ty = self.ty(raw);
            if flavor % 3 == 0 {
                self.wants_default.push((i, n));
            }
            built.push(Field {
                name: format!("f{n}"),
                aliases: Vec::new(),
                ty,
                default: (flavor % 3 == 0).then(|| json!(flavor / 3)),
            });
        }
        self.enclosing.pop();
        self.uses[i] = self.collecting.pop().unwrap_or_default();
        if let Def::Record { fields, .. } = &mut self.defs[i] {
            *fields = built;
        }
        self.done.push(i);
        i
    }

    /// What two branches of one union may not share: the stored type, or the name.
    fn kind(&self, t: &Ty) -> String {
        match t {
            Ty::Logical(l) => format!("{:?}", l.base()),
            Ty::Array(_) => "array".into(),
            Ty::Map(_) => "map".into(),
            Ty::Named(i) => self.defs[*i].name().to_owned(),
            other => format!("{other:?}"),
        }
    }
}

/// The simplest value of `ty` (numbers and text varied by `seed`), within `budget` levels;
/// `None` when the type has no value that shallow.
pub(crate) fn minimal(model: &Model, ty: &Ty, seed: u64, budget: u32) -> Option<Value> {
    let n = seed as i32;
    Some(match ty {
        Ty::Null => Value::Null,
        Ty::Boolean => Value::Boolean(seed % 2 == 1),
        Ty::Int => Value::Int(n),
        Ty::Long => Value::Long(i64::from(n)),
        Ty::Float => Value::Float(n as f32),
        Ty::Double => Value::Double(f64::from(n)),
        Ty::Bytes => Value::Bytes(vec![seed as u8]),
        Ty::String => Value::String(format!("s{seed}")),
        Ty::Logical(l) => logical_value(*l, seed),
        Ty::Array(_) => Value::Array(Vec::new()),
        Ty::Map(_) => Value::Map(Default::default()),
        Ty::Union(branches) => {
            let first = branches.first()?;
            Value::Union(0, Box::new(minimal(model, first, seed, budget)?))
        }
        Ty::Named(i) => match &model.defs[*i] {
            Def::Record { fields, .. } => {
                let budget = budget.checked_sub(1)?;
                Value::Record(
                    fields
                        .iter()
                        .map(|f| Some((f.name.clone(), minimal(model, &f.ty, seed, budget)?)))
                        .collect::<Option<_>>()?,
                )
            }
            Def::Enum { symbols, .. } => Value::Enum(0, symbols[0].clone()),
            Def::Fixed { size, kind, .. } => fixed_value(*size, *kind, vec![seed as u8; 16]),
        },
    })
}

fn logical_value(l: Logical, seed: u64) -> Value {
    let n = seed as i64;
    match l {
        Logical::Date => Value::Date(n as i32),
        Logical::TimeMillis => Value::TimeMillis(n as i32),
        Logical::TimeMicros => Value::TimeMicros(n),
        Logical::TimestampMillis => Value::TimestampMillis(n),
        Logical::TimestampMicros => Value::TimestampMicros(n),
        Logical::TimestampNanos => Value::TimestampNanos(n),
        Logical::LocalTimestampMillis => Value::LocalTimestampMillis(n),
        Logical::LocalTimestampMicros => Value::LocalTimestampMicros(n),
        Logical::LocalTimestampNanos => Value::LocalTimestampNanos(n),
        Logical::UuidString | Logical::UuidBytes => {
            Value::Uuid(uuid::Uuid::from_u128(u128::from(seed)))
        }
        Logical::Decimal { .. } => Value::Decimal(Decimal::from(vec![seed as u8])),
        Logical::BigDecimal => big_decimal(n, 2),
    }
}

/// A big-decimal value: `mantissa` times ten to the `-scale`.
pub(crate) fn big_decimal(mantissa: i64, scale: u8) -> Value {
    let text = format!("{mantissa}e-{scale}");
    #[allow(deprecated)] // apache-avro re-exports the type it stores, deprecated or not
    let n: apache_avro::BigDecimal = text.parse().expect("a decimal literal");
    Value::BigDecimal(n)
}

/// A value of a fixed type from `bytes` (as many as it takes).
fn fixed_value(size: usize, kind: FixedKind, mut bytes: Vec<u8>) -> Value {
    match kind {
        FixedKind::Plain => {
            bytes.resize(size, 0);
            Value::Fixed(size, bytes)
        }
        FixedKind::Duration => {
            bytes.resize(12, 0);
            let mut a = [0u8; 12];
            a.copy_from_slice(&bytes);
            Value::Duration(Duration::from(a))
        }
        FixedKind::Uuid => {
            bytes.resize(16, 0);
            let mut a = [0u8; 16];
            a.copy_from_slice(&bytes);
            Value::Uuid(uuid::Uuid::from_bytes(a))
        }
        FixedKind::Decimal { .. } => {
            bytes.truncate(size.min(16));
            if bytes.is_empty() {
                bytes.push(0); // a decimal has at least one byte
            }
            Value::Decimal(Decimal::from(bytes))
        }
    }
}

/// Random valid values of `ty`, nesting at most `budget` levels below it where the type lets
/// them stop (empty arrays and maps, the null branch).
pub(crate) fn value_of(model: &Arc<Model>, ty: &Ty, budget: u32) -> BoxedStrategy<Value> {
    let below = budget.saturating_sub(1);
    match ty {
        Ty::Null => Just(Value::Null).boxed(),
        Ty::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        Ty::Int => any::<i32>().prop_map(Value::Int).boxed(),
        Ty::Long => any::<i64>().prop_map(Value::Long).boxed(),
        Ty::Float => any::<f32>().prop_map(Value::Float).boxed(),
        Ty::Double => any::<f64>().prop_map(Value::Double).boxed(),
        Ty::Bytes => prop::collection::vec(any::<u8>(), 0..6)
            .prop_map(Value::Bytes)
            .boxed(),
        Ty::String => text().prop_map(Value::String).boxed(),
        Ty::Logical(l) => logical(*l),
        Ty::Array(_) | Ty::Map(_) if budget == 0 => {
            Just(minimal(model, ty, 0, 0).unwrap_or(Value::Null)).boxed()
        }
        Ty::Array(items) => prop::collection::vec(value_of(model, items, below), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        Ty::Map(values) => {
            prop::collection::hash_map("[a-d]{0,2}", value_of(model, values, below), 0..3)
                .prop_map(Value::Map)
                .boxed()
        }
        Ty::Union(branches) => {
            let null = branches.iter().position(|b| *b == Ty::Null);
            match null {
                Some(i) if budget == 0 => {
                    Just(Value::Union(i as u32, Box::new(Value::Null))).boxed()
                }
                _ => {
                    let options: Vec<BoxedStrategy<Value>> = branches
                        .iter()
                        .enumerate()
                        .map(|(i, b)| {
                            value_of(model, b, below)
                                .prop_map(move |v| Value::Union(i as u32, Box::new(v)))
                                .boxed()
                        })
                        .collect();
                    prop::strategy::Union::new(options).boxed()
                }
            }
        }
        Ty::Named(i) => match &model.defs[*i] {
            Def::Record { fields, .. } => {
                let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
                let values: Vec<BoxedStrategy<Value>> = fields
                    .iter()
                    .map(|f| value_of(model, &f.ty, below))
                    .collect();
                values
                    .prop_map(move |vs| Value::Record(names.iter().cloned().zip(vs).collect()))
                    .boxed()
            }
            Def::Enum { symbols, .. } => {
                let symbols = symbols.clone();
                (0..symbols.len())
                    .prop_map(move |i| Value::Enum(i as u32, symbols[i].clone()))
                    .boxed()
            }
            Def::Fixed { size, kind, .. } => {
                let (size, kind) = (*size, *kind);
                let len = match kind {
                    FixedKind::Decimal { .. } => 0..=size.min(16),
                    _ => 16.max(size)..=16.max(size),
                };
                prop::collection::vec(any::<u8>(), len)
                    .prop_map(move |b| fixed_value(size, kind, b))
                    .boxed()
            }
        },
    }
}

/// Short text, any Unicode.
pub(crate) fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..6).prop_map(String::from_iter)
}

fn logical(l: Logical) -> BoxedStrategy<Value> {
    match l {
        Logical::Date => any::<i32>().prop_map(Value::Date).boxed(),
        Logical::TimeMillis => any::<i32>().prop_map(Value::TimeMillis).boxed(),
        Logical::TimeMicros => any::<i64>().prop_map(Value::TimeMicros).boxed(),
        Logical::TimestampMillis => any::<i64>().prop_map(Value::TimestampMillis).boxed(),
        Logical::TimestampMicros => any::<i64>().prop_map(Value::TimestampMicros).boxed(),
        Logical::TimestampNanos => any::<i64>().prop_map(Value::TimestampNanos).boxed(),
        Logical::LocalTimestampMillis => any::<i64>().prop_map(Value::LocalTimestampMillis).boxed(),
        Logical::LocalTimestampMicros => any::<i64>().prop_map(Value::LocalTimestampMicros).boxed(),
        Logical::LocalTimestampNanos => any::<i64>().prop_map(Value::LocalTimestampNanos).boxed(),
        Logical::UuidString | Logical::UuidBytes => any::<u128>()
            .prop_map(|u| Value::Uuid(uuid::Uuid::from_u128(u)))
            .boxed(),
        Logical::Decimal { .. } => prop::collection::vec(any::<u8>(), 1..=16)
            .prop_map(|b| Value::Decimal(Decimal::from(b)))
            .boxed(),
        Logical::BigDecimal => (any::<i64>(), 0u8..6)
            .prop_map(|(m, s)| big_decimal(m, s))
            .boxed(),
    }
}

/// A schema and a valid value of its root.
pub(crate) fn model_and_value() -> impl Strategy<Value = (Arc<Model>, Value)> {
    model().prop_flat_map(|m| {
        let m = Arc::new(m);
        let root = Ty::Named(m.root);
        (Just(m.clone()), value_of(&m, &root, 4))
    })
}

/// The JSON of a valid value of `ty`, as Avro writes defaults (a union's value unwrapped,
/// bytes and fixed as strings of code points 0-255); `None` for what JSON cannot hold
/// (NaN, infinities).
pub(crate) fn json_of(model: &Model, ty: &Ty, v: &Value) -> Option<Json> {
    let code_points = |b: &[u8]| Json::String(b.iter().map(|&c| char::from(c)).collect());
    Some(match (ty, v) {
        (Ty::Union(branches), Value::Union(i, inner)) => {
            return json_of(model, branches.get(*i as usize)?, inner);
        }
        (_, Value::Null) => Json::Null,
        (_, Value::Boolean(b)) => json!(b),
        (_, Value::Int(n) | Value::Date(n) | Value::TimeMillis(n)) => json!(n),
        (
            _,
            Value::Long(n)
            | Value::TimeMicros(n)
            | Value::TimestampMillis(n)
            | Value::TimestampMicros(n)
            | Value::TimestampNanos(n)
            | Value::LocalTimestampMillis(n)
            | Value::LocalTimestampMicros(n)
            | Value::LocalTimestampNanos(n),
        ) => json!(n),
        (_, Value::Float(f)) => Json::Number(serde_json::Number::from_f64(f64::from(*f))?),
        (_, Value::Double(f)) => Json::Number(serde_json::Number::from_f64(*f)?),
        (_, Value::Bytes(b) | Value::Fixed(_, b)) => code_points(b),
        (_, Value::String(s) | Value::Enum(_, s)) => json!(s),
        (_, Value::Uuid(u)) => json!(u.hyphenated().to_string()),
        (_, Value::Decimal(d)) => code_points(&Vec::<u8>::try_from(d).ok()?),
        // apache-avro refuses every default of a duration field (a string of 12 code points
        // is what the specification asks for): none are generated.
        (_, Value::Duration(_)) => return None,
        (_, Value::BigDecimal(_)) => return None,
        (Ty::Array(items), Value::Array(vs)) => Json::Array(
            vs.iter()
                .map(|v| json_of(model, items, v))
                .collect::<Option<_>>()?,
        ),
        (Ty::Map(values), Value::Map(vs)) => Json::Object(
            vs.iter()
                .map(|(k, v)| Some((k.clone(), json_of(model, values, v)?)))
                .collect::<Option<_>>()?,
        ),
        (Ty::Named(i), Value::Record(vs)) => {
            let Def::Record { fields, .. } = &model.defs[*i] else {
                return None;
            };
            Json::Object(
                fields
                    .iter()
                    .zip(vs)
                    .map(|(f, (_, v))| Some((f.name.clone(), json_of(model, &f.ty, v)?)))
                    .collect::<Option<_>>()?,
            )
        }
        _ => return None,
    })
}
