//! How big and how deep a schema, and a value of it, may be.
//!
//! Schemas and data come from outside: a registry client, a producer in another domain, bytes
//! on a topic. Every walk over them in this crate recurses, so the size of what they walk is
//! bounded here once, before anything else looks at a schema:
//!
//! - a schema nests records, arrays, maps and unions at most [`MAX_SCHEMA_DEPTH`] deep, counted
//!   through the named types it uses (references to other schemas included), so no walk of a
//!   schema recurses deeper than that;
//! - it has at most [`MAX_SCHEMA_NODES`] nodes once every named type it uses is written out
//!   where it is used (recursive uses stop the expansion). A schema can name a type once and
//!   use it twice at every level, so a few kilobytes of text could otherwise stand for 2^40
//!   nodes, and the walks that expand named types (table columns, Arrow types) would never
//!   finish;
//! - a value (decoded, encoded, conformed) nests at most [`MAX_VALUE_DEPTH`] deep: only
//!   recursive schemas let data nest deeper than the schema does.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::Name;

/// The deepest a schema may nest records, arrays, maps and unions, through its named types.
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// The most nodes a schema may have once its named types are expanded where they are used.
pub const MAX_SCHEMA_NODES: usize = 250_000;

/// The deepest a value may nest: records in records, items in arrays, branches in unions
/// (each counts). Far past real data; low enough that every walk of a value fits in a
/// 2 MiB thread stack (a tokio worker's) even in a debug build.
pub const MAX_VALUE_DEPTH: usize = 128;

/// Checks a parsed schema against the limits; the error says which was passed and where.
pub(crate) fn check(schema: &Schema, names: &HashMap<Name, Schema>) -> Result<(), String> {
    let mut walk = Shape {
        names,
        nodes: 0,
        expanding: Vec::new(),
        path: String::from("$"),
    };
    walk.visit(schema, None, 0)
}

struct Shape<'a> {
    names: &'a HashMap<Name, Schema>,
    nodes: usize,
    /// The named types being expanded, outermost first: a use of one of them is recursion.
    expanding: Vec<Name>,
    path: String,
}

