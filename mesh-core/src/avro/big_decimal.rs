//! Avro's `big-decimal` logical type: a `bytes` value holding the unscaled number's
//! two's-complement bytes (length-prefixed) and then its scale as a `long`. This is the
//! layout Java's `BigDecimalConversion` and apache-avro write, so a value of this type reads
//! the same everywhere. Tables keep it as text (`"123.45"`): the number readable by any engine,
//! where the Avro bytes would be opaque.

use bigdecimal::BigDecimal;
use num_bigint::BigInt;

use super::encode::{write_bytes, write_long};

/// The inside of a big-decimal's `bytes` value (its length prefix not included).
pub(crate) fn to_bytes(d: &BigDecimal) -> Vec<u8> {
    let (unscaled, scale) = d.as_bigint_and_exponent();
    let mut inner = Vec::new();
    write_bytes(&mut inner, &unscaled.to_signed_bytes_be());
    write_long(&mut inner, scale);
    inner
}

/// Reads the inside of a big-decimal's `bytes` value, or why it is not one. Refused where
/// Java refuses too: an unscaled value of no bytes ("zero length BigInteger"), a scale past
/// an `int`; and bytes left over, which would be lost on the way back.
pub(crate) fn from_bytes(inner: &[u8]) -> Result<BigDecimal, String> {
    let mut at = 0;
    let len = read_long(inner, &mut at)?;
    let len = usize::try_from(len)
        .map_err(|_| format!("a big-decimal's unscaled value of negative length {len}"))?;
    if len == 0 {
        return Err("a big-decimal's unscaled value has no bytes".into());
    }
    let unscaled = inner
        .get(at..at.saturating_add(len))
        .ok_or_else(|| format!("a big-decimal's unscaled value of {len} bytes is cut short"))?;
    at += len;
    let scale = read_long(inner, &mut at)?;
    if i32::try_from(scale).is_err() {
        return Err(format!(
            "a big-decimal's scale {scale} does not fit in an int"
        ));
    }
    if at != inner.len() {
        return Err(format!(
            "{} bytes after a big-decimal's scale",
            inner.len() - at
        ));
    }
    Ok(BigDecimal::new(
        BigInt::from_signed_bytes_be(unscaled),
        scale,
    ))
}

/// Whether a big-decimal can be written so that every reader reads it back: its scale fits
/// Java's `int`.
pub(crate) fn check(d: &BigDecimal) -> Result<(), String> {
    let (_, scale) = d.as_bigint_and_exponent();
    i32::try_from(scale)
        .map(|_| ())
        .map_err(|_| format!("a big-decimal's scale {scale} does not fit in an int"))
}

fn read_long(buf: &[u8], at: &mut usize) -> Result<i64, String> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let Some(&byte) = buf.get(*at) else {
            return Err("a big-decimal cut short".into());
        };
        *at += 1;
        if shift == 63 && byte > 1 {
            break;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err("a big-decimal with a number longer than 64 bits".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_go_through_the_bytes_and_back() {
        for text in [
            "0",
            "-1",
            "123.45",
            "-0.000001",
            "1E+30",
            "98765432109876543210.5",
        ] {
            let d: BigDecimal = text.parse().expect("a decimal");
            let back = from_bytes(&to_bytes(&d)).expect("reads back");
            assert_eq!(back.as_bigint_and_exponent(), d.as_bigint_and_exponent());
        }
    }

    #[test]
    fn what_java_refuses_is_refused() {
        // No unscaled bytes, a scale past an int, a byte left over.
        assert!(from_bytes(&[0, 0]).is_err());
        let mut wide = vec![2, 1];
        write_long(&mut wide, i64::from(i32::MAX) + 1);
        assert!(from_bytes(&wide).is_err());
        assert!(from_bytes(&[2, 1, 4, 0]).is_err());
        assert!(from_bytes(&[2, 1, 4]).is_ok());
    }
}
