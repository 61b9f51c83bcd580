//! Records what one RTMP client sends (handshake included) while
//! `ingest::Connection` answers it and accepts its publish: the fixtures in
//! `crates/ingest/src/rtmp/testdata/` are made with it (see the README
//! there).
//!
//! ```sh
//! cargo run -p ingest --example rtmp_capture -- OUT.bin [PORT]
//! ffmpeg -re -i FILE.flv -c copy -f flv rtmp://127.0.0.1:PORT/live/fixture-key
//! ```
//!
//! It stops when the client unpublishes or disconnects.

use std::io::{Read, Write};
use std::net::TcpListener;

use ingest::{Connection, Event, IngestConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: rtmp_capture OUT.bin [PORT]");
        std::process::exit(2);
    };
    let port: u16 = match args.next().map(|p| p.parse()) {
        None => 19350,
        Some(Ok(port)) => port,
        Some(Err(e)) => {
            eprintln!("PORT: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = capture(&out, port) {
        eprintln!("rtmp_capture: {e}");
        std::process::exit(1);
    }
}

fn capture(out: &str, port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    eprintln!("waiting for a publisher on rtmp://127.0.0.1:{port}/live");
    let (mut socket, peer) = listener.accept()?;
    eprintln!("{peer} connected");
    let mut conn = Connection::new(&IngestConfig::default());
    let mut captured = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut media, mut finished) = (0, false);
    while !finished {
        let n = socket.read(&mut buf)?;
        if n == 0 {
            break;
        }
        captured.extend_from_slice(&buf[..n]);
        if let Err(e) = conn.push(&buf[..n]) {
            eprintln!("connection failed: {e}");
            break;
        }
        while let Some(event) = conn.poll_event() {
            match event {
                Event::PublishRequested { request_id, .. } => {
                    if let Err(e) = conn.accept_publish(request_id) {
                        eprintln!("accept failed: {e}");
                    }
                }
                Event::Media(_) => media += 1,
                Event::PublishFinished => finished = true,
            }
        }
        for bytes in conn.take_outbound() {
            socket.write_all(&bytes)?;
        }
    }
    std::fs::write(out, &captured)?;
    eprintln!(
        "wrote {} bytes to {out}: {media} media events, {}",
        captured.len(),
        if finished {
            "unpublished"
        } else {
            "disconnected"
        }
    );
    Ok(())
}
