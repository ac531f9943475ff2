//! A small model of Avro schemas that the generators build and mutate, and its JSON text.
//!
//! Named types live in a table ([`Model::defs`]) and are used by index ([`Ty::Named`]); the
//! text writes a named type's definition where it is first used, in document order, and its
//! full name everywhere else. So a mutation that drops the field holding a definition moves
//! the definition to the next use instead of leaving a dangling name.

use std::collections::HashSet;

use serde_json::{Value as Json, json};

/// A type: a primitive, a logical type on a primitive, a container, or a named type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Logical(Logical),
    Array(Box<Ty>),
    Map(Box<Ty>),
    /// Branches of distinct kinds, never a union inside a union.
    Union(Vec<Ty>),
    /// A named type of [`Model::defs`].
    Named(usize),
}

/// Logical types on `int`, `long`, `string` and `bytes`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Logical {
    Date,
    TimeMillis,
    TimeMicros,
    TimestampMillis,
    TimestampMicros,
    TimestampNanos,
    LocalTimestampMillis,
    LocalTimestampMicros,
    LocalTimestampNanos,
    UuidString,
    UuidBytes,
    Decimal { precision: u32, scale: u32 },
    BigDecimal,
}

impl Logical {
    pub(crate) const ALL: [Logical; 13] = [
        Logical::Date,
        Logical::TimeMillis,
        Logical::TimeMicros,
        Logical::TimestampMillis,
        Logical::TimestampMicros,
        Logical::TimestampNanos,
        Logical::LocalTimestampMillis,
        Logical::LocalTimestampMicros,
        Logical::LocalTimestampNanos,
        Logical::UuidString,
        Logical::UuidBytes,
        Logical::Decimal {
            precision: 10,
            scale: 2,
        },
        Logical::BigDecimal,
    ];

    fn json(self) -> Json {
        let on = |base: &str, name: &str| json!({"type": base, "logicalType": name});
        match self {
            Logical::Date => on("int", "date"),
            Logical::TimeMillis => on("int", "time-millis"),
            Logical::TimeMicros => on("long", "time-micros"),
            Logical::TimestampMillis => on("long", "timestamp-millis"),
            Logical::TimestampMicros => on("long", "timestamp-micros"),
            Logical::TimestampNanos => on("long", "timestamp-nanos"),
            Logical::LocalTimestampMillis => on("long", "local-timestamp-millis"),
            Logical::LocalTimestampMicros => on("long", "local-timestamp-micros"),
            Logical::LocalTimestampNanos => on("long", "local-timestamp-nanos"),
            Logical::UuidString => on("string", "uuid"),
            Logical::UuidBytes => on("bytes", "uuid"),
            Logical::Decimal { precision, scale } => json!({
                "type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale
            }),
            Logical::BigDecimal => on("bytes", "big-decimal"),
        }
    }

    /// The Avro type it is stored as.
    pub(crate) fn base(self) -> Ty {
        match self {
            Logical::Date | Logical::TimeMillis => Ty::Int,
            Logical::UuidString => Ty::String,
            Logical::UuidBytes | Logical::Decimal { .. } | Logical::BigDecimal => Ty::Bytes,
            _ => Ty::Long,
        }
    }
}

/// What a fixed type stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FixedKind {
    Plain,
    /// Size 12.
    Duration,
    /// Size 16.
    Uuid,
    Decimal {
        precision: u32,
        scale: u32,
    },
}

/// A named type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Def {
    Record {
        name: String,
        /// Its own namespace, if it declares one (else it takes the enclosing one).
        namespace: Option<String>,
        aliases: Vec<String>,
        fields: Vec<Field>,
    },
    Enum {
        name: String,
        aliases: Vec<String>,
        symbols: Vec<String>,
        default: Option<String>,
    },
    Fixed {
        name: String,
        aliases: Vec<String>,
        size: usize,
        kind: FixedKind,
    },
}

impl Def {
    pub(crate) fn name(&self) -> &str {
        match self {
            Def::Record { name, .. } | Def::Enum { name, .. } | Def::Fixed { name, .. } => name,
        }
    }

    pub(crate) fn name_mut(&mut self) -> &mut String {
        match self {
            Def::Record { name, .. } | Def::Enum { name, .. } | Def::Fixed { name, .. } => name,
        }
    }

    pub(crate) fn aliases_mut(&mut self) -> &mut Vec<String> {
        match self {
            Def::Record { aliases, .. }
            | Def::Enum { aliases, .. }
            | Def::Fixed { aliases, .. } => aliases,
        }
    }
}

