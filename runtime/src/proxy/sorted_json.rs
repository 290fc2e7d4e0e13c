//! JSON with every object's keys in sorted order, written in one pass.
//!
//! A dynamic message keeps a map field's entries in hash order, so its JSON
//! would differ from call to call for the same bytes (and so would the
//! `ETag`). Sorting through a `serde_json::Value` costs a tree of
//! allocations per response; here the serializer writes as usual and each
//! object's entries are put in order when the object ends, by moving bytes
//! within the one output buffer.

use std::cell::RefCell;
use std::io;
use std::ops::Range;

/// Appends to `out` what `serialize` writes with the serializer it is given:
/// compact JSON with sorted object keys.
pub(super) fn write(
    out: &mut Vec<u8>,
    serialize: impl FnOnce(&mut serde_json::Serializer<Writer<'_>, Sorting<'_>>) -> serde_json::Result<()>,
) -> serde_json::Result<()> {
    let buffer = RefCell::new(std::mem::take(out));
    let result = {
        let mut serializer =
            serde_json::Serializer::with_formatter(Writer(&buffer), Sorting { buffer: &buffer, open: Vec::new() });
        serialize(&mut serializer)
    };
    *out = buffer.into_inner();
    result
}

/// Appends to the shared buffer, which [`Sorting`] rearranges.
pub(super) struct Writer<'a>(&'a RefCell<Vec<u8>>);

impl io::Write for Writer<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The compact format, except that an object's entries are written without
/// commas, their places noted, and sorted (commas put in) when it ends.
pub(super) struct Sorting<'a> {
    buffer: &'a RefCell<Vec<u8>>,
    /// The objects being written, innermost last.
    open: Vec<Object>,
}

struct Object {
    /// Where its first entry starts, just after `{`.
    start: usize,
    /// Each entry's key (its quoted text) and the whole entry.
    entries: Vec<(Range<usize>, Range<usize>)>,
}

impl Sorting<'_> {
    fn len(&self) -> usize {
        self.buffer.borrow().len()
    }
}

impl serde_json::ser::Formatter for Sorting<'_> {
    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b"{")?;
        self.open.push(Object { start: self.len(), entries: Vec::new() });
        Ok(())
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, _: &mut W, _first: bool) -> io::Result<()> {
        let at = self.len();
        if let Some(object) = self.open.last_mut() {
            object.entries.push((at..at, at..at));
        }
        Ok(())
    }

    fn end_object_key<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        let at = self.len();
        if let Some((key, _)) = self.open.last_mut().and_then(|o| o.entries.last_mut()) {
            key.end = at;
        }
        Ok(())
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b":")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        let at = self.len();
        if let Some((_, entry)) = self.open.last_mut().and_then(|o| o.entries.last_mut()) {
            entry.end = at;
        }
        Ok(())
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        let Some(mut object) = self.open.pop() else { return writer.write_all(b"}") };
        {
            let mut buffer = self.buffer.borrow_mut();
            let written = buffer.split_off(object.start);
            // By the key's text inside its quotes (as escaped), so that `a` comes before `a b`.
            let key = |range: &Range<usize>| {
                let quoted = &written[range.start - object.start..range.end - object.start];
                quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or(quoted)
            };
            object.entries.sort_unstable_by(|(a, _), (b, _)| key(a).cmp(key(b)));
            for (i, (_, entry)) in object.entries.iter().enumerate() {
                if i > 0 {
                    buffer.push(b',');
                }
                buffer.extend_from_slice(&written[entry.start - object.start..entry.end - object.start]);
            }
        }
        writer.write_all(b"}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Unsorted {
        zeta: serde_json::Value,
        b: &'static str,
        #[serde(rename = "a b")]
        a_b: bool,
        a: u32,
        #[serde(rename = "")]
        empty: f64,
    }

    #[test]
    fn every_objects_keys_come_out_sorted_at_any_depth() {
        let value = Unsorted {
            zeta: serde_json::json!([{"b": 1, "a": {"y": null, "x": "}"}}, 2, {}]),
            b: "a,b",
            a_b: true,
            a: 7,
            empty: 1.5,
        };
        let mut out = b"prefix:".to_vec();
        write(&mut out, |s| serde::Serialize::serialize(&value, s)).expect("serializes");
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(text, r#"prefix:{"":1.5,"a":7,"a b":true,"b":"a,b","zeta":[{"a":{"x":"}","y":null},"b":1},2,{}]}"#);
    }

    #[test]
    fn a_map_in_hash_order_gives_the_same_bytes_every_time() {
        let mut texts = std::collections::BTreeSet::new();
        for _ in 0..20 {
            // Each std HashMap has its own random order.
            let map: std::collections::HashMap<String, u32> = (0..30).map(|i| (format!("k{i}"), i)).collect();
            let mut out = Vec::new();
            write(&mut out, |s| serde::Serialize::serialize(&map, s)).expect("serializes");
            texts.insert(out);
        }
        assert_eq!(texts.len(), 1, "one text for one map");
    }
}
