//! The Confluent wire format: a magic byte and the schema's id (or GUID) before the payload,
//! and for Protobuf the message-index path of the message type.

use crate::error::{Error, Result};

/// Magic byte of the classic frame: a 4-byte big-endian schema id follows.
pub const MAGIC_ID: u8 = 0;
/// Magic byte of the GUID frame: a 16-byte schema GUID follows.
pub const MAGIC_GUID: u8 = 1;

/// Which schema a payload was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchemaRef {
    /// A schema id (magic byte 0).
    Id(i32),
    /// A schema GUID (magic byte 1), as its 16 bytes.
    Guid([u8; 16]),
}

impl std::fmt::Display for SchemaRef {
    /// The id, or the GUID in its usual 8-4-4-4-12 hexadecimal form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaRef::Id(id) => write!(f, "{id}"),
            SchemaRef::Guid(bytes) => {
                for (index, byte) in bytes.iter().enumerate() {
                    if matches!(index, 4 | 6 | 8 | 10) {
                        f.write_str("-")?;
                    }
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// Writes the classic frame header: magic byte 0 and the id, big-endian.
pub fn write_header(id: i32, out: &mut Vec<u8>) {
    out.push(MAGIC_ID);
    out.extend_from_slice(&id.to_be_bytes());
}

/// Splits a framed payload into the schema it names and the rest.
pub fn read_header(bytes: &[u8]) -> Result<(SchemaRef, &[u8])> {
    match bytes.first() {
        None => Err(Error::Wire("empty payload: no magic byte".into())),
        Some(&MAGIC_ID) => {
            let id: [u8; 4] = bytes
                .get(1..5)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    Error::Wire(format!(
                        "payload of {} bytes is too short for a schema id",
                        bytes.len()
                    ))
                })?;
            Ok((SchemaRef::Id(i32::from_be_bytes(id)), &bytes[5..]))
        }
        Some(&MAGIC_GUID) => {
            let guid: [u8; 16] = bytes
                .get(1..17)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    Error::Wire(format!(
                        "payload of {} bytes is too short for a schema GUID",
                        bytes.len()
                    ))
                })?;
            Ok((SchemaRef::Guid(guid), &bytes[17..]))
        }
        Some(other) => Err(Error::Wire(format!(
            "unknown magic byte {other}: expected 0 (schema id) or 1 (schema GUID)"
        ))),
    }
}

/// Writes a Protobuf message-index path: `[0]` as the single byte 0, otherwise the count and
/// each index as zig-zag varints.
pub fn write_message_indexes(indexes: &[i32], out: &mut Vec<u8>) {
    if indexes == [0] {
        out.push(0);
        return;
    }
    write_varint(indexes.len() as i64, out);
    for index in indexes {
        write_varint(i64::from(*index), out);
    }
}

/// Reads a Protobuf message-index path; a count of 0 means `[0]`.
pub fn read_message_indexes(bytes: &[u8]) -> Result<(Vec<i32>, &[u8])> {
    let (count, mut rest) = read_varint(bytes)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if count < 0 || count as usize > rest.len() {
        return Err(Error::Wire(format!("invalid message index count {count}")));
    }
    let mut indexes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (index, next) = read_varint(rest)?;
        let index = i32::try_from(index)
            .ok()
            .filter(|i| *i >= 0)
            .ok_or_else(|| Error::Wire(format!("invalid message index {index}")))?;
        indexes.push(index);
        rest = next;
    }
    Ok((indexes, rest))
}

fn write_varint(value: i64, out: &mut Vec<u8>) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push((zigzag as u8 & 0x7f) | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

fn read_varint(bytes: &[u8]) -> Result<(i64, &[u8])> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let decoded = ((value >> 1) as i64) ^ -((value & 1) as i64);
            return Ok((decoded, &bytes[i + 1..]));
        }
    }
    Err(Error::Wire(
        "truncated or overlong varint in message indexes".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn schema_refs_print_as_id_or_guid() {
        assert_eq!(SchemaRef::Id(42).to_string(), "42");
        let guid = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
            0x77, 0x88,
        ];
        assert_eq!(
            SchemaRef::Guid(guid).to_string(),
            "12345678-9abc-def0-1122-334455667788"
        );
    }

    #[test]
    fn header_round_trip_and_errors() {
        let mut out = Vec::new();
        write_header(258, &mut out);
        out.extend_from_slice(b"payload");
        assert_eq!(out[..5], [0, 0, 0, 1, 2]);
        assert_eq!(
            read_header(&out).expect("valid"),
            (SchemaRef::Id(258), &b"payload"[..])
        );
        assert!(read_header(&[]).is_err());
        assert!(read_header(&[0, 0, 1]).is_err());
        assert!(read_header(&[7, 0, 0, 0, 1])
            .expect_err("bad magic")
            .to_string()
            .contains("magic byte 7"));
        let mut guid = vec![1];
        guid.extend_from_slice(&[9; 16]);
        assert_eq!(
            read_header(&guid).expect("valid").0,
            SchemaRef::Guid([9; 16])
        );
    }

    #[test]
    fn first_message_is_one_zero_byte() {
        let mut out = Vec::new();
        write_message_indexes(&[0], &mut out);
        assert_eq!(out, vec![0]);
        let mut out = Vec::new();
        write_message_indexes(&[1, 2], &mut out);
        assert_eq!(out, vec![4, 2, 4]);
        assert!(read_message_indexes(&[0x80]).is_err());
        assert!(read_message_indexes(&[200]).is_err());
    }

    proptest! {
        #[test]
        fn message_indexes_round_trip(indexes in proptest::collection::vec(0i32..100_000, 1..6), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut out = Vec::new();
            write_message_indexes(&indexes, &mut out);
            out.extend_from_slice(&tail);
            let (decoded, rest) = read_message_indexes(&out).expect("round trip");
            prop_assert_eq!(decoded, indexes);
            prop_assert_eq!(rest, &tail[..]);
        }

        #[test]
        fn header_round_trips(id in any::<i32>()) {
            let mut out = Vec::new();
            write_header(id, &mut out);
            prop_assert_eq!(read_header(&out).expect("round trip").0, SchemaRef::Id(id));
        }
    }
}
