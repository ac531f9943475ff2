//! Guards `mesh_core::compat`, the registry's compatibility checker: on random schemas and
//! random changes of them (see [`crate::mutate`]), in both directions, its verdict agrees with
//! apache-avro's `SchemaCompatibility::can_read` (ours Ok exactly when apache-avro says
//! `Compatibility::Full`), and `check` at every level agrees with `can_read`.
//!
//! apache-avro departs from the Avro specification in four ways these pairs meet, and its
//! verdict is asked on schemas that neutralize exactly those (see [`apache_verdict`]):
//! it ignores the aliases of named types; it compares a reference to a named type (`"R"`)
//! with that type's definition as two different types; it compares two references by their
//! full names, so a recursive record moved to another namespace no longer reads itself (the
//! records around them it compares by unqualified name, as the specification says); and it
//! reads a uuid stored as a fixed of 16 bytes as a uuid stored as a string.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{ArraySchema, MapSchema, Name, ResolvedSchema, UnionSchema, UuidSchema};
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use mesh_core::AvroSchema;
use mesh_core::compat::{Level, can_read, check};
use proptest::prelude::*;

use crate::arb;
use crate::model::{Def, FixedKind, Logical, Model, Ty};
use crate::mutate;
use crate::support::{cases, no_panic};

/// `schema` with every reference to a named type that is not recursive at that point
/// replaced by the type's definition. Recursive references stay, by their unqualified name:
/// apache-avro checks those by name, as a pair of records already under check, but with the
/// namespace, where the specification (and apache-avro itself, for the records around them)
/// compares unqualified names.
fn inline_references(
    schema: &Schema,
    names: &HashMap<Name, Schema>,
    ns: Option<&str>,
    expanding: &mut Vec<Name>,
) -> Schema {
    match schema {
        Schema::Ref { name } => {
            let full = name.fully_qualified_name(ns).into_owned();
            if expanding.contains(&full) {
                let unqualified = Name::new(full.name()).expect("a name apache-avro parsed");
                return Schema::Ref { name: unqualified };
            }
            match names.get(&full) {
                Some(def) => {
                    let def = def.clone();
                    inline_references(&def, names, full.namespace(), expanding)
                }
                None => schema.clone(),
            }
        }
        Schema::Record(r) => {
            let full = r.name.fully_qualified_name(ns).into_owned();
            let inner_ns = full.namespace().map(str::to_owned);
            expanding.push(full);
            let mut out = r.clone();
            for f in &mut out.fields {
                f.schema = inline_references(&f.schema, names, inner_ns.as_deref(), expanding);
            }
            expanding.pop();
            Schema::Record(out)
        }
        Schema::Array(a) => Schema::Array(ArraySchema {
            items: Box::new(inline_references(&a.items, names, ns, expanding)),
            attributes: a.attributes.clone(),
        }),
        Schema::Map(m) => Schema::Map(MapSchema {
            types: Box::new(inline_references(&m.types, names, ns, expanding)),
            attributes: m.attributes.clone(),
        }),
        Schema::Union(u) => Schema::Union(
            UnionSchema::new(
                u.variants()
                    .iter()
                    .map(|b| inline_references(b, names, ns, expanding))
                    .collect(),
            )
            .expect("the same branches, written out"),
        ),
        // apache-avro reads any uuid as any other (`(Uuid(_), Uuid(_))`), a fixed of 16 bytes
        // as a string included; by the specification a logical type resolves as the type it
        // is stored as, and a fixed is not read as a string. As a plain fixed, apache-avro
        // judges it so.
        Schema::Uuid(UuidSchema::Fixed(f)) => Schema::Fixed(f.clone()),
        other => other.clone(),
    }
}

fn inlined(model: &Model) -> Schema {
    let schema = Schema::parse_str(&model.text()).expect("parses");
    let names: HashMap<Name, Schema> = ResolvedSchema::try_from(&schema)
        .expect("resolves")
        .get_names()
        .iter()
        .map(|(n, s)| (n.clone(), (*s).clone()))
        .collect();
    inline_references(&schema, &names, None, &mut Vec::new())
}

