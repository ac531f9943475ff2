//! Guards `mesh_core::wire`, the Confluent framing every consumed message goes through first:
//! any payload is split or refused without a panic, and whatever is framed splits back.

use mesh_core::SchemaId;
use mesh_core::WireError;
use mesh_core::wire::{HEADER_LEN, MAGIC_BYTE, split, write_header};
use proptest::prelude::*;

use crate::support::cases;

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn any_payload_is_split_or_refused(payload in prop::collection::vec(any::<u8>(), 0..64)) {
        match split(&payload) {
            Ok((id, body)) => {
                prop_assert_eq!(payload[0], MAGIC_BYTE);
                prop_assert_eq!(&payload[1..HEADER_LEN], &id.get().to_be_bytes()[..]);
                prop_assert_eq!(body, &payload[HEADER_LEN..]);
            }
            Err(WireError::Empty) => prop_assert!(payload.is_empty()),
            Err(WireError::TooShort { len }) => {
                prop_assert_eq!(len, payload.len());
                prop_assert!(len < HEADER_LEN && payload[0] == MAGIC_BYTE);
            }
            Err(WireError::BadMagic { found }) => {
                prop_assert_eq!(found, payload[0]);
                prop_assert_ne!(found, MAGIC_BYTE);
            }
            Err(other) => prop_assert!(false, "an error this test does not know: {other}"),
        }
    }

    #[test]
    fn framed_bodies_split_back(
        id in any::<u32>(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        prefix in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        // Written after whatever the buffer held: the header is appended, not placed.
        let mut buf = prefix.clone();
        write_header(SchemaId(id), &mut buf);
        buf.extend_from_slice(&body);
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        let framed = &buf[prefix.len()..];
        prop_assert_eq!(framed.len(), HEADER_LEN + body.len());
        prop_assert_eq!(split(framed), Ok((SchemaId(id), &body[..])));
    }
}