/// A record field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) ty: Ty,
    /// The default as it is written in the schema.
    pub(crate) default: Option<Json>,
}

/// A whole schema: named types and the record at the root.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Model {
    /// The root's namespace; every named type lives in it unless it declares its own.
    pub(crate) namespace: String,
    pub(crate) defs: Vec<Def>,
    /// The root record, an index of `defs`.
    pub(crate) root: usize,
}

impl Model {
    /// The schema's JSON text.
    pub(crate) fn text(&self) -> String {
        self.json().to_string()
    }

    /// The schema as JSON.
    pub(crate) fn json(&self) -> Json {
        let mut w = Writer {
            model: self,
            written: HashSet::new(),
            namespaces: vec![None; self.defs.len()],
        };
        w.named(self.root, &self.namespace, true)
    }
}

struct Writer<'a> {
    model: &'a Model,
    written: HashSet<usize>,
    /// The namespace each written named type ended up in.
    namespaces: Vec<Option<String>>,
}

impl Writer<'_> {
    fn ty(&mut self, ty: &Ty, ns: &str) -> Json {
        match ty {
            Ty::Null => json!("null"),
            Ty::Boolean => json!("boolean"),
            Ty::Int => json!("int"),
            Ty::Long => json!("long"),
            Ty::Float => json!("float"),
            Ty::Double => json!("double"),
            Ty::Bytes => json!("bytes"),
            Ty::String => json!("string"),
            Ty::Logical(l) => l.json(),
            Ty::Array(items) => json!({"type": "array", "items": self.ty(items, ns)}),
            Ty::Map(values) => json!({"type": "map", "values": self.ty(values, ns)}),
            Ty::Union(branches) => Json::Array(branches.iter().map(|b| self.ty(b, ns)).collect()),
            Ty::Named(i) => self.named(*i, ns, false),
        }
    }

    fn named(&mut self, i: usize, ns: &str, root: bool) -> Json {
        if !self.written.insert(i) {
            // Full names always resolve, whatever namespace encloses the use.
            let home = self.namespaces[i].clone().unwrap_or_default();
            return json!(format!("{home}.{}", self.model.defs[i].name()));
        }
        let aliases = |a: &[String]| -> Option<Json> { (!a.is_empty()).then(|| json!(a)) };
        let mut out = match &self.model.defs[i] {
            Def::Record {
                name,
                namespace,
                aliases: a,
                fields,
            } => {
                let own = namespace.clone().unwrap_or_else(|| ns.to_owned());
                self.namespaces[i] = Some(own.clone());
                let fields: Vec<Json> = fields
                    .iter()
                    .map(|f| {
                        let mut field = json!({"name": f.name, "type": self.ty(&f.ty, &own)});
                        if let Some(d) = &f.default {
                            field["default"] = d.clone();
                        }
                        if !f.aliases.is_empty() {
                            field["aliases"] = json!(f.aliases);
                        }
                        field
                    })
                    .collect();
                let mut r = json!({"type": "record", "name": name, "fields": fields});
                if namespace.is_some() || root {
                    r["namespace"] = json!(own);
                }
                if let Some(a) = aliases(a) {
                    r["aliases"] = a;
                }
                r
            }
            Def::Enum {
                name,
                aliases: a,
                symbols,
                default,
            } => {
                self.namespaces[i] = Some(ns.to_owned());
                let mut e = json!({"type": "enum", "name": name, "symbols": symbols});
                if let Some(d) = default {
                    e["default"] = json!(d);
                }
                if let Some(a) = aliases(a) {
                    e["aliases"] = a;
                }
                e
            }
            Def::Fixed {
                name,
                aliases: a,
                size,
                kind,
            } => {
                self.namespaces[i] = Some(ns.to_owned());
                let mut f = json!({"type": "fixed", "name": name, "size": size});
                match kind {
                    FixedKind::Plain => {}
                    FixedKind::Duration => f["logicalType"] = json!("duration"),
                    FixedKind::Uuid => f["logicalType"] = json!("uuid"),
                    FixedKind::Decimal { precision, scale } => {
                        f["logicalType"] = json!("decimal");
                        f["precision"] = json!(precision);
                        f["scale"] = json!(scale);
                    }
                }
                if let Some(a) = aliases(a) {
                    f["aliases"] = a;
                }
                f
            }
        };
        if root && out.get("namespace").is_none() {
            out["namespace"] = json!(ns);
        }
        out
    }
}
