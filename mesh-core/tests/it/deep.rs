//! Guards the depth bound (`MAX_VALUE_DEPTH`) of every walk over a value: `conform`,
//! `resolve`, `encode_into`, `encode_serde_into` and the decoder, on recursive schemas of
//! every shape (through unions, arrays, maps, two records), on a worker-sized stack. Values
//! within the bound are taken by all of them; values past it are refused by all of them,
//! with the bound as the reason, never by overflowing the stack.

use std::collections::HashMap;

use apache_avro::types::Value;
use mesh_core::AvroSchema;
use mesh_core::avro::limits::MAX_VALUE_DEPTH;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use crate::decode::write_long;
use crate::support::{cases, depth, on_worker_stack};

/// A recursive schema, and how to build a value, its JSON and its body `n` levels deep.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// `Node {next: ["null", Node]}`.
    List,
    /// `A {b: ["null", B {a: ["null", A]}]}`.
    Mutual,
    /// `Node {kids: [Node]}`.
    Tree,
    /// `Node {kids: {string: Node}}`.
    Dict,
    /// `Node {kids: [["null", Node]]}`.
    OptionalItems,
}

impl Shape {
    const ALL: [Shape; 5] = [
        Shape::List,
        Shape::Mutual,
        Shape::Tree,
        Shape::Dict,
        Shape::OptionalItems,
    ];

    fn schema(self) -> AvroSchema {
        let text = match self {
            Shape::List => {
                r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#
            }
            Shape::Mutual => {
                r#"{"type":"record","name":"A","fields":[{"name":"b","type":["null",
                    {"type":"record","name":"B","fields":[{"name":"a","type":["null","A"]}]}]}]}"#
            }
            Shape::Tree => {
                r#"{"type":"record","name":"Node","fields":[{"name":"kids","type":{"type":"array","items":"Node"}}]}"#
            }
            Shape::Dict => {
                r#"{"type":"record","name":"Node","fields":[{"name":"kids","type":{"type":"map","values":"Node"}}]}"#
            }
            Shape::OptionalItems => {
                r#"{"type":"record","name":"Node","fields":[{"name":"kids","type":{"type":"array","items":["null","Node"]}}]}"#
            }
        };
        AvroSchema::parse(text, "recursive").expect("parses")
    }

    fn field(self, level: usize) -> &'static str {
        match self {
            Shape::List => "next",
            Shape::Mutual if level.is_multiple_of(2) => "b",
            Shape::Mutual => "a",
            _ => "kids",
        }
    }

    /// A value with `n` records below the root, built from the inside out (no recursion).
    pub(crate) fn value(self, n: usize) -> Value {
        let leaf = match self {
            Shape::List | Shape::Mutual => Value::Union(0, Box::new(Value::Null)),
            Shape::Tree | Shape::OptionalItems => Value::Array(Vec::new()),
            Shape::Dict => Value::Map(HashMap::new()),
        };
        let mut v = Value::Record(vec![(self.field(n).into(), leaf)]);
        for level in (0..n).rev() {
            let inner = match self {
                Shape::List | Shape::Mutual => Value::Union(1, Box::new(v)),
                Shape::Tree => Value::Array(vec![v]),
                Shape::Dict => Value::Map(HashMap::from([(String::new(), v)])),
                Shape::OptionalItems => Value::Array(vec![Value::Union(1, Box::new(v))]),
            };
            v = Value::Record(vec![(self.field(level).into(), inner)]);
        }
        v
    }

    fn json(self, n: usize) -> Json {
        let leaf = match self {
            Shape::List | Shape::Mutual => Json::Null,
            Shape::Tree | Shape::OptionalItems => json!([]),
            Shape::Dict => json!({}),
        };
        let mut v = json!({ self.field(n): leaf });
        for level in (0..n).rev() {
            let inner = match self {
                Shape::List | Shape::Mutual => v,
                Shape::Tree | Shape::OptionalItems => json!([v]),
                Shape::Dict => json!({ "": v }),
            };
            v = json!({ self.field(level): inner });
        }
        v
    }

    fn body(self, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..n {
            match self {
                Shape::List | Shape::Mutual => write_long(&mut out, 1),
                Shape::Tree => write_long(&mut out, 1),
                Shape::Dict => {
                    write_long(&mut out, 1);
                    write_long(&mut out, 0); // the key ""
                }
                Shape::OptionalItems => {
                    write_long(&mut out, 1);
                    write_long(&mut out, 1);
                }
            }
        }
        // The innermost record: a null branch, or an empty array or map.
        write_long(&mut out, 0);
        if !matches!(self, Shape::List | Shape::Mutual) {
            // Each enclosing array or map ends its one block.
            out.extend(std::iter::repeat_n(0, n));
        }
        out
    }
}

/// How deep the encoders count a value: a level per record field, array item and map entry
/// (not per union branch).
fn path_depth(v: &Value) -> usize {
    let below = |children: &mut dyn Iterator<Item = &Value>| {
        children.map(|c| 1 + path_depth(c)).max().unwrap_or(0)
    };
    match v {
        Value::Record(fields) => below(&mut fields.iter().map(|(_, v)| v)),
        Value::Array(items) => below(&mut items.iter()),
        Value::Map(entries) => below(&mut entries.values()),
        Value::Union(_, inner) => path_depth(inner),
        _ => 0,
    }
}