impl Shape<'_> {
    fn visit(&mut self, schema: &Schema, ns: Option<&str>, depth: usize) -> Result<(), String> {
        self.nodes += 1;
        if self.nodes > MAX_SCHEMA_NODES {
            return Err(format!(
                "it has more than {MAX_SCHEMA_NODES} nodes once its named types are expanded where they are used"
            ));
        }
        let nested = |shape: &Self| {
            if depth >= MAX_SCHEMA_DEPTH {
                Err(format!(
                    "{}: it nests records, arrays, maps and unions more than {MAX_SCHEMA_DEPTH} levels deep",
                    shape.path
                ))
            } else {
                Ok(depth + 1)
            }
        };
        match schema {
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns).into_owned();
                if self.expanding.contains(&full) {
                    return Ok(());
                }
                // Parsing resolved every name; an unknown one has nothing to expand.
                let Some(target) = self.names.get(&full) else {
                    return Ok(());
                };
                self.expanding.push(full.clone());
                let out = self.visit(target, full.namespace(), depth);
                self.expanding.pop();
                out
            }
            Schema::Record(r) => {
                let depth = nested(self)?;
                let inner_ns = r.name.namespace().or(ns).map(str::to_owned);
                self.expanding.push(r.name.clone());
                for field in &r.fields {
                    let len = self.path.len();
                    self.path.push('.');
                    self.path.push_str(&field.name);
                    let out = self.visit(&field.schema, inner_ns.as_deref(), depth);
                    self.path.truncate(len);
                    out?;
                }
                self.expanding.pop();
                Ok(())
            }
            Schema::Array(a) => {
                let depth = nested(self)?;
                self.inside("[]", &a.items, ns, depth)
            }
            Schema::Map(m) => {
                let depth = nested(self)?;
                self.inside("{}", &m.types, ns, depth)
            }
            Schema::Union(u) => {
                let depth = nested(self)?;
                u.variants()
                    .iter()
                    .try_for_each(|branch| self.visit(branch, ns, depth))
            }
            _ => Ok(()),
        }
    }

    fn inside(
        &mut self,
        segment: &str,
        schema: &Schema,
        ns: Option<&str>,
        depth: usize,
    ) -> Result<(), String> {
        let len = self.path.len();
        self.path.push_str(segment);
        let out = self.visit(schema, ns, depth);
        self.path.truncate(len);
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::AvroSchema;

    use super::*;

    /// A record nesting `levels` records, each through a field `f`.
    fn nested_records(levels: usize) -> String {
        let mut text = String::from(r#"{"type":"record","name":"L0","fields":[]}"#);
        for i in 1..levels {
            text = format!(
                r#"{{"type":"record","name":"L{i}","fields":[{{"name":"f","type":{text}}}]}}"#
            );
        }
        text
    }

    /// Each level uses the next level's type twice: 2^levels nodes when written out.
    fn doubling(levels: usize) -> String {
        let mut text =
            String::from(r#"{"type":"record","name":"D0","fields":[{"name":"x","type":"int"}]}"#);
        for i in 1..levels {
            let below = i - 1;
            text = format!(
                r#"{{"type":"record","name":"D{i}","fields":[{{"name":"a","type":{text}}},{{"name":"b","type":"D{below}"}}]}}"#
            );
        }
        text
    }

    #[test]
    fn ordinary_schemas_pass() -> crate::Result<()> {
        // One text nests at most ~40 records (JSON nesting is capped at 128 when parsed).
        AvroSchema::parse(&nested_records(40), "deep but allowed")?;
        AvroSchema::parse(&doubling(12), "4096 nodes")?;
        let list = r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},
            {"name":"next","type":["null","Node"],"default":null}]}"#;
        AvroSchema::parse(list, "recursive")?;
        Ok(())
    }

    #[test]
    fn expansions_past_the_bound_are_refused_quickly() {
        // 2^40 nodes written out: refused once the count passes the bound, not after 2^40.
        let err = AvroSchema::parse(&doubling(40), "doubling").expect_err("too many nodes");
        assert!(err.to_string().contains("more than 250000 nodes"), "{err}");
    }

    /// Records `R0`..`R{n-1}`, each in its own text, `R{i}` holding `R{i-1}`.
    fn chain(n: usize) -> Vec<String> {
        let mut texts = vec![
            r#"{"type":"record","name":"R0","fields":[{"name":"x","type":"int"}]}"#.to_owned(),
        ];
        for i in 1..n {
            texts.push(format!(
                r#"{{"type":"record","name":"R{i}","fields":[{{"name":"f","type":"R{}"}}]}}"#,
                i - 1
            ));
        }
        texts
    }

    #[test]
    fn the_deepest_schema_allowed_fits_every_walk_on_a_worker_stack() {
        let texts = chain(MAX_SCHEMA_DEPTH);
        let outcome = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || -> crate::Result<()> {
                let (root, refs) = texts.split_last().expect("texts");
                let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
                let schema = AvroSchema::parse_with_references(root, "chain", &refs)?;
                assert!(crate::compat::can_read(&schema, &schema).is_ok());
                assert_eq!(crate::avro::table::columns(&schema).map(|c| c.len()), Ok(1));
                let mut value = apache_avro::types::Value::Record(vec![(
                    "x".into(),
                    apache_avro::types::Value::Int(1),
                )]);
                for _ in 1..MAX_SCHEMA_DEPTH {
                    value = apache_avro::types::Value::Record(vec![("f".into(), value)]);
                }
                let mut bytes = Vec::new();
                schema.encode_into(&value, &mut bytes)?;
                assert_eq!(
                    schema.codec().decode(&bytes).map_err(|e| e.to_string()),
                    Ok(schema.conform(value)?)
                );
                Ok(())
            })
            .expect("thread")
            .join()
            .expect("no panic");
        assert!(outcome.is_ok(), "{outcome:?}");
    }

    #[test]
    fn nesting_through_references_is_bounded() {
        // Each referenced schema is shallow; together they nest past the bound.
        let mut texts = vec![r#"{"type":"record","name":"R0","fields":[]}"#.to_owned()];
        for i in 1..=MAX_SCHEMA_DEPTH + 1 {
            texts.push(format!(
                r#"{{"type":"record","name":"R{i}","fields":[{{"name":"f","type":"R{}"}}]}}"#,
                i - 1
            ));
        }
        let (root, refs) = texts.split_last().expect("texts");
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        let err = AvroSchema::parse_with_references(root, "chain", &refs).expect_err("too deep");
        assert!(
            err.to_string().contains("more than 64 levels deep"),
            "{err}"
        );
    }
}
