//! Guards the Avro decoders: `Codec::decode` (ours, on every consumed message) and
//! `AvroSchema::decode` (apache-avro's reader). Arbitrary and mangled bodies against random
//! schemas never panic; ours never allocates more than a small multiple of the body (a
//! length prefix is refused, not believed); a body ours accepts, apache-avro accepts too,
//! as the same value, which conforms to the schema unchanged and encodes back to itself.

use std::sync::Arc;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use mesh_core::AvroSchema;
use proptest::prelude::*;

use crate::arb;
use crate::model::Model;
use crate::support::{allocated_by, allocation_budget, cases, no_panic, on_big_stack, same};

fn parse(model: &Model) -> AvroSchema {
    AvroSchema::parse(&model.text(), "generated").expect("generated schemas parse")
}

/// Appends `n` zig-zag varint encoded, as Avro writes `int` and `long`.
pub(crate) fn write_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// apache-avro's verdict on `body`: the value, and whether it read every byte.
fn apache_reads(schema: &AvroSchema, body: &[u8]) -> Option<(Value, bool)> {
    let reader = GenericDatumReader::builder(schema.schema()).build().ok()?;
    on_big_stack(|| {
        let mut rest = body;
        let value = reader.read_value(&mut rest).ok()?;
        Some((value, rest.is_empty()))
    })
}

/// Everything a body must satisfy, whatever its bytes.
fn check_body(schema: &AvroSchema, body: &[u8]) -> Result<(), TestCaseError> {
    let (ours, allocated) = no_panic(&body, || allocated_by(|| schema.codec().decode(body)))?;
    prop_assert!(
        allocated <= allocation_budget(body.len()),
        "decoding {} bytes allocated {allocated} bytes ({ours:?})",
        body.len()
    );
    let apache = no_panic(&body, || {
        on_big_stack(|| crate::support::apache_decode(schema, body))
    })?;
    match ours {
        Ok(value) => {
            let apache = apache
                .map_err(|e| TestCaseError::fail(format!("apache-avro refuses {body:?}: {e}")))?;
            prop_assert!(
                same(&value, &apache),
                "ours {value:?}\napache-avro {apache:?}"
            );
            let conformed = schema.conform(value.clone());
            prop_assert!(
                conformed.as_ref().is_ok_and(|c| same(c, &value)),
                "a decoded value must conform unchanged: {value:?} -> {conformed:?}"
            );
            let mut again = Vec::new();
            schema.encode_into(&value, &mut again).map_err(|e| {
                TestCaseError::fail(format!("{value:?} decoded but does not encode: {e}"))
            })?;
            let back = schema.codec().decode(&again);
            prop_assert!(
                back.as_ref().is_ok_and(|b| same(b, &value)),
                "{value:?} -> {again:?} -> {back:?}"
            );
        }
        Err(refusal) => {
            prop_assert!(refusal.offset <= body.len(), "{refusal:?}");
            // A body apache-avro reads whole, that our encoder writes back byte for byte, is
            // a datum: refusing it is a bug, unless a documented bound refused it.
            let bound = refusal.reason.starts_with("a block of")
                || refusal.reason.contains("nesting deeper");
            if let (Some((value, true)), false) = (apache_reads(schema, body), bound) {
                let mut again = Vec::new();
                if schema.encode_into(&value, &mut again).is_ok() && again == body {
                    prop_assert!(
                        false,
                        "ours refuses {body:?} ({refusal}), apache-avro reads {value:?}"
                    );
                }
            }
        }
    }
    Ok(())
}

/// A valid body of a random schema, with a few bytes changed, inserted, removed or cut.
fn mangled() -> impl Strategy<Value = (Arc<Model>, Vec<u8>)> {
    (
        arb::model_and_value(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 0..4),
    )
        .prop_map(|((model, value), edits)| {
            let schema = parse(&model);
            let mut body = Vec::new();
            let _ = schema.encode_into(&value, &mut body);
            for (at, byte, kind) in edits {
                let i = at.index(body.len() + 1);
                match kind {
                    0 => body.insert(i, byte),
                    1 if i < body.len() => {
                        body.remove(i);
                    }
                    2 => body.truncate(i),
                    _ if i < body.len() => body[i] = byte,
                    _ => {}
                }
            }
            (model, body)
        })
}