#[derive(Debug)]
pub(crate) struct Outcomes {
    conform: Result<(), String>,
    resolve: Result<(), String>,
    encode: Result<(), String>,
    serde: Result<(), String>,
    decode: Result<(), String>,
    /// Whether what `encode_into` wrote decodes.
    encoded_decodes: Option<bool>,
}

pub(crate) fn walk_all(shape: Shape, n: usize) -> Outcomes {
    let schema = shape.schema();
    let text = |r: Result<(), String>| r;
    on_worker_stack(move || {
        let value = shape.value(n);
        let mut body = Vec::new();
        let encode = schema
            .encode_into(&value, &mut body)
            .map_err(|e| e.to_string());
        let encoded_decodes = encode.is_ok().then(|| schema.codec().decode(&body).is_ok());
        Outcomes {
            conform: text(
                schema
                    .conform(value.clone())
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            ),
            resolve: schema.resolve(value).map(|_| ()).map_err(|e| e.to_string()),
            encode,
            serde: schema
                .encode_serde_into(&shape.json(n), &mut Vec::new())
                .map_err(|e| e.to_string()),
            decode: schema
                .codec()
                .decode(&shape.body(n))
                .map(|_| ())
                .map_err(|e| e.to_string()),
            encoded_decodes,
        }
    })
}

fn too_deep(r: &Result<(), String>) -> bool {
    r.as_ref()
        .err()
        .is_some_and(|e| e.contains(&format!("deeper than {MAX_VALUE_DEPTH}")))
}

proptest! {
    #![proptest_config(cases(200))]

    #[test]
    fn every_walk_holds_the_depth_bound(
        shape in prop::sample::select(Shape::ALL.to_vec()),
        n in prop_oneof![0usize..40, 40usize..140, 0usize..400],
    ) {
        let value = shape.value(n);
        let (d, path) = (depth(&value), path_depth(&value));
        drop(value);
        let out = walk_all(shape, n);
        // Every walk counts levels alike (a union's branch is one): below the bound all of
        // them take the value, from the bound on all of them refuse it.
        if d < MAX_VALUE_DEPTH {
            prop_assert!(out.conform.is_ok() && out.resolve.is_ok(), "{shape:?} {n} (depth {d}): {out:?}");
            prop_assert!(out.encode.is_ok() && out.serde.is_ok(), "{shape:?} {n} (depth {d}): {out:?}");
            prop_assert!(out.decode.is_ok() && out.encoded_decodes == Some(true), "{shape:?} {n} (depth {d}): {out:?}");
        } else {
            prop_assert!(too_deep(&out.conform) && too_deep(&out.resolve), "{shape:?} {n} (depth {d}): {out:?}");
            prop_assert!(too_deep(&out.decode), "{shape:?} {n} (depth {d}): {out:?}");
            prop_assert!(too_deep(&out.encode) && too_deep(&out.serde), "{shape:?} {n} (depth {d}): {out:?} (path {path})");
        }
    }
}

/// Found by `every_walk_holds_the_depth_bound`: the decoder and `conform` counted a union
/// branch as a level (as `MAX_VALUE_DEPTH` says), the encoders did not. A linked list of 100
/// nodes through `["null", "Node"]` nests 200 levels: `encode_into` and `encode_serde_into`
/// write it, and the decoder refuses the body they wrote. A producer can publish what no
/// consumer of the mesh reads.
#[test]
fn encoders_count_union_branches_as_the_decoder_does() {
    let out = walk_all(Shape::List, 100);
    assert!(too_deep(&out.decode), "{out:?}");
    assert!(
        too_deep(&out.encode),
        "encode_into must refuse what no decoder reads: {out:?}"
    );
    assert!(too_deep(&out.serde), "encode_serde_into too: {out:?}");
}

/// Found by `every_walk_holds_the_depth_bound`: the decoder took one level more than
/// `conform`/`resolve` (depth > 128 against depth >= 128), so a body nested exactly to the
/// bound decoded and a consumer with a reader schema then refused it. Now both take 127 and
/// refuse 128.
#[test]
fn a_body_at_the_bound_is_refused_by_decode_and_resolve_alike() {
    let mut seen = (false, false);
    for nodes in 60..68 {
        let schema = Shape::List.schema();
        let decoded = on_worker_stack(move || {
            let body = Shape::List.body(nodes);
            Shape::List.schema().codec().decode(&body).map(|_| ())
        });
        let value = Shape::List.value(nodes);
        let within = depth(&value) < MAX_VALUE_DEPTH;
        let resolved =
            on_worker_stack(move || schema.resolve(value).map(|_| ()).map_err(|e| e.to_string()));
        assert_eq!(
            decoded.is_ok(),
            resolved.is_ok(),
            "{nodes} nodes: {decoded:?} {resolved:?}"
        );
        assert_eq!(resolved.is_ok(), within, "{nodes} nodes: {resolved:?}");
        if within {
            seen.0 = true;
        } else {
            seen.1 = true;
        }
    }
    assert_eq!(seen, (true, true), "both sides of the bound were tried");
}
