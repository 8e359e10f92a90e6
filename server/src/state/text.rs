//! A schema's canonical text as the state holds it: LZ4-compressed (the block format) when that
//! saves bytes, as it is otherwise.
//!
//! The texts are most of the state (at 100,000 schemas, 82 MB of a 180 MB heap), and a text
//! is read whole only when a prepared body is made or a schema is parsed, both of which cost
//! far more than decompressing it. Schema texts are JSON or Protobuf with the same words
//! repeated (`"name"`, `"type"`, field names), which LZ4 packs to a half to a quarter of their
//! size at about a microsecond a text.

use std::borrow::Cow;
use std::cell::RefCell;

pub use crate::persist::snapshot::stream::Text as Stored;

/// Texts shorter than this are kept as they are: packing them saves next to nothing.
const PACK_FROM: usize = 64;

/// A comparison buffer kept by a thread larger than this is let go after use.
const KEEP_BUFFER: usize = 1 << 20;

thread_local! {
    /// Where [`Text::is`] unpacks a text to compare it: a lookup compares a candidate with each
    /// version of a subject that has its length, and should not allocate for each.
    static UNPACKED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A canonical text, packed when that saves bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Text(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Plain(Box<str>),
    /// LZ4 block of a UTF-8 text of `len` bytes.
    Packed {
        len: u32,
        bytes: Box<[u8]>,
    },
}

impl Text {
    /// Holds `text`, packed if that makes it smaller.
    pub fn new(text: &str) -> Text {
        if text.len() >= PACK_FROM {
            if let Ok(len) = u32::try_from(text.len()) {
                let bytes = lz4_flex::block::compress(text.as_bytes());
                // Only worth it when it saves a good part (an allocation header at least).
                if bytes.len() + 16 < text.len() {
                    return Text(Repr::Packed {
                        len,
                        bytes: bytes.into_boxed_slice(),
                    });
                }
            }
        }
        Text(Repr::Plain(text.into()))
    }

    /// A text read back from a snapshot; an error when a packed one does not unpack to UTF-8
    /// of its length (checked here, so that serving it never can fail).
    pub fn from_stored(stored: Stored<'_>) -> Result<Text, String> {
        match stored {
            Stored::Plain(text) => Ok(Text(Repr::Plain(text.into()))),
            Stored::Lz4 { len, bytes } => {
                unpack(len, bytes)?;
                Ok(Text(Repr::Packed {
                    len,
                    bytes: bytes.into(),
                }))
            }
        }
    }

    /// The text.
    pub fn get(&self) -> Cow<'_, str> {
        match &self.0 {
            Repr::Plain(text) => Cow::Borrowed(text),
            Repr::Packed { len, bytes } => Cow::Owned(
                unpack(*len, bytes)
                    .expect("a packed text was made here or checked to unpack when read"),
            ),
        }
    }

    /// Its length in bytes, unpacked.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Plain(text) => text.len(),
            Repr::Packed { len, .. } => *len as usize,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it is `other`, byte for byte.
    pub fn is(&self, other: &str) -> bool {
        match &self.0 {
            Repr::Plain(text) => **text == *other,
            Repr::Packed { len, bytes } => {
                *len as usize == other.len()
                    && UNPACKED.with_borrow_mut(|buffer| {
                        buffer.clear();
                        buffer.resize(other.len(), 0);
                        let same = matches!(
                            lz4_flex::block::decompress_into(bytes, buffer),
                            Ok(written) if written == other.len()
                        ) && buffer.as_slice() == other.as_bytes();
                        if buffer.capacity() > KEEP_BUFFER {
                            *buffer = Vec::new();
                        }
                        same
                    })
            }
        }
    }

    /// As a snapshot stores it.
    pub fn stored(&self) -> Stored<'_> {
        match &self.0 {
            Repr::Plain(text) => Stored::Plain(text),
            Repr::Packed { len, bytes } => Stored::Lz4 { len: *len, bytes },
        }
    }

    /// The bytes held (what it costs in memory, but for the allocation's header).
    pub fn held(&self) -> usize {
        match &self.0 {
            Repr::Plain(text) => text.len(),
            Repr::Packed { bytes, .. } => bytes.len(),
        }
    }
}

/// The text an LZ4 block of `len` bytes of UTF-8 holds, or why it does not.
fn unpack(len: u32, bytes: &[u8]) -> Result<String, String> {
    let unpacked = lz4_flex::block::decompress(bytes, len as usize)
        .map_err(|e| format!("a packed text does not unpack: {e}"))?;
    if unpacked.len() != len as usize {
        return Err(format!(
            "a packed text unpacks to {} bytes, not the {len} it says",
            unpacked.len()
        ));
    }
    String::from_utf8(unpacked).map_err(|e| format!("a packed text is not UTF-8: {e}"))
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.get(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avro(fields: usize) -> String {
        let fields: Vec<String> = (0..fields)
            .map(|i| format!(r#"{{"name":"field_{i}","type":"string","default":""}}"#))
            .collect();
        format!(
            r#"{{"type":"record","name":"Order","namespace":"com.example","fields":[{}]}}"#,
            fields.join(",")
        )
    }

    #[test]
    fn a_text_reads_back_as_it_was_packed_or_not() {
        for text in [
            String::new(),
            "\"string\"".to_string(),
            avro(1),
            avro(12),
            avro(400),
            "syntax = \"proto3\"; message Ünïcödé { string naïve = 1; } // ✓".repeat(3),
        ] {
            let held = Text::new(&text);
            assert_eq!(held.get(), text);
            assert_eq!(held.len(), text.len());
            assert!(held.is(&text));
            assert!(!held.is(&format!("{text} ")));
            // The same length, one byte apart.
            if let Some(last) = text.len().checked_sub(2) {
                let mut other = text.clone().into_bytes();
                other[last] = if other[last] == b'x' { b'y' } else { b'x' };
                if let Ok(other) = String::from_utf8(other) {
                    assert!(!held.is(&other), "{other}");
                }
            }
            let back = Text::from_stored(held.stored()).expect("reads back");
            assert_eq!(back, held);
            assert_eq!(back.get(), text);
        }
    }

    #[test]
    fn repetitive_texts_are_packed_and_short_ones_are_not() {
        let text = avro(12);
        let held = Text::new(&text);
        assert!(matches!(held.stored(), Stored::Lz4 { .. }));
        assert!(
            held.held() * 2 < text.len(),
            "{} of {}",
            held.held(),
            text.len()
        );
        assert!(matches!(Text::new("\"int\"").stored(), Stored::Plain(_)));
    }

    #[test]
    fn a_damaged_packed_text_is_refused_when_read_back() {
        let text = avro(12);
        let held = Text::new(&text);
        let Stored::Lz4 { len, bytes } = held.stored() else {
            panic!("packed")
        };
        // Too short, too long, cut, and bytes that are not a block of this text.
        for (len, bytes) in [
            (len - 1, bytes.to_vec()),
            (len + 1, bytes.to_vec()),
            (len, bytes[..bytes.len() / 2].to_vec()),
            (len, vec![0xff; bytes.len()]),
        ] {
            assert!(Text::from_stored(Stored::Lz4 { len, bytes: &bytes }).is_err());
        }
        // A block of bytes that are not UTF-8.
        let bad = lz4_flex::block::compress(&[0xc3; 100]);
        assert!(Text::from_stored(Stored::Lz4 {
            len: 100,
            bytes: &bad
        })
        .is_err());
    }
}