proptest! {
    #![proptest_config(cases(500))]

    #[test]
    fn arbitrary_bodies_are_decoded_or_refused(
        model in arb::model(),
        body in prop::collection::vec(any::<u8>(), 0..48),
    ) {
        check_body(&parse(&model), &body)?;
    }

    #[test]
    fn mangled_bodies_are_decoded_or_refused((model, body) in mangled()) {
        check_body(&parse(&model), &body)?;
    }

    #[test]
    fn valid_bodies_decode_to_the_conformed_value((model, value) in arb::model_and_value()) {
        let schema = parse(&model);
        let conformed = schema.conform(value.clone());
        prop_assert!(conformed.is_ok(), "a generated value must conform: {value:?}: {conformed:?}");
        let conformed = conformed.expect("checked");
        let mut body = Vec::new();
        schema.encode_into(&value, &mut body).map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))?;
        let ours = schema.codec().decode(&body);
        prop_assert!(ours.as_ref().is_ok_and(|v| same(v, &conformed)), "{conformed:?} -> {ours:?}");
        let apache = on_big_stack(|| crate::support::apache_decode(&schema, &body));
        prop_assert!(apache.as_ref().is_ok_and(|v| same(v, &conformed)), "{conformed:?} -> apache-avro {apache:?}");
        // Framed the Confluent way, it splits back to the same body.
        let mut framed = Vec::new();
        mesh_core::wire::write_header(mesh_core::SchemaId(7), &mut framed);
        framed.extend_from_slice(&body);
        prop_assert_eq!(mesh_core::wire::split(&framed), Ok((mesh_core::SchemaId(7), &body[..])));
        // Every proper prefix is refused: a datum is self-delimiting.
        for cut in 0..body.len() {
            let prefix = schema.codec().decode(&body[..cut]);
            prop_assert!(prefix.is_err(), "{:?} of {body:?} decoded: {prefix:?}", &body[..cut]);
        }
    }
}

/// Schemas whose next value starts with a length or a count.
const LENGTH_PREFIXED: &[&str] = &[
    r#""bytes""#,
    r#""string""#,
    r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#,
    r#"{"type":"bytes","logicalType":"uuid"}"#,
    r#"{"type":"array","items":"null"}"#,
    r#"{"type":"array","items":"long"}"#,
    r#"{"type":"map","values":"null"}"#,
    r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#,
];

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn length_prefixes_are_refused_not_allocated(
        schema in prop::sample::select(LENGTH_PREFIXED),
        length in prop_oneof![any::<i64>(), (0u32..63).prop_map(|s| 1i64 << s), (0u32..63).prop_map(|s| -(1i64 << s))],
        block_size in any::<i64>(),
        tail in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let schema = AvroSchema::parse(schema, "length-prefixed").expect("parses");
        let mut body = Vec::new();
        if schema.text().contains("record") {
            body.push(2);
        }
        write_long(&mut body, length);
        if length < 0 {
            // A negative block count is followed by the block's size in bytes.
            write_long(&mut body, block_size);
        }
        body.extend_from_slice(&tail);
        let (ours, allocated) = allocated_by(|| schema.codec().decode(&body));
        prop_assert!(allocated <= allocation_budget(body.len()), "{body:?}: {allocated} bytes");
        if length.unsigned_abs() > 64 * 1024 {
            prop_assert!(ours.is_err(), "{body:?} decoded: {ours:?}");
        }
    }
}

#[test]
fn a_length_prefix_of_2_pow_31_is_refused_without_allocating() {
    for text in LENGTH_PREFIXED {
        let schema = AvroSchema::parse(text, "length-prefixed").expect("parses");
        for n in [1i64 << 31, 1 << 28, 1 << 40, i64::MAX, -(1 << 31)] {
            let mut body = Vec::new();
            if text.contains("record") {
                body.push(2);
            }
            write_long(&mut body, n);
            write_long(&mut body, 1 << 31);
            let (ours, allocated) = allocated_by(|| schema.codec().decode(&body));
            assert!(ours.is_err(), "{text} {n}: {ours:?}");
            assert!(
                allocated < 64 * 1024,
                "{text} {n}: {allocated} bytes allocated"
            );
        }
        // apache-avro refuses 2^31 too (its allocation cap is 512 MiB).
        let mut body = Vec::new();
        if text.contains("record") {
            body.push(2);
        }
        write_long(&mut body, 1 << 31);
        let (apache, allocated) = allocated_by(|| crate::support::apache_decode(&schema, &body));
        assert!(apache.is_err(), "{text}: {apache:?}");
        assert!(
            allocated < 64 * 1024,
            "{text}: apache-avro allocated {allocated} bytes"
        );
    }
}

