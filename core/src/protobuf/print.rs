//! Prints a compiled `.proto` file back as text: the canonical form of a Protobuf schema.
//!
//! The text depends only on the descriptor, so a schema sent as `.proto` text (with any comments
//! and layout) and the same schema sent as a base64 `FileDescriptorProto` print the same. Type
//! references are written fully qualified (`.pkg.Msg`), options (custom ones included) are kept,
//! and declarations keep their order within each kind: fields, then nested messages, enums,
//! extension ranges and extensions.

use std::fmt::Write;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, FileDescriptor, Kind, MapKey,
    MessageDescriptor, Value,
};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
};

/// The largest field number; a range ending here prints as `max`.
const MAX_FIELD_NUMBER: i32 = 536_870_911;

/// How to print.
#[derive(Clone, Copy, Debug, Default)]
pub struct PrintOptions {
    /// Sort imports, options, fields (by number) and nested declarations (by name).
    pub normalized: bool,
    /// Leave out custom options (but Confluent's own), extension ranges and extensions
    /// (`format=ignore_extensions`).
    pub ignore_extensions: bool,
}

/// Prints a file.
pub fn print_file(file: &FileDescriptor, options: PrintOptions) -> String {
    let proto = file.file_descriptor_proto();
    let mut printer = Printer {
        pool: file.parent_pool().clone(),
        out: String::new(),
        syntax: Syntax::of(proto),
        normalized: options.normalized,
        ignore_extensions: options.ignore_extensions,
    };
    printer.file(file, proto);
    printer.out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Proto2,
    Proto3,
    Editions,
}

impl Syntax {
    fn of(proto: &FileDescriptorProto) -> Syntax {
        match proto.syntax.as_deref() {
            Some("proto3") => Syntax::Proto3,
            Some("editions") => Syntax::Editions,
            _ => Syntax::Proto2,
        }
    }
}

struct Printer {
    pool: DescriptorPool,
    out: String,
    syntax: Syntax,
    normalized: bool,
    ignore_extensions: bool,
}

