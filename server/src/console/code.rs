//! Schema text as the console shows it: formatted (JSON pretty-printed, `.proto` as written),
//! split into lines, each token classed for highlighting, and lines marked with what the
//! engine says about them (findings, changes, tagged and searched fields) as text, so that
//! nothing depends on colour.

use std::collections::BTreeMap;
use std::fmt::Write;

use covenant_core::fields::fields;
use covenant_core::locate::Locator;
use covenant_core::schema::SchemaType;
use maud::{html, Markup, PreEscaped};

/// A note under a line: its kind (a CSS class and the text badge) and what it says.
#[derive(Clone, Debug)]
pub struct Note {
    /// `breaks`, `change`, `tag` or `field`.
    pub class: &'static str,
    /// The badge's text (`✗ breaks BACKWARD`, `change`, `tag`).
    pub badge: String,
    /// The note.
    pub text: String,
}

/// What a line carries.
#[derive(Clone, Debug, Default)]
pub struct LineMarks {
    /// Notes shown under it.
    pub notes: Vec<Note>,
    /// An anchor id for links (`field`).
    pub anchor: Option<&'static str>,
}

/// Notes one text shows at most (a hostile text cannot make a page of millions).
pub const MAX_NOTES: usize = 500;

/// A text formatted for display.
pub struct Formatted {
    /// The format.
    pub schema_type: SchemaType,
    /// The formatted text.
    pub text: String,
    /// Marks by 1-based line.
    pub marks: BTreeMap<usize, LineMarks>,
    /// Notes placed.
    notes: usize,
    /// Notes left out past [`MAX_NOTES`].
    pub hidden: usize,
}

