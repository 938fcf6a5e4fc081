//! A small RESP2/RESP3 reply framer and parser for the tests.
//!
//! The harness reads replies off a socket and must know when N whole replies have arrived, so
//! [`frame_len`] tells how many bytes the first complete reply takes (or that more bytes are
//! needed). [`parse`] turns one reply into a [`Value`] tree for the comparisons that cannot be
//! byte for byte (shape, INFO field names, CLIENT LIST keys).

use std::fmt;

/// One parsed RESP reply. Strings keep their raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `+...` simple string.
    Simple(Vec<u8>),
    /// `-...` simple error.
    Error(Vec<u8>),
    /// `:...` integer.
    Integer(i64),
    /// `$...` bulk string; `None` for the RESP2 null bulk `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*...` array; `None` for the RESP2 null array `*-1`.
    Array(Option<Vec<Self>>),
    /// `_` RESP3 null.
    Null,
    /// `,` RESP3 double, kept as text.
    Double(Vec<u8>),
    /// `#t` / `#f` RESP3 boolean.
    Boolean(bool),
    /// `!` RESP3 blob error.
    BlobError(Vec<u8>),
    /// `=` RESP3 verbatim string: format (e.g. `txt`) and body.
    Verbatim(Vec<u8>, Vec<u8>),
    /// `(` RESP3 big number, kept as text.
    BigNumber(Vec<u8>),
    /// `%` RESP3 map, pairs in wire order.
    Map(Vec<(Self, Self)>),
    /// `~` RESP3 set.
    Set(Vec<Self>),
    /// `>` RESP3 push.
    Push(Vec<Self>),
    /// `|` RESP3 attribute map followed by the value it annotates.
    Attribute(Vec<(Self, Self)>, Box<Self>),
}

/// The bytes at the head of the buffer are not a valid RESP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad RESP reply: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

/// Length in bytes of the first complete reply in `buf`, `Ok(None)` if more bytes are needed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    match parse_at(buf, 0)? {
        Some((_, end)) => Ok(Some(end)),
        None => Ok(None),
    }
}

/// Parses exactly one complete reply (trailing bytes are an error).
pub fn parse(buf: &[u8]) -> Result<Value, FrameError> {
    match parse_at(buf, 0)? {
        Some((v, end)) if end == buf.len() => Ok(v),
        Some((_, end)) => Err(FrameError(format!("{} trailing bytes", buf.len() - end))),
        None => Err(FrameError("incomplete reply".into())),
    }
}

/// Finds the CRLF-terminated line starting at `pos`; returns (line, index after CRLF).
fn line(buf: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let rest = &buf[pos..];
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok(Some((&rest[..i], pos + i + 2))),
        None => {
            if rest.len() > 1 << 20 {
                return Err(FrameError("line longer than 1 MiB".into()));
            }
            Ok(None)
        }
    }
}

fn int(bytes: &[u8]) -> Result<i64, FrameError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| FrameError(format!("bad integer {:?}", String::from_utf8_lossy(bytes))))
}

type Parsed = Option<(Value, usize)>;