impl Printer {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn file(&mut self, file: &FileDescriptor, proto: &FileDescriptorProto) {
        match self.syntax {
            Syntax::Proto2 => self.line(0, "syntax = \"proto2\";"),
            Syntax::Proto3 => self.line(0, "syntax = \"proto3\";"),
            // prost-types does not carry the edition; 2023 is the only one the compiler knows.
            Syntax::Editions => self.line(0, "edition = \"2023\";"),
        }
        if let Some(package) = proto.package.as_deref().filter(|p| !p.is_empty()) {
            self.out.push('\n');
            self.line(0, &format!("package {package};"));
        }
        let mut imports: Vec<String> = proto
            .dependency
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let index = index as i32;
                let modifier = if proto.public_dependency.contains(&index) {
                    "public "
                } else if proto.weak_dependency.contains(&index) {
                    "weak "
                } else {
                    ""
                };
                format!("import {modifier}{};", quote(name))
            })
            .collect();
        if self.normalized {
            imports.sort();
        }
        if !imports.is_empty() {
            self.out.push('\n');
            for import in imports {
                self.line(0, &import);
            }
        }
        let options = self.option_statements(&file.options());
        if !options.is_empty() {
            self.out.push('\n');
            for option in options {
                self.line(0, &option);
            }
        }
        let package = proto.package.clone().unwrap_or_default();
        let mut messages: Vec<&DescriptorProto> = proto.message_type.iter().collect();
        let mut enums: Vec<&EnumDescriptorProto> = proto.enum_type.iter().collect();
        if self.normalized {
            messages.sort_by(|a, b| a.name().cmp(b.name()));
            enums.sort_by(|a, b| a.name().cmp(b.name()));
        }
        for message in messages {
            self.out.push('\n');
            self.message(message, &qualify(&package, message.name()), 0);
        }
        for enumeration in enums {
            self.out.push('\n');
            self.enumeration(enumeration, &qualify(&package, enumeration.name()), 0);
        }
        if !self.ignore_extensions {
            self.extensions(&proto.extension, &package, 0);
        }
        for service in &proto.service {
            self.out.push('\n');
            let full = qualify(&package, service.name());
            self.line(0, &format!("service {} {{", service.name()));
            if let Some(descriptor) = self.pool.get_service_by_name(&full) {
                for option in self.option_statements(&descriptor.options()) {
                    self.line(1, &option);
                }
                for method in descriptor.methods() {
                    let proto = method.method_descriptor_proto();
                    let input = format!(
                        "{}.{}",
                        if proto.client_streaming() {
                            "stream "
                        } else {
                            ""
                        },
                        method.input().full_name()
                    );
                    let output = format!(
                        "{}.{}",
                        if proto.server_streaming() {
                            "stream "
                        } else {
                            ""
                        },
                        method.output().full_name()
                    );
                    let options = self.option_statements(&method.options());
                    let head = format!("rpc {}({input}) returns ({output})", method.name());
                    if options.is_empty() {
                        self.line(1, &format!("{head};"));
                    } else {
                        self.line(1, &format!("{head} {{"));
                        for option in options {
                            self.line(2, &option);
                        }
                        self.line(1, "}");
                    }
                }
            }
            self.line(0, "}");
        }
    }

    fn message(&mut self, message: &DescriptorProto, full_name: &str, depth: usize) {
        self.line(depth, &format!("message {} {{", message.name()));
        self.message_body(message, full_name, depth + 1);
        self.line(depth, "}");
    }

    fn message_body(&mut self, message: &DescriptorProto, full_name: &str, depth: usize) {
        let descriptor = self.pool.get_message_by_name(full_name);
        if let Some(descriptor) = &descriptor {
            for option in self.option_statements(&descriptor.options()) {
                self.line(depth, &option);
            }
        }
        // Reserved ranges (end exclusive) and names.
        let ranges: Vec<String> = message
            .reserved_range
            .iter()
            .map(|r| range(r.start(), r.end() - 1))
            .collect();
        if !ranges.is_empty() {
            self.line(depth, &format!("reserved {};", ranges.join(", ")));
        }
        if !message.reserved_name.is_empty() {
            let names: Vec<String> = message.reserved_name.iter().map(|n| quote(n)).collect();
            self.line(depth, &format!("reserved {};", names.join(", ")));
        }

        // Map entries and group bodies are printed where their field is.
        let hidden: Vec<&str> = message
            .nested_type
            .iter()
            .filter(|nested| {
                nested.options.as_ref().is_some_and(|o| o.map_entry())
                    || message.field.iter().any(|f| {
                        f.r#type() == Type::Group
                            && f.type_name().ends_with(&format!(".{}", nested.name()))
                    })
            })
            .map(|nested| nested.name())
            .collect();

        let mut printed_oneofs = vec![false; message.oneof_decl.len()];
        let mut fields: Vec<&FieldDescriptorProto> = message.field.iter().collect();
        if self.normalized {
            fields.sort_by_key(|f| f.number());
        }
        for field in fields {
            match field.oneof_index {
                Some(index) if !field.proto3_optional() => {
                    let index = index as usize;
                    if printed_oneofs.get(index).copied().unwrap_or(true) {
                        continue;
                    }
                    printed_oneofs[index] = true;
                    let oneof = &message.oneof_decl[index];
                    self.line(depth, &format!("oneof {} {{", oneof.name()));
                    if let Some(descriptor) = &descriptor {
                        if let Some(oneof_descriptor) =
                            descriptor.oneofs().find(|o| o.name() == oneof.name())
                        {
                            for option in self.option_statements(&oneof_descriptor.options()) {
                                self.line(depth + 1, &option);
                            }
                        }
                    }
                    for member in message
                        .field
                        .iter()
                        .filter(|f| f.oneof_index == Some(index as i32))
                    {
                        self.field(
                            member,
                            message,
                            full_name,
                            descriptor.as_ref(),
                            depth + 1,
                            true,
                        );
                    }
                    self.line(depth, "}");
                }
                _ => self.field(field, message, full_name, descriptor.as_ref(), depth, false),
            }
        }

        let mut nested: Vec<&DescriptorProto> = message
            .nested_type
            .iter()
            .filter(|n| !hidden.contains(&n.name()))
            .collect();
        let mut enums: Vec<&EnumDescriptorProto> = message.enum_type.iter().collect();
        if self.normalized {
            nested.sort_by(|a, b| a.name().cmp(b.name()));
            enums.sort_by(|a, b| a.name().cmp(b.name()));
        }
        for nested in nested {
            self.message(nested, &format!("{full_name}.{}", nested.name()), depth);
        }
        for enumeration in enums {
            self.enumeration(
                enumeration,
                &format!("{full_name}.{}", enumeration.name()),
                depth,
            );
        }
        if !self.ignore_extensions {
            let ranges: Vec<String> = message
                .extension_range
                .iter()
                .map(|r| range(r.start(), r.end() - 1))
                .collect();
            if !ranges.is_empty() {
                self.line(depth, &format!("extensions {};", ranges.join(", ")));
            }
            self.extensions(&message.extension, full_name, depth);
        }
    }

    fn field(
        &mut self,
        field: &FieldDescriptorProto,
        message: &DescriptorProto,
        message_name: &str,
        descriptor: Option<&MessageDescriptor>,
        depth: usize,
        in_oneof: bool,
    ) {
        let reflected = descriptor.and_then(|d| d.get_field_by_name(field.name()));
        let map_entry = match field.r#type() {
            Type::Message if field.label() == Label::Repeated => {
                message.nested_type.iter().find(|n| {
                    n.options.as_ref().is_some_and(|o| o.map_entry())
                        && field.type_name() == format!(".{message_name}.{}", n.name())
                })
            }
            _ => None,
        };
        let options = self.field_options(field, reflected.as_ref());
        let suffix = if options.is_empty() {
            String::new()
        } else {
            format!(" [{}]", options.join(", "))
        };
        if let Some(entry) = map_entry {
            let key = entry.field.iter().find(|f| f.number() == 1);
            let value = entry.field.iter().find(|f| f.number() == 2);
            if let (Some(key), Some(value)) = (key, value) {
                self.line(
                    depth,
                    &format!(
                        "map<{}, {}> {} = {}{suffix};",
                        type_name(key),
                        type_name(value),
                        field.name(),
                        field.number()
                    ),
                );
                return;
            }
        }
        let label = self.label(field, in_oneof);
        if field.r#type() == Type::Group {
            let group_name = field.type_name().rsplit('.').next().unwrap_or_default();
            let group = message.nested_type.iter().find(|n| n.name() == group_name);
            self.line(
                depth,
                &format!("{label}group {group_name} = {}{suffix} {{", field.number()),
            );
            if let Some(group) = group {
                self.message_body(group, &format!("{message_name}.{group_name}"), depth + 1);
            }
            self.line(depth, "}");
            return;
        }
        self.line(
            depth,
            &format!(
                "{label}{} {} = {}{suffix};",
                type_name(field),
                field.name(),
                field.number()
            ),
        );
    }

    fn label(&self, field: &FieldDescriptorProto, in_oneof: bool) -> &'static str {
        if in_oneof {
            return "";
        }
        match (field.label(), self.syntax) {
            (Label::Repeated, _) => "repeated ",
            (Label::Required, Syntax::Proto2) => "required ",
            (Label::Optional, Syntax::Proto2) => "optional ",
            (Label::Optional, Syntax::Proto3) if field.proto3_optional() => "optional ",
            _ => "",
        }
    }

    fn field_options(
        &self,
        field: &FieldDescriptorProto,
        reflected: Option<&FieldDescriptor>,
    ) -> Vec<String> {
        let mut options = Vec::new();
        if let Some(default) = &field.default_value {
            let value = match field.r#type() {
                Type::String => quote(default),
                Type::Bytes => format!("\"{default}\""),
                _ => default.clone(),
            };
            options.push(format!("default = {value}"));
        }
        if let Some(json_name) = &field.json_name {
            if *json_name != default_json_name(field.name()) {
                options.push(format!("json_name = {}", quote(json_name)));
            }
        }
        if let Some(reflected) = reflected {
            options.extend(self.inline_options(&reflected.options()));
        }
        options
    }

    fn enumeration(&mut self, enumeration: &EnumDescriptorProto, full_name: &str, depth: usize) {
        self.line(depth, &format!("enum {} {{", enumeration.name()));
        let descriptor = self.pool.get_enum_by_name(full_name);
        if let Some(descriptor) = &descriptor {
            for option in self.option_statements(&descriptor.options()) {
                self.line(depth + 1, &option);
            }
        }
        for value in &enumeration.value {
            let options = descriptor
                .as_ref()
                .and_then(|d| d.values().find(|v| v.name() == value.name()))
                .map(|v| self.inline_options(&v.options()))
                .unwrap_or_default();
            let suffix = if options.is_empty() {
                String::new()
            } else {
                format!(" [{}]", options.join(", "))
            };
            self.line(
                depth + 1,
                &format!("{} = {}{suffix};", value.name(), value.number()),
            );
        }
        // Enum reserved ranges are inclusive.
        let ranges: Vec<String> = enumeration
            .reserved_range
            .iter()
            .map(|r| range(r.start(), r.end()))
            .collect();
        if !ranges.is_empty() {
            self.line(depth + 1, &format!("reserved {};", ranges.join(", ")));
        }
        if !enumeration.reserved_name.is_empty() {
            let names: Vec<String> = enumeration.reserved_name.iter().map(|n| quote(n)).collect();
            self.line(depth + 1, &format!("reserved {};", names.join(", ")));
        }
        self.line(depth, "}");
    }

    fn extensions(&mut self, extensions: &[FieldDescriptorProto], scope: &str, depth: usize) {
        let mut extendees: Vec<&str> = Vec::new();
        for extension in extensions {
            if !extendees.contains(&extension.extendee()) {
                extendees.push(extension.extendee());
            }
        }
        for extendee in extendees {
            if depth == 0 {
                self.out.push('\n');
            }
            self.line(depth, &format!("extend {extendee} {{"));
            for extension in extensions.iter().filter(|e| e.extendee() == extendee) {
                let full = qualify(scope, extension.name());
                let options = self
                    .pool
                    .get_extension_by_name(&full)
                    .map(|e| self.inline_options(&e.options()))
                    .unwrap_or_default();
                let suffix = if options.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", options.join(", "))
                };
                let label = match (extension.label(), self.syntax) {
                    (Label::Repeated, _) => "repeated ",
                    (Label::Required, Syntax::Proto2) => "required ",
                    (Label::Optional, Syntax::Proto2) => "optional ",
                    _ => "",
                };
                self.line(
                    depth + 1,
                    &format!(
                        "{label}{} {} = {}{suffix};",
                        type_name(extension),
                        extension.name(),
                        extension.number()
                    ),
                );
            }
            self.line(depth, "}");
        }
    }

    /// `option name = value;` statements for a declaration's options.
    fn option_statements(&self, options: &DynamicMessage) -> Vec<String> {
        let mut statements = Vec::new();
        for (name, value, kind) in self.option_values(options) {
            match value {
                Value::List(items) => {
                    for item in items {
                        statements.push(format!("option {name} = {};", print_value(item, &kind)));
                    }
                }
                other => statements.push(format!("option {name} = {};", print_value(other, &kind))),
            }
        }
        if self.normalized {
            statements.sort();
        }
        statements
    }

    /// `name = value` pairs for a field or enum value's bracketed options.
    fn inline_options(&self, options: &DynamicMessage) -> Vec<String> {
        let mut inline = Vec::new();
        for (name, value, kind) in self.option_values(options) {
            match value {
                Value::List(items) => {
                    for item in items {
                        inline.push(format!("{name} = {}", print_value(item, &kind)));
                    }
                }
                other => inline.push(format!("{name} = {}", print_value(other, &kind))),
            }
        }
        if self.normalized {
            inline.sort();
        }
        inline
    }

    fn option_values<'m>(&self, options: &'m DynamicMessage) -> Vec<(String, &'m Value, Kind)> {
        let mut values = Vec::new();
        for (field, value) in options.fields() {
            // `uninterpreted_option` is resolved by the compiler; `map_entry` is the map syntax.
            if field.name() == "uninterpreted_option" || field.name() == "map_entry" {
                continue;
            }
            values.push((field.name().to_string(), value, field.kind()));
        }
        for (extension, value) in options.extensions() {
            if self.ignore_extensions && !extension.full_name().starts_with("confluent.") {
                continue;
            }
            values.push((
                format!("({})", extension.full_name()),
                value,
                extension.kind(),
            ));
        }
        values
    }
}

