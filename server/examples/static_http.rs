//! The scale benchmark's ceiling: a static HTTP/1.1 server on the standard library alone (a thread
//! per connection, keep-alive, one fixed body, no parsing beyond finding the end of each request).
//! `bench/scale.sh` measures it in the same run as the registry, so each of the registry's rows
//! reads as a fraction of what this machine's loopback and HTTP itself allow.
//!
//!     cargo run --release -p covenant-server --example static_http -- 127.0.0.1:0

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

const BODY: &str = r#"{"schema":"{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}"}"#;

fn serve(mut stream: TcpStream, response: &[u8]) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut filled = 0;
    loop {
        let read = stream.read(&mut buffer[filled..])?;
        if read == 0 {
            return Ok(());
        }
        filled += read;
        // Answer every complete request in the buffer (wrk pipelines nothing, but be exact).
        while let Some(end) = find_request_end(&buffer[..filled]) {
            stream.write_all(response)?;
            buffer.copy_within(end..filled, 0);
            filled -= end;
        }
        if filled == buffer.len() {
            return Ok(()); // a request larger than the buffer: not this server's business
        }
    }
}

/// The end of the first request in `bytes`: its headers, then `Content-Length` bytes of body.
fn find_request_end(bytes: &[u8]) -> Option<usize> {
    let headers = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&bytes[..headers]).ok()?;
    let length = text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    (bytes.len() >= headers + length).then_some(headers + length)
}

fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    let listener = TcpListener::bind(&listen)?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let response: &'static [u8] = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.schemaregistry.v1+json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
    .leak();
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            let _ = serve(stream, response);
        });
    }
    Ok(())
}
