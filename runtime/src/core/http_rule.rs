//! `google.api.http` bindings as data: the generator parses each rule once
//! and emits it as a static [`HttpRule`]; the REST and SSE adapters match
//! request paths against it and the REST client renders paths from it.

/// One `google.api.http` binding, parsed by apigen at generation time.
#[derive(Debug, Clone, Copy)]
pub struct HttpRule {
    /// `GET`, `POST`, … or a custom verb such as `HEAD`.
    pub method: &'static str,
    /// The template as written, `/v1/{name=shelves/*}`.
    pub template: &'static str,
    pub segments: &'static [Segment],
    /// The custom verb after `:`, `move` in `/v1/{name=…}:move`.
    pub verb: Option<&'static str>,
    /// `""` (no body), `"*"` (the whole request) or a field path.
    pub body: &'static str,
    /// `""` (the whole response) or the field path sent as the body.
    pub response_body: &'static str,
    /// The HTTP status of a success.
    pub status: u16,
}

/// A segment of a path template.
#[derive(Debug, Clone, Copy)]
pub enum Segment {
    Literal(&'static str),
    /// `*`: one segment.
    Any,
    /// `**`: the rest of the path.
    Rest,
    /// `{field.path=pattern}`; the pattern has no variables.
    Var {
        /// The field path, in JSON names.
        field: &'static str,
        pattern: &'static [Segment],
        /// The text of the field's default value (`0`, `false`, the zero
        /// enum value), which the JSON mapping leaves out; empty for strings.
        default: &'static str,
    },
}

/// How many path segments a template can match: at least the first, at
/// most the second (`None`: any number, after a `**`).
pub(crate) fn lengths(rule: &HttpRule) -> (usize, Option<usize>) {
    let mut count = 0;
    let mut open = false;
    for s in rule.segments {
        let pattern = match s {
            Segment::Var { pattern, .. } => pattern,
            other => std::slice::from_ref(other),
        };
        for p in pattern.iter() {
            match p {
                Segment::Rest => open = true,
                _ => count += 1,
            }
        }
    }
    // `**` matches one segment or more.
    if open { (count + 1, None) } else { (count, Some(count)) }
}

/// How specific a template is: more literal segments win, `**` loses.
pub(crate) fn specificity(rule: &HttpRule) -> (usize, usize) {
    fn count(segments: &[Segment], literals: &mut usize, deep: &mut usize) {
        for s in segments {
            match s {
                Segment::Literal(_) => *literals += 1,
                Segment::Rest => *deep += 1,
                Segment::Any => {}
                Segment::Var { pattern, .. } => count(pattern, literals, deep),
            }
        }
    }
    let (mut literals, mut deep) = (0, 0);
    count(rule.segments, &mut literals, &mut deep);
    (literals + usize::from(rule.verb.is_some()), usize::MAX - deep)
}

/// Matches `path` against a rule; the variables' raw values on success.
pub(crate) fn match_path(rule: &HttpRule, path: &str) -> Option<Vec<(&'static str, String)>> {
    let path = match rule.verb {
        Some(verb) => path.strip_suffix(verb)?.strip_suffix(':')?,
        None => path,
    };
    match_split(rule, &Split::new(path)?)
}

/// A path's segments after its leading `/`, found once for every rule
/// tried: byte ranges into the path, on the stack for any usual depth.
pub(crate) struct Split<'a> {
    path: &'a str,
    bounds: smallvec::SmallVec<[(usize, usize); 12]>,
}

impl<'a> Split<'a> {
    /// `None` without a leading `/`.
    pub(crate) fn new(path: &'a str) -> Option<Split<'a>> {
        if !path.starts_with('/') {
            return None;
        }
        let mut bounds = smallvec::SmallVec::new();
        let mut start = 1;
        for (i, byte) in path.bytes().enumerate().skip(1) {
            if byte == b'/' {
                bounds.push((start, i));
                start = i + 1;
            }
        }
        bounds.push((start, path.len()));
        Some(Split { path, bounds })
    }

    pub(crate) fn len(&self) -> usize {
        self.bounds.len()
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        self.bounds.get(i).map(|&(start, end)| &self.path[start..end])
    }

    /// Segments `from..to` as they are written in the path, `/` between them.
    fn span(&self, from: usize, to: usize) -> &'a str {
        &self.path[self.bounds[from].0..self.bounds[to - 1].1]
    }
}

/// [`match_path`] for a rule without a verb, on a path already split: one
/// split serves every rule tried, and only a rule that fits decodes its
/// variables.
pub(crate) fn match_split(rule: &HttpRule, segments: &Split<'_>) -> Option<Vec<(&'static str, String)>> {
    if !fits(rule, segments) {
        return None;
    }
    let mut vars = Vec::new();
    let mut i = 0;
    for (n, seg) in rule.segments.iter().enumerate() {
        let last = n + 1 == rule.segments.len();
        match seg {
            Segment::Var { field, pattern, .. } => {
                let start = i;
                if !match_segments(pattern, segments, &mut i, last) || i == start {
                    return None;
                }
                let multi = pattern.len() > 1 || matches!(pattern.first(), Some(Segment::Rest));
                vars.push((*field, decode(segments.span(start, i), multi)?));
            }
            other => {
                if !match_segments(std::slice::from_ref(other), segments, &mut i, last) {
                    return None;
                }
            }
        }
    }
    (i == segments.len()).then_some(vars)
}

