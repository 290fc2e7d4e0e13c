//! The `google.api.http` path template grammar:
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```
//!
//! The verb is everything after the first `:` of the last segment (outside
//! braces), so `/{id}:custom:custom` has the verb `custom:custom`.

use crate::model::{PathTemplate, Segment, Variable};

/// A syntax error: where in the template (byte offset) and what.
#[derive(Debug, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError { offset, message: message.into() })
}

/// Parses a path template.
pub fn parse(raw: &str) -> Result<PathTemplate, TemplateError> {
    if !raw.starts_with('/') {
        return err(0, format!("the path template `{raw}` must start with `/`"));
    }
    // Split off the verb: the first `:` after the last `/` at brace depth 0.
    let mut depth = 0i32;
    let mut last_slash = 0;
    for (i, c) in raw.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            '/' if depth == 0 => last_slash = i,
            _ => {}
        }
    }
    let (path, verb) = {
        let mut depth = 0i32;
        let mut split = None;
        for (i, c) in raw[last_slash..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ':' if depth == 0 => {
                    split = Some(last_slash + i);
                    break;
                }
                _ => {}
            }
        }
        match split {
            Some(at) => {
                let verb = &raw[at + 1..];
                if verb.is_empty() || verb.contains(['/', '{', '}']) {
                    return err(at, format!("the custom verb `:{verb}` must be a non-empty literal"));
                }
                (&raw[..at], Some(verb.to_owned()))
            }
            None => (raw, None),
        }
    };
    let mut parser = Parser { text: path, pos: 1 };
    let segments = parser.segments(false)?;
    if parser.pos != path.len() {
        return err(parser.pos, format!("unexpected `{}` in the path template", &path[parser.pos..]));
    }
    check_deep_wildcard(&segments, path.len())?;
    Ok(PathTemplate { segments, verb, raw: raw.to_owned() })
}

/// `**` may only be the last segment of the path.
fn check_deep_wildcard(segments: &[Segment], end: usize) -> Result<(), TemplateError> {
    let flat: Vec<&Segment> = segments
        .iter()
        .flat_map(|s| match s {
            Segment::Variable(v) => v.pattern.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .collect();
    if let Some(pos) = flat.iter().position(|s| **s == Segment::DeepWildcard)
        && pos + 1 != flat.len()
    {
        return err(end, "`**` matches the rest of the path, so it must be the last segment");
    }
    Ok(())
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn segments(&mut self, in_variable: bool) -> Result<Vec<Segment>, TemplateError> {
        let mut segments = vec![self.segment(in_variable)?];
        while self.peek() == Some('/') {
            self.pos += 1;
            segments.push(self.segment(in_variable)?);
        }
        Ok(segments)
    }

    fn segment(&mut self, in_variable: bool) -> Result<Segment, TemplateError> {
        let start = self.pos;
        match self.peek() {
            Some('{') if !in_variable => self.variable(),
            Some('{') => err(start, "variables cannot be nested"),
            Some('*') => {
                self.pos += 1;
                if self.peek() == Some('*') {
                    self.pos += 1;
                    Ok(Segment::DeepWildcard)
                } else {
                    Ok(Segment::Wildcard)
                }
            }
            _ => {
                let rest = &self.text[self.pos..];
                let len = rest.find(['/', '{', '}', '*', '=']).unwrap_or(rest.len());
                if len == 0 {
                    let what = if rest.is_empty() { "the end".to_owned() } else { format!("`{}`", &rest[..1]) };
                    return err(
                        start,
                        format!("expected a path segment, found {what} (empty segments such as `//` are not allowed)"),
                    );
                }
                self.pos += len;
                Ok(Segment::Literal(rest[..len].to_owned()))
            }
        }
    }

    fn variable(&mut self) -> Result<Segment, TemplateError> {
        let open = self.pos;
        self.pos += 1;
        let rest = &self.text[self.pos..];
        let len = rest.find(['=', '}']).unwrap_or(rest.len());
        let path = &rest[..len];
        let field_path: Vec<String> = path.split('.').map(str::to_owned).collect();
        if field_path.iter().any(|p| !is_ident(p)) {
            return err(
                self.pos,
                format!("`{path}` is not a field path; write `{{field}}` or `{{field.subfield=pattern}}`"),
            );
        }
        self.pos += len;
        let pattern = if self.peek() == Some('=') {
            self.pos += 1;
            self.segments(true)?
        } else {
            vec![Segment::Wildcard]
        };
        if self.peek() != Some('}') {
            return err(open, "this `{` is never closed");
        }
        self.pos += 1;
        Ok(Segment::Variable(Variable { field_path, pattern }))
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The template with variables replaced by their patterns: two bindings with
/// the same key and verb match the same requests.
pub fn match_key(t: &PathTemplate) -> String {
    fn seg(s: &Segment, out: &mut String) {
        match s {
            Segment::Literal(l) => out.push_str(l),
            Segment::Wildcard => out.push('*'),
            Segment::DeepWildcard => out.push_str("**"),
            Segment::Variable(v) => {
                for (i, p) in v.pattern.iter().enumerate() {
                    if i > 0 {
                        out.push('/');
                    }
                    seg(p, out);
                }
            }
        }
    }
    let mut out = String::new();
    for s in &t.segments {
        out.push('/');
        seg(s, &mut out);
    }
    if let Some(verb) = &t.verb {
        out.push(':');
        out.push_str(verb);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(path: &[&str], pattern: Vec<Segment>) -> Segment {
        Segment::Variable(Variable { field_path: path.iter().map(|s| s.to_string()).collect(), pattern })
    }

    #[test]
    fn parses_resource_templates() {
        let t = parse("/v1/{name=shelves/*/books/*}:move").unwrap();
        assert_eq!(t.verb.as_deref(), Some("move"));
        assert_eq!(
            t.segments,
            vec![
                Segment::Literal("v1".into()),
                var(
                    &["name"],
                    vec![
                        Segment::Literal("shelves".into()),
                        Segment::Wildcard,
                        Segment::Literal("books".into()),
                        Segment::Wildcard
                    ]
                ),
            ]
        );
    }

    #[test]
    fn parses_nested_fields_deep_wildcards_and_verbs() {
        let t = parse("/v1/{book.name=operations/**}").unwrap();
        assert_eq!(
            t.segments[1],
            var(&["book", "name"], vec![Segment::Literal("operations".into()), Segment::DeepWildcard])
        );
        assert_eq!(parse("/v1/books:search").unwrap().verb.as_deref(), Some("search"));
        assert_eq!(parse("/v1/{uuid}:custom:custom").unwrap().verb.as_deref(), Some("custom:custom"));
        assert_eq!(parse("/v1/{id}").unwrap().segments[1], var(&["id"], vec![Segment::Wildcard]));
    }

    #[test]
    fn rejects_malformed_templates() {
        assert!(parse("v1/x").unwrap_err().message.contains("must start with `/`"));
        assert!(parse("/v1/{name").unwrap_err().message.contains("never closed"));
        assert!(parse("/v1//x").unwrap_err().message.contains("empty segments"));
        assert!(parse("/v1/{a-b}").unwrap_err().message.contains("not a field path"));
        assert!(parse("/v1/**/x").unwrap_err().message.contains("last segment"));
        assert!(parse("/v1/{a={b}}").unwrap_err().message.contains("nested"));
        assert!(parse("/v1/x:").unwrap_err().message.contains("custom verb"));
    }

    #[test]
    fn match_keys_ignore_variable_names() {
        let a = parse("/v1/{name=shelves/*}").unwrap();
        let b = parse("/v1/{parent=shelves/*}").unwrap();
        assert_eq!(match_key(&a), match_key(&b));
    }
}