impl Formatted {
    /// `text` formatted for its format: Avro and JSON Schema pretty-printed (key order kept),
    /// Protobuf as written.
    pub fn new(schema_type: SchemaType, text: &str) -> Formatted {
        let formatted = match schema_type {
            SchemaType::Avro | SchemaType::Json => serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|value| serde_json::to_string_pretty(&value).ok())
                .unwrap_or_else(|| text.to_string()),
            SchemaType::Protobuf => text.to_string(),
        };
        Formatted {
            schema_type,
            text: formatted,
            marks: BTreeMap::new(),
            notes: 0,
            hidden: 0,
        }
    }

    /// A locator of paths in the formatted text (made once for the notes of a page).
    pub fn locator(&self) -> Lines<'_> {
        Lines(Locator::new(&self.text, self.schema_type))
    }

    /// Adds a note under a line.
    pub fn add(&mut self, line: usize, note: Note) {
        if self.notes >= MAX_NOTES {
            self.hidden += 1;
            return;
        }
        self.notes += 1;
        self.marks.entry(line).or_default().notes.push(note);
    }

    /// Adds a note at the line `path` points at exactly; false when the text has no such path.
    pub fn note(&mut self, path: &str, note: Note) -> bool {
        match self.locator().exact(path) {
            Some(line) => {
                self.add(line, note);
                true
            }
            None => false,
        }
    }

    /// Marks every tagged field with its tags.
    pub fn mark_tags(&mut self) {
        let lines: Vec<(usize, Note)> = {
            let locator = self.locator();
            fields(self.schema_type, &self.text)
                .into_iter()
                .filter(|field| !field.tags.is_empty())
                .take(MAX_NOTES)
                .filter_map(|field| {
                    let line = locator.exact(&field.path)?;
                    Some((
                        line,
                        Note {
                            class: "tag",
                            badge: "tagged".into(),
                            text: format!("{}: {}", field.name, field.tags.join(", ")),
                        },
                    ))
                })
                .collect()
        };
        for (line, note) in lines {
            self.add(line, note);
        }
    }

    /// Marks the field at `path` as the one a search or link points at (anchor `field`).
    pub fn mark_field(&mut self, path: &str) {
        if let Some(line) = self.locator().exact(path) {
            self.add(
                line,
                Note {
                    class: "field",
                    badge: "field".into(),
                    text: format!("the field at {path}"),
                },
            );
            self.marks.entry(line).or_default().anchor = Some("field");
        }
    }

    /// The text as a table of numbered, highlighted lines with their notes.
    pub fn render(&self, label: &str, id_prefix: &str) -> Markup {
        html! {
            @if self.hidden > 0 {
                p.hint { (self.hidden) " more notes are not shown (at most " (MAX_NOTES) " a text)." }
            }
            div.code role="region" aria-label=(label) tabindex="0" {
                table {
                    tbody {
                        @for (index, line) in self.text.lines().enumerate() {
                            @let number = index + 1;
                            @let marks = self.marks.get(&number);
                            @let marked = marks.is_some_and(|m| !m.notes.is_empty());
                            tr id=(format!("{id_prefix}L{number}")) class=(if marked { "marked" } else { "" }) {
                                td.ln { (number) }
                                td.src {
                                    @if let Some(anchor) = marks.and_then(|m| m.anchor) {
                                        span id=(anchor) {}
                                    }
                                    code { (PreEscaped(highlight(self.schema_type, line))) }
                                }
                            }
                            @if let Some(marks) = marks {
                                @for note in &marks.notes {
                                    tr class=(format!("note {}", note.class)) {
                                        td.ln {}
                                        td.src {
                                            span.badge { (note.badge) } " " (note.text)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Where paths point in a formatted text.
pub struct Lines<'t>(Locator<'t>);

impl Lines<'_> {
    /// The line the path starts at, if the text has every step of it (a path deeper than any
    /// schema a registry takes is not looked for: a link's `field` is the caller's text).
    pub fn exact(&self, path: &str) -> Option<usize> {
        Self::bounded(path)
            .then(|| self.0.locate_exact(path))
            .flatten()
    }

    /// The line of the path, or of the deepest member on its way.
    pub fn nearest(&self, path: &str) -> Option<usize> {
        Self::bounded(path).then(|| self.0.locate(path)).flatten()
    }

    fn bounded(path: &str) -> bool {
        path.len() <= 4096 && path.matches('/').count() <= 256
    }
}

/// Escapes text for HTML.
fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn span(out: &mut String, class: &str, text: &str) {
    let _ = write!(out, "<span class=\"{class}\">");
    escape(out, text);
    out.push_str("</span>");
}

/// One line, its tokens in classed spans (escaped).
pub fn highlight(schema_type: SchemaType, line: &str) -> String {
    match schema_type {
        SchemaType::Avro | SchemaType::Json => json_line(line),
        SchemaType::Protobuf => proto_line(line),
    }
}

fn json_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() * 2);
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1 != '"' {
                if chars[j].1 == '\\' {
                    j += 1;
                }
                j += 1;
            }
            let end = chars.get(j + 1).map_or(line.len(), |(at, _)| *at);
            let token = &line[start..end];
            let key = line[end..].trim_start().starts_with(':');
            span(&mut out, if key { "k" } else { "s" }, token);
            i = j + 1;
        } else if c == '-' || c.is_ascii_digit() {
            let mut j = i;
            while j < chars.len()
                && (chars[j].1.is_ascii_digit()
                    || matches!(chars[j].1, '-' | '+' | '.' | 'e' | 'E'))
            {
                j += 1;
            }
            let end = chars.get(j).map_or(line.len(), |(at, _)| *at);
            span(&mut out, "n", &line[start..end]);
            i = j;
        } else if c.is_ascii_alphabetic() {
            let mut j = i;
            while j < chars.len() && chars[j].1.is_ascii_alphabetic() {
                j += 1;
            }
            let end = chars.get(j).map_or(line.len(), |(at, _)| *at);
            span(&mut out, "b", &line[start..end]);
            i = j;
        } else {
            escape(&mut out, &line[start..start + c.len_utf8()]);
            i += 1;
        }
    }
    out
}

const PROTO_KEYWORDS: &[&str] = &[
    "syntax",
    "edition",
    "package",
    "import",
    "public",
    "weak",
    "option",
    "message",
    "enum",
    "oneof",
    "map",
    "repeated",
    "optional",
    "required",
    "reserved",
    "extensions",
    "extend",
    "service",
    "rpc",
    "returns",
    "stream",
    "to",
    "max",
    "true",
    "false",
];

const PROTO_TYPES: &[&str] = &[
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
    "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
];

fn proto_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() * 2);
    let mut rest = line;
    while !rest.is_empty() {
        if rest.starts_with("//") {
            span(&mut out, "c", rest);
            break;
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == '"' || c == '\'' {
            let mut end = rest.len();
            let mut escaped = false;
            for (at, ch) in rest.char_indices().skip(1) {
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if ch == c {
                    end = at + ch.len_utf8();
                    break;
                }
            }
            span(&mut out, "s", &rest[..end]);
            rest = &rest[end..];
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
                .unwrap_or(rest.len());
            let word = &rest[..end];
            if PROTO_KEYWORDS.contains(&word) {
                span(&mut out, "k", word);
            } else if PROTO_TYPES.contains(&word) {
                span(&mut out, "t", word);
            } else if word.chars().all(|ch| ch.is_ascii_digit()) {
                span(&mut out, "n", word);
            } else {
                escape(&mut out, word);
            }
            rest = &rest[end..];
        } else {
            escape(&mut out, &rest[..c.len_utf8()]);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_tokens_are_classed_and_escaped() {
        let line = r#"  "name": "<script>\"x", "n": -1.5e3, "b": true"#;
        let html = json_line(line);
        assert!(
            html.contains(r#"<span class="k">&quot;name&quot;</span>"#),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains(r#"<span class="n">-1.5e3</span>"#), "{html}");
        assert!(html.contains(r#"<span class="b">true</span>"#), "{html}");
        // An unterminated string and multi-byte text do not panic.
        let _ = json_line("\"é\\");
        let _ = json_line("é\"ü");
    }

    #[test]
    fn proto_tokens_are_classed_and_escaped() {
        let html = proto_line(r#"  repeated string name = 1; // a <b> comment"#);
        assert!(
            html.contains(r#"<span class="k">repeated</span>"#),
            "{html}"
        );
        assert!(html.contains(r#"<span class="t">string</span>"#), "{html}");
        assert!(html.contains(r#"<span class="n">1</span>"#), "{html}");
        assert!(html.contains("&lt;b&gt;"), "{html}");
        let _ = proto_line("\"é");
        let _ = proto_line("é'");
    }

    #[test]
    fn notes_land_on_the_lines_their_paths_name() {
        let text = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"pii","type":"string","confluent:tags":["PII"]}]}"#;
        let mut formatted = Formatted::new(SchemaType::Avro, text);
        assert!(formatted.text.lines().count() > 5);
        let line = formatted.locator().exact("/fields/1").expect("found");
        assert!(formatted
            .text
            .lines()
            .nth(line - 1)
            .expect("line")
            .contains('{'));
        formatted.mark_tags();
        assert_eq!(formatted.marks.get(&line).map(|m| m.notes.len()), Some(1));
        formatted.mark_field("/fields/0");
        let html = formatted.render("schema", "").into_string();
        assert!(html.contains("pii: PII"), "{html}");
        assert!(html.contains(r#"id="field""#), "{html}");
        assert!(!formatted.note(
            "/fields/9",
            Note {
                class: "change",
                badge: "change".into(),
                text: "x".into()
            }
        ));
    }
}
