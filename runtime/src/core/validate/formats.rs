//! The well-known string formats, as protovalidate's `isEmail`,
//! `isHostname`, `isIp`, `isIpPrefix`, `isUri`, `isUriRef` and
//! `isHostAndPort` define them (no regex, no allocation).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::WellKnownString;

/// Whether a non-empty `value` is in `format`.
pub(crate) fn check(format: WellKnownString, value: &str) -> bool {
    use WellKnownString::*;
    match format {
        Email => email(value),
        Hostname => hostname(value),
        Ip => ip(value, 0),
        Ipv4 => ip(value, 4),
        Ipv6 => ip(value, 6),
        Uri => uri(value, false),
        UriRef => uri(value, true),
        Address => hostname(value) || ip(value, 0),
        Uuid => uuid(value),
        Tuuid => value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        HostAndPort => host_and_port(value),
        IpWithPrefixlen => ip_prefix(value, 0, false),
        Ipv4WithPrefixlen => ip_prefix(value, 4, false),
        Ipv6WithPrefixlen => ip_prefix(value, 6, false),
        IpPrefix => ip_prefix(value, 0, true),
        Ipv4Prefix => ip_prefix(value, 4, true),
        Ipv6Prefix => ip_prefix(value, 6, true),
        Ulid => ulid(value),
        ProtobufFqn => fqn(value),
        ProtobufDotFqn => value.strip_prefix('.').is_some_and(fqn),
    }
}

/// The WHATWG (HTML) form of an email address.
pub(crate) fn email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else { return false };
    let local_ok =
        !local.is_empty() && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
    local_ok
        && domain.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// RFC 1034 labels of letters, digits and hyphens, at most 253 characters,
/// an optional final dot, and a last label that is not all digits.
pub(crate) fn hostname(value: &str) -> bool {
    if value.len() > 253 {
        return false;
    }
    let name = value.strip_suffix('.').unwrap_or(value);
    let mut all_digits = false;
    for label in name.split('.') {
        let b = label.as_bytes();
        if b.is_empty() || b.len() > 63 || b[0] == b'-' || b[b.len() - 1] == b'-' {
            return false;
        }
        if !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
            return false;
        }
        all_digits = b.iter().all(u8::is_ascii_digit);
    }
    !all_digits
}

/// An IPv4 address in dotted decimal, without leading zeros.
fn ipv4(value: &str) -> bool {
    value.parse::<Ipv4Addr>().is_ok()
}

/// An IPv6 address, optionally with a zone (`fe80::1%eth0`).
fn ipv6(value: &str) -> bool {
    let (addr, zone) = match value.split_once('%') {
        Some((addr, zone)) => (addr, Some(zone)),
        None => (value, None),
    };
    zone.is_none_or(|z| !z.is_empty() && !z.contains('\0')) && addr.parse::<Ipv6Addr>().is_ok()
}

/// `version` 0 accepts both.
pub(crate) fn ip(value: &str, version: u8) -> bool {
    match version {
        4 => ipv4(value),
        6 => ipv6(value),
        _ => ipv4(value) || ipv6(value),
    }
}

/// `address/length`; `strict` also wants the host bits zero.
pub(crate) fn ip_prefix(value: &str, version: u8, strict: bool) -> bool {
    let Some((addr, len)) = value.split_once('/') else { return false };
    if len.is_empty()
        || len.len() > 3
        || !len.bytes().all(|b| b.is_ascii_digit())
        || (len.len() > 1 && len.starts_with('0'))
    {
        return false;
    }
    let Ok(len) = len.parse::<u32>() else { return false };
    if version != 6
        && let Ok(a) = addr.parse::<Ipv4Addr>()
    {
        return len <= 32 && (!strict || u32::from(a).checked_shl(len).unwrap_or(0) == 0);
    }
    if version != 4
        && let Ok(a) = addr.parse::<Ipv6Addr>()
    {
        return len <= 128 && (!strict || u128::from(a).checked_shl(len).unwrap_or(0) == 0);
    }
    false
}

fn uuid(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// Crockford base32, the first character at most 7 (128 bits).
fn ulid(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 26
        && (b'0'..=b'7').contains(&b[0])
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() && !matches!(c.to_ascii_uppercase(), b'I' | b'L' | b'O' | b'U'))
}

fn fqn(value: &str) -> bool {
    value.split('.').all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && !b[0].is_ascii_digit() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
    })
}

