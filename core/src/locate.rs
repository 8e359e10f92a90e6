//! Where a schema path points in a schema's text: the 1-based line a finding's or a field's
//! path (a JSON pointer into an Avro or JSON Schema document, `#/Message/<tag>` into a `.proto`
//! file) starts at, so that the CLI's reports and the console can point at the line.

use crate::schema::SchemaType;

/// The 1-based line a schema path points at, when it can be found in the text; a path that goes
/// past what the text has points at the deepest member it reaches (what a report can still show).
pub fn locate(text: &str, schema_type: SchemaType, path: &str) -> Option<usize> {
    Locator::new(text, schema_type).locate(path)
}

/// A text prepared for locating many paths in it: each line is found from a byte offset by a
/// binary search, so a lookup costs the walk along its path, not a count of the lines before.
pub struct Locator<'t> {
    text: &'t str,
    schema_type: SchemaType,
    line_starts: Vec<usize>,
}

impl<'t> Locator<'t> {
    /// Prepares `text` (one pass).
    pub fn new(text: &'t str, schema_type: SchemaType) -> Locator<'t> {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(at, _)| at + 1),
        );
        Locator {
            text,
            schema_type,
            line_starts,
        }
    }

    /// As [`locate`]: the line the path starts at, or the deepest member on its way.
    pub fn locate(&self, path: &str) -> Option<usize> {
        self.find(path, false)
    }

    /// The line the path starts at only if the text has every step of it.
    pub fn locate_exact(&self, path: &str) -> Option<usize> {
        self.find(path, true)
    }

    fn find(&self, path: &str, exact: bool) -> Option<usize> {
        let path = path.trim_start_matches('#');
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        match self.schema_type {
            SchemaType::Avro | SchemaType::Json => self.json_line(&segments, exact),
            SchemaType::Protobuf => proto_line(self.text, &segments),
        }
    }

    /// Walks JSON text along a pointer, returning the line where the value (or member) starts.
    fn json_line(&self, segments: &[String], exact: bool) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let mut scanner = Scanner {
            bytes,
            position: 0,
            line_starts: &self.line_starts,
        };
        // What a path that goes past the text answers.
        let short = |line: usize| (!exact).then_some(line);
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
                            return short(line);
                        }
                        let key_at = scanner.position;
                        let key = scanner.string()?;
                        scanner.skip_space();
                        scanner.expect(b':')?;
                        scanner.skip_space();
                        if key == *segment {
                            line = scanner.line_at(key_at);
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
                        if bytes.get(scanner.position)? == &b']' {
                            return None;
                        }
                        scanner.skip_value()?;
                        scanner.skip_space();
                        if bytes.get(scanner.position)? == &b']' {
                            return None;
                        }
                        scanner.expect(b',')?;
                    }
                    scanner.skip_space();
                    if bytes.get(scanner.position)? == &b']' {
                        return None;
                    }
                    line = scanner.line();
                }
                _ => return short(line),
            }
        }
        Some(line)
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    position: usize,
    line_starts: &'a [usize],
}

impl Scanner<'_> {
    fn line(&self) -> usize {
        self.line_at(self.position)
    }

    /// The 1-based line of a byte offset.
    fn line_at(&self, position: usize) -> usize {
        self.line_starts.partition_point(|start| *start <= position)
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
fn proto_line(text: &str, segments: &[String]) -> Option<usize> {
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
        // Past what the text has: the deepest member reached, or nothing when exact; an index
        // past an array's end is nothing either way.
        let locator = Locator::new(text, SchemaType::Avro);
        assert_eq!(locator.locate("/fields/1/missing"), Some(6));
        assert_eq!(locator.locate_exact("/fields/1/missing"), None);
        assert_eq!(locator.locate_exact("/fields/1/type/deeper"), None);
        assert_eq!(locator.locate_exact("/fields/1/type"), Some(8));
        assert_eq!(locator.locate_exact("/fields/2"), None);
        assert_eq!(locator.locate_exact("/name"), Some(3));
        // Escaped pointer segments.
        let escaped = "{\n  \"properties\": {\n    \"a/b\": {},\n    \"c~d\": {}\n  }\n}";
        let locator = Locator::new(escaped, SchemaType::Json);
        assert_eq!(locator.locate_exact("/properties/a~1b"), Some(3));
        assert_eq!(locator.locate_exact("/properties/c~0d"), Some(4));
        assert_eq!(
            Locator::new("[]", SchemaType::Json).locate_exact("/0"),
            None
        );
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
