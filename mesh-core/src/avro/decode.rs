//! Fast Avro binary decoding with the compiled schema the encoder uses.
//!
//! Decoding walks the same node arena as encoding, so no schema work happens per message.
//! Malformed input is refused, never trusted: truncated bodies, bad varints, out-of-range
//! union branches or enum indexes, invalid UTF-8, absurd lengths and trailing bytes each get
//! a reason with the byte offset.

use std::fmt;

use apache_avro::types::Value;
use apache_avro::{Decimal, Duration};

use super::big_decimal;
use super::encode::{Codec, Logical, Node, NodeId};

use super::limits::MAX_VALUE_DEPTH;

/// A body that is not a valid datum of the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// The byte offset in the body where decoding failed.
    pub offset: usize,
    /// Why.
    pub reason: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Avro body at byte {}: {}",
            self.offset, self.reason
        )
    }
}

type R<T> = Result<T, DecodeError>;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Array and map items still allowed in this body. Items of some types (null, a fixed
    /// of 0 bytes) take no bytes, so the body's length alone does not bound how many values
    /// a block count may ask for; this does, across all blocks of the body.
    items_left: u64,
}

impl<'a> Reader<'a> {
    fn fail<T>(&self, reason: impl Into<String>) -> R<T> {
        Err(DecodeError {
            offset: self.pos,
            reason: reason.into(),
        })
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        match self.buf.get(self.pos..self.pos.saturating_add(n)) {
            Some(slice) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(slice)
            }
            _ => self.fail(format!(
                "truncated: {n} bytes needed, {} left",
                self.buf.len().saturating_sub(self.pos)
            )),
        }
    }

    fn long(&mut self) -> R<i64> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                return self.fail("truncated inside a number");
            };
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return self.fail("a number longer than 64 bits");
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        self.fail("a number longer than 10 bytes")
    }

    fn int(&mut self) -> R<i32> {
        let at = self.pos;
        let l = self.long()?;
        i32::try_from(l).map_err(|_| DecodeError {
            offset: at,
            reason: format!("{l} does not fit in an int"),
        })
    }

    fn len(&mut self) -> R<usize> {
        let at = self.pos;
        let l = self.long()?;
        usize::try_from(l).map_err(|_| DecodeError {
            offset: at,
            reason: format!("negative length {l}"),
        })
    }

    fn bytes(&mut self) -> R<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    fn string(&mut self) -> R<String> {
        let at = self.pos;
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError {
            offset: at,
            reason: "a string that is not UTF-8".into(),
        })
    }

    /// The item count of the next block; a negative count is followed by the block's size.
    fn block(&mut self) -> R<usize> {
        let at = self.pos;
        let count = self.long()?;
        if count < 0 {
            self.long()?;
        }
        let count = count.unsigned_abs();
        if count > self.items_left {
            return Err(DecodeError {
                offset: at,
                reason: format!(
                    "a block of {count} items in a body of {} bytes",
                    self.buf.len()
                ),
            });
        }
        self.items_left -= count;
        // At most `items_left` fits in usize: it starts from a usize.
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }
}

/// How many array and map items a body of `len` bytes may hold in all: one per byte, as most
/// items take at least one, and a generous allowance for items that take none.
fn item_budget(len: usize) -> u64 {
    (len as u64).saturating_mul(8).saturating_add(1024)
}

impl Codec {
    /// Decodes an Avro binary datum written with this schema. The whole body must be one
    /// datum: trailing bytes are refused.
    pub fn decode(&self, body: &[u8]) -> Result<Value, DecodeError> {
        let mut r = Reader {
            buf: body,
            pos: 0,
            items_left: item_budget(body.len()),
        };
        let value = self.read(self.root, &mut r, 0)?;
        if r.pos != body.len() {
            return r.fail(format!(
                "{} trailing bytes after the datum",
                body.len() - r.pos
            ));
        }
        Ok(value)
    }

