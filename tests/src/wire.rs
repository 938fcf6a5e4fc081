//! A raw client connection: send exact bytes, read whole replies or EOF, every wait bounded.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::resp::{self, Value};

/// How a read of replies ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// All the replies asked for arrived.
    Complete,
    /// The peer closed the connection (read returned 0).
    Eof,
    /// Nothing more arrived before the deadline.
    Timeout,
    /// The read failed (usually `ConnectionReset`).
    Failed(io::ErrorKind),
    /// Bytes arrived that are not RESP.
    Garbage(String),
}

/// One client connection speaking raw bytes.
pub struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    /// Connects to `addr` (bounded by 5 s).
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    /// The client side's address (what the server shows as `addr` in CLIENT LIST).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Writes all of `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads until `n` whole replies have arrived or `deadline` passes or the stream ends.
    /// Returns the raw bytes of each whole reply and how the read ended.
    pub async fn read_replies(&mut self, n: usize, deadline: Duration) -> (Vec<Vec<u8>>, End) {
        let until = Instant::now() + deadline;
        let mut replies = Vec::new();
        loop {
            while replies.len() < n {
                match resp::frame_len(&self.buf) {
                    Ok(Some(len)) => replies.push(self.buf.drain(..len).collect()),
                    Ok(None) => break,
                    Err(e) => return (replies, End::Garbage(e.0)),
                }
            }
            if replies.len() == n {
                return (replies, End::Complete);
            }
            match self.fill(until).await {
                Ok(true) => {}
                Ok(false) => return (replies, End::Eof),
                Err(End::Timeout) => return (replies, End::Timeout),
                Err(e) => return (replies, e),
            }
        }
    }

    /// Reads until EOF or `deadline`. Returns the bytes that arrived (including any left in the
    /// buffer) and how it ended: `End::Eof` is a clean close.
    pub async fn read_to_eof(&mut self, deadline: Duration) -> (Vec<u8>, End) {
        let until = Instant::now() + deadline;
        loop {
            match self.fill(until).await {
                Ok(true) => {}
                Ok(false) => return (std::mem::take(&mut self.buf), End::Eof),
                Err(e) => return (std::mem::take(&mut self.buf), e),
            }
        }
    }

    /// One read into the buffer: `Ok(true)` got bytes, `Ok(false)` EOF.
    async fn fill(&mut self, until: Instant) -> Result<bool, End> {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout_at(until, self.stream.read(&mut chunk)).await {
            Err(_) => Err(End::Timeout),
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(k)) => {
                self.buf.extend_from_slice(&chunk[..k]);
                Ok(true)
            }
            Ok(Err(e)) => Err(End::Failed(e.kind())),
        }
    }

    /// Sends one command as a multibulk and returns its parsed reply (panics on a closed or
    /// silent connection: for test set-up steps that must work).
    pub async fn cmd(&mut self, args: &[&str]) -> Value {
        self.send(&encode(args)).await.expect("write command");
        let (mut replies, end) = self.read_replies(1, Duration::from_secs(5)).await;
        assert_eq!(end, End::Complete, "no reply to {args:?}");
        resp::parse(&replies.remove(0)).expect("parse reply")
    }
}

/// Encodes one command as a RESP multibulk.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Renders bytes for a failure message: printable ASCII as is, the rest escaped, long input cut.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 400;
    let mut s = String::new();
    for &b in bytes.iter().take(MAX) {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > MAX {
        s.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    format!("\"{s}\"")
}
