//! The scale benchmark's writer: registers Avro schemas over HTTP/1.1 keep-alive connections, one
//! thread per connection, and prints how many it registered per second.
//!
//!     register_load URL[,URL...] --connections N (--count N | --seconds S) [--subjects S] [--fields F] [--prefix P]
//!
//! Registration `i` (counted over all connections) goes to subject `{prefix}-{i % subjects}` and
//! is a record of `fields` fields plus `i / subjects` more, each added with a default: so every
//! subject's versions are compatible under the default level, and `--count` registrations make
//! `--count` schemas. The text is sent in its canonical form, as Confluent's serializers send it. Connections are spread over the URLs (several nodes). Every answer must be a
//! 200; anything else is counted and the first one printed. No HTTP client library (the standard
//! library's sockets), so the figure is the registry's and not a client's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

struct Options {
    urls: Vec<String>,
    connections: usize,
    count: Option<u64>,
    seconds: Option<f64>,
    subjects: u64,
    fields: u64,
    prefix: String,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let urls = args
        .next()
        .ok_or("usage: register_load URL[,URL...] --connections N (--count N | --seconds S)")?;
    let mut options = Options {
        urls: urls
            .split(',')
            .map(|u| u.trim_end_matches('/').to_string())
            .collect(),
        connections: 8,
        count: None,
        seconds: None,
        subjects: 1,
        fields: 10,
        prefix: "load".into(),
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--connections" => options.connections = value.parse().map_err(|e| bad(&e))?,
            "--count" => options.count = Some(value.parse().map_err(|e| bad(&e))?),
            "--seconds" => options.seconds = Some(value.parse().map_err(|e| bad(&e))?),
            "--subjects" => options.subjects = value.parse().map_err(|e| bad(&e))?,
            "--fields" => options.fields = value.parse().map_err(|e| bad(&e))?,
            "--prefix" => options.prefix = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if options.count.is_none() == options.seconds.is_none() {
        return Err("give one of --count and --seconds".into());
    }
    if options.subjects == 0 || options.connections == 0 {
        return Err("--subjects and --connections must be positive".into());
    }
    Ok(options)
}

/// The body registering schema `i`.
fn body(options: &Options, i: u64) -> (String, String) {
    let subject = format!("{}-{}", options.prefix, i % options.subjects);
    let extra = i / options.subjects;
    let mut fields = String::from(r#"{\"name\":\"id\",\"type\":\"long\"}"#);
    for f in 0..options.fields {
        fields.push_str(&format!(
            r#",{{\"name\":\"field_{f}\",\"type\":\"string\",\"default\":\"\"}}"#
        ));
    }
    for e in 0..extra {
        fields.push_str(&format!(
            r#",{{\"name\":\"added_{e}\",\"type\":[\"null\",\"long\"],\"default\":null}}"#
        ));
    }
    let name = format!("Record{}", i % options.subjects);
    (
        subject,
        format!(
            r#"{{"schema":"{{\"type\":\"record\",\"name\":\"{name}\",\"namespace\":\"com.example.bench\",\"fields\":[{fields}]}}"}}"#
        ),
    )
}

struct Connection {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Connection {
    fn open(url: &str) -> std::io::Result<Connection> {
        let host = url.trim_start_matches("http://").to_string();
        let stream = TcpStream::connect(&host)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Connection {
            reader: BufReader::new(stream),
            host,
        })
    }

    /// POSTs `body` to `path`; returns the status and the body.
    fn post(&mut self, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/vnd.schemaregistry.v1+json\r\ncontent-length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.reader.get_mut().write_all(request.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut answer = vec![0u8; length];
        self.reader.read_exact(&mut answer)?;
        Ok((status, String::from_utf8_lossy(&answer).into_owned()))
    }
}

fn main() {
    let options = match options() {
        Ok(options) => Arc::new(options),
        Err(message) => {
            eprintln!("register_load: {message}");
            std::process::exit(2);
        }
    };
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(Mutex::new(None::<String>));
    let started = Instant::now();
    let deadline = options
        .seconds
        .map(|s| started + Duration::from_secs_f64(s));
    let threads: Vec<_> = (0..options.connections)
        .map(|c| {
            let (options, next, done, failed, first_failure) = (
                Arc::clone(&options),
                Arc::clone(&next),
                Arc::clone(&done),
                Arc::clone(&failed),
                Arc::clone(&first_failure),
            );
            std::thread::spawn(move || {
                let url = &options.urls[c % options.urls.len()];
                let mut connection = Connection::open(url).expect("cannot connect");
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if options.count.is_some_and(|n| i >= n) {
                        return;
                    }
                    let (subject, body) = body(&options, i);
                    let path = format!("/subjects/{subject}/versions");
                    match connection.post(&path, &body) {
                        Ok((200, _)) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        outcome => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            let mut first = first_failure.lock();
                            if first.is_none() {
                                *first = Some(format!("{path}: {outcome:?}"));
                            }
                            if outcome.is_err() {
                                match Connection::open(url) {
                                    Ok(fresh) => connection = fresh,
                                    Err(_) => return,
                                }
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = done.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "registered {done} in {elapsed:.2} s: {:.0}/s, {failed} failed",
        done as f64 / elapsed
    );
    if let Some(first) = first_failure.lock().take() {
        eprintln!("first failure: {first}");
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
