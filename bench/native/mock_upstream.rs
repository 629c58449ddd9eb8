// mock_upstream: an OpenAI-compatible mock upstream for benchmarks (std only).
//
//   mock_upstream --port P [--latency-ms N] [--size BYTES] [--chunks N] [--chunk-interval-ms N]
//
// Thread per connection, HTTP/1.1 keep-alive, TCP_NODELAY. Non-streaming responses are
// written with one write_all; SSE: headers + first event in one write, then one HTTP chunk
// per event (one write_all each), `--chunk-interval-ms` apart, the last event together with
// the terminating `0\r\n\r\n`.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[path = "netbuf.rs"]
mod netbuf;
use netbuf::{find, Conn};

#[derive(Clone)]
struct Cfg {
    latency_ms: u64,
    size: usize,
    chunks: usize,
    interval_ms: u64,
}

fn usage() -> ! {
    eprintln!("usage: mock_upstream --port P [--latency-ms N] [--size BYTES] [--chunks N] [--chunk-interval-ms N]");
    std::process::exit(2);
}

fn main() {
    let mut port: Option<u16> = None;
    let mut cfg = Cfg { latency_ms: 0, size: 1024, chunks: 20, interval_ms: 1 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = |i: usize| -> &str {
            match args.get(i + 1) {
                Some(v) => v.as_str(),
                None => usage(),
            }
        };
        match args[i].as_str() {
            "--port" => port = Some(val(i).parse().unwrap_or_else(|_| usage())),
            "--latency-ms" => cfg.latency_ms = val(i).parse().unwrap_or_else(|_| usage()),
            "--size" => cfg.size = val(i).parse().unwrap_or_else(|_| usage()),
            "--chunks" => cfg.chunks = val(i).parse().unwrap_or_else(|_| usage()),
            "--chunk-interval-ms" => cfg.interval_ms = val(i).parse().unwrap_or_else(|_| usage()),
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument: {other}");
                usage()
            }
        }
        i += 2;
    }
    let port = port.unwrap_or_else(|| usage());
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
        eprintln!("bind 127.0.0.1:{port}: {e}");
        std::process::exit(1);
    });
    let actual = listener.local_addr().unwrap().port();
    {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "LISTENING {actual}");
        let _ = out.flush();
    }
    let cfg = Arc::new(cfg);
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                let cfg = cfg.clone();
                let _ = thread::Builder::new().stack_size(256 * 1024).spawn(move || {
                    let _ = handle(s, &cfg);
                });
            }
            Err(e) => {
                eprintln!("accept: {e}");
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

// ---------------------------------------------------------------- buffered reader

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl Conn {
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(p) = find(self.avail(), b"\r\n") {
                let line = self.avail()[..p].to_vec();
                self.start += p + 2;
                return Ok(line);
            }
            if self.end - self.start > 64 * 1024 {
                return Err(bad("line too long"));
            }
            if !self.fill()? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    fn read_n(&mut self, mut n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        while n > 0 {
            if self.start == self.end && !self.fill()? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = n.min(self.end - self.start);
            out.extend_from_slice(&self.buf[self.start..self.start + take]);
            self.start += take;
            n -= take;
        }
        Ok(())
    }
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    find(h, n).is_some()
}

// ---------------------------------------------------------------- request handling

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    close: bool,
}