/// `host:port`, the host a hostname, an IPv4 address or a bracketed IPv6
/// address, the port a decimal 0 to 65535 without leading zeros.
pub(crate) fn host_and_port(value: &str) -> bool {
    let Some(split) = value.rfind(':') else { return false };
    let (host, port) = (&value[..split], &value[split + 1..]);
    let leading_zero = port.len() > 1 && port.starts_with('0');
    let port_ok = !port.is_empty()
        && !leading_zero
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| p <= 65_535);
    if let Some(inner) = host.strip_prefix('[') {
        return port_ok && inner.strip_suffix(']').is_some_and(ipv6);
    }
    port_ok && (hostname(host) || ipv4(host))
}

/// A host without a port: a hostname, an IPv4 address or a bracketed IPv6
/// address (`isHostAndPort(false)`).
pub(crate) fn host_or_ip(value: &str) -> bool {
    match value.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').is_some_and(ipv6),
        None => hostname(value) || ipv4(value),
    }
}

// RFC 3986.

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn sub_delim(b: u8) -> bool {
    matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

/// Whether `s` is made of `%XX` escapes and bytes `allowed` accepts; the
/// escapes must decode to UTF-8 when `utf8` is set.
fn chars(s: &str, allowed: impl Fn(u8) -> bool, utf8: bool) -> bool {
    let b = s.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3);
            let Some(hex) = hex.filter(|h| h.iter().all(u8::is_ascii_hexdigit)) else { return false };
            if utf8 {
                let text = std::str::from_utf8(hex).unwrap_or("00");
                decoded.push(u8::from_str_radix(text, 16).unwrap_or(0));
            }
            i += 3;
        } else if allowed(b[i]) {
            if utf8 {
                decoded.push(b[i]);
            }
            i += 1;
        } else {
            return false;
        }
    }
    !utf8 || std::str::from_utf8(&decoded).is_ok()
}

fn pchar(b: u8) -> bool {
    unreserved(b) || sub_delim(b) || b == b':' || b == b'@'
}

fn path(s: &str) -> bool {
    chars(s, |b| pchar(b) || b == b'/', false)
}

fn authority(s: &str) -> bool {
    let (userinfo, hostport) = match s.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, s),
    };
    if let Some(u) = userinfo
        && !chars(u, |b| unreserved(b) || sub_delim(b) || b == b':', false)
    {
        return false;
    }
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let Some(end) = rest.find(']') else { return false };
        let literal = &rest[..end];
        let after = &rest[end + 1..];
        if !ip_literal(literal) {
            return false;
        }
        match after.strip_prefix(':') {
            Some(port) => ("", Some(port)),
            None if after.is_empty() => ("", None),
            None => return false,
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit())) && chars(host, |b| unreserved(b) || sub_delim(b), true)
}

/// `IPv6address`, `IPv6address "%25" ZoneID` or `IPvFuture`.
fn ip_literal(s: &str) -> bool {
    if let Some(future) = s.strip_prefix(['v', 'V']) {
        let Some((version, rest)) = future.split_once('.') else { return false };
        return !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_hexdigit())
            && !rest.is_empty()
            && rest.bytes().all(|b| unreserved(b) || sub_delim(b) || b == b':');
    }
    match s.split_once("%25") {
        Some((addr, zone)) => addr.parse::<Ipv6Addr>().is_ok() && !zone.is_empty() && chars(zone, unreserved, false),
        None => s.parse::<Ipv6Addr>().is_ok(),
    }
}

fn scheme(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// A URI, or with `reference` a URI reference (relative ones too).
pub(crate) fn uri(value: &str, reference: bool) -> bool {
    let (rest, fragment) = match value.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (value, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let tail = |s: &str| chars(s, |b| pchar(b) || b == b'/' || b == b'?', false);
    if !fragment.is_none_or(tail) || !query.is_none_or(tail) {
        return false;
    }
    // A scheme is what comes before the first ':' if no '/' comes first.
    let colon = rest.find(':').filter(|c| !rest[..*c].contains('/'));
    let hier = match colon {
        Some(c) if scheme(&rest[..c]) => &rest[c + 1..],
        // Neither a scheme nor a relative path's first segment.
        Some(_) => return false,
        None if reference => rest,
        None => return false,
    };
    match hier.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            authority(&after[..end]) && path(&after[end..])
        }
        None => path(hier),
    }
}