/// `reader` with each named type that an alias ties to a writer's type named back to it:
/// by the specification the alias makes the two names one, and apache-avro ignores aliases
/// of named types (only field aliases count for it).
fn without_type_aliases(writer: &Model, reader: &Model) -> Model {
    let mut out = reader.clone();
    for def in &mut out.defs {
        let tied = def
            .aliases_mut()
            .iter()
            .find(|a| writer.defs.iter().any(|w| w.name() == a.as_str()))
            .cloned();
        if let Some(old) = tied {
            *def.name_mut() = old;
            def.aliases_mut().clear();
        }
    }
    out
}

/// apache-avro's verdict, as the specification would have it: Full counts as readable.
fn apache_verdict(writer: &Model, reader: &Model) -> bool {
    let reader = without_type_aliases(writer, reader);
    matches!(
        SchemaCompatibility::can_read(&inlined(writer), &inlined(&reader)),
        Ok(Compatibility::Full)
    )
}

/// Whether one schema stores a decimal in a fixed and the other one of the same precision
/// and scale in bytes. apache-avro reads either as the other (its `(Decimal, Decimal)` arm
/// compares precision and scale only); by the specification, and in Java's checker, a
/// logical type resolves as the type it is stored in, and a fixed is not read as bytes.
/// Pairs with such decimals are left out of the comparison.
fn decimals_stored_both_ways(a: &Model, b: &Model) -> bool {
    let in_fixed = |m: &Model| -> Vec<(u32, u32)> {
        m.defs
            .iter()
            .filter_map(|d| match d {
                Def::Fixed {
                    kind: FixedKind::Decimal { precision, scale },
                    ..
                } => Some((*precision, *scale)),
                _ => None,
            })
            .collect()
    };
    let in_bytes = |m: &Model| -> Vec<(u32, u32)> {
        fn walk(t: &Ty, out: &mut Vec<(u32, u32)>) {
            match t {
                Ty::Logical(Logical::Decimal { precision, scale }) => {
                    out.push((*precision, *scale))
                }
                Ty::Array(i) | Ty::Map(i) => walk(i, out),
                Ty::Union(branches) => branches.iter().for_each(|b| walk(b, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for d in &m.defs {
            if let Def::Record { fields, .. } = d {
                fields.iter().for_each(|f| walk(&f.ty, &mut out));
            }
        }
        out
    };
    in_fixed(a).iter().any(|ps| in_bytes(b).contains(ps))
        || in_fixed(b).iter().any(|ps| in_bytes(a).contains(ps))
}

fn parse(model: &Model) -> Option<AvroSchema> {
    AvroSchema::parse(&model.text(), "compat").ok()
}

/// Ours and apache-avro's verdicts agree, and `check` says what `can_read` says.
fn agree(
    writer_model: &Model,
    writer: &AvroSchema,
    reader_model: &Model,
    reader: &AvroSchema,
    log: &[String],
) -> Result<(), TestCaseError> {
    let ours = no_panic(&(writer.text(), reader.text()), || can_read(writer, reader))?;
    let apache = apache_verdict(writer_model, reader_model);
    prop_assert_eq!(
        ours.is_ok(),
        apache,
        "writer {}\nreader {}\nchanges {:?}\nours: {:?}",
        writer.text(),
        reader.text(),
        log,
        ours
    );
    // BACKWARD: the new (reader) schema reads the latest (writer).
    let backward = check(Level::Backward, reader, &[(1, writer.clone())]);
    prop_assert_eq!(backward.is_empty(), ours.is_ok(), "{:?}", backward);
    let forward = check(Level::Forward, writer, &[(1, reader.clone())]);
    prop_assert_eq!(forward.is_empty(), ours.is_ok(), "{:?}", forward);
    Ok(())
}

proptest! {
    #![proptest_config(cases(600))]

    #[test]
    fn verdicts_on_changed_schemas_agree_with_apache_avro(
        base in arb::model(),
        changes in mutate::changes(),
    ) {
        let (changed, log) = mutate::apply(&base, &changes);
        let old = parse(&base).expect("generated schemas parse");
        // A change can make a schema that is not Avro (a default that no longer fits, say).
        let Some(new) = parse(&changed) else {
            return Ok(());
        };
        prop_assume!(!decimals_stored_both_ways(&base, &changed));
        agree(&base, &old, &changed, &new, &log)?;
        agree(&changed, &new, &base, &old, &log)?;
    }

    #[test]
    fn verdicts_on_unrelated_schemas_agree_with_apache_avro(a in arb::model(), b in arb::model()) {
        prop_assume!(!decimals_stored_both_ways(&a, &b));
        let (sa, sb) = (parse(&a).expect("parses"), parse(&b).expect("parses"));
        agree(&a, &sa, &b, &sb, &[])?;
    }
}

/// Found by `verdicts_on_changed_schemas_agree_with_apache_avro`: renaming a fixed type
/// that carries a logical type (duration, decimal, uuid) with an alias to its old name keeps
/// it readable by the specification (and by apache-avro once it honors the alias), but our
/// checker reads aliases of records, enums and plain fixed types only, and refuses.
#[test]
fn aliases_of_logical_fixed_types_join_them() {
    let schema = |name: &str, aliases: &str| {
        let text = format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"d","type":{{"type":"fixed","name":"{name}","size":12,"logicalType":"duration"{aliases}}}}}]}}"#
        );
        AvroSchema::parse(&text, "fixed").expect("parses")
    };
    let writer = schema("Span", "");
    let reader = schema("Interval", r#","aliases":["Span"]"#);
    let verdict = can_read(&writer, &reader);
    assert!(verdict.is_ok(), "{verdict:?}");
}

