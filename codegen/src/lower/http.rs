//! `google.api.http` rules: parsed into bindings and checked against the
//! request and response messages.

use std::collections::BTreeMap;

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor, Value};

use super::{Lowerer, Pos, str_field, sub_message, template};
use crate::model::*;

const PATTERNS: [(&str, HttpMethod); 5] = [
    ("get", HttpMethod::Get),
    ("put", HttpMethod::Put),
    ("post", HttpMethod::Post),
    ("delete", HttpMethod::Delete),
    ("patch", HttpMethod::Patch),
];

impl Lowerer<'_> {
    pub(super) fn http_rules(&mut self, m: &MethodDescriptor, options: &DynamicMessage) -> Vec<HttpBinding> {
        let Some(ext) = self.ext_http.clone() else { return Vec::new() };
        if !options.has_extension(&ext) {
            return Vec::new();
        }
        let value = options.get_extension(&ext);
        let Some(rule) = value.as_message() else { return Vec::new() };
        let file = m.parent_file();
        let option_path = [m.path(), &[4, 72295728]].concat();
        let pos = self.pos(file.name(), &option_path);
        let mut out = Vec::new();
        if let Some(b) = self.binding(m, rule, &pos) {
            out.push(b);
        }
        if let Some(Value::List(extra)) = rule.get_field_by_name("additional_bindings").as_deref() {
            for r in extra.iter().filter_map(Value::as_message) {
                if matches!(r.get_field_by_name("additional_bindings").as_deref(), Some(Value::List(l)) if !l.is_empty())
                {
                    self.error(
                        &pos,
                        None,
                        format!("`additional_bindings` of {} are nested", m.full_name()),
                        "list every binding directly under the method's rule; they may not nest",
                    );
                }
                if let Some(b) = self.binding(m, r, &pos) {
                    out.push(b);
                }
            }
        }
        out
    }

    fn binding(&mut self, m: &MethodDescriptor, rule: &DynamicMessage, pos: &Pos) -> Option<HttpBinding> {
        let (method, raw) = match PATTERNS.iter().find(|(n, _)| rule.has_field_by_name(n)) {
            Some((name, method)) => (method.clone(), str_field(rule, name)),
            None => match sub_message(rule, "custom") {
                Some(custom) => {
                    let kind = str_field(&custom, "kind");
                    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphabetic()) {
                        self.error(
                            pos,
                            None,
                            format!("custom HTTP method `{kind}` of {} is not a method name", m.full_name()),
                            "set `kind` to a verb such as \"HEAD\" or \"OPTIONS\"",
                        );
                        return None;
                    }
                    (HttpMethod::Custom(kind.to_ascii_uppercase()), str_field(&custom, "path"))
                }
                None => {
                    self.error(
                        pos,
                        None,
                        format!("the HTTP rule of {} has no verb and path", m.full_name()),
                        "add one of get, put, post, delete, patch or custom, for example `get: \"/v1/things\"`",
                    );
                    return None;
                }
            },
        };
        let literal = self.find_literal(pos, &raw);
        let span_pos = Pos { span: self.span_at(pos, literal), range: literal.map(|o| (o, raw.len() + 2)) };
        let path = match template::parse(&raw) {
            Ok(t) => t,
            Err(e) => {
                let at = literal.map(|o| (o + 1 + e.offset, 1));
                self.error(
                    &span_pos,
                    at,
                    format!("invalid path template in the HTTP rule of {}: {}", m.full_name(), e.message),
                    "write it as in google/api/http.proto, for example \"/v1/{name=shelves/*}/books\"",
                );
                return None;
            }
        };
        let input = m.input();
        let mut ok = true;
        for var in path.variables() {
            // Point at the variable itself inside the template literal.
            let at = literal.and_then(|o| {
                raw.find(&format!("{{{}", var.field_path.join(".")))
                    .map(|i| (o + 1 + i, var.field_path.join(".").len() + 1))
            });
            let span_pos = Pos { span: self.span_at(pos, at.map(|a| a.0)), range: at.or(span_pos.range) };
            match resolve(&input, &var.field_path) {
                Err(problem) => {
                    ok = false;
                    self.error(
                        &span_pos,
                        None,
                        format!("path variable `{{{}}}` of {}: {problem}", var.field_path.join("."), m.full_name()),
                        format!("name a field of {} (use the proto field name)", input.full_name()),
                    );
                }
                Ok(field) if field.is_map() || matches!(field.kind(), Kind::Message(_)) => {
                    ok = false;
                    let what = if field.is_map() { "a map" } else { "a message" };
                    self.error(&span_pos, None, format!("path variable `{{{}}}` of {} is bound to {what} field, which cannot be written in a URL path", var.field_path.join("."), m.full_name()), "bind a scalar or enum field, for example `{book.name}`");
                }
                Ok(_) => {}
            }
        }
        let body_raw = str_field(rule, "body");
        let body = match body_raw.as_str() {
            "" => Body::None,
            "*" => Body::All,
            other => {
                let fp: Vec<String> = other.split('.').map(str::to_owned).collect();
                if let Err(problem) = resolve(&input, &fp) {
                    ok = false;
                    let at = self.find_literal(pos, other).map(|o| (o, other.len() + 2));
                    self.error(
                        &span_pos,
                        at,
                        format!("`body: \"{other}\"` of {}: {problem}", m.full_name()),
                        format!("use \"*\" for the whole request or the name of a field of {}", input.full_name()),
                    );
                }
                Body::Field(fp)
            }
        };
        let rb = str_field(rule, "response_body");
        let response_body = if rb.is_empty() {
            None
        } else {
            let fp: Vec<String> = rb.split('.').map(str::to_owned).collect();
            if let Err(problem) = resolve(&m.output(), &fp) {
                ok = false;
                let at = self.find_literal(pos, &rb).map(|o| (o, rb.len() + 2));
                self.error(
                    &span_pos,
                    at,
                    format!("`response_body: \"{rb}\"` of {}: {problem}", m.full_name()),
                    format!("name a field of {}, or leave it out to send the whole response", m.output().full_name()),
                );
            }
            Some(fp)
        };
        ok.then_some(HttpBinding { method, path, body, response_body, span: span_pos.span, implicit: false })
    }

    /// The byte offset of the string literal `"text"` inside the option at `pos`.
    fn find_literal(&self, pos: &Pos, text: &str) -> Option<usize> {
        let src = self.text(&pos.span.file)?;
        let (start, len) = pos.range?;
        let region = src.get(start..start + len)?;
        region.find(&format!("\"{text}\"")).map(|i| start + i)
    }

    fn span_at(&self, pos: &Pos, offset: Option<usize>) -> Span {
        let (Some(offset), Some(src)) = (offset, self.text(&pos.span.file)) else { return pos.span.clone() };
        let before = &src[..offset.min(src.len())];
        Span {
            file: pos.span.file.clone(),
            line: before.matches('\n').count() as u32 + 1,
            column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1,
        }
    }

    /// Two bindings with the same verb and path would make one unreachable.
    pub(super) fn check_duplicate_bindings(&mut self, api: &Api) {
        let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
        for service in api.packages.iter().flat_map(|p| &p.services) {
            for method in &service.methods {
                for b in &method.http {
                    let key = (b.method.as_str().to_owned(), template::match_key(&b.path));
                    let me = format!("{}.{}", service.full_name, method.name);
                    match seen.get(&key) {
                        Some(first) => {
                            let pos = self.pos_of_span(&b.span, b.path.raw.len() + 2);
                            self.error(
                                &pos,
                                None,
                                format!(
                                    "`{} {}` of {me} is already bound by {first}; one of them could never be reached",
                                    key.0, b.path.raw
                                ),
                                "change the path or the verb of one binding",
                            );
                        }
                        None => {
                            seen.insert(key, me);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn pos_of_span(&self, span: &Span, len: usize) -> Pos {
        let range = self
            .c
            .sources
            .get(&span.file)
            .and_then(|src| src.offset_of(span.line as i32 - 1, span.column as i32 - 1).map(|o| (o, len)));
        Pos { span: span.clone(), range }
    }
}

/// Follows a field path through singular message fields.
fn resolve(message: &MessageDescriptor, path: &[String]) -> Result<FieldDescriptor, String> {
    let mut current = message.clone();
    for (i, name) in path.iter().enumerate() {
        let Some(field) = current.get_field_by_name(name) else {
            return Err(format!("{} has no field `{name}`", current.full_name()));
        };
        if i + 1 == path.len() {
            return Ok(field);
        }
        match field.kind() {
            Kind::Message(next) if !field.is_list() && !field.is_map() => current = next,
            _ => {
                return Err(format!(
                    "`{name}` is not a singular message field, so `{}` cannot go through it",
                    path.join(".")
                ));
            }
        }
    }
    Err("the field path is empty".to_owned())
}
