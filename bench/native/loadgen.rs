// loadgen: closed-loop HTTP/1.1 load generator recording latency and TTFB (std only).
//
//   loadgen --url http://127.0.0.1:P/path [--method POST] [--body-file F] [-H "name: value"]...
//           --concurrency C (--duration SECS | --requests N) [--warmup SECS] [--timeout SECS]
//           [--out results.json]
//
// One thread + one keep-alive connection (TCP_NODELAY) per concurrency slot. Prints one JSON
// object on the last line of stdout (and writes it to --out).

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[path = "netbuf.rs"]
mod netbuf;
use netbuf::{find, Conn};

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --url http://HOST:PORT/PATH [--method POST] [--body-file F] [-H 'name: value']... \
         --concurrency C (--duration SECS | --requests N) [--warmup SECS] [--timeout SECS] [--out FILE]"
    );
    std::process::exit(2);
}

struct Cfg {
    addr: String,
    request: Vec<u8>,
    head_only: bool,
    concurrency: usize,
    duration: Option<f64>,
    requests: Option<u64>,
    warmup: f64,
    timeout: f64,
    out: Option<String>,
}

fn parse_args() -> Cfg {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut url: Option<String> = None;
    let mut method = "GET".to_string();
    let mut method_set = false;
    let mut body: Vec<u8> = Vec::new();
    let mut has_body = false;
    let mut headers: Vec<String> = Vec::new();
    let mut concurrency = 1usize;
    let mut duration = None;
    let mut requests = None;
    let mut warmup = 0.0;
    let mut timeout = 60.0;
    let mut out = None;
    let mut i = 0;
    while i < args.len() {
        let v = match args.get(i + 1) {
            Some(v) => v.clone(),
            None => usage(),
        };
        match args[i].as_str() {
            "--url" => url = Some(v),
            "--method" | "-X" => {
                method = v;
                method_set = true
            }
            "--body-file" => {
                body = std::fs::read(&v).unwrap_or_else(|e| {
                    eprintln!("read {v}: {e}");
                    std::process::exit(2)
                });
                has_body = true;
            }
            "-H" | "--header" => headers.push(v),
            "--concurrency" | "-c" => concurrency = v.parse().unwrap_or_else(|_| usage()),
            "--duration" | "-d" => duration = Some(v.parse::<f64>().unwrap_or_else(|_| usage())),
            "--requests" | "-n" => requests = Some(v.parse::<u64>().unwrap_or_else(|_| usage())),
            "--warmup" => warmup = v.parse().unwrap_or_else(|_| usage()),
            "--timeout" => timeout = v.parse().unwrap_or_else(|_| usage()),
            "--out" | "-o" => out = Some(v),
            _ => usage(),
        }
        i += 2;
    }
    let url = url.unwrap_or_else(|| usage());
    if duration.is_none() && requests.is_none() {
        eprintln!("one of --duration or --requests is required");
        usage();
    }
    if concurrency == 0 {
        usage();
    }
    if !method_set && has_body {
        method = "POST".to_string();
    }
    let rest = url.strip_prefix("http://").unwrap_or_else(|| {
        eprintln!("only http:// URLs are supported");
        std::process::exit(2)
    });
    let (hostport, path) = match rest.find('/') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, "/"),
    };
    let addr = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:80") };
    let mut req = Vec::with_capacity(body.len() + 256);
    let _ = write!(req, "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\n");
    if has_body || method != "GET" {
        let _ = write!(req, "Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    }
    for h in &headers {
        let _ = write!(req, "{}\r\n", h.trim());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(&body);
    Cfg {
        addr,
        request: req,
        head_only: method.eq_ignore_ascii_case("HEAD"),
        concurrency,
        duration,
        requests,
        warmup,
        timeout,
        out,
    }
}

// ---------------------------------------------------------------- connection + response reader

enum Fail {
    /// Connection closed (or write failed) before any response byte on a reused connection.
    Stale,
    Io(io::Error),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

fn eof() -> Fail {
    Fail::Io(io::ErrorKind::UnexpectedEof.into())
}

fn bad(msg: &str) -> Fail {
    Fail::Io(io::Error::new(io::ErrorKind::InvalidData, msg.to_string()))
}

impl Conn {
    fn open(cfg: &Cfg) -> io::Result<Conn> {
        let s = TcpStream::connect(&cfg.addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs_f64(cfg.timeout)))?;
        Ok(Conn::new(s, 64 * 1024))
    }

    fn read_line(&mut self) -> Result<(usize, usize), Fail> {
        // Returns the line as a range into buf (valid until the next fill).
        loop {
            if let Some(p) = find(self.avail(), b"\r\n") {
                let r = (self.start, self.start + p);
                self.start += p + 2;
                return Ok(r);
            }
            if self.end - self.start > 64 * 1024 {
                return Err(bad("line too long"));
            }
            if !self.fill()? {
                return Err(eof());
            }
        }
    }

    /// Discards n body bytes; returns the time the first of them was available.
    fn skip(&mut self, mut n: usize) -> Result<Instant, Fail> {
        if self.start == self.end && !self.fill()? {
            return Err(eof());
        }
        let first = self.last_read;
        loop {
            let take = n.min(self.end - self.start);
            self.start += take;
            n -= take;
            if n == 0 {
                return Ok(first);
            }
            if !self.fill()? {
                return Err(eof());
            }
        }
    }
}

struct Resp {
    status: u16,
    ttfb: Instant,
    done: Instant,
    close: bool,
}

fn exchange(c: &mut Conn, cfg: &Cfg) -> Result<Resp, Fail> {
    let reused = c.served > 0;
    if let Err(e) = c.s.write_all(&cfg.request) {
        return Err(if reused { Fail::Stale } else { Fail::Io(e) });
    }
    loop {
        // Head.
        let head_end = match c.read_head()? {
            netbuf::Head::At(p) => p,
            netbuf::Head::Idle if reused => return Err(Fail::Stale),
            netbuf::Head::Idle => return Err(eof()),
        };
        let head = &c.buf[c.start..c.start + head_end];
        let head_time = c.last_read;
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let statusline = lines.next().unwrap_or("");
        let mut sp = statusline.split(' ');
        let version = sp.next().unwrap_or("");
        let status: u16 = match sp.next().and_then(|s| s.parse().ok()) {
            Some(s) => s,
            None => return Err(bad("bad status line")),
        };
        let f = netbuf::framing(lines, version == "HTTP/1.0");
        let (mut close, content_length, chunked) = (f.close, f.content_length, f.chunked);
        drop(text);
        c.start += head_end + 4;
        if (100..200).contains(&status) {
            continue; // 100 Continue etc.: read the real response.
        }
        let no_body = cfg.head_only || status == 204 || status == 304;
        let (ttfb, done);
        if no_body {
            ttfb = head_time;
            done = head_time;
        } else if chunked {
            let mut first: Option<Instant> = None;
            loop {
                let (a, b) = c.read_line()?;
                let line = &c.buf[a..b];
                let hex_end = line.iter().position(|&x| x == b';').unwrap_or(line.len());
                let hex = std::str::from_utf8(&line[..hex_end]).map_err(|_| bad("bad chunk size"))?.trim();
                let n = usize::from_str_radix(hex, 16).map_err(|_| bad("bad chunk size"))?;
                if n == 0 {
                    loop {
                        let (a, b) = c.read_line()?;
                        if a == b {
                            break;
                        }
                    }
                    break;
                }
                let t = c.skip(n)?;
                first.get_or_insert(t);
                let (a, b) = c.read_line()?;
                if a != b {
                    return Err(bad("bad chunk terminator"));
                }
            }
            done = c.last_read;
            ttfb = first.unwrap_or(done);
        } else if let Some(n) = content_length {
            if n == 0 {
                ttfb = head_time;
                done = head_time;
            } else {
                ttfb = c.skip(n)?;
                done = c.last_read;
            }
        } else {
            // Until close.
            close = true;
            if c.start == c.end {
                if !c.fill()? {
                    return Ok(Resp { status, ttfb: head_time, done: head_time, close });
                }
            }
            ttfb = c.last_read;
            c.start = c.end;
            while c.fill()? {
                c.start = c.end;
            }
            done = c.last_read;
        }
        c.served += 1;
        return Ok(Resp { status, ttfb, done, close });
    }
}

// ---------------------------------------------------------------- workers

#[derive(Default)]
struct Stats {
    lat_us: Vec<f64>,
    ttfb_us: Vec<f64>,
    requests: u64,
    errors: u64,
    non_2xx: u64,
    reconnects: u64,
    first_start: Option<Instant>,
    last_done: Option<Instant>,
}

fn worker(cfg: Arc<Cfg>, ticket: Arc<AtomicU64>, t0: Instant) -> Stats {
    let warm_end = t0 + Duration::from_secs_f64(cfg.warmup);
    let end = cfg.duration.map(|d| warm_end + Duration::from_secs_f64(d));
    let mut st = Stats::default();
    let mut conn: Option<Conn> = None;
    let mut opened = 0u64;
    loop {
        let now = Instant::now();
        if let Some(e) = end {
            if now >= e {
                break;
            }
        }
        let measured = now >= warm_end;
        if measured {
            if let Some(n) = cfg.requests {
                if ticket.fetch_add(1, Ordering::Relaxed) >= n {
                    break;
                }
            }
        }
        let start = Instant::now();
        let mut result: Option<Result<Resp, Fail>> = None;
        for _attempt in 0..2 {
            if conn.is_none() {
                match Conn::open(&cfg) {
                    Ok(c) => {
                        if opened > 0 && measured {
                            st.reconnects += 1;
                        }
                        opened += 1;
                        conn = Some(c);
                    }
                    Err(e) => {
                        result = Some(Err(Fail::Io(e)));
                        break;
                    }
                }
            }
            let r = exchange(conn.as_mut().unwrap(), &cfg);
            match r {
                Err(Fail::Stale) => {
                    conn = None;
                    result = Some(Err(Fail::Stale));
                    continue; // reconnect once and retry
                }
                other => {
                    result = Some(other);
                    break;
                }
            }
        }
        match result.unwrap() {
            Ok(resp) => {
                if resp.close {
                    conn = None;
                }
                if measured {
                    st.requests += 1;
                    st.first_start.get_or_insert(start);
                    st.last_done = Some(st.last_done.map_or(resp.done, |d| d.max(resp.done)));
                    if (200..300).contains(&resp.status) {
                        st.lat_us.push(resp.done.duration_since(start).as_secs_f64() * 1e6);
                        st.ttfb_us.push(resp.ttfb.duration_since(start).as_secs_f64() * 1e6);
                    } else {
                        st.non_2xx += 1;
                    }
                }
            }
            Err(f) => {
                conn = None;
                if measured {
                    st.errors += 1;
                    st.first_start.get_or_insert(start);
                }
                if st.errors <= 3 {
                    match f {
                        Fail::Io(e) => eprintln!("loadgen: request failed: {e}"),
                        Fail::Stale => eprintln!("loadgen: connection closed by server twice in a row"),
                    }
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
    st
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn summary(v: &mut Vec<f64>) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mean = if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
    format!(
        "{{\"p50\":{:.1},\"p90\":{:.1},\"p99\":{:.1},\"mean\":{:.1},\"max\":{:.1}}}",
        pct(v, 0.50),
        pct(v, 0.90),
        pct(v, 0.99),
        mean,
        v.last().copied().unwrap_or(0.0)
    )
}

fn main() {
    let cfg = Arc::new(parse_args());
    let ticket = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..cfg.concurrency)
        .map(|_| {
            let (cfg, ticket) = (cfg.clone(), ticket.clone());
            thread::Builder::new().stack_size(256 * 1024).spawn(move || worker(cfg, ticket, t0)).unwrap()
        })
        .collect();
    let mut all = Stats::default();
    for h in handles {
        let s = h.join().unwrap();
        all.lat_us.extend(s.lat_us);
        all.ttfb_us.extend(s.ttfb_us);
        all.requests += s.requests;
        all.errors += s.errors;
        all.non_2xx += s.non_2xx;
        all.reconnects += s.reconnects;
        all.first_start = match (all.first_start, s.first_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        all.last_done = match (all.last_done, s.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let finished = Instant::now();
    // Measured window: from the end of warm-up (or the first measured request, if later in
    // --requests mode) to the last measured completion.
    let warm_end = t0 + Duration::from_secs_f64(cfg.warmup);
    let win_start = match (cfg.duration, all.first_start) {
        (Some(_), _) => warm_end,
        (None, Some(f)) => f.max(warm_end),
        (None, None) => warm_end,
    };
    let win_end = all.last_done.unwrap_or(finished).max(win_start);
    let mut d = win_end.duration_since(win_start).as_secs_f64();
    if d <= 0.0 {
        d = cfg.duration.unwrap_or(1e-9).max(1e-9);
    }
    let json = format!(
        "{{\"requests\":{},\"errors\":{},\"non_2xx\":{},\"reconnects\":{},\"duration_s\":{:.6},\"rps\":{:.1},\"latency_us\":{},\"ttfb_us\":{},\"concurrency\":{}}}",
        all.requests,
        all.errors,
        all.non_2xx,
        all.reconnects,
        d,
        all.requests as f64 / d,
        summary(&mut all.lat_us),
        summary(&mut all.ttfb_us),
        cfg.concurrency
    );
    if let Some(path) = &cfg.out {
        if let Err(e) = std::fs::write(path, format!("{json}\n")) {
            eprintln!("write {path}: {e}");
            std::process::exit(1);
        }
    }
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{json}");
    let _ = out.flush();
}