/// The departures of apache-avro's checker from the specification that [`apache_verdict`]
/// neutralizes, each on a minimal pair: when one of these starts failing, apache-avro has
/// changed, and its neutralization can go.
#[test]
fn the_apache_avro_departures_the_oracle_neutralizes_are_still_there() {
    let full = |w: &str, r: &str| {
        let (w, r) = (
            Schema::parse_str(w).expect("parses"),
            Schema::parse_str(r).expect("parses"),
        );
        matches!(
            SchemaCompatibility::can_read(&w, &r),
            Ok(Compatibility::Full)
        )
    };
    let ours = |w: &str, r: &str| {
        let (w, r) = (
            AvroSchema::parse(w, "w").expect("parses"),
            AvroSchema::parse(r, "r").expect("parses"),
        );
        can_read(&w, &r).is_ok()
    };
    let cases = [
        (
            "a record renamed with an alias to its old name",
            r#"{"type":"record","name":"Played","fields":[{"name":"a","type":"int"}]}"#,
            r#"{"type":"record","name":"Listened","aliases":["Played"],"fields":[{"name":"a","type":"int"}]}"#,
            true,
        ),
        (
            "a reference against the definition it names",
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"P","fields":[{"name":"x","type":"int"}]}},{"name":"b","type":"P"}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"b","type":{"type":"record","name":"P","fields":[{"name":"x","type":"int"}]}}]}"#,
            true,
        ),
        (
            "a recursive record in another namespace",
            r#"{"type":"record","name":"Node","namespace":"a","fields":[{"name":"next","type":["null","Node"]}]}"#,
            r#"{"type":"record","name":"Node","namespace":"b","fields":[{"name":"next","type":["null","Node"]}]}"#,
            true,
        ),
        (
            "a uuid in a fixed read as a uuid in a string",
            r#"{"type":"record","name":"R","fields":[{"name":"u","type":{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"u","type":{"type":"string","logicalType":"uuid"}}]}"#,
            false,
        ),
        (
            "a decimal in a fixed read as a decimal in bytes",
            r#"{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":10,"scale":2}}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}]}"#,
            false,
        ),
    ];
    for (what, writer, reader, readable) in cases {
        assert_eq!(ours(writer, reader), readable, "ours, {what}");
        assert_eq!(
            full(writer, reader),
            !readable,
            "apache-avro still departs here: {what}"
        );
    }
}
