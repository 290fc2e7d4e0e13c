//! Query strings (`application/x-www-form-urlencoded`), read as
//! `form_urlencoded::parse` reads them: pairs split at `&`, empty pairs
//! skipped, key and value split at the first `=`, `+` as a space, `%XX` as
//! that byte, bytes that are not UTF-8 replaced. A pair without `%` or `+`
//! is borrowed as it is, and one that has them is decoded in one pass: a
//! tRPC `?input=` is a whole percent-encoded JSON request, on every query.

use std::borrow::Cow;

/// The query's pairs, decoded.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key), decode(value))
    })
}

/// One key or value, decoded.
pub(crate) fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(text) => Cow::Owned(text),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every query below, read as `form_urlencoded` reads it.
    #[test]
    fn reads_queries_as_form_urlencoded_does() {
        let queries = [
            "",
            "a=1&b=2",
            "&&a=1&&",
            "a",
            "a=",
            "=b",
            "a=1=2",
            "input=%7B%22name%22%3A%22shelves%2F1%2Fbooks%2F1%22%7D",
            "q=a+b%2Bc",
            "bad=%zz%4&end=%",
            "trail=%4",
            "trail2=%",
            "utf8=%C3%A9t%C3%A9",
            "notutf8=%FF%FEx",
            "half=%C3",
            "k%3Dx=v%26y",
            "plain=caf\u{e9}",
        ];
        for query in queries {
            let ours: Vec<(String, String)> = pairs(query).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let theirs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            assert_eq!(ours, theirs, "{query}");
        }
    }
}