fn parse_at(buf: &[u8], pos: usize) -> Result<Parsed, FrameError> {
    if pos >= buf.len() {
        return Ok(None);
    }
    let kind = buf[pos];
    let Some((head, after)) = line(buf, pos + 1)? else {
        return Ok(None);
    };
    let value = match kind {
        b'+' => Value::Simple(head.to_vec()),
        b'-' => Value::Error(head.to_vec()),
        b':' => Value::Integer(int(head)?),
        b',' => Value::Double(head.to_vec()),
        b'(' => Value::BigNumber(head.to_vec()),
        b'_' => Value::Null,
        b'#' => match head {
            b"t" => Value::Boolean(true),
            b"f" => Value::Boolean(false),
            _ => return Err(FrameError("bad boolean".into())),
        },
        b'$' | b'!' | b'=' => {
            let n = int(head)?;
            if n < 0 {
                if kind != b'$' {
                    return Err(FrameError("negative blob length".into()));
                }
                return Ok(Some((Value::Bulk(None), after)));
            }
            let n = usize::try_from(n).map_err(|e| FrameError(e.to_string()))?;
            if buf.len() < after + n + 2 {
                return Ok(None);
            }
            if &buf[after + n..after + n + 2] != b"\r\n" {
                return Err(FrameError("blob not followed by CRLF".into()));
            }
            let body = buf[after..after + n].to_vec();
            let end = after + n + 2;
            let v = match kind {
                b'$' => Value::Bulk(Some(body)),
                b'!' => Value::BlobError(body),
                _ => {
                    if body.len() < 4 || body[3] != b':' {
                        return Err(FrameError("verbatim string without format".into()));
                    }
                    Value::Verbatim(body[..3].to_vec(), body[4..].to_vec())
                }
            };
            return Ok(Some((v, end)));
        }
        b'*' | b'~' | b'>' => {
            let n = int(head)?;
            if n < 0 {
                if kind != b'*' {
                    return Err(FrameError("negative aggregate length".into()));
                }
                return Ok(Some((Value::Array(None), after)));
            }
            let mut items = Vec::new();
            let mut at = after;
            for _ in 0..n {
                let Some((v, next)) = parse_at(buf, at)? else {
                    return Ok(None);
                };
                items.push(v);
                at = next;
            }
            let v = match kind {
                b'*' => Value::Array(Some(items)),
                b'~' => Value::Set(items),
                _ => Value::Push(items),
            };
            return Ok(Some((v, at)));
        }
        b'%' | b'|' => {
            let n = int(head)?;
            if n < 0 {
                return Err(FrameError("negative map length".into()));
            }
            let mut pairs = Vec::new();
            let mut at = after;
            for _ in 0..n {
                let Some((k, next)) = parse_at(buf, at)? else {
                    return Ok(None);
                };
                let Some((v, next)) = parse_at(buf, next)? else {
                    return Ok(None);
                };
                pairs.push((k, v));
                at = next;
            }
            if kind == b'%' {
                return Ok(Some((Value::Map(pairs), at)));
            }
            let Some((inner, end)) = parse_at(buf, at)? else {
                return Ok(None);
            };
            return Ok(Some((Value::Attribute(pairs, Box::new(inner)), end)));
        }
        other => return Err(FrameError(format!("unknown type byte {:?}", other as char))),
    };
    Ok(Some((value, after)))
}

impl Value {
    /// A one-word name of the RESP type, used by shape comparisons.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Simple(_) => "simple",
            Self::Error(_) => "error",
            Self::Integer(_) => "integer",
            Self::Bulk(Some(_)) => "bulk",
            Self::Bulk(None) => "null-bulk",
            Self::Array(Some(_)) => "array",
            Self::Array(None) => "null-array",
            Self::Null => "null",
            Self::Double(_) => "double",
            Self::Boolean(_) => "boolean",
            Self::BlobError(_) => "blob-error",
            Self::Verbatim(..) => "verbatim",
            Self::BigNumber(_) => "bignumber",
            Self::Map(_) => "map",
            Self::Set(_) => "set",
            Self::Push(_) => "push",
            Self::Attribute(..) => "attribute",
        }
    }

    /// The text of a string-like value (simple, bulk, verbatim body), if it is one.
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            Self::Simple(b) | Self::Bulk(Some(b)) | Self::Verbatim(_, b) => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_waits_for_whole_nested_reply() {
        let full = b"*2\r\n$3\r\nfoo\r\n:12\r\n+OK\r\n";
        for cut in 0..18 {
            assert_eq!(frame_len(&full[..cut]), Ok(None), "cut at {cut}");
        }
        // The array ends after `:12\r\n`; `+OK` is the next reply.
        assert_eq!(frame_len(full), Ok(Some(18)));
        assert_eq!(frame_len(&full[18..]), Ok(Some(5)));
    }

    #[test]
    fn parses_resp3_map_and_verbatim() {
        let v = parse(b"%2\r\n+a\r\n=7\r\ntxt:xyz\r\n+b\r\n_\r\n").unwrap();
        assert_eq!(
            v,
            Value::Map(vec![
                (
                    Value::Simple(b"a".to_vec()),
                    Value::Verbatim(b"txt".to_vec(), b"xyz".to_vec())
                ),
                (Value::Simple(b"b".to_vec()), Value::Null),
            ])
        );
    }

    #[test]
    fn null_bulk_and_null_array_are_complete() {
        assert_eq!(frame_len(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"*-1\r\n"), Ok(Some(5)));
    }

    #[test]
    fn garbage_is_an_error_not_incomplete() {
        assert!(frame_len(b"?x\r\n").is_err());
    }
}
