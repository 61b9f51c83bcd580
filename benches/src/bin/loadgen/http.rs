//! A tiny HTTP/1.1 client: one keep-alive connection, one request at a time
//! (no pipelining), `GET` only, to `127.0.0.1`. Enough for playlists: bodies
//! with `Content-Length`, chunked, or delimited by the connection's close.
//!
//! Hand-written rather than hyper so the load generator stays a few
//! allocations and system calls per poll (it shares two cores with the
//! server it measures).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head and body accepted (a playlist is a few KiB).
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

/// An `http://127.0.0.1:PORT/path` URL, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub addr: SocketAddr,
    /// `host:port` as given, for the `Host` header.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses `http://HOST:PORT/PATH`; HOST must be `127.0.0.1` or
    /// `localhost` (everything this tool sends stays on the loopback).
    pub fn parse(url: &str) -> Result<Url, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr = loopback_addr(authority, 80).map_err(|e| format!("{url}: {e}"))?;
        Ok(Url {
            addr,
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }

    /// `reference` (a URI line of a playlist) resolved against this URL:
    /// absolute `http://` URLs (must be on the loopback), absolute paths,
    /// or paths relative to this URL's directory. Queries of the base are
    /// dropped, as RFC 3986 says.
    pub fn join(&self, reference: &str) -> Result<Url, String> {
        if reference.starts_with("http://") {
            return Url::parse(reference);
        }
        if reference.contains("://") {
            return Err(format!("{reference}: only http:// URLs are supported"));
        }
        let path = if reference.starts_with('/') {
            reference.to_string()
        } else {
            let base = self.path.split(['?', '#']).next().unwrap_or("/");
            let dir = &base[..=base.rfind('/').unwrap_or(0)];
            format!("{dir}{reference}")
        };
        Ok(Url {
            addr: self.addr,
            authority: self.authority.clone(),
            path,
        })
    }
}

/// `HOST:PORT` with HOST `127.0.0.1` or `localhost`, as a socket address.
pub fn loopback_addr(authority: &str, default_port: u16) -> Result<SocketAddr, String> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad port in {authority}"))?,
        ),
        None => (authority, default_port),
    };
    match host {
        "127.0.0.1" | "localhost" => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        _ => Err(format!(
            "host {host} is not 127.0.0.1: the load generator only talks to the loopback"
        )),
    }
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One keep-alive connection, reopened after any error or `Connection: close`.
pub struct Client {
    addr: SocketAddr,
    conn: Option<TcpStream>,
    /// Bytes read and not yet consumed (a response head and body).
    buf: Vec<u8>,
    request: Vec<u8>,
    user_agent: String,
    /// Connections opened (the first one included).
    pub connects: u64,
}

impl Client {
    pub fn new(addr: SocketAddr, user_agent: String) -> Client {
        Client {
            addr,
            conn: None,
            buf: Vec::with_capacity(16 * 1024),
            request: Vec::with_capacity(256),
            user_agent,
            connects: 0,
        }
    }

    /// `GET url` on this client's connection, within `timeout` (connecting
    /// included). On error the connection is dropped; the next call opens
    /// a new one.
    pub async fn get(&mut self, url: &Url, timeout: Duration) -> io::Result<Response> {
        match tokio::time::timeout(timeout, self.get_inner(url)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                self.conn = None;
                Err(io::Error::new(io::ErrorKind::TimedOut, "request timed out"))
            }
        }
    }

    async fn get_inner(&mut self, url: &Url) -> io::Result<Response> {
        if url.addr != self.addr {
            return Err(io::Error::other("URL on another address than the client's"));
        }
        // A reused connection the server closed since the last response
        // fails on write or read: retry once on a fresh one.
        let reused = self.conn.is_some();
        match self.exchange(url).await {
            Err(e) if reused && is_stale(&e) => {
                self.conn = None;
                self.exchange(url).await
            }
            r => r,
        }
    }

    async fn exchange(&mut self, url: &Url) -> io::Result<Response> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.conn = Some(s);
            self.buf.clear();
            self.connects += 1;
        }
        self.request.clear();
        self.request.extend_from_slice(b"GET ");
        self.request.extend_from_slice(url.path.as_bytes());
        self.request.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        self.request.extend_from_slice(url.authority.as_bytes());
        self.request.extend_from_slice(b"\r\nUser-Agent: ");
        self.request.extend_from_slice(self.user_agent.as_bytes());
        self.request.extend_from_slice(b"\r\nAccept: */*\r\n\r\n");
        let conn = self.conn.as_mut().expect("connected above");
        conn.write_all(&self.request).await?;

        // The head.
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("response head too large"));
            }
            if read_more(conn, &mut self.buf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                ));
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| invalid("response head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("bad status line"))?;
        let mut content_length = None;
        let mut chunked = false;
        let mut close = status_line.starts_with("HTTP/1.0");
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| invalid("bad Content-Length"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    close = true;
                } else if v.contains("keep-alive") {
                    close = false;
                }
            }
        }

        // The body.
        let body = if chunked {
            self.buf.drain(..head_end);
            read_chunked(conn, &mut self.buf).await?
        } else if let Some(len) = content_length {
            if len > MAX_BODY {
                return Err(invalid("body too large"));
            }
            while self.buf.len() < head_end + len {
                if read_more(conn, &mut self.buf).await? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed within the body",
                    ));
                }
            }
            let body = self.buf[head_end..head_end + len].to_vec();
            self.buf.drain(..head_end + len);
            body
        } else if status == 204 || status == 304 || (100..200).contains(&status) {
            self.buf.drain(..head_end);
            Vec::new()
        } else {
            // Delimited by the close.
            close = true;
            while read_more(conn, &mut self.buf).await? != 0 {
                if self.buf.len() > head_end + MAX_BODY {
                    return Err(invalid("body too large"));
                }
            }
            let body = self.buf[head_end..].to_vec();
            self.buf.clear();
            body
        };
        if close {
            self.conn = None;
            self.buf.clear();
        }
        Ok(Response { status, body })
    }
}

