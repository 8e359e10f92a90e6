//! Where a schema path points in a schema's text: the 1-based line a finding's or a field's
//! path (a JSON pointer into an Avro or JSON Schema document, `#/Message/<tag>` into a `.proto`
//! file) starts at, so that the CLI's reports and the console can point at the line.

use crate::schema::SchemaType;

/// The 1-based line a schema path points at, when it can be found in the text.
pub fn locate(text: &str, schema_type: SchemaType, path: &str) -> Option<usize> {
    let path = path.trim_start_matches('#');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match schema_type {
        SchemaType::Avro | SchemaType::Json => json_line(text, &segments),
        SchemaType::Protobuf => proto_line(text, &segments),
    }
}

/// Walks JSON text along a pointer, returning the line where the value (or member) starts.
fn json_line(text: &str, segments: &[&str]) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut scanner = Scanner { bytes, position: 0 };
    scanner.skip_space();
    let mut line = scanner.line();
    for segment in segments {
        scanner.skip_space();
        match bytes.get(scanner.position)? {
            b'{' => {
                scanner.position += 1;
                loop {
                    scanner.skip_space();
                    if bytes.get(scanner.position)? == &b'}' {
                        return Some(line);
                    }
                    let key_line = scanner.line();
                    let key = scanner.string()?;
                    scanner.skip_space();
                    scanner.expect(b':')?;
                    scanner.skip_space();
                    if key == *segment {
                        line = key_line;
                        break;
                    }
                    scanner.skip_value()?;
                    scanner.skip_space();
                    if bytes.get(scanner.position)? == &b',' {
                        scanner.position += 1;
                    }
                }
            }
            b'[' => {
                let index: usize = segment.parse().ok()?;
                scanner.position += 1;
                for _ in 0..index {
                    scanner.skip_space();
                    scanner.skip_value()?;
                    scanner.skip_space();
                    scanner.expect(b',')?;
                }
                scanner.skip_space();
                line = scanner.line();
            }
            _ => return Some(line),
        }
    }
    Some(line)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Scanner<'_> {
    fn line(&self) -> usize {
        self.bytes[..self.position.min(self.bytes.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn skip_space(&mut self) {
        while self
            .bytes
            .get(self.position)
            .is_some_and(u8::is_ascii_whitespace)
        {
            self.position += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.bytes.get(self.position)? == &byte).then(|| self.position += 1)
    }

    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let start = self.position;
        while *self.bytes.get(self.position)? != b'"' {
            if self.bytes[self.position] == b'\\' {
                self.position += 1;
            }
            self.position += 1;
        }
        let raw = std::str::from_utf8(&self.bytes[start..self.position]).ok()?;
        self.position += 1;
        serde_json::from_str(&format!("\"{raw}\"")).ok()
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.bytes.get(self.position)? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.bytes.get(self.position)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.position += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.position += 1;
                }
            }
            _ => {
                while self
                    .bytes
                    .get(self.position)
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.position += 1;
                }
                Some(())
            }
        }
    }
}

/// Finds `#/Message/Nested/<tag or oneof>` in `.proto` text.
fn proto_line(text: &str, segments: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut found = if segments.is_empty() { Some(1) } else { None };
    for segment in segments {
        let is_tag = segment.parse::<u32>().is_ok();
        let position = lines.iter().enumerate().skip(from).position(|(_, line)| {
            let code = line.split("//").next().unwrap_or_default();
            if is_tag {
                code.split('=').nth(1).is_some_and(|rest| {
                    let digits: String = rest
                        .trim_start()
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    digits == *segment
                })
            } else {
                code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .collect::<Vec<_>>()
                    .windows(2)
                    .any(|pair| {
                        matches!(pair[0], "message" | "enum" | "oneof") && pair[1] == *segment
                    })
            }
        })?;
        from += position + 1;
        found = Some(from);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_json_pointers() {
        let text = "{\n  \"type\": \"record\",\n  \"name\": \"R\",\n  \"fields\": [\n    {\"name\": \"a\", \"type\": \"int\"},\n    {\n      \"name\": \"b\",\n      \"type\": \"string\"\n    }\n  ]\n}\n";
        assert_eq!(locate(text, SchemaType::Avro, "/fields/1"), Some(6));
        assert_eq!(locate(text, SchemaType::Avro, "/fields/1/type"), Some(8));
        assert_eq!(locate(text, SchemaType::Avro, "/fields/0/type"), Some(5));
        assert_eq!(locate(text, SchemaType::Avro, "/"), Some(1));
        assert_eq!(locate(text, SchemaType::Avro, "/fields/9"), None);
    }

    #[test]
    fn locates_proto_fields() {
        let text = "syntax = \"proto3\";\nmessage A {\n  string x = 1;\n}\nmessage B {\n  int32 y = 1;\n  oneof pick {\n    string z = 12;\n  }\n}\n";
        assert_eq!(locate(text, SchemaType::Protobuf, "#/B/1"), Some(6));
        assert_eq!(locate(text, SchemaType::Protobuf, "#/A/1"), Some(3));
        assert_eq!(locate(text, SchemaType::Protobuf, "#/B/pick"), Some(7));
        assert_eq!(locate(text, SchemaType::Protobuf, "#/B/12"), Some(8));
        assert_eq!(locate(text, SchemaType::Protobuf, "#/"), Some(1));
    }
}
