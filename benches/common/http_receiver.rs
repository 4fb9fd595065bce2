//! A minimal OTLP/HTTP receiver for benchmarks (`#[path]`-included): a thread per keep-alive
//! connection on 127.0.0.1 that reads each request whole (headers, then `Content-Length`
//! bytes) and answers `200 OK` with an empty protobuf response, counting requests and bytes.
//! It decodes nothing, so both exporters pay only for their own encoding and sending.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Requests and body bytes received.
#[derive(Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
}

/// Serves until the process ends; returns the base URL (`http://127.0.0.1:PORT`).
pub fn start() -> (String, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let c = c.clone();
            std::thread::spawn(move || serve(stream, &c));
        }
    });
    (url, counts)
}

fn serve(stream: TcpStream, counts: &Counts) {
    let _ = stream.set_nodelay(true);
    let mut out = stream.try_clone().expect("clone the stream");
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        let mut len = 0usize;
        // Request line and headers.
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        body.resize(len, 0);
        if r.read_exact(&mut body).is_err() {
            return;
        }
        counts.requests.fetch_add(1, Relaxed);
        counts.bytes.fetch_add(len as u64, Relaxed);
        let reply =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
        if out.write_all(reply).is_err() {
            return;
        }
    }
}