/// Found while writing the allocation target: `AvroSchema::decode` (apache-avro's reader)
/// believes any length prefix up to apache-avro's cap of 512 MiB and allocates it, zeroed,
/// before it finds the body shorter. Five bytes ask for 256 MiB.
#[test]
fn decode_does_not_believe_length_prefixes() {
    let schema = AvroSchema::parse(r#""bytes""#, "bytes").expect("parses");
    let mut body = Vec::new();
    write_long(&mut body, 1 << 28);
    let (outcome, allocated) = allocated_by(|| schema.decode(&body));
    assert!(outcome.is_err());
    assert!(
        allocated < allocation_budget(body.len()),
        "{body:?} ({} bytes) made apache-avro allocate {allocated} bytes",
        body.len()
    );
}

/// Found by `arbitrary_bodies_are_decoded_or_refused` (which aborted now and then on a
/// 48-byte body): `AvroSchema::decode` (apache-avro's reader) recurses once per level of the
/// body with no bound. In a debug build its frames are so large that a linked list 30 levels
/// deep (31 bytes) overflows a 2 MiB stack, a tokio worker's; in a release build 1,000 levels
/// (1 KB) do. A stack overflow aborts the process. Ours refuses past 128 levels. (`AvroSchema::decode` is used on bodies the mesh wrote itself today, in
/// `producer-kit`'s rows from serde, where the encoders bound the depth; but it is public.)
#[test]
fn decode_refuses_deep_bodies_on_a_worker_stack() {
    let list = AvroSchema::parse(
        r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#,
        "list",
    )
    .expect("parses");
    let body = |levels: usize| {
        let mut body = vec![2u8; levels]; // union branch 1, again and again
        body.push(0);
        body
    };
    let (shallow, deep) = (body(30), body(100_000));
    let outcomes = crate::support::on_worker_stack(move || {
        (list.decode(&shallow).is_ok(), list.decode(&deep).is_err())
    });
    assert_eq!(
        outcomes,
        (true, true),
        "30 levels decode, 100,000 are refused"
    );
}

/// Found by `arbitrary_bodies_are_decoded_or_refused`: a `big-decimal` (bytes) was decoded by
/// ours as `Value::Bytes` and by apache-avro as `Value::BigDecimal`; conform wanted a
/// `BigDecimal` and the encoder a `Bytes`, so no value of a big-decimal field both conformed
/// and encoded. Now a big-decimal is a number in each direction, in Java's layout.
#[test]
fn big_decimals_round_trip() {
    let schema = AvroSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"bytes","logicalType":"big-decimal"}}]}"#,
        "big-decimal",
    )
    .expect("parses");
    let value = Value::Record(vec![("d".into(), arb::big_decimal(12345, 2))]);
    assert!(
        schema.conform(value.clone()).is_ok(),
        "conform accepts a BigDecimal"
    );
    let mut body = Vec::new();
    let encoded = schema.encode_into(&value, &mut body);
    assert!(
        encoded.is_ok(),
        "encode_into must accept what conform accepts: {encoded:?}"
    );
    let ours = schema.codec().decode(&body).expect("decodes");
    let apache = crate::support::apache_decode(&schema, &body).expect("apache-avro decodes");
    assert_eq!(ours, apache, "both decoders give the same value");
    assert!(same(&ours, &value), "{ours:?}");
    assert!(schema.conform(ours).is_ok(), "a decoded value conforms");
    // Java's layout: the unscaled value's bytes (12345 = 0x30 0x39), then the scale 2.
    assert_eq!(body, [8, 4, 0x30, 0x39, 4]);
    // From serde, a big-decimal is its text.
    #[derive(serde::Serialize)]
    struct R {
        d: String,
    }
    let mut text_body = Vec::new();
    schema
        .codec()
        .encode_serde(&R { d: "123.45".into() }, &mut text_body)
        .expect("a decimal's text encodes");
    assert_eq!(text_body, body);
    let refused = schema
        .codec()
        .encode_serde(&R { d: "12,3".into() }, &mut Vec::new());
    assert!(refused.is_err_and(|e| e.to_string().contains("is not a decimal number")));
}

/// Found by `valid_bodies_decode_to_the_conformed_value`: a decimal of zero bytes (a body
/// with length 0 where a bytes decimal goes) decoded, and the decoded value conformed, but
/// `encode_into` refused it: a consumer could not pass on what it read. Java refuses such a
/// body ("Zero length BigInteger"); so do the decoder and conform now.
#[test]
fn empty_decimals_are_refused() {
    let schema = AvroSchema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}]}"#,
        "decimal",
    )
    .expect("parses");
    let refused = schema.codec().decode(&[0]);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.reason.contains("a decimal of no bytes")),
        "{refused:?}"
    );
    let empty = Value::Record(vec![(
        "d".into(),
        Value::Decimal(apache_avro::Decimal::from(Vec::<u8>::new())),
    )]);
    let conformed = schema.conform(empty.clone());
    assert!(
        conformed.is_err_and(|e| e.to_string().contains("a decimal of no bytes")),
        "conform refuses it too"
    );
    assert!(schema.encode_into(&empty, &mut Vec::new()).is_err());
    // One byte of zero is the decimal 0.00.
    assert!(schema.codec().decode(&[2, 0]).is_ok());
}