    fn read(&self, node: NodeId, r: &mut Reader<'_>, depth: usize) -> R<Value> {
        // Levels 0..MAX_VALUE_DEPTH, as conform counts them.
        if depth >= MAX_VALUE_DEPTH {
            return r.fail(format!("nesting deeper than {MAX_VALUE_DEPTH} levels"));
        }
        Ok(match &self.nodes[node] {
            Node::Null => Value::Null,
            Node::Boolean => match r.take(1)?[0] {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                b => return r.fail(format!("{b} is not a boolean")),
            },
            Node::Int(logical) => {
                let i = r.int()?;
                match logical {
                    Logical::Date => Value::Date(i),
                    Logical::TimeMillis => Value::TimeMillis(i),
                    _ => Value::Int(i),
                }
            }
            Node::Long(logical) => {
                let l = r.long()?;
                match logical {
                    Logical::TimeMicros => Value::TimeMicros(l),
                    Logical::TimestampMillis => Value::TimestampMillis(l),
                    Logical::TimestampMicros => Value::TimestampMicros(l),
                    Logical::TimestampNanos => Value::TimestampNanos(l),
                    Logical::LocalTimestampMillis => Value::LocalTimestampMillis(l),
                    Logical::LocalTimestampMicros => Value::LocalTimestampMicros(l),
                    Logical::LocalTimestampNanos => Value::LocalTimestampNanos(l),
                    _ => Value::Long(l),
                }
            }
            Node::Float => {
                let b = r.take(4)?;
                Value::Float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            Node::Double => {
                let b = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Double(f64::from_le_bytes(a))
            }
            Node::Bytes => Value::Bytes(r.bytes()?.to_vec()),
            Node::String => Value::String(r.string()?),
            Node::Uuid { fixed, bytes } => {
                let at = r.pos;
                let raw: Vec<u8> = match (fixed, bytes) {
                    (true, _) => r.take(16)?.to_vec(),
                    (false, true) => r.bytes()?.to_vec(),
                    _ => {
                        let text = r.string()?;
                        return text.parse().map(Value::Uuid).map_err(|_| DecodeError {
                            offset: at,
                            reason: format!("{text:?} is not a UUID"),
                        });
                    }
                };
                let raw: [u8; 16] = raw.try_into().map_err(|_| DecodeError {
                    offset: at,
                    reason: "a UUID of other than 16 bytes".into(),
                })?;
                Value::Uuid(uuid::Uuid::from_bytes(raw))
            }
            Node::Fixed { size, .. } => Value::Fixed(*size, r.take(*size)?.to_vec()),
            Node::Enum { symbols, .. } => {
                let at = r.pos;
                let i = r.int()?;
                let symbol = usize::try_from(i)
                    .ok()
                    .and_then(|i| symbols.get(i))
                    .ok_or_else(|| DecodeError {
                        offset: at,
                        reason: format!(
                            "enum index {i} is out of range ({} symbols)",
                            symbols.len()
                        ),
                    })?;
                Value::Enum(i as u32, symbol.clone())
            }
            Node::Array(item) => {
                let mut items = Vec::new();
                loop {
                    let n = r.block()?;
                    if n == 0 {
                        break;
                    }
                    items.reserve(n.min(4096));
                    for _ in 0..n {
                        items.push(self.read(*item, r, depth + 1)?);
                    }
                }
                Value::Array(items)
            }
            Node::Map(value) => {
                let mut entries = std::collections::HashMap::new();
                loop {
                    let n = r.block()?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        let k = r.string()?;
                        let v = self.read(*value, r, depth + 1)?;
                        entries.insert(k, v);
                    }
                }
                Value::Map(entries)
            }
            Node::Record(record) => {
                let mut fields = Vec::with_capacity(record.fields.len());
                for f in &record.fields {
                    fields.push((f.name.to_owned(), self.read(f.node, r, depth + 1)?));
                }
                Value::Record(fields)
            }
            Node::Union(branches) => {
                let at = r.pos;
                let i = r.long()?;
                let branch = usize::try_from(i)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or_else(|| DecodeError {
                        offset: at,
                        reason: format!(
                            "union branch {i} does not exist ({} branches)",
                            branches.len()
                        ),
                    })?;
                Value::Union(i as u32, Box::new(self.read(*branch, r, depth + 1)?))
            }
            Node::Decimal { fixed, .. } => {
                let at = r.pos;
                let bytes = match fixed {
                    Some(size) => r.take(*size)?,
                    None => r.bytes()?,
                };
                if bytes.is_empty() {
                    // Java refuses it too ("Zero length BigInteger"), and no encoder writes it.
                    return Err(DecodeError {
                        offset: at,
                        reason: "a decimal of no bytes".into(),
                    });
                }
                Value::Decimal(Decimal::from(bytes.to_vec()))
            }
            Node::BigDecimal => {
                let at = r.pos;
                let inner = r.bytes()?;
                let number = big_decimal::from_bytes(inner)
                    .map_err(|reason| DecodeError { offset: at, reason })?;
                Value::BigDecimal(number)
            }
            Node::Duration => {
                let b = r.take(12)?;
                let mut a = [0u8; 12];
                a.copy_from_slice(b);
                Value::Duration(Duration::from(a))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::AvroSchema;
    use apache_avro::types::Value;

    const S: &str = r#"{"type":"record","name":"E","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},
        {"name":"tags","type":{"type":"array","items":"string"}},{"name":"note","type":["null","string"],"default":null},
        {"name":"kind","type":{"type":"enum","name":"K","symbols":["A","B"]}}]}"#;

    fn sample() -> Value {
        Value::Record(vec![
            ("id".into(), Value::Long(-5)),
            ("name".into(), Value::String("héllo".into())),
            (
                "tags".into(),
                Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
            ),
            (
                "note".into(),
                Value::Union(1, Box::new(Value::String("n".into()))),
            ),
            ("kind".into(), Value::Enum(1, "B".into())),
        ])
    }

    #[test]
    fn decodes_what_it_encodes() -> Result<(), Box<dyn std::error::Error>> {
        let schema = AvroSchema::parse_record(S, "e")?;
        let mut bytes = Vec::new();
        schema.encode_into(&sample(), &mut bytes)?;
        assert_eq!(schema.codec().decode(&bytes)?, sample());
        assert_eq!(schema.decode(&bytes)?, sample(), "apache-avro agrees");
        Ok(())
    }

    /// Runs `f` on a thread with the stack a tokio worker gets, so a walk that recursed
    /// without bound would abort the test process instead of passing by luck.
    fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(f)
            .expect("thread")
            .join()
            .expect("no panic")
    }

    #[test]
    fn hostile_bodies_cost_what_they_weigh() -> Result<(), Box<dyn std::error::Error>> {
        // Items of null take no bytes: block counts alone could ask for billions of values.
        let nulls = AvroSchema::parse(r#"{"type":"array","items":"null"}"#, "nulls")?;
        let mut body = Vec::new();
        for _ in 0..1000 {
            crate::avro::encode::write_long(&mut body, 8 * 1024); // a block of 8192 nulls
        }
        body.push(0);
        let err = nulls.codec().decode(&body).expect_err("too many items");
        assert!(err.reason.starts_with("a block of 8192 items"), "{err}");
        // A length prefix of 2^31 allocates nothing: there are not that many bytes.
        let bytes = AvroSchema::parse(r#""bytes""#, "bytes")?;
        let mut body = Vec::new();
        crate::avro::encode::write_long(&mut body, 1 << 31);
        assert!(
            bytes
                .codec()
                .decode(&body)
                .expect_err("short")
                .reason
                .contains("truncated")
        );
        // A list nested 100,000 deep in 200 KB: refused at the depth bound, on a worker's
        // stack.
        let list = AvroSchema::parse(
            r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#,
            "list",
        )?;
        let mut deep = vec![2u8; 100_000]; // union branch 1 (zigzag 2), again and again
        deep.push(0); // then null
        let err =
            on_worker_stack(move || list.codec().decode(&deep).map(|_| ())).expect_err("too deep");
        assert!(err.reason.contains("nesting deeper than 128"), "{err}");
        Ok(())
    }

    #[test]
    fn deep_values_are_refused_by_every_walk() -> Result<(), Box<dyn std::error::Error>> {
        let list = AvroSchema::parse(
            r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"],"default":null}]}"#,
            "list",
        )?;
        let deep = |levels: usize| {
            let mut v = Value::Record(vec![(
                "next".into(),
                Value::Union(0, Box::new(Value::Null)),
            )]);
            for _ in 0..levels {
                v = Value::Record(vec![("next".into(), Value::Union(1, Box::new(v)))]);
            }
            v
        };
        let results = on_worker_stack(move || {
            let mut out = Vec::new();
            out.push(
                list.conform(deep(1000))
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
            out.push(
                list.resolve(deep(1000))
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
            let mut bytes = Vec::new();
            out.push(
                list.encode_into(&deep(1000), &mut bytes)
                    .map_err(|e| e.to_string()),
            );
            let json = (0..1000).fold(
                serde_json::json!({"next": null}),
                |v, _| serde_json::json!({"next": v}),
            );
            out.push(
                list.encode_serde_into(&json, &mut bytes)
                    .map_err(|e| e.to_string()),
            );
            // Within the bound (a record and a union per level), all of them work.
            out.push(
                list.conform(deep(60))
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
            out
        });
        for (i, r) in results.iter().take(4).enumerate() {
            let err = r.as_ref().expect_err("too deep");
            assert!(
                err.contains("nests deeper than 128 levels"),
                "walk {i}: {err}"
            );
        }
        assert!(results[4].is_ok(), "{:?}", results[4]);
        Ok(())
    }

    #[test]
    fn refuses_malformed_bodies() -> Result<(), Box<dyn std::error::Error>> {
        let schema = AvroSchema::parse_record(S, "e")?;
        let codec = schema.codec();
        let mut good = Vec::new();
        schema.encode_into(&sample(), &mut good)?;
        for cut in 0..good.len() {
            let err = codec.decode(&good[..cut]).expect_err("truncated");
            assert!(err.reason.contains("truncated"), "cut at {cut}: {err}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(
            codec
                .decode(&trailing)
                .expect_err("trailing")
                .reason
                .contains("trailing")
        );
        let garbage = [0xff; 12];
        assert!(codec.decode(&garbage).is_err());
        // id -5, name of 200 bytes declared but absent.
        assert!(
            codec
                .decode(&[9, 0x90, 0x03])
                .expect_err("short string")
                .reason
                .contains("truncated")
        );
        // An enum index out of range.
        let mut bad_enum = good.clone();
        let last = bad_enum.len() - 1;
        bad_enum[last] = 8;
        assert!(
            codec
                .decode(&bad_enum)
                .expect_err("enum")
                .reason
                .contains("enum index 4")
        );
        Ok(())
    }
}