/// Ok(None) on clean EOF between requests.
fn read_request(c: &mut Conn) -> io::Result<Option<Request>> {
    // Head.
    let head_end = match c.read_head()? {
        netbuf::Head::At(p) => p,
        netbuf::Head::Idle => return Ok(None),
    };
    let head = String::from_utf8_lossy(&c.avail()[..head_end]).into_owned();
    c.start += head_end + 4;
    let mut lines = head.split("\r\n");
    let reqline = lines.next().unwrap_or("");
    let mut parts = reqline.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let version = parts.next().unwrap_or("HTTP/1.1");
    let f = netbuf::framing(lines, version == "HTTP/1.0");
    if f.bad_length {
        return Err(bad("bad content-length"));
    }
    let (close, content_length, chunked, expect_continue) =
        (f.close, f.content_length.unwrap_or(0), f.chunked, f.expect_continue);
    if expect_continue && (chunked || content_length > 0) {
        c.s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    // Body.
    let mut body = Vec::new();
    if chunked {
        loop {
            let line = c.read_line()?;
            let line = String::from_utf8_lossy(&line);
            let hex = line.split(';').next().unwrap_or("").trim();
            let n = usize::from_str_radix(hex, 16).map_err(|_| bad("bad chunk size"))?;
            if n == 0 {
                // Trailers until an empty line.
                loop {
                    if c.read_line()?.is_empty() {
                        break;
                    }
                }
                break;
            }
            c.read_n(n, &mut body)?;
            if !c.read_line()?.is_empty() {
                return Err(bad("bad chunk terminator"));
            }
        }
    } else if content_length > 0 {
        body.reserve(content_length);
        c.read_n(content_length, &mut body)?;
    }
    Ok(Some(Request { method, path, body, close }))
}

fn handle(s: TcpStream, cfg: &Cfg) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut c = Conn::new(s, 16 * 1024);
    loop {
        let req = match read_request(&mut c)? {
            Some(r) => r,
            None => return Ok(()),
        };
        let path = req.path.split('?').next().unwrap_or("");
        // A model named like "mock-model-lat60-size10k" asks for 60 ms latency and 10 KB
        // responses: the model name passes through every proxy, headers do not.
        let cfg = &per_model(cfg, &find_model(&req.body));
        if cfg.latency_ms > 0 {
            thread::sleep(Duration::from_millis(cfg.latency_ms));
        }
        match (req.method.as_str(), path) {
            ("GET", "/v1/models") => {
                let body = r#"{"object":"list","data":[{"id":"mock-model","object":"model","created":1700000000,"owned_by":"mock"}]}"#;
                send(&mut c.s, "200 OK", "application/json", body.as_bytes(), req.close)?;
            }
            ("GET", "/health") => send(&mut c.s, "200 OK", "text/plain", b"ok", req.close)?,
            ("POST", "/v1/chat/completions") => {
                let model = find_model(&req.body);
                let pt = (req.body.len() / 4).max(1);
                if is_stream(&req.body) {
                    let usage = contains(&req.body, b"\"include_usage\":true")
                        || contains(&req.body, b"\"include_usage\": true");
                    chat_stream(&mut c.s, cfg, &model, pt, usage)?;
                } else {
                    let body = chat_json(cfg, &model, pt);
                    send(&mut c.s, "200 OK", "application/json", body.as_bytes(), req.close)?;
                }
            }
            ("POST", "/v1/responses") => {
                let model = find_model(&req.body);
                let pt = (req.body.len() / 4).max(1);
                if is_stream(&req.body) {
                    responses_stream(&mut c.s, cfg, &model, pt)?;
                } else {
                    let body = responses_json(cfg, &model, pt);
                    send(&mut c.s, "200 OK", "application/json", body.as_bytes(), req.close)?;
                }
            }
            _ => {
                let body = format!(
                    r#"{{"error":{{"message":"no route for {} {}","type":"invalid_request_error","param":null,"code":"not_found"}}}}"#,
                    req.method,
                    json_safe(path)
                );
                send(&mut c.s, "404 Not Found", "application/json", body.as_bytes(), req.close)?;
            }
        }
        if req.close {
            return Ok(());
        }
    }
}

fn per_model(cfg: &Cfg, model: &str) -> Cfg {
    let mut out = cfg.clone();
    for part in model.split('-') {
        if let Some(ms) = part.strip_prefix("lat").and_then(|v| v.parse::<u64>().ok()) {
            out.latency_ms = ms;
        } else if let Some(kb) = part.strip_prefix("size").and_then(|v| v.strip_suffix('k')).and_then(|v| v.parse::<usize>().ok()) {
            out.size = kb * 1024;
        }
    }
    out
}

fn json_safe(s: &str) -> String {
    s.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect()
}

fn is_stream(body: &[u8]) -> bool {
    contains(body, b"\"stream\":true") || contains(body, b"\"stream\": true")
}

fn find_model(body: &[u8]) -> String {
    for pat in [&b"\"model\":\""[..], &b"\"model\": \""[..]] {
        if let Some(p) = find(body, pat) {
            let rest = &body[p + pat.len()..];
            if let Some(q) = rest.iter().position(|&b| b == b'"') {
                let m = &rest[..q];
                if q > 0 && q <= 256 && !m.contains(&b'\\') {
                    if let Ok(s) = std::str::from_utf8(m) {
                        return s.to_string();
                    }
                }
            }
            break;
        }
    }
    "mock-model".to_string()
}

fn send(s: &mut TcpStream, status: &str, ctype: &str, body: &[u8], close: bool) -> io::Result<()> {
    let mut out = Vec::with_capacity(body.len() + 160);
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )?;
    out.extend_from_slice(body);
    s.write_all(&out)
}

// ---------------------------------------------------------------- bodies

fn chat_usage(pt: usize, ct: usize) -> String {
    format!(
        r#"{{"prompt_tokens":{pt},"completion_tokens":{ct},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0}}}}"#,
        pt + ct
    )
}