/// Errors of a reused keep-alive connection the server had closed.
fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

async fn read_more(conn: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    conn.read_buf(buf).await
}

/// Reads a chunked body; `buf` starts at the first chunk size line and
/// keeps whatever follows the body.
async fn read_chunked(conn: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    // Bounded: every chunk is at least one byte of the bounded body, or the
    // last one.
    loop {
        let line_end = loop {
            if let Some(i) = find(buf, b"\r\n") {
                break i;
            }
            if buf.len() > MAX_HEAD {
                return Err(invalid("chunk size line too long"));
            }
            if read_more(conn, buf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed in a chunk",
                ));
            }
        };
        let size_text = std::str::from_utf8(&buf[..line_end])
            .map_err(|_| invalid("bad chunk size"))?
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        if body.len() + size > MAX_BODY {
            return Err(invalid("body too large"));
        }
        if size == 0 {
            // Trailers (none expected) end with an empty line.
            loop {
                if let Some(i) = find(&buf[line_end..], b"\r\n\r\n") {
                    buf.drain(..line_end + i + 4);
                    return Ok(body);
                }
                if buf.len() > MAX_HEAD {
                    return Err(invalid("trailers too long"));
                }
                if read_more(conn, buf).await? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed in the trailers",
                    ));
                }
            }
        }
        let need = line_end + 2 + size + 2;
        while buf.len() < need {
            if read_more(conn, buf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed in a chunk",
                ));
            }
        }
        body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
        buf.drain(..need);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_joins_urls() {
        let u = Url::parse("http://127.0.0.1:8080/hls/abc/master.m3u8?token=x").unwrap();
        assert_eq!(u.addr, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(u.authority, "127.0.0.1:8080");
        assert_eq!(u.path, "/hls/abc/master.m3u8?token=x");
        assert_eq!(
            u.join("ls1/source/index.m3u8").unwrap().path,
            "/hls/abc/ls1/source/index.m3u8"
        );
        assert_eq!(u.join("/x/y.m3u8").unwrap().path, "/x/y.m3u8");
        assert!(Url::parse("http://example.com/x").is_err());
        assert!(u.join("https://127.0.0.1/x").is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reads_length_chunked_and_keeps_alive() {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = vec![0u8; 4096];
            let mut responses = [
                &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..],
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"[..],
                &b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"[..],
            ]
            .into_iter();
            loop {
                let n = s.read(&mut req).await.unwrap();
                if n == 0 {
                    break;
                }
                let Some(r) = responses.next() else { break };
                s.write_all(r).await.unwrap();
            }
        });
        let url = Url::parse(&format!("http://{addr}/p")).unwrap();
        let mut c = Client::new(url.addr, "t".into());
        let t = Duration::from_secs(5);
        let r = c.get(&url, t).await.unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"hello"[..]));
        let r = c.get(&url, t).await.unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"abcde"[..]));
        let r = c.get(&url, t).await.unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(c.connects, 1);
        assert!(c.conn.is_none());
        server.await.unwrap();
    }
}
