//! RESP: the request parser and the reply encoder.
//!
//! The parser is a transcription of Redis 7.0's `processInputBuffer`, `processMultibulkBuffer`
//! and `processInlineBuffer` (src/networking.c): same limits, same error texts, same resumable
//! state (`multibulklen`, `bulklen`, `qb_pos`), so a command split across reads is picked up
//! where the previous read stopped instead of being rescanned. It does no I/O: bytes go in with
//! [`RequestParser::feed`], commands come out of [`RequestParser::next_command`].
//!
//! The encoder ([`ReplyWriter`]) appends RESP2 or RESP3 replies to a `Vec<u8>`.

use std::ops::Range;

/// Longest inline request, and longest `*<count>` / `$<len>` header, before Redis gives up
/// (`PROTO_INLINE_MAX_SIZE`, 64 KiB).
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;
/// Largest bulk argument (`proto-max-bulk-len` default, 512 MB).
pub const PROTO_MAX_BULK_LEN: i64 = 512 * 1024 * 1024;
/// Largest multibulk count before authentication.
pub const UNAUTH_MAX_MULTIBULK_LEN: i64 = 10;
/// Largest bulk length before authentication.
pub const UNAUTH_MAX_BULK_LEN: i64 = 16384;

/// A protocol error: Redis replies `-ERR Protocol error: <text>` and closes the connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An inline request without a newline within 64 KiB.
    #[error("too big inline request")]
    TooBigInlineRequest,
    /// An inline request whose quotes do not balance.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A `*<count>` header without a CR within 64 KiB.
    #[error("too big mbulk count string")]
    TooBigMbulkCount,
    /// A `$<len>` header without a CR within 64 KiB.
    #[error("too big bulk count string")]
    TooBigBulkCount,
    /// The multibulk count is not an integer or is larger than `INT_MAX`.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// A multibulk element that does not start with `$`.
    #[error("expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// A bulk length that is negative, not an integer or above `proto-max-bulk-len`.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// More than 10 arguments before the client authenticated.
    #[error("unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A bulk longer than 16384 bytes before the client authenticated.
    #[error("unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The full error reply line Redis writes, e.g. `-ERR Protocol error: invalid bulk length\r\n`.
    #[must_use]
    pub fn reply_line(&self) -> String {
        format!("-ERR Protocol error: {self}\r\n")
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
enum ReqType {
    #[default]
    Unknown,
    Inline,
    Multibulk,
}

/// Incremental request parser for one connection.
///
/// Feed bytes as they arrive; call [`next_command`](Self::next_command) until it returns
/// `Ok(None)` (need more bytes) or an error (reply with it and close). The arguments of the
/// last returned command are read with [`args`](Self::args) / [`arg`](Self::arg); they borrow the
/// parser's buffer and stay valid until the next call to `next_command` or `feed`.
///
/// Memory: the buffer holds only unparsed bytes (consumed bytes are dropped on the next
/// `feed`), so it is bounded by 64 KiB plus the bulk being read (at most
/// `proto-max-bulk-len`, or 16 KiB before authentication).
#[derive(Clone, Debug, Default, Hash)]
pub struct RequestParser {
    buf: Vec<u8>,
    /// Start of unparsed data (`qb_pos`).
    pos: usize,
    /// Start of the command being parsed (its finished arguments are ranges after it).
    cmd_start: usize,
    /// Where to resume looking for the line terminator of an incomplete header or inline line.
    scan_from: usize,
    reqtype: ReqType,
    /// Elements still to read in the current multibulk (`multibulklen`).
    multibulklen: i64,
    /// Length of the bulk being read, or -1 when its `$` header is still to read (`bulklen`).
    bulklen: i64,
    /// Argument ranges of the current command, into `buf` or `inline_scratch`.
    args: Vec<Range<usize>>,
    args_inline: bool,
    inline_scratch: Vec<u8>,
}

/// Redis's `string2ll`: strict decimal, optional `-`, no `+`, no leading zeros, no spaces.
#[must_use]
pub fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i128).wrapping_neg() as i64)
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Position of the first `needle` in `hay`, stopping at a NUL byte as C's `strchr` does on
/// Redis's NUL-terminated query buffer.
fn strchr(hay: &[u8], needle: u8) -> Option<usize> {
    for (i, &b) in hay.iter().enumerate() {
        if b == needle {
            return Some(i);
        }
        if b == 0 {
            return None;
        }
    }
    None
}

