//! The disagreements between `encode_into` and `conform` that these targets found, told apart
//! by what each side says, so the properties step around exactly them. Each has a `bug_*`
//! reproducer in `encode`.

use apache_avro::types::Value;
use mesh_core::ValidationError;

/// The int and long types `conform` tells apart and the encoder does not.
const NUMBERS: &[&str] = &[
    "int",
    "long",
    "date",
    "time-millis",
    "time-micros",
    "timestamp-millis",
    "timestamp-micros",
    "timestamp-nanos",
    "local-timestamp-millis",
    "local-timestamp-micros",
    "local-timestamp-nanos",
];

fn number(described: &str) -> bool {
    let head = described.split(' ').next().unwrap_or_default();
    NUMBERS.contains(&head)
        || described.starts_with("date (")
        || described.starts_with("timestamp-")
}

/// Which known bug explains `encode_into` accepting a value `conform` refuses, if one does:
/// every reason `conform` gives must be one of them.
pub(crate) fn accepted_but_not_conforming(refused: &ValidationError) -> Option<&'static str> {
    let mut bug = None;
    for e in &refused.errors {
        let (expected, found) = e
            .reason
            .strip_prefix("expected ")
            .and_then(|r| r.split_once(", found "))?;
        let this = if (number(expected) && number(found))
            || (expected == "duration" && found == "fixed of 12 bytes")
            || (expected == "uuid" && found.starts_with("string "))
        {
            "bug_encode_into_ignores_logical_types"
        } else if (expected == "string" && found.ends_with(" bytes"))
            || (expected == "bytes" && found.starts_with("string "))
        {
            "bug_encode_into_swaps_bytes_and_strings_unchecked"
        } else {
            return None;
        };
        bug = Some(this);
    }
    bug
}

/// Which known bug explains `encode_into` refusing a value that conforms to `conformed`:
/// a map standing for a record, or a union branch chosen by the kind of value alone.
pub(crate) fn refused_but_conforming(
    refused: &ValidationError,
    conformed: &Value,
) -> Option<&'static str> {
    let first = refused.errors.first()?;
    if first.reason.starts_with("expected record ") && first.reason.contains(", found map of ") {
        return Some("bug_encode_into_refuses_maps_standing_for_records");
    }
    passes_a_union(conformed, &first.path)
        .then_some("bug_encode_into_picks_union_branches_without_backtracking")
}

/// Which known bug explains `encode_into` writing a conforming value so that it decodes to
/// something else: the encoder took another union branch than `conform`.
pub(crate) fn decodes_otherwise(conformed: &Value, decoded: &Value) -> Option<&'static str> {
    other_branch(conformed, decoded)
        .then_some("bug_encode_into_picks_union_branches_without_backtracking")
}

fn other_branch(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Union(i, x), Value::Union(j, y)) => i != j || other_branch(x, y),
        (Value::Record(xs), Value::Record(ys)) => {
            xs.iter().zip(ys).any(|((_, x), (_, y))| other_branch(x, y))
        }
        (Value::Array(xs), Value::Array(ys)) => xs.iter().zip(ys).any(|(x, y)| other_branch(x, y)),
        (Value::Map(xs), Value::Map(ys)) => xs
            .iter()
            .any(|(k, x)| ys.get(k).is_some_and(|y| other_branch(x, y))),
        _ => false,
    }
}

/// Whether a union lies on `path` (`$.a[0]["k"].b`) in `v`, or at its end.
fn passes_a_union(v: &Value, path: &str) -> bool {
    let mut at = v;
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    loop {
        if let Value::Union(..) = at {
            return true;
        }
        let next = if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let (name, tail) = r.split_at(end);
            rest = tail;
            match at {
                Value::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
                _ => None,
            }
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap_or(r.len());
            let (index, tail) = r.split_at(end);
            rest = tail.get(1..).unwrap_or_default();
            match at {
                Value::Array(items) => index.parse::<usize>().ok().and_then(|i| items.get(i)),
                Value::Map(entries) => {
                    let key: String = serde_json::from_str(index).unwrap_or_default();
                    entries.get(&key)
                }
                _ => None,
            }
        } else {
            return false;
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
}
