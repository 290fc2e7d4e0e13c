//! gzip for the HTTP protocols (Connect's `Content-Encoding` and compressed
//! envelopes), shared by the server and the Connect client.
//!
//! Decompression is always bounded: a small body must never inflate past the
//! message size limit (a zip bomb gets `RESOURCE_EXHAUSTED`, not memory).

use std::io::{Read, Write};

use crate::core::status::Status;

/// The encodings apigen speaks, by their HTTP names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

impl Encoding {
    /// The encoding a `Content-Encoding`-style header names; absent is
    /// identity. Anything else is `UNIMPLEMENTED`, as Connect asks.
    pub fn from_header(value: Option<&http::HeaderValue>) -> Result<Encoding, Status> {
        Encoding::from_name(&value.map(|v| String::from_utf8_lossy(v.as_bytes())).unwrap_or_default())
    }

    /// The encoding called `name` (`gzip`, `identity` or empty), in any case.
    pub fn from_name(name: &str) -> Result<Encoding, Status> {
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" => Ok(Encoding::Gzip),
            _ => Err(Status::unimplemented(format!("unsupported compression `{name}`: only gzip and identity are"))),
        }
    }

    /// Undoes this encoding, allowing at most `limit` bytes of output.
    pub fn decode(self, data: bytes::Bytes, limit: usize) -> Result<bytes::Bytes, Status> {
        match self {
            Encoding::Identity => Ok(data),
            Encoding::Gzip => gunzip(&data, limit).map(bytes::Bytes::from),
        }
    }
}

/// Whether an `Accept-Encoding`-style header (every line of it) lists gzip
/// (or `*`) without `q=0`.
pub fn accepts_gzip(headers: &http::HeaderMap, name: impl http::header::AsHeaderName) -> bool {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let refused = parts.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()).is_some_and(|q| q <= 0.0));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// gzip-compresses `data` (the fast level: these are messages on their way
/// out, where latency matters more than the last few percent).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>, Status> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .map_err(|e| Status::internal(format!("cannot gzip a message: {e}")))
}

/// Decompresses gzip data, failing with `RESOURCE_EXHAUSTED` (HTTP 413) as soon
/// as the output would exceed `limit` bytes, and `INVALID_ARGUMENT` for data
/// that is not gzip.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, Status> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(data)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| Status::invalid_argument(format!("the gzip data is invalid: {e}")))?;
    if out.len() > limit {
        return Err(Status::resource_exhausted(format!("the message is larger than {limit} bytes when decompressed"))
            .with_http_status(413));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::status::Code;

    #[test]
    fn gzip_round_trips_within_the_limit() {
        let data = b"hello hello hello hello".repeat(10);
        let packed = gzip(&data).unwrap();
        assert_eq!(gunzip(&packed, data.len()).unwrap(), data);
        assert_eq!(gunzip(&[], 10).unwrap(), b"");
    }

    #[test]
    fn output_over_the_limit_is_resource_exhausted() {
        let packed = gzip(&vec![0u8; 1 << 20]).unwrap();
        let err = gunzip(&packed, 1000).unwrap_err();
        assert_eq!((err.code(), err.http_status()), (Code::ResourceExhausted, 413));
        assert_eq!(gunzip(b"not gzip", 1000).unwrap_err().code(), Code::InvalidArgument);
    }

    #[test]
    fn accept_lists_are_read_with_their_weights() {
        let headers = |v: &'static str| {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::ACCEPT_ENCODING, http::HeaderValue::from_static(v));
            h
        };
        assert!(accepts_gzip(&headers("br, GZIP;q=0.5"), http::header::ACCEPT_ENCODING));
        assert!(!accepts_gzip(&headers("gzip;q=0, br"), http::header::ACCEPT_ENCODING));
        assert!(!accepts_gzip(&headers("identity"), http::header::ACCEPT_ENCODING));
        assert!(!accepts_gzip(&http::HeaderMap::new(), http::header::ACCEPT_ENCODING));
    }

    #[test]
    fn encodings_are_named_by_headers() {
        assert_eq!(Encoding::from_header(None).unwrap(), Encoding::Identity);
        assert_eq!(Encoding::from_header(Some(&http::HeaderValue::from_static(" GZip "))).unwrap(), Encoding::Gzip);
        let err = Encoding::from_header(Some(&http::HeaderValue::from_static("br"))).unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
    }
}