fn chat_json(cfg: &Cfg, model: &str, pt: usize) -> String {
    let ct = (cfg.size / 4).max(1);
    let build = |content: &str| {
        format!(
            r#"{{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}"}},"logprobs":null,"finish_reason":"stop"}}],"usage":{}}}"#,
            chat_usage(pt, ct)
        )
    };
    let base = build("").len();
    build(&"x".repeat(cfg.size.saturating_sub(base)))
}

fn resp_usage(pt: usize, ct: usize) -> String {
    format!(
        r#"{{"input_tokens":{pt},"input_tokens_details":{{"cached_tokens":0}},"output_tokens":{ct},"output_tokens_details":{{"reasoning_tokens":0}},"total_tokens":{}}}"#,
        pt + ct
    )
}

fn resp_message(text: &str, status: &str) -> String {
    format!(
        r#"{{"id":"msg_mock1","type":"message","status":"{status}","role":"assistant","content":[{{"type":"output_text","text":"{text}","annotations":[]}}]}}"#
    )
}

fn resp_object(model: &str, status: &str, output: &str, usage: &str) -> String {
    format!(
        r#"{{"id":"resp_mock1","object":"response","created_at":1700000000,"status":"{status}","model":"{model}","output":[{output}],"usage":{usage}}}"#
    )
}

fn responses_json(cfg: &Cfg, model: &str, pt: usize) -> String {
    let ct = (cfg.size / 4).max(1);
    let usage = resp_usage(pt, ct);
    let build = |text: &str| resp_object(model, "completed", &resp_message(text, "completed"), &usage);
    let base = build("").len();
    build(&"x".repeat(cfg.size.saturating_sub(base)))
}

/// Content of one streamed delta: the `--size` budget split over `--chunks` (at least 1 byte).
fn delta_text(cfg: &Cfg) -> String {
    "x".repeat((cfg.size / cfg.chunks.max(1)).max(1))
}

// ---------------------------------------------------------------- SSE

fn http_chunk(out: &mut Vec<u8>, event: &str) {
    let _ = write!(out, "{:x}\r\n", event.len());
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn stream_events(s: &mut TcpStream, cfg: &Cfg, events: &[String]) -> io::Result<()> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    let n = events.len();
    for (i, ev) in events.iter().enumerate() {
        if i > 0 {
            out.clear();
            if cfg.interval_ms > 0 {
                thread::sleep(Duration::from_millis(cfg.interval_ms));
            }
        }
        http_chunk(&mut out, ev);
        if i == n - 1 {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        s.write_all(&out)?;
    }
    Ok(())
}

fn chat_stream(s: &mut TcpStream, cfg: &Cfg, model: &str, pt: usize, usage: bool) -> io::Result<()> {
    let head = format!(r#"{{"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1700000000,"model":"{model}","#);
    let delta = delta_text(cfg);
    let mut events = Vec::with_capacity(cfg.chunks + 4);
    events.push(format!(
        "data: {head}\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n"
    ));
    for _ in 0..cfg.chunks {
        events.push(format!(
            "data: {head}\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{delta}\"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    events.push(format!("data: {head}\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n"));
    if usage {
        events.push(format!("data: {head}\"choices\":[],\"usage\":{}}}\n\n", chat_usage(pt, cfg.chunks.max(1))));
    }
    events.push("data: [DONE]\n\n".to_string());
    stream_events(s, cfg, &events)
}

fn responses_stream(s: &mut TcpStream, cfg: &Cfg, model: &str, pt: usize) -> io::Result<()> {
    let delta = delta_text(cfg);
    let full_text = delta.repeat(cfg.chunks);
    let mut seq = 0usize;
    let mut events = Vec::with_capacity(cfg.chunks + 4);
    let mut ev = |typ: &str, fields: String| {
        let e = format!("event: {typ}\ndata: {{\"type\":\"{typ}\",\"sequence_number\":{seq},{fields}}}\n\n");
        seq += 1;
        e
    };
    events.push(ev("response.created", format!("\"response\":{}", resp_object(model, "in_progress", "", "null"))));
    events.push(ev(
        "response.output_item.added",
        format!(
            r#""output_index":0,"item":{{"id":"msg_mock1","type":"message","status":"in_progress","role":"assistant","content":[]}}"#
        ),
    ));
    for _ in 0..cfg.chunks {
        events.push(ev(
            "response.output_text.delta",
            format!(r#""item_id":"msg_mock1","output_index":0,"content_index":0,"delta":"{delta}""#),
        ));
    }
    let msg = resp_message(&full_text, "completed");
    events.push(ev("response.output_item.done", format!("\"output_index\":0,\"item\":{msg}")));
    let usage = resp_usage(pt, cfg.chunks.max(1));
    events.push(ev("response.completed", format!("\"response\":{}", resp_object(model, "completed", &msg, &usage))));
    stream_events(s, cfg, &events)
}
