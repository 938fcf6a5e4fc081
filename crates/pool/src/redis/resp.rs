//! RESP2 frames: a pure encoder and an incremental parser (no I/O).

/// A RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `$-1` or `*-1`.
    Nil,
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`: a server error reply (the connection stays in sync).
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$3\r\nfoo`.
    Bulk(Vec<u8>),
    /// `*2\r\n...`.
    Array(Vec<Self>),
}

/// A reply the parser cannot make sense of: the connection is out of sync and must be closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("RESP protocol error: {0}")]
pub struct ProtocolError(pub String);

/// Appends `args` to `out` as a RESP2 array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Most nested arrays accepted in a reply.
const MAX_DEPTH: usize = 32;

/// Parses one reply from the front of `buf`: `Ok(None)` if it is incomplete, else the value
/// and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    parse_at(buf, 0, 0)
}

fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(at..)?;
    let pos = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..pos], at + pos + 2))
}

fn int(bytes: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ProtocolError(format!("bad integer {:?}", String::from_utf8_lossy(bytes))))
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Value, usize)>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError("reply nested too deeply".into()));
    }
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let Some((body, next)) = line(buf, at + 1) else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(body).into_owned();
    Ok(Some(match kind {
        b'+' => (Value::Simple(text()), next),
        b'-' => (Value::Error(text()), next),
        b':' => (Value::Int(int(body)?), next),
        b'$' => {
            let len = int(body)?;
            if len < 0 {
                return Ok(Some((Value::Nil, next)));
            }
            let len = usize::try_from(len).map_err(|_| ProtocolError("bulk too long".into()))?;
            let end = next + len;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string not terminated by CRLF".into()));
            }
            (Value::Bulk(buf[next..end].to_vec()), end + 2)
        }
        b'*' => {
            let n = int(body)?;
            if n < 0 {
                return Ok(Some((Value::Nil, next)));
            }
            let n = usize::try_from(n).map_err(|_| ProtocolError("array too long".into()))?;
            let mut items = Vec::with_capacity(n.min(1024));
            let mut pos = next;
            for _ in 0..n {
                let Some((v, p)) = parse_at(buf, pos, depth + 1)? else {
                    return Ok(None);
                };
                items.push(v);
                pos = p;
            }
            (Value::Array(items), pos)
        }
        other => {
            return Err(ProtocolError(format!("unexpected type byte {other:#04x}")));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_command_as_an_array_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&mut out, &["SET", "k", "v"]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }

    #[test]
    fn parses_every_kind_and_reports_consumed_bytes() {
        let buf = b"+PONG\r\n-ERR x\r\n:-3\r\n$3\r\nfoo\r\n$-1\r\n*2\r\n:1\r\n$0\r\n\r\nrest";
        let mut at = 0;
        let mut got = Vec::new();
        while let Some((v, n)) = parse(&buf[at..]).unwrap() {
            got.push(v);
            at += n;
        }
        assert_eq!(
            got,
            vec![
                Value::Simple("PONG".into()),
                Value::Error("ERR x".into()),
                Value::Int(-3),
                Value::Bulk(b"foo".to_vec()),
                Value::Nil,
                Value::Array(vec![Value::Int(1), Value::Bulk(Vec::new())]),
            ]
        );
        assert_eq!(&buf[at..], b"rest");
    }

    #[test]
    fn incomplete_frames_wait_for_more_bytes() {
        for partial in [&b"+PON"[..], b"$3\r\nfo", b"*2\r\n:1\r\n", b""] {
            assert_eq!(parse(partial).unwrap(), None, "{partial:?}");
        }
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":abc\r\n").is_err());
        assert!(parse(b"$3\r\nfooXY").is_err());
    }
}