impl RequestParser {
    /// A parser with an empty buffer.
    #[must_use]
    pub fn new() -> Self {
        Self {
            bulklen: -1,
            ..Self::default()
        }
    }

    /// Append bytes read from the socket. Consumed bytes are dropped first, so the buffer
    /// holds only what is not parsed yet.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// Unparsed bytes held (`qbuf` in CLIENT LIST).
    #[must_use]
    pub fn pending_len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Capacity not in use (`qbuf-free` in CLIENT LIST).
    #[must_use]
    pub fn free_capacity(&self) -> usize {
        self.buf.capacity() - self.buf.len()
    }

    /// Forget everything buffered and any partial command.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.reset_command();
    }

    fn compact(&mut self) {
        let shift = self.cmd_start;
        if shift > 0 {
            self.buf.drain(..shift);
            self.pos -= shift;
            self.scan_from -= shift;
            self.cmd_start = 0;
            if self.reqtype == ReqType::Unknown {
                // The last returned command's arguments are no longer needed (documented:
                // they are valid until the next `feed`).
                self.args.clear();
                self.args_inline = false;
            } else if !self.args_inline {
                for r in &mut self.args {
                    r.start -= shift;
                    r.end -= shift;
                }
            }
        }
        if self.buf.is_empty() && self.buf.capacity() > 64 * 1024 {
            // Give back a large buffer once it drained (Redis shrinks idle query buffers too).
            self.buf = Vec::new();
        }
    }

    fn reset_command(&mut self) {
        self.reqtype = ReqType::Unknown;
        self.multibulklen = 0;
        self.bulklen = -1;
        self.args.clear();
        self.args_inline = false;
        self.scan_from = self.pos;
        self.cmd_start = self.pos;
    }

    /// A parser holding one complete command made of `args` (EXEC replaying a queued
    /// command), ready for [`arg`](Self::arg).
    ///
    /// # Panics
    /// If `args` is empty or an argument exceeds `proto-max-bulk-len` (a bug: they come from
    /// a command this parser accepted).
    #[must_use]
    pub(crate) fn from_args(args: &[Vec<u8>]) -> Self {
        let mut bytes = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            bytes.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            bytes.extend_from_slice(a);
            bytes.extend_from_slice(b"\r\n");
        }
        let mut p = Self::new();
        p.feed(&bytes);
        let parsed = p.next_command(false);
        assert!(
            matches!(parsed, Ok(Some(n)) if n == args.len()),
            "a queued command re-parses: {parsed:?}"
        );
        p
    }

    /// Number of arguments of the last command returned.
    #[must_use]
    pub fn argc(&self) -> usize {
        self.args.len()
    }

    /// Argument `i` of the last command returned.
    ///
    /// # Panics
    /// If `i >= argc()` (a bug in the caller).
    #[must_use]
    pub fn arg(&self, i: usize) -> &[u8] {
        let r = self.args[i].clone();
        if self.args_inline {
            &self.inline_scratch[r]
        } else {
            &self.buf[r]
        }
    }

    /// All arguments of the last command returned.
    pub fn args(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.args.len()).map(|i| self.arg(i))
    }

    /// Parse the next complete command. `Ok(Some(argc))` (argc >= 1): read it with
    /// [`arg`](Self::arg). `Ok(None)`: need more bytes. `Err`: protocol error; the connection
    /// must be answered and closed, the parser is unusable afterwards.
    ///
    /// `auth_required` applies Redis's stricter limits for unauthenticated clients.
    pub fn next_command(&mut self, auth_required: bool) -> Result<Option<usize>, ProtocolError> {
        loop {
            if self.reqtype == ReqType::Unknown {
                // The previous command (if any) is done.
                self.args.clear();
                self.args_inline = false;
                self.cmd_start = self.pos;
                if self.pos >= self.buf.len() {
                    return Ok(None);
                }
                self.reqtype = if self.buf[self.pos] == b'*' {
                    ReqType::Multibulk
                } else {
                    ReqType::Inline
                };
                self.scan_from = self.pos;
            }
            let complete = match self.reqtype {
                ReqType::Inline => self.process_inline()?,
                ReqType::Multibulk => self.process_multibulk(auth_required)?,
                ReqType::Unknown => unreachable!("set above"),
            };
            if !complete {
                return Ok(None);
            }
            // Command complete: keep args, reset framing state for the next one.
            self.reqtype = ReqType::Unknown;
            self.multibulklen = 0;
            self.bulklen = -1;
            self.scan_from = self.pos;
            self.cmd_start = self.pos;
            if !self.args.is_empty() {
                return Ok(Some(self.args.len()));
            }
            // Empty inline line or `*0` / `*-1`: ignored, go on.
        }
    }

    fn process_inline(&mut self) -> Result<bool, ProtocolError> {
        let start = self.pos;
        let Some(off) = strchr(&self.buf[self.scan_from..], b'\n') else {
            if self.buf.len() - start > PROTO_INLINE_MAX_SIZE {
                return Err(ProtocolError::TooBigInlineRequest);
            }
            // Resume after what was scanned (a NUL stops strchr, so rescan from it).
            self.scan_from = match self.buf[self.scan_from..].iter().position(|&b| b == 0) {
                Some(z) => self.scan_from + z,
                None => self.buf.len(),
            };
            return Ok(false);
        };
        let newline = self.scan_from + off;
        let mut line_end = newline;
        let mut linefeed_chars = 1;
        if newline != start && self.buf[newline - 1] == b'\r' {
            line_end -= 1;
            linefeed_chars += 1;
        }
        let querylen = line_end - start;
        self.inline_scratch.clear();
        self.args.clear();
        split_args(
            &self.buf[start..line_end],
            &mut self.inline_scratch,
            &mut self.args,
        )?;
        self.args_inline = true;
        self.pos = start + querylen + linefeed_chars;
        Ok(true)
    }

    fn process_multibulk(&mut self, auth_required: bool) -> Result<bool, ProtocolError> {
        if self.multibulklen == 0 {
            let Some(off) = strchr(&self.buf[self.scan_from..], b'\r') else {
                if self.buf.len() - self.pos > PROTO_INLINE_MAX_SIZE {
                    return Err(ProtocolError::TooBigMbulkCount);
                }
                self.scan_from = self.resume_point();
                return Ok(false);
            };
            let newline = self.scan_from + off;
            // The buffer must also hold the \n.
            if newline + 2 > self.buf.len() {
                self.scan_from = newline;
                return Ok(false);
            }
            let ll = parse_i64_strict(&self.buf[self.pos + 1..newline]);
            let ll = match ll {
                Some(v) if v <= i64::from(i32::MAX) => v,
                _ => return Err(ProtocolError::InvalidMultibulkLength),
            };
            if ll > UNAUTH_MAX_MULTIBULK_LEN && auth_required {
                return Err(ProtocolError::UnauthenticatedMultibulkLength);
            }
            self.pos = newline + 2;
            self.scan_from = self.pos;
            if ll <= 0 {
                return Ok(true);
            }
            self.multibulklen = ll;
            self.args.clear();
            // Cap the preallocation as Redis does (it allocates min(ll, 1024)).
            self.args.reserve((ll as usize).min(1024));
            self.bulklen = -1;
        }
        while self.multibulklen > 0 {
            if self.bulklen == -1 {
                let Some(off) = strchr(&self.buf[self.scan_from..], b'\r') else {
                    if self.buf.len() - self.pos > PROTO_INLINE_MAX_SIZE {
                        return Err(ProtocolError::TooBigBulkCount);
                    }
                    self.scan_from = self.resume_point();
                    return Ok(false);
                };
                let newline = self.scan_from + off;
                if newline + 2 > self.buf.len() {
                    self.scan_from = newline;
                    return Ok(false);
                }
                if self.buf[self.pos] != b'$' {
                    return Err(ProtocolError::ExpectedDollar(self.buf[self.pos]));
                }
                let ll = match parse_i64_strict(&self.buf[self.pos + 1..newline]) {
                    Some(v) if (0..=PROTO_MAX_BULK_LEN).contains(&v) => v,
                    _ => return Err(ProtocolError::InvalidBulkLength),
                };
                if ll > UNAUTH_MAX_BULK_LEN && auth_required {
                    return Err(ProtocolError::UnauthenticatedBulkLength);
                }
                self.pos = newline + 2;
                self.scan_from = self.pos;
                self.bulklen = ll;
                // Reserve for big arguments so the buffer grows once (Redis's big-arg path).
                let need = ll as usize + 2;
                if need > 32 * 1024 && self.buf.capacity() - self.pos < need {
                    self.compact();
                    self.buf.reserve(need);
                }
            }
            let bulk = self.bulklen as usize;
            if self.buf.len() - self.pos < bulk + 2 {
                return Ok(false);
            }
            // Like Redis, the two bytes after the bulk are skipped without checking for CRLF.
            self.args.push(self.pos..self.pos + bulk);
            self.pos += bulk + 2;
            self.scan_from = self.pos;
            self.bulklen = -1;
            self.multibulklen -= 1;
        }
        Ok(true)
    }

    /// Where to resume a CR search: the end of the buffer, or a NUL that stopped `strchr`.
    fn resume_point(&self) -> usize {
        match self.buf[self.scan_from..].iter().position(|&b| b == 0) {
            Some(z) => self.scan_from + z,
            None => self.buf.len(),
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs`: split an inline line on whitespace, honouring `"..."` (with
/// `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a` escapes) and `'...'` (with `\'`). A closing quote must
/// be followed by whitespace or the end of the line.
fn split_args(
    line: &[u8],
    out: &mut Vec<u8>,
    ranges: &mut Vec<Range<usize>>,
) -> Result<(), ProtocolError> {
    let mut p = 0;
    let n = line.len();
    loop {
        while p < n && is_space(line[p]) {
            p += 1;
        }
        if p >= n {
            return Ok(());
        }
        let start = out.len();
        let mut inq = false; // inside "double quotes"
        let mut insq = false; // inside 'single quotes'
        let mut done = false;
        while !done {
            let c = line.get(p).copied();
            if inq {
                match c {
                    None => return Err(ProtocolError::UnbalancedQuotes),
                    Some(b'\\')
                        if p + 3 < n
                            && line[p + 1] == b'x'
                            && hex_val(line[p + 2]).is_some()
                            && hex_val(line[p + 3]).is_some() =>
                    {
                        // both checked just above
                        let v = hex_val(line[p + 2]).unwrap_or(0) * 16
                            + hex_val(line[p + 3]).unwrap_or(0);
                        out.push(v);
                        p += 3;
                    }
                    Some(b'\\') if p + 1 < n => {
                        p += 1;
                        out.push(match line[p] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        // closing quote must be followed by a space or nothing
                        if p + 1 < n && !is_space(line[p + 1]) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        done = true;
                    }
                    Some(ch) => out.push(ch),
                }
            } else if insq {
                match c {
                    None => return Err(ProtocolError::UnbalancedQuotes),
                    Some(b'\\') if p + 1 < n && line[p + 1] == b'\'' => {
                        p += 1;
                        out.push(b'\'');
                    }
                    Some(b'\'') => {
                        if p + 1 < n && !is_space(line[p + 1]) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        done = true;
                    }
                    Some(ch) => out.push(ch),
                }
            } else {
                match c {
                    None => done = true,
                    Some(ch) if is_space(ch) => done = true,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(ch) => out.push(ch),
                }
            }
            if p < n {
                p += 1;
            }
        }
        ranges.push(start..out.len());
    }
}

/// Reply encoder for one protocol version. All methods append to the given buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyWriter {
    /// 2 or 3 (`HELLO 3`).
    pub resp: u8,
}

fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        out.push(b'-');
    }
    out.extend_from_slice(&tmp[i..]);
}

