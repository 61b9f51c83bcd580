//! A sans-IO reader of HTTP/1.1 request framing, for counting the requests
//! a client sends through [`FaultProxy`](super::FaultProxy): request heads
//! are parsed, bodies (`Content-Length` or chunked) skipped.

/// One request seen by the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// `GET`, `PUT`, `HEAD`, `DELETE`, `POST`...
    pub method: String,
    /// The request target's path, still percent-encoded
    /// (`/bucket/live/x/0.ts` for path-style S3).
    pub path: String,
    /// The query string without `?` (`list-type=2&prefix=...`), or empty.
    pub query: String,
}

#[derive(Debug, Default)]
pub(crate) struct RequestParser {
    buf: Vec<u8>,
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Head,
    /// Bytes of a body (or of a chunk plus its CRLF) still to skip.
    Body {
        remaining: u64,
        chunked: bool,
    },
    ChunkSize,
    Trailers,
    /// Not HTTP/1 as we know it: stop looking.
    Lost,
}

/// Request heads larger than this are not HTTP we expect.
const MAX_HEAD: usize = 64 * 1024;

impl RequestParser {
    /// Feeds bytes the client sent; returns the requests whose heads they
    /// completed.
    pub fn push(&mut self, data: &[u8]) -> Vec<ProxiedRequest> {
        let mut out = Vec::new();
        if self.state == State::Lost {
            return out;
        }
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        loop {
            let rest = &self.buf[pos..];
            match self.state {
                State::Lost => break,
                State::Head => {
                    let Some(end) = find(rest, b"\r\n\r\n") else {
                        if rest.len() > MAX_HEAD {
                            self.state = State::Lost;
                        }
                        break;
                    };
                    let head = String::from_utf8_lossy(&rest[..end]).into_owned();
                    pos += end + 4;
                    match parse_head(&head) {
                        Some((request, content_length, chunked)) => {
                            out.push(request);
                            self.state = if chunked {
                                State::ChunkSize
                            } else if content_length > 0 {
                                State::Body {
                                    remaining: content_length,
                                    chunked: false,
                                }
                            } else {
                                State::Head
                            };
                        }
                        None => self.state = State::Lost,
                    }
                }
                State::Body { remaining, chunked } => {
                    if rest.is_empty() {
                        break;
                    }
                    let take = remaining.min(rest.len() as u64);
                    pos += take as usize;
                    let remaining = remaining - take;
                    self.state = match (remaining, chunked) {
                        (0, true) => State::ChunkSize,
                        (0, false) => State::Head,
                        (remaining, chunked) => State::Body { remaining, chunked },
                    };
                }
                State::ChunkSize => {
                    let Some(end) = find(rest, b"\r\n") else {
                        if rest.len() > 1024 {
                            self.state = State::Lost;
                        }
                        break;
                    };
                    let line = String::from_utf8_lossy(&rest[..end]);
                    let size = line.split(';').next().unwrap_or("").trim();
                    pos += end + 2;
                    self.state = match u64::from_str_radix(size, 16) {
                        Ok(0) => State::Trailers,
                        Ok(n) => State::Body {
                            remaining: n + 2,
                            chunked: true,
                        },
                        Err(_) => State::Lost,
                    };
                }
                State::Trailers => {
                    let Some(end) = find(rest, b"\r\n") else {
                        break;
                    };
                    pos += end + 2;
                    if end == 0 {
                        self.state = State::Head;
                    }
                }
            }
        }
        self.buf.drain(..pos);
        out
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The request, its Content-Length and whether it is chunked.
fn parse_head(head: &str) -> Option<(ProxiedRequest, u64, bool)> {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?;
    if !request_line.next()?.starts_with("HTTP/1") {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut content_length = 0;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    Some((
        ProxiedRequest {
            method,
            path: path.to_string(),
            query: query.to_string(),
        },
        content_length,
        chunked,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn methods(reqs: &[ProxiedRequest]) -> Vec<(&str, &str)> {
        reqs.iter()
            .map(|r| (r.method.as_str(), r.path.as_str()))
            .collect()
    }

    #[test]
    fn counts_pipelined_requests_byte_by_byte() {
        let stream = b"PUT /b/k1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
GET /b/k2?x=1 HTTP/1.1\r\nHost: x\r\n\r\n\
POST /b?delete HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
DELETE /b/k3 HTTP/1.1\r\n\r\n";
        let mut parser = RequestParser::default();
        let mut seen = Vec::new();
        for b in stream.iter() {
            seen.extend(parser.push(std::slice::from_ref(b)));
        }
        assert_eq!(
            methods(&seen),
            vec![
                ("PUT", "/b/k1"),
                ("GET", "/b/k2"),
                ("POST", "/b"),
                ("DELETE", "/b/k3")
            ]
        );
        assert_eq!(seen[1].query, "x=1");
        // All at once gives the same.
        let mut parser = RequestParser::default();
        assert_eq!(parser.push(stream), seen);
    }

    #[test]
    fn gives_up_on_garbage() {
        let mut parser = RequestParser::default();
        assert!(parser.push(b"\x16\x03\x01 not http\r\n\r\n").is_empty());
        assert!(parser.push(b"GET / HTTP/1.1\r\n\r\n").is_empty());
    }
}
