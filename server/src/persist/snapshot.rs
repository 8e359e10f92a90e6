//! The snapshot format: the folded state at one offset, so that a node starts from it and reads
//! only the log's tail. Format 1 is pinned by `fixtures/storage/snapshot-v1.json`; format 2
//! (`snapshot-v2.json`) adds `tip`, the hash of the last record folded in, so that the tail read
//! after it is checked against the chain. Format 3 (`snapshot-v3.json`) adds the DEK registry
//! (KEKs and DEKs) and the associations; format 4 (`snapshot-v4.json`) the subjects' semantic
//! versions. Those four are one JSON document each.
//!
//! Format 5 (`snapshot-v5.bin`) holds the same state as a stream of frames, so a node reads it
//! without holding it whole and writes it without a second copy of the state, and the schema
//! texts are stored as they are rather than escaped inside JSON (at a million schemas, format 4
//! was a 1.1 GB document read whole, then copied, then decoded). Format 6 (`snapshot-v6.bin`)
//! is format 5 with each schema's content digest and its text as the state holds it (an LZ4
//! block when that is smaller), so a node starts without hashing or packing a million texts.
//! See [`stream`].

use covenant_core::ids::{Mode, SchemaId, Version};
use covenant_core::schema::SchemaType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::hash::RecordHash;
use super::record::{
    StoredAssociation, StoredConfig, StoredDek, StoredKek, StoredReference, StoredSemver,
};
use super::serde_as::{number, opt_text, text};

/// The snapshot format this build writes and starts from.
pub const FORMAT: u32 = stream::FORMAT;

/// The newest format of one JSON document, which this build still starts from (formats 1 to 3
/// were stored under format 4's name).
pub const DOCUMENT: u32 = 4;

/// The document formats this build reads.
pub const READS: [u32; 4] = [1, 2, 3, 4];

/// The whole state at one offset.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Format version.
    pub format: u32,
    /// Every record before this offset is folded in.
    pub head: u64,
    /// The hash of the record at `head - 1` (format 2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<RecordHash>,
    /// Config and mode above every context.
    pub global: Settings,
    /// Every context, in name order.
    pub contexts: Vec<Context>,
    /// KEKs, by name (format 3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keks: Vec<Kek>,
    /// DEKs, in key order (format 3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deks: Vec<Dek>,
    /// Associations, by resource id and type (format 3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Association>,
}

/// A KEK and the time of its last write.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kek {
    /// The KEK.
    pub kek: StoredKek,
    /// The time of its last write.
    pub ts: i64,
}

/// A DEK and the time of its last write.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dek {
    /// The DEK.
    pub dek: StoredDek,
    /// The time of its last write.
    pub ts: i64,
}

/// An association and its times.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Association {
    /// The association.
    pub association: StoredAssociation,
    /// When it was created.
    pub create_ts: i64,
    /// When it was last changed.
    pub update_ts: i64,
}

/// Config and mode set at one scope.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The config set here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<StoredConfig>,
    /// The mode set here.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_text")]
    pub mode: Option<Mode>,
}

/// One context.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    /// Its name, with the leading dot.
    pub name: String,
    /// Its own config and mode.
    pub settings: Settings,
    /// The highest id ever used in it (0 before the first).
    pub max_id: i32,
    /// Every schema ever registered in it, by id.
    pub schemas: Vec<Schema>,
    /// Its subjects, in name order.
    pub subjects: Vec<Subject>,
}

/// One schema. Format 1 wrote these in the shape of a registration event, with an empty
/// subject and version 0, which are ignored.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Always empty.
    #[serde(default)]
    pub subject: String,
    /// Always 0.
    #[serde(default)]
    pub version: i32,
    /// The id.
    #[serde(with = "number")]
    pub id: SchemaId,
    /// The GUID.
    pub guid: Uuid,
    /// The format.
    #[serde(with = "text")]
    pub schema_type: SchemaType,
    /// The canonical text.
    pub schema: String,
    /// References.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<StoredReference>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Rule set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<Value>,
}

/// One subject.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// Its name inside the context.
    pub name: String,
    /// Its own config and mode.
    pub settings: Settings,
    /// The highest version ever used (0 before the first).
    pub max_version: i32,
    /// Stored versions: (version, id, soft-deleted, registration time).
    pub versions: Vec<StoredVersion>,
    /// The semantic versions of those that have one (format 4 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub semvers: Vec<VersionSemver>,
}

/// A version's semantic version, stored as `[version, {...}]`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionSemver(#[serde(with = "number")] pub Version, pub StoredSemver);

/// One version of a subject, stored as `[version, id, deleted, ts]`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredVersion(
    #[serde(with = "number")] pub Version,
    #[serde(with = "number")] pub SchemaId,
    pub bool,
    pub i64,
);