fn print_value(value: &Value, kind: &Kind) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::I32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::F32(n) => print_float(f64::from(*n)),
        Value::F64(n) => print_float(*n),
        Value::String(s) => quote(s),
        Value::Bytes(b) => quote_bytes(b),
        Value::EnumNumber(number) => match kind {
            Kind::Enum(descriptor) => descriptor
                .get_value(*number)
                .map(|v| v.name().to_string())
                .unwrap_or_else(|| number.to_string()),
            _ => number.to_string(),
        },
        Value::Message(message) => {
            let mut parts = Vec::new();
            for (field, value) in message.fields() {
                let kind = field.kind();
                match value {
                    Value::List(items) => {
                        let items: Vec<String> =
                            items.iter().map(|i| print_value(i, &kind)).collect();
                        parts.push(format!("{}: [{}]", field.name(), items.join(", ")));
                    }
                    Value::Map(entries) => {
                        for (key, value) in entries {
                            let value_kind = match &kind {
                                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                                other => other.clone(),
                            };
                            parts.push(format!(
                                "{} {{ key: {} value: {} }}",
                                field.name(),
                                print_map_key(key),
                                print_value(value, &value_kind)
                            ));
                        }
                    }
                    other => parts.push(format!("{}: {}", field.name(), print_value(other, &kind))),
                }
            }
            for (extension, value) in message.extensions() {
                parts.push(format!(
                    "[{}]: {}",
                    extension.full_name(),
                    print_value(value, &extension.kind())
                ));
            }
            format!("{{ {} }}", parts.join(" "))
        }
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(|i| print_value(i, kind)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Map(_) => "{}".to_string(),
    }
}

