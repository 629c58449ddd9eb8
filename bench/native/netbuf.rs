//! Shared by the mock upstream and the load generator (each includes it with
//! `#[path = "netbuf.rs"] mod netbuf;`): a TCP connection with a growable read buffer,
//! and a byte-string search.
#![allow(dead_code)] // each program uses its own part of it

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;

pub struct Conn {
    pub s: TcpStream,
    pub buf: Vec<u8>,
    pub start: usize,
    pub end: usize,
    /// When the last read returned (the load generator's clock for TTFB and completion).
    pub last_read: Instant,
    /// Responses completed on this connection (the load generator's keep-alive check).
    pub served: u64,
}

impl Conn {
    pub fn new(s: TcpStream, capacity: usize) -> Conn {
        Conn { s, buf: vec![0u8; capacity], start: 0, end: 0, last_read: Instant::now(), served: 0 }
    }

    /// Reads more bytes; Ok(false) on EOF.
    pub fn fill(&mut self) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = self.s.read(&mut self.buf[self.end..])?;
        self.last_read = Instant::now();
        self.end += n;
        Ok(n > 0)
    }

    pub fn avail(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads until the blank line that ends an HTTP head (at most 1 MiB). A close or reset
    /// before the first byte of a head is `Head::Idle` (a keep-alive peer that went away).
    pub fn read_head(&mut self) -> io::Result<Head> {
        loop {
            if let Some(p) = find(self.avail(), b"\r\n\r\n") {
                return Ok(Head::At(p));
            }
            if self.end - self.start > 1024 * 1024 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "HTTP head too large"));
            }
            let had = self.end - self.start;
            match self.fill() {
                Ok(true) => {}
                Ok(false) if had == 0 => return Ok(Head::Idle),
                Ok(false) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(e)
                    if had == 0 && matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe) =>
                {
                    return Ok(Head::Idle)
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// How a message's body is framed, from its header lines (after the start line).
pub struct Framing {
    /// None when absent or not a number (`bad_length` says which).
    pub content_length: Option<usize>,
    pub bad_length: bool,
    pub chunked: bool,
    pub close: bool,
    pub expect_continue: bool,
}

/// `close` starts as given (true for HTTP/1.0) and follows a `Connection` header.
pub fn framing<'a>(lines: impl Iterator<Item = &'a str>, close: bool) -> Framing {
    let mut f = Framing { content_length: None, bad_length: false, chunked: false, close, expect_continue: false };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim();
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            f.content_length = value.parse().ok();
            f.bad_length = f.content_length.is_none();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            f.chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                f.close = true;
            } else if v.contains("keep-alive") {
                f.close = false;
            }
        } else if name.eq_ignore_ascii_case("expect") {
            f.expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    f
}

pub enum Head {
    /// The head is `avail()[..n]` (the blank line after it not included).
    At(usize),
    /// The peer closed the connection before sending a head.
    Idle,
}

/// First position of `n` in `h` (an empty needle is found at 0).
pub fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() || h.len() < n.len() {
        return if n.is_empty() { Some(0) } else { None };
    }
    let first = n[0];
    let last = h.len() - n.len();
    let mut i = 0;
    while i <= last {
        match h[i..=last].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => {
                i += p;
                if &h[i..i + n.len()] == n {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}