impl ReplyWriter {
    /// `+OK` style status line.
    pub fn simple(self, out: &mut Vec<u8>, s: &[u8]) {
        out.push(b'+');
        out.extend_from_slice(s);
        out.extend_from_slice(b"\r\n");
    }
    /// `+OK`.
    pub fn ok(self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"+OK\r\n");
    }
    /// An error; `msg` is the full text after `-` (e.g. `ERR syntax error`). CR/LF in it are
    /// replaced by spaces, as Redis does.
    pub fn error(self, out: &mut Vec<u8>, msg: &str) {
        self.error_bytes(out, msg.as_bytes());
    }
    /// [`error`](Self::error) for a message that may not be UTF-8 (it quotes client bytes).
    pub fn error_bytes(self, out: &mut Vec<u8>, msg: &[u8]) {
        out.push(b'-');
        out.extend(
            msg.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
    }
    /// `:n`.
    pub fn int(self, out: &mut Vec<u8>, v: i64) {
        out.push(b':');
        push_int(out, v);
        out.extend_from_slice(b"\r\n");
    }
    /// `$len\r\nbytes\r\n`.
    pub fn bulk(self, out: &mut Vec<u8>, b: &[u8]) {
        out.push(b'$');
        push_int(out, b.len() as i64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
    }
    /// Null bulk: `$-1` (RESP2) or `_` (RESP3).
    pub fn null(self, out: &mut Vec<u8>) {
        if self.resp >= 3 {
            out.extend_from_slice(b"_\r\n");
        } else {
            out.extend_from_slice(b"$-1\r\n");
        }
    }
    /// Null array: `*-1` (RESP2) or `_` (RESP3).
    pub fn null_array(self, out: &mut Vec<u8>) {
        if self.resp >= 3 {
            out.extend_from_slice(b"_\r\n");
        } else {
            out.extend_from_slice(b"*-1\r\n");
        }
    }
    /// Array header `*n`.
    pub fn array(self, out: &mut Vec<u8>, n: usize) {
        out.push(b'*');
        push_int(out, n as i64);
        out.extend_from_slice(b"\r\n");
    }
    /// Map header: `%n` (RESP3) or `*2n` (RESP2).
    pub fn map(self, out: &mut Vec<u8>, pairs: usize) {
        if self.resp >= 3 {
            out.push(b'%');
            push_int(out, pairs as i64);
            out.extend_from_slice(b"\r\n");
        } else {
            self.array(out, pairs * 2);
        }
    }
    /// Push header: `>n` (RESP3) or `*n` (RESP2), for pub/sub messages.
    pub fn push(self, out: &mut Vec<u8>, n: usize) {
        if self.resp >= 3 {
            out.push(b'>');
            push_int(out, n as i64);
            out.extend_from_slice(b"\r\n");
        } else {
            self.array(out, n);
        }
    }
    /// Verbatim text: `=len\r\ntxt:...` (RESP3) or a bulk string (RESP2).
    pub fn verbatim(self, out: &mut Vec<u8>, text: &[u8]) {
        if self.resp >= 3 {
            out.push(b'=');
            push_int(out, text.len() as i64 + 4);
            out.extend_from_slice(b"\r\ntxt:");
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        } else {
            self.bulk(out, text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(p: &mut RequestParser, auth: bool) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>) {
        let mut cmds = Vec::new();
        loop {
            match p.next_command(auth) {
                Ok(Some(_)) => cmds.push(p.args().map(<[u8]>::to_vec).collect()),
                Ok(None) => return (cmds, None),
                Err(e) => return (cmds, Some(e)),
            }
        }
    }

    fn one_shot(input: &[u8], auth: bool) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>) {
        let mut p = RequestParser::new();
        p.feed(input);
        parse_all(&mut p, auth)
    }

    fn err_of(input: &[u8], auth: bool) -> String {
        one_shot(input, auth)
            .1
            .expect("expected an error")
            .reply_line()
    }

    #[test]
    fn multibulk_and_inline_commands_parse() {
        let (cmds, err) = one_shot(
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\r\n",
            false,
        );
        assert!(err.is_none());
        assert_eq!(
            cmds,
            vec![
                vec![b"GET".to_vec(), b"k".to_vec()],
                vec![b"PING".to_vec()],
                vec![b"set".to_vec(), b"a".to_vec(), b"b c".to_vec()],
            ]
        );
    }

    #[test]
    fn empty_lines_and_zero_counts_are_ignored() {
        let (cmds, err) = one_shot(b"\r\n\n*0\r\n*-1\r\nPING\n", false);
        assert!(err.is_none());
        assert_eq!(cmds, vec![vec![b"PING".to_vec()]]);
    }

    #[test]
    fn every_protocol_error_text_matches_redis() {
        let big = vec![b'a'; PROTO_INLINE_MAX_SIZE + 1];
        assert_eq!(
            err_of(&big, false),
            "-ERR Protocol error: too big inline request\r\n"
        );
        let mut mb = b"*".to_vec();
        mb.extend(std::iter::repeat_n(b'1', PROTO_INLINE_MAX_SIZE + 1));
        assert_eq!(
            err_of(&mb, false),
            "-ERR Protocol error: too big mbulk count string\r\n"
        );
        let mut bb = b"*1\r\n$".to_vec();
        bb.extend(std::iter::repeat_n(b'1', PROTO_INLINE_MAX_SIZE + 1));
        assert_eq!(
            err_of(&bb, false),
            "-ERR Protocol error: too big bulk count string\r\n"
        );
        assert_eq!(
            err_of(b"*x\r\n", false),
            "-ERR Protocol error: invalid multibulk length\r\n"
        );
        assert_eq!(
            err_of(b"*2147483648\r\n", false),
            "-ERR Protocol error: invalid multibulk length\r\n"
        );
        assert_eq!(
            err_of(b"*1\r\nfoo\r\n", false),
            "-ERR Protocol error: expected '$', got 'f'\r\n"
        );
        assert_eq!(
            err_of(b"*1\r\n$-1\r\n", false),
            "-ERR Protocol error: invalid bulk length\r\n"
        );
        assert_eq!(
            err_of(b"*1\r\n$536870913\r\n", false),
            "-ERR Protocol error: invalid bulk length\r\n"
        );
        assert_eq!(
            err_of(b"set a \"b\r\n", false),
            "-ERR Protocol error: unbalanced quotes in request\r\n"
        );
        assert_eq!(
            err_of(b"set a \"b\"c\r\n", false),
            "-ERR Protocol error: unbalanced quotes in request\r\n"
        );
        assert_eq!(
            err_of(b"*11\r\n", true),
            "-ERR Protocol error: unauthenticated multibulk length\r\n"
        );
        assert!(one_shot(b"*10\r\n", true).1.is_none());
        assert_eq!(
            err_of(b"*1\r\n$16385\r\n", true),
            "-ERR Protocol error: unauthenticated bulk length\r\n"
        );
        assert!(one_shot(b"*1\r\n$16384\r\n", true).1.is_none());
    }

    #[test]
    fn commands_before_an_error_are_returned_first() {
        let (cmds, err) = one_shot(b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\nx\r\n", false);
        assert_eq!(cmds.len(), 2);
        assert_eq!(err, Some(ProtocolError::ExpectedDollar(b'x')));
    }

    #[test]
    fn inline_quotes_and_escapes() {
        let (cmds, _) = one_shot(b"set 'it\\'s' \"\\x41\\n\" ''\r\n", false);
        assert_eq!(
            cmds,
            vec![vec![
                b"set".to_vec(),
                b"it's".to_vec(),
                b"A\n".to_vec(),
                b"".to_vec()
            ]]
        );
    }

    #[test]
    fn strict_integers_follow_string2ll() {
        assert_eq!(parse_i64_strict(b"0"), Some(0));
        assert_eq!(parse_i64_strict(b"-0"), None);
        assert_eq!(parse_i64_strict(b"01"), None);
        assert_eq!(parse_i64_strict(b"+1"), None);
        assert_eq!(parse_i64_strict(b" 1"), None);
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64_strict(b"9223372036854775808"), None);
    }

    #[test]
    fn split_reads_give_the_same_frames_as_one_read() {
        let input: &[u8] = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nPING\r\n\
            *2\r\n$4\r\nECHO\r\n$0\r\n\r\necho \"a b\" 'c'\n*1\r\n$4\r\nPING\r\n";
        let whole = one_shot(input, false);
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let mut p = RequestParser::new();
                let mut cmds = Vec::new();
                for chunk in [&input[..a], &input[a..b], &input[b..]] {
                    p.feed(chunk);
                    let (c, e) = parse_all(&mut p, false);
                    assert!(e.is_none());
                    cmds.extend(c);
                }
                assert_eq!(cmds, whole.0, "split at {a},{b}");
            }
        }
    }

    #[test]
    fn feeding_while_a_returned_command_is_unfinished_business_is_safe() {
        // A blocked client: the engine stops asking for commands, more bytes arrive.
        let mut p = RequestParser::new();
        p.feed(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
        assert_eq!(p.next_command(false), Ok(Some(3)));
        p.feed(b"*1\r\n$3\r\nGET\r\n");
        p.feed(b"PING\r\n");
        assert_eq!(p.next_command(false), Ok(Some(1)));
        assert_eq!(p.arg(0), b"GET");
        assert_eq!(p.next_command(false), Ok(Some(1)));
        assert_eq!(p.arg(0), b"PING");
    }

    #[test]
    fn byte_at_a_time_gives_same_errors() {
        let input: &[u8] = b"PING\r\n*1\r\n$x\r\n";
        let mut p = RequestParser::new();
        let mut cmds = 0;
        let mut err = None;
        for &b in input {
            p.feed(&[b]);
            let (c, e) = parse_all(&mut p, false);
            cmds += c.len();
            if e.is_some() {
                err = e;
                break;
            }
        }
        assert_eq!(cmds, 1);
        assert_eq!(err, Some(ProtocolError::InvalidBulkLength));
    }

    #[test]
    fn reply_encoding_resp2_and_resp3() {
        let mut out = Vec::new();
        let w2 = ReplyWriter { resp: 2 };
        let w3 = ReplyWriter { resp: 3 };
        w2.null(&mut out);
        w3.null(&mut out);
        w2.map(&mut out, 2);
        w3.map(&mut out, 2);
        w3.verbatim(&mut out, b"hi");
        w2.int(&mut out, -42);
        w2.error(&mut out, "ERR a\r\nb");
        assert_eq!(
            out,
            b"$-1\r\n_\r\n*4\r\n%2\r\n=6\r\ntxt:hi\r\n:-42\r\n-ERR a  b\r\n".to_vec()
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic_and_memory_stays_bounded(
                chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
                auth in any::<bool>(),
            ) {
                let mut p = RequestParser::new();
                let mut total = 0usize;
                'outer: for c in &chunks {
                    total += c.len();
                    p.feed(c);
                    loop {
                        match p.next_command(auth) {
                            Ok(Some(n)) => prop_assert!(n >= 1),
                            Ok(None) => break,
                            Err(_) => break 'outer,
                        }
                    }
                    prop_assert!(p.pending_len() <= total);
                    prop_assert!(p.buf.len() <= total);
                    prop_assert!(p.args.len() <= total + 1);
                }
            }

            #[test]
            fn arbitrary_resp_like_bytes_split_anywhere_agree(
                parts in proptest::collection::vec(
                    prop_oneof![
                        Just(b"*2\r\n".to_vec()), Just(b"$3\r\n".to_vec()), Just(b"GET\r\n".to_vec()),
                        Just(b"PING\r\n".to_vec()), Just(b"\r\n".to_vec()), Just(b"'a'\n".to_vec()),
                        Just(b"$-1\r\n".to_vec()), Just(b"*0\r\n".to_vec()), Just(b"$1\r\nx\r\n".to_vec()),
                        proptest::collection::vec(any::<u8>(), 0..4),
                    ], 0..30),
                cut in any::<proptest::sample::Index>(),
            ) {
                let input: Vec<u8> = parts.concat();
                let whole = one_shot(&input, false);
                let at = if input.is_empty() { 0 } else { cut.index(input.len() + 1) };
                let mut p = RequestParser::new();
                p.feed(&input[..at]);
                let (mut cmds, mut err) = parse_all(&mut p, false);
                if err.is_none() {
                    p.feed(&input[at..]);
                    let (c2, e2) = parse_all(&mut p, false);
                    cmds.extend(c2);
                    err = e2;
                }
                prop_assert_eq!(cmds, whole.0);
                prop_assert_eq!(err, whole.1);
            }
        }
    }
}