fn print_map_key(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => quote(s),
    }
}

fn print_float(n: f64) -> String {
    if n.is_nan() {
        "nan".into()
    } else if n.is_infinite() {
        if n > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.1}")
    } else {
        format!("{n}")
    }
}

/// The name a field's type is written with.
fn type_name(field: &FieldDescriptorProto) -> String {
    match field.r#type() {
        Type::Message | Type::Enum | Type::Group => field.type_name().to_string(),
        Type::Double => "double".into(),
        Type::Float => "float".into(),
        Type::Int64 => "int64".into(),
        Type::Uint64 => "uint64".into(),
        Type::Int32 => "int32".into(),
        Type::Fixed64 => "fixed64".into(),
        Type::Fixed32 => "fixed32".into(),
        Type::Bool => "bool".into(),
        Type::String => "string".into(),
        Type::Bytes => "bytes".into(),
        Type::Uint32 => "uint32".into(),
        Type::Sfixed32 => "sfixed32".into(),
        Type::Sfixed64 => "sfixed64".into(),
        Type::Sint32 => "sint32".into(),
        Type::Sint64 => "sint64".into(),
    }
}

fn range(start: i32, end_inclusive: i32) -> String {
    if start == end_inclusive {
        start.to_string()
    } else if end_inclusive >= MAX_FIELD_NUMBER
        || end_inclusive == i32::MAX - 1
        || end_inclusive == i32::MAX
    {
        format!("{start} to max")
    } else {
        format!("{start} to {end_inclusive}")
    }
}

fn qualify(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

/// protoc's default JSON name: underscores dropped, the next letter capitalised.
pub(crate) fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A double-quoted proto string literal.
pub(crate) fn quote(text: &str) -> String {
    quote_bytes(text.as_bytes())
}

fn quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(byte as char),
            _ => {
                // Keep valid UTF-8 sequences readable; escape everything else as octal.
                let len = utf8_len(byte);
                match std::str::from_utf8(bytes.get(index..index + len).unwrap_or_default()) {
                    Ok(text) if len > 1 => {
                        out.push_str(text);
                        index += len;
                        continue;
                    }
                    _ => {
                        let _ = write!(out, "\\{byte:03o}");
                    }
                }
            }
        }
        index += 1;
    }
    out.push('"');
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}
