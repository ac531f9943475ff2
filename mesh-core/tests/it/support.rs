//! What every target shares: the case count, a worker-sized stack, an allocation meter and a
//! value comparison that treats floats and decimals by what they mean.

use std::collections::HashMap;

use apache_avro::types::Value;
use proptest::test_runner::Config;

/// The proptest configuration of a target: `PROPTEST_CASES` when set (`scripts/fuzz` sets
/// it high), else the target's own default, chosen so the whole binary runs in seconds.
pub(crate) fn cases(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Cases a property sets aside (`prop_assume!`) grow with the cases run.
        max_global_rejects: cases.saturating_mul(2).max(1024),
        // Failures are printed with their minimal case; no files are written beside the tests.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Runs `f` on a thread with the stack a tokio worker gets (2 MiB), so a walk that recursed
/// without bound aborts the process instead of passing on the main thread's larger stack.
pub(crate) fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("spawn a worker-sized thread")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Runs `f` on a thread with a 64 MiB stack. apache-avro's reader recurses once per level of
/// the body with frames so large in a debug build that 30 levels overflow a 2 MiB stack
/// (`decode_refuses_deep_bodies_on_a_worker_stack`); the targets compare with it on
/// bodies of at most a few hundred bytes, which this stack holds.
pub(crate) fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(64 * 1024 * 1024)
            .spawn_scoped(scope, f)
            .expect("spawn a thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs `f` and returns what it returned with the bytes this thread allocated meanwhile
/// (jemalloc's per-thread counter: concurrent tests do not count, frees do not subtract).
pub(crate) fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let counter = tikv_jemalloc_ctl::thread::allocatedp::read()
        .expect("jemalloc's thread.allocatedp (the stats feature is on)");
    let before = counter.get();
    let out = f();
    (out, counter.get() - before)
}

/// What a decoder may allocate for a body of `len` bytes: a generous multiple of the body
/// (values are bigger than their encoding) plus a fixed allowance, far below anything a
/// believed length prefix would ask for.
pub(crate) fn allocation_budget(len: usize) -> u64 {
    4 * 1024 * 1024 + 512 * len as u64
}

/// Whether two values mean the same: floats by their bits (NaN equals NaN), decimals by
/// their number (sign extension to a fixed size is not a change), everything else by `==`.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    use Value as V;
    match (a, b) {
        (V::Float(x), V::Float(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (V::Double(x), V::Double(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (V::Decimal(x), V::Decimal(y)) => decimal_digits(x) == decimal_digits(y),
        // The same digits and scale: 1.0 and 1.00 are different values of a big-decimal.
        (V::BigDecimal(x), V::BigDecimal(y)) => {
            x.as_bigint_and_exponent() == y.as_bigint_and_exponent()
        }
        (V::Union(i, x), V::Union(j, y)) => i == j && same(x, y),
        (V::Array(xs), V::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (V::Map(xs), V::Map(ys)) => same_maps(xs, ys),
        (V::Record(xs), V::Record(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .zip(ys)
                    .all(|((kx, x), (ky, y))| kx == ky && same(x, y))
        }
        _ => a == b,
    }
}

fn same_maps(xs: &HashMap<String, Value>, ys: &HashMap<String, Value>) -> bool {
    xs.len() == ys.len()
        && xs
            .iter()
            .all(|(k, x)| ys.get(k).is_some_and(|y| same(x, y)))
}

/// A decimal's two's-complement bytes in their shortest form.
pub(crate) fn decimal_digits(d: &apache_avro::Decimal) -> Vec<u8> {
    let bytes = Vec::<u8>::try_from(d).unwrap_or_default();
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let fill = if negative { 0xff } else { 0 };
    let mut start = 0;
    while start + 1 < bytes.len()
        && bytes[start] == fill
        && (bytes[start + 1] & 0x80 != 0) == negative
    {
        start += 1;
    }
    match &bytes[start..] {
        [0] => Vec::new(),
        rest => rest.to_vec(),
    }
}

/// How deep a value nests: the root is at depth 0, the children of a record, array, map or
/// union one level below their parent (as `MAX_VALUE_DEPTH` counts: each of them counts).
pub(crate) fn depth(v: &Value) -> usize {
    let below = |children: &mut dyn Iterator<Item = &Value>| {
        children.map(|c| 1 + depth(c)).max().unwrap_or(0)
    };
    match v {
        Value::Record(fields) => below(&mut fields.iter().map(|(_, v)| v)),
        Value::Array(items) => below(&mut items.iter()),
        Value::Map(entries) => below(&mut entries.values()),
        Value::Union(_, inner) => 1 + depth(inner),
        _ => 0,
    }
}

/// Runs `f`, turning a panic into a test failure that shows `input` (the panic hook still
/// prints where it happened).
pub(crate) fn no_panic<T>(
    input: &dyn std::fmt::Debug,
    f: impl FnOnce() -> T,
) -> Result<T, proptest::test_runner::TestCaseError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        proptest::test_runner::TestCaseError::fail(format!("panicked ({message}) on {input:?}"))
    })
}

/// apache-avro's own reader on `body`: the oracle the decoder is held to (`AvroSchema::decode`
/// is the mesh's bounded decoder).
pub(crate) fn apache_decode(
    schema: &mesh_core::AvroSchema,
    mut body: &[u8],
) -> Result<apache_avro::types::Value, apache_avro::Error> {
    apache_avro::reader::datum::GenericDatumReader::builder(schema.schema())
        .build()
        .and_then(|reader| reader.read_value(&mut body))
}