/// Whether the rule's template fits the segments, without reading the variables.
fn fits(rule: &HttpRule, segments: &Split<'_>) -> bool {
    let mut i = 0;
    for (n, seg) in rule.segments.iter().enumerate() {
        let last = n + 1 == rule.segments.len();
        let pattern = match seg {
            Segment::Var { pattern, .. } => pattern,
            other => std::slice::from_ref(other),
        };
        if !match_segments(pattern, segments, &mut i, last) {
            return false;
        }
    }
    i == segments.len()
}

fn match_segments(pattern: &[Segment], segments: &Split<'_>, i: &mut usize, last: bool) -> bool {
    for (n, p) in pattern.iter().enumerate() {
        match p {
            Segment::Literal(l) => {
                if segments.get(*i) != Some(l) {
                    return false;
                }
                *i += 1;
            }
            Segment::Any => {
                if segments.get(*i).is_none_or(str::is_empty) {
                    return false;
                }
                *i += 1;
            }
            Segment::Rest => {
                // `**` takes the rest, and only at the end of the template.
                if !(last && n + 1 == pattern.len()) || *i >= segments.len() {
                    return false;
                }
                *i = segments.len();
            }
            Segment::Var { .. } => return false,
        }
    }
    true
}

/// Percent-decodes a path value. Multi-segment values keep `%2F` encoded, as
/// HttpRule specifies, so a `/` inside one segment stays distinguishable.
fn decode(raw: &str, multi: bool) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_owned());
    }
    let plain = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8().ok().map(|c| c.into_owned());
    if !multi {
        return plain(raw);
    }
    let mut out = String::new();
    let (mut start, mut i) = (0, 0);
    while i < raw.len() {
        if raw.as_bytes()[i] == b'%' && raw.get(i + 1..i + 3).is_some_and(|h| h.eq_ignore_ascii_case("2f")) {
            out.push_str(&plain(&raw[start..i])?);
            out.push_str(&raw[i..i + 3]);
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&plain(&raw[start..])?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    static SHELF_RULE: HttpRule = HttpRule {
        method: "GET",
        template: "/v1/{name=shelves/*}:watch",
        segments: &[
            Segment::Literal("v1"),
            Segment::Var { field: "name", pattern: &[Segment::Literal("shelves"), Segment::Any], default: "" },
        ],
        verb: Some("watch"),
        body: "",
        response_body: "",
        status: 200,
    };

    static DEEP_RULE: HttpRule = HttpRule {
        method: "GET",
        template: "/v1/{name=operations/**}",
        segments: &[
            Segment::Literal("v1"),
            Segment::Var { field: "name", pattern: &[Segment::Literal("operations"), Segment::Rest], default: "" },
        ],
        verb: None,
        body: "",
        response_body: "",
        status: 200,
    };

    static ONE_RULE: HttpRule = HttpRule {
        method: "GET",
        template: "/v1/things/{id}",
        segments: &[
            Segment::Literal("v1"),
            Segment::Literal("things"),
            Segment::Var { field: "id", pattern: &[Segment::Any], default: "" },
        ],
        verb: None,
        body: "",
        response_body: "",
        status: 200,
    };

    #[test]
    fn templates_match_paths_and_capture_variables() {
        assert_eq!(match_path(&SHELF_RULE, "/v1/shelves/7:watch"), Some(vec![("name", "shelves/7".to_owned())]));
        assert_eq!(match_path(&SHELF_RULE, "/v1/shelves/7"), None, "the verb is required");
        assert_eq!(match_path(&SHELF_RULE, "/v1/shelves/7/books/1:watch"), None);
        assert_eq!(match_path(&DEEP_RULE, "/v1/operations/a/b/c"), Some(vec![("name", "operations/a/b/c".to_owned())]));
        assert_eq!(match_path(&DEEP_RULE, "/v1/operations"), None, "** needs at least one segment");
    }

    #[test]
    fn single_segment_values_are_fully_decoded_multi_segment_keep_slashes_encoded() {
        assert_eq!(match_path(&ONE_RULE, "/v1/things/a%2Fb%20c"), Some(vec![("id", "a/b c".to_owned())]));
        assert_eq!(
            match_path(&DEEP_RULE, "/v1/operations/x%2Fy/z%20w"),
            Some(vec![("name", "operations/x%2Fy/z w".to_owned())])
        );
    }

    #[test]
    fn lengths_bound_the_segment_counts_a_template_can_match() {
        assert_eq!(lengths(&ONE_RULE), (3, Some(3)));
        assert_eq!(lengths(&DEEP_RULE), (3, None));
        let split = Split::new("/v1/things//x/").expect("a leading slash");
        let segments: Vec<_> = (0..split.len()).map(|i| split.get(i)).collect();
        assert_eq!(segments, [Some("v1"), Some("things"), Some(""), Some("x"), Some("")]);
        assert_eq!(split.span(1, 4), "things//x");
        assert!(Split::new("v1/things").is_none());
    }

    #[test]
    fn more_literal_templates_are_more_specific() {
        assert!(specificity(&ONE_RULE) > specificity(&DEEP_RULE));
        assert!(specificity(&SHELF_RULE) > specificity(&DEEP_RULE));
    }
}