impl Snapshot {
    /// Reads a snapshot stored at `offset`: `None` (with the reason) when it is not a snapshot
    /// of this format taken at that offset, which means it is ignored and the log replayed.
    pub fn read(offset: u64, bytes: &[u8]) -> Result<Snapshot, String> {
        let snapshot: Snapshot = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !READS.contains(&snapshot.format) {
            return Err(format!(
                "it has format {}, and this build reads formats {READS:?}",
                snapshot.format
            ));
        }
        if snapshot.format >= 2 && snapshot.tip.is_none() {
            return Err(format!(
                "a format {} snapshot must carry `tip`",
                snapshot.format
            ));
        }
        if snapshot.head != offset {
            return Err(format!(
                "it says it was taken at offset {}, but is stored at {offset}",
                snapshot.head
            ));
        }
        Ok(snapshot)
    }

    /// The bytes it was stored as in format 4 (this build writes format 5; tests compare
    /// states by this document).
    #[cfg(test)]
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a snapshot always serializes")
    }
}

/// Format 5: a stream of frames.
///
/// ```text
/// "CVSNAP\0\x05"                                  magic, with the format in its last byte
/// frame*:  [tag: u8][length: u32 LE][payload]
///   1 header   JSON Header (head, tip, global settings, KEKs, DEKs, associations): first
///   2 context  JSON ContextHead; the schema and subject frames after it are its own
///   3 schema   [meta length: u32 LE][JSON SchemaMeta][the canonical text, UTF-8, as is]
///   4 subject  JSON Subject (as in format 4)
///   0 end      [frames before it: u64 LE]: last, so a stream cut short is never taken whole
/// ```
///
/// The store keeps its own checksum over the bytes (the file store a CRC-32 before them).
pub mod stream {
    use std::io::{self, Read};

    use super::*;

    /// The number of the format this build writes.
    pub const FORMAT: u32 = 6;

    /// The stream formats this build reads: 5 (texts as they are) and 6 (packed, with digests).
    pub const READS: [u32; 2] = [6, 5];

    /// What a format 5 snapshot starts with; format 6 ends with 6 instead.
    pub const MAGIC: [u8; 8] = *b"CVSNAP\0\x05";

    fn magic(format: u32) -> [u8; 8] {
        let mut magic = MAGIC;
        magic[7] = format as u8;
        magic
    }

    /// How a format 6 schema frame holds the text.
    const PLAIN: u8 = 0;
    const LZ4: u8 = 1;

    const END: u8 = 0;
    const HEADER: u8 = 1;
    const CONTEXT: u8 = 2;
    const SCHEMA: u8 = 3;
    const SUBJECT: u8 = 4;

