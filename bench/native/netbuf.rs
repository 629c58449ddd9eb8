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