    /// Everything that is not a context's schemas and subjects.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Header {
        /// Every record before this offset is folded in.
        pub head: u64,
        /// The hash of the record at `head - 1`.
        pub tip: RecordHash,
        /// Config and mode above every context.
        pub global: Settings,
        /// KEKs, by name.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub keks: Vec<Kek>,
        /// DEKs, in key order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub deks: Vec<Dek>,
        /// Associations, by resource id and type.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub associations: Vec<Association>,
    }

    /// A context, before its schemas and subjects.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ContextHead {
        /// Its name, with the leading dot.
        pub name: String,
        /// Its own config and mode.
        pub settings: Settings,
        /// The highest id ever used in it (0 before the first).
        pub max_id: i32,
    }

    /// A schema, but for its text (which follows it in the frame).
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SchemaMeta {
        /// The id.
        #[serde(with = "number")]
        pub id: SchemaId,
        /// The GUID.
        pub guid: Uuid,
        /// The format.
        #[serde(with = "text")]
        pub schema_type: SchemaType,
        /// References.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub references: Vec<StoredReference>,
        /// Metadata.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub metadata: Option<Value>,
        /// Rule set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub rule_set: Option<Value>,
    }

    /// A schema's text as a snapshot holds it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Text<'a> {
        /// The text itself.
        Plain(&'a str),
        /// An LZ4 block (the block format, no frame) said to unpack to `len` bytes of UTF-8.
        Lz4 {
            /// The length of the text.
            len: u32,
            /// The block.
            bytes: &'a [u8],
        },
    }

    /// A schema frame past its metadata: the text, and from format 6 on the digest of the
    /// content (format 5 leaves it to the reader to compute).
    #[derive(Debug, PartialEq)]
    pub struct SchemaBody<'a> {
        /// The content digest (`state::ContentKey`), format 6 on.
        pub content: Option<[u8; 32]>,
        /// The text.
        pub text: Text<'a>,
    }

    /// One frame after the header; a schema's body borrows the reader's buffer.
    #[derive(Debug, PartialEq)]
    pub enum Frame<'a> {
        /// The context the next schemas and subjects belong to.
        Context(ContextHead),
        /// A schema of the current context, and its text.
        Schema(SchemaMeta, SchemaBody<'a>),
        /// A subject of the current context.
        Subject(Subject),
        /// The end: nothing follows.
        End,
    }

    /// Writes a snapshot frame by frame to `W` (a file, for the embedded store): only one
    /// frame is ever held in memory.
    pub struct Writer<W> {
        out: W,
        frame: Vec<u8>,
        frames: u64,
    }

    impl<W: io::Write> Writer<W> {
        /// A snapshot that starts with `header`.
        pub fn new(out: W, header: &Header) -> io::Result<Writer<W>> {
            let mut writer = Writer {
                out,
                frame: Vec::new(),
                frames: 0,
            };
            writer.out.write_all(&magic(FORMAT))?;
            writer.json(HEADER, header)?;
            Ok(writer)
        }

        /// Starts a context: the schemas and subjects written next are its own.
        pub fn context(&mut self, context: &ContextHead) -> io::Result<()> {
            self.json(CONTEXT, context)
        }

        /// A schema of the current context: its metadata, the digest of its content and its
        /// text (`[u32 meta length][meta JSON][32-byte digest][encoding][u32 text length]
        /// [text bytes]`, the encoding 0 for the text itself and 1 for an LZ4 block).
        pub fn schema(
            &mut self,
            meta: &SchemaMeta,
            content: &[u8; 32],
            text: Text<'_>,
        ) -> io::Result<()> {
            self.frame.clear();
            serde_json::to_writer(&mut self.frame, meta)?;
            let meta_len = length(self.frame.len())?;
            let (encoding, text_len, bytes) = match text {
                Text::Plain(text) => (PLAIN, length(text.len())?, text.as_bytes()),
                Text::Lz4 { len, bytes } => (LZ4, len.to_le_bytes(), bytes),
            };
            let len = length(4 + self.frame.len() + 32 + 1 + 4 + bytes.len())?;
            self.out.write_all(&[SCHEMA])?;
            self.out.write_all(&len)?;
            self.out.write_all(&meta_len)?;
            self.out.write_all(&self.frame)?;
            self.out.write_all(content)?;
            self.out.write_all(&[encoding])?;
            self.out.write_all(&text_len)?;
            self.out.write_all(bytes)?;
            self.frames += 1;
            Ok(())
        }

        /// A subject of the current context.
        pub fn subject(&mut self, subject: &Subject) -> io::Result<()> {
            self.json(SUBJECT, subject)
        }

        /// Writes the end frame; returns the output.
        pub fn finish(mut self) -> io::Result<W> {
            let frames = self.frames.to_le_bytes();
            self.out.write_all(&[END])?;
            self.out.write_all(&length(frames.len())?)?;
            self.out.write_all(&frames)?;
            self.out.flush()?;
            Ok(self.out)
        }

        fn json<T: Serialize>(&mut self, tag: u8, value: &T) -> io::Result<()> {
            self.frame.clear();
            serde_json::to_writer(&mut self.frame, value)?;
            self.out.write_all(&[tag])?;
            self.out.write_all(&length(self.frame.len())?)?;
            self.out.write_all(&self.frame)?;
            self.frames += 1;
            Ok(())
        }
    }

    /// A format 6 schema frame past its metadata.
    fn packed_body(bytes: &[u8]) -> Result<SchemaBody<'_>, &'static str> {
        let (content, rest) = bytes
            .split_first_chunk::<32>()
            .ok_or("it ends inside its digest")?;
        let (&[encoding], rest) = rest
            .split_first_chunk::<1>()
            .ok_or("it ends before its text")?;
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or("it ends before its text")?;
        let len = u32::from_le_bytes(*len);
        let text = match encoding {
            PLAIN if rest.len() == len as usize => {
                Text::Plain(std::str::from_utf8(rest).map_err(|_| "its text is not UTF-8")?)
            }
            PLAIN => return Err("its text is not the length it says"),
            LZ4 => Text::Lz4 { len, bytes: rest },
            _ => return Err("its text has an unknown encoding"),
        };
        Ok(SchemaBody {
            content: Some(*content),
            text,
        })
    }

    fn length(len: usize) -> io::Result<[u8; 4]> {
        u32::try_from(len).map(u32::to_le_bytes).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a snapshot frame of 4 GiB or more",
            )
        })
    }

    /// Reads a snapshot frame by frame.
    pub struct Reader<R> {
        input: R,
        format: u32,
        buffer: Vec<u8>,
        frames: u64,
        ended: bool,
    }

    impl<R: Read> Reader<R> {
        /// Reads the magic and the header of a snapshot stored at `offset` as format `format`
        /// (one of [`READS`]); an error (with the reason) when it is not a snapshot of that
        /// format taken there.
        pub fn open(input: R, format: u32, offset: u64) -> Result<(Reader<R>, Header), String> {
            if !READS.contains(&format) {
                return Err(format!("format {format} is not a stream this build reads"));
            }
            let mut reader = Reader {
                input,
                format,
                buffer: Vec::new(),
                frames: 0,
                ended: false,
            };
            let mut magic = [0; 8];
            reader
                .input
                .read_exact(&mut magic)
                .map_err(|e| format!("cannot read its first bytes: {e}"))?;
            if magic != self::magic(format) {
                return Err(format!(
                    "it does not start as a format {format} snapshot does"
                ));
            }
            let (tag, len) = reader.frame_head()?;
            if tag != HEADER {
                return Err(format!("its first frame has tag {tag}, not the header's"));
            }
            reader.fill(len)?;
            let header: Header =
                serde_json::from_slice(&reader.buffer).map_err(|e| format!("its header: {e}"))?;
            if header.head != offset {
                return Err(format!(
                    "it says it was taken at offset {}, but is stored at {offset}",
                    header.head
                ));
            }
            Ok((reader, header))
        }

        /// The next frame. After [`Frame::End`], the input must be exhausted.
        pub fn next_frame(&mut self) -> Result<Frame<'_>, String> {
            if self.ended {
                return Err("read past its end".into());
            }
            let (tag, len) = self.frame_head()?;
            self.fill(len)?;
            let frame = self.frames;
            let bad =
                |what: &str, e: &dyn std::fmt::Display| format!("frame {frame} ({what}): {e}");
            match tag {
                CONTEXT => serde_json::from_slice(&self.buffer)
                    .map(Frame::Context)
                    .map_err(|e| bad("a context", &e)),
                SUBJECT => serde_json::from_slice(&self.buffer)
                    .map(Frame::Subject)
                    .map_err(|e| bad("a subject", &e)),
                SCHEMA => {
                    let (meta_len, rest) = self
                        .buffer
                        .split_first_chunk::<4>()
                        .ok_or_else(|| bad("a schema", &"shorter than its own header"))?;
                    let meta_len = u32::from_le_bytes(*meta_len) as usize;
                    if meta_len > rest.len() {
                        return Err(bad("a schema", &"its metadata runs past the frame"));
                    }
                    let (meta, rest) = rest.split_at(meta_len);
                    let meta: SchemaMeta =
                        serde_json::from_slice(meta).map_err(|e| bad("a schema", &e))?;
                    let body = if self.format == 5 {
                        let text =
                            std::str::from_utf8(rest).map_err(|e| bad("a schema's text", &e))?;
                        SchemaBody {
                            content: None,
                            text: Text::Plain(text),
                        }
                    } else {
                        packed_body(rest).map_err(|e| bad("a schema", &e))?
                    };
                    Ok(Frame::Schema(meta, body))
                }
                END => {
                    let count: [u8; 8] = self
                        .buffer
                        .as_slice()
                        .try_into()
                        .map_err(|_| bad("the end", &"not 8 bytes"))?;
                    // The end counts every frame before it, the header included.
                    let before = self.frames - 1;
                    if u64::from_le_bytes(count) != before {
                        return Err(format!(
                            "its end says {} frames came before it, but {before} did",
                            u64::from_le_bytes(count)
                        ));
                    }
                    let mut more = [0; 1];
                    match self.input.read(&mut more) {
                        Ok(0) => {}
                        Ok(_) => return Err("bytes follow its end".into()),
                        Err(e) => return Err(format!("after its end: {e}")),
                    }
                    self.ended = true;
                    Ok(Frame::End)
                }
                other => Err(format!("frame {frame} has the unknown tag {other}")),
            }
        }

        fn frame_head(&mut self) -> Result<(u8, usize), String> {
            let mut head = [0; 5];
            self.input.read_exact(&mut head).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    format!("it ends after frame {} without its end frame", self.frames)
                } else {
                    format!("cannot read frame {}: {e}", self.frames)
                }
            })?;
            let [tag, a, b, c, d] = head;
            Ok((tag, u32::from_le_bytes([a, b, c, d]) as usize))
        }

        /// Reads the frame's payload into the buffer. The buffer grows only as bytes arrive, so
        /// a damaged length can claim at most what the input holds.
        fn fill(&mut self, len: usize) -> Result<(), String> {
            self.buffer.clear();
            let read = (&mut self.input)
                .take(len as u64)
                .read_to_end(&mut self.buffer)
                .map_err(|e| format!("cannot read frame {}: {e}", self.frames))?;
            if read != len {
                return Err(format!(
                    "frame {} claims {len} bytes, but the snapshot ends after {read}",
                    self.frames
                ));
            }
            self.frames += 1;
            Ok(())
        }
    }
}
