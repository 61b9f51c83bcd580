//! AMF0, the value encoding of RTMP commands (Adobe "Action Message Format
//! AMF 0", December 2007): decoding of what encoders send and encoding of
//! what the server answers.
//!
//! Decoding reads untrusted bytes: it never panics, nests at most
//! [`MAX_DEPTH`] containers deep (a recursive parser would otherwise let a
//! few kilobytes of nested object markers overflow the stack), and never
//! allocates more than the input could fill (counts from the wire are not
//! used for preallocation). Object properties keep their order and
//! duplicates, as sent.

/// Deepest nesting of objects and arrays accepted.
pub(crate) const MAX_DEPTH: usize = 16;

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const REFERENCE: u8 = 0x07;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0a;
const DATE: u8 = 0x0b;
const LONG_STRING: u8 = 0x0c;
const UNSUPPORTED: u8 = 0x0d;
const XML_DOCUMENT: u8 = 0x0f;
const TYPED_OBJECT: u8 = 0x10;
const AVMPLUS: u8 = 0x11;

/// One AMF0 value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Number(f64),
    Boolean(bool),
    /// A string or long string (`0x02`/`0x0c`); encoded as a long string
    /// only when longer than 65,535 bytes.
    String(String),
    /// Anonymous object: properties in the order sent.
    Object(Vec<(String, Value)>),
    Null,
    Undefined,
    /// Associative array; its count field is advisory and not kept.
    EcmaArray(Vec<(String, Value)>),
    StrictArray(Vec<Value>),
    /// Milliseconds since the Unix epoch (the time zone field is reserved
    /// and ignored).
    Date(f64),
    XmlDocument(String),
    /// Object of a registered class.
    TypedObject {
        class: String,
        properties: Vec<(String, Value)>,
    },
    /// `unsupported` marker.
    Unsupported,
}

impl Value {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// Properties of an object, ECMA array or typed object.
    pub(crate) fn properties(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(p) | Value::EcmaArray(p) => Some(p),
            Value::TypedObject { properties, .. } => Some(properties),
            _ => None,
        }
    }

    /// The first property called `name`, if this has properties.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Why AMF0 bytes could not be decoded: what, and at which byte of the
/// encoded input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    pub position: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AMF0 {} at byte {} of the message",
            self.reason, self.position
        )
    }
}

/// Decodes consecutive values until `input` ends.
pub(crate) fn decode_all(input: &[u8]) -> Result<Vec<Value>, DecodeError> {
    let mut reader = Reader { input, position: 0 };
    let mut values = Vec::new();
    while reader.position < input.len() {
        values.push(reader.value(0)?);
    }
    Ok(values)
}

struct Reader<'a> {
    input: &'a [u8],
    position: usize,
}

impl Reader<'_> {
    fn error(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            position: self.position,
            reason,
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .position
            .checked_add(n)
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| self.error("value runs past the end"))?;
        let bytes = &self.input[self.position..end];
        self.position = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn utf8(&mut self, len: usize) -> Result<String, DecodeError> {
        let start = self.position;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError {
            position: start,
            reason: "string is not UTF-8",
        })
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let marker_at = self.position;
        let marker = self.u8()?;
        // The depth inside a container that starts here.
        let nested = || {
            if depth < MAX_DEPTH {
                Ok(depth.saturating_add(1))
            } else {
                Err(DecodeError {
                    position: marker_at,
                    reason: "values nested too deeply",
                })
            }
        };
        Ok(match marker {
            NUMBER => Value::Number(self.f64()?),
            BOOLEAN => Value::Boolean(self.u8()? != 0),
            STRING => {
                let len = self.u16()?;
                Value::String(self.utf8(usize::from(len))?)
            }
            LONG_STRING => {
                let len = self.u32()?;
                Value::String(self.utf8(len as usize)?)
            }
            XML_DOCUMENT => {
                let len = self.u32()?;
                Value::XmlDocument(self.utf8(len as usize)?)
            }
            OBJECT => {
                let depth = nested()?;
                Value::Object(self.properties(depth)?)
            }
            ECMA_ARRAY => {
                let depth = nested()?;
                let _advisory_count = self.u32()?;
                Value::EcmaArray(self.properties(depth)?)
            }
            TYPED_OBJECT => {
                let depth = nested()?;
                let len = self.u16()?;
                let class = self.utf8(usize::from(len))?;
                Value::TypedObject {
                    class,
                    properties: self.properties(depth)?,
                }
            }
            STRICT_ARRAY => {
                let depth = nested()?;
                let count = self.u32()?;
                // Each element takes at least one byte: a count beyond the
                // input fails at its end rather than allocating for it.
                let mut values = Vec::new();
                for _ in 0..count {
                    values.push(self.value(depth)?);
                }
                Value::StrictArray(values)
            }
            DATE => {
                let millis = self.f64()?;
                let _time_zone = self.u16()?;
                Value::Date(millis)
            }
            NULL => Value::Null,
            UNDEFINED => Value::Undefined,
            UNSUPPORTED => Value::Unsupported,
            REFERENCE => {
                self.position = marker_at;
                return Err(self.error("reference marker (0x07) is not supported"));
            }
            AVMPLUS => {
                self.position = marker_at;
                return Err(self.error("AMF3 value (marker 0x11) is not supported"));
            }
            OBJECT_END => {
                self.position = marker_at;
                return Err(self.error("object end marker outside an object"));
            }
            _ => {
                self.position = marker_at;
                return Err(self.error("unknown marker"));
            }
        })
    }

    /// Properties up to and including the end marker (an empty name
    /// followed by 0x09).
    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Value)>, DecodeError> {
        let mut properties = Vec::new();
        loop {
            let len = self.u16()?;
            if len == 0 {
                if self.u8()? != OBJECT_END {
                    self.position = self.position.saturating_sub(1);
                    return Err(self.error("property with an empty name"));
                }
                return Ok(properties);
            }
            let name = self.utf8(usize::from(len))?;
            let value = self.value(depth)?;
            properties.push((name, value));
        }
    }
}

/// Appends the encoding of `value` to `out`.
pub(crate) fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Number(n) => {
            out.push(NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Boolean(b) => out.extend_from_slice(&[BOOLEAN, u8::from(*b)]),
        Value::String(s) => match u16::try_from(s.len()) {
            Ok(len) => {
                out.push(STRING);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Err(_) => {
                out.push(LONG_STRING);
                long_utf8(s, out);
            }
        },
        Value::Object(properties) => {
            out.push(OBJECT);
            encode_properties(properties, out);
        }
        Value::Null => out.push(NULL),
        Value::Undefined => out.push(UNDEFINED),
        Value::EcmaArray(properties) => {
            out.push(ECMA_ARRAY);
            let count = u32::try_from(properties.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            encode_properties(properties, out);
        }
        Value::StrictArray(values) => {
            out.push(STRICT_ARRAY);
            let count = u32::try_from(values.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for v in values.iter().take(count as usize) {
                encode(v, out);
            }
        }
        Value::Date(millis) => {
            out.push(DATE);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
        Value::XmlDocument(s) => {
            out.push(XML_DOCUMENT);
            long_utf8(s, out);
        }
        Value::TypedObject { class, properties } => {
            out.push(TYPED_OBJECT);
            short_utf8(class, out);
            encode_properties(properties, out);
        }
        Value::Unsupported => out.push(UNSUPPORTED),
    }
}

/// A string with a 16-bit length, cut at 65,535 bytes (on a character
/// boundary) if longer: only names are written this way.
fn short_utf8(s: &str, out: &mut Vec<u8>) {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let len = u16::try_from(end).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

/// A string with a 32-bit length (cut at 4 GiB, which no message reaches).
fn long_utf8(s: &str, out: &mut Vec<u8>) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..len as usize]);
}

fn encode_properties(properties: &[(String, Value)], out: &mut Vec<u8>) {
    for (name, value) in properties {
        if name.is_empty() {
            // An empty name would read as the end of the object.
            continue;
        }
        short_utf8(name, out);
        encode(value, out);
    }
    out.extend_from_slice(&[0, 0, OBJECT_END]);
}

/// Encodes `values` one after another (a command message's payload).
pub(crate) fn encode_all(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    for v in values {
        encode(v, &mut out);
    }
    out
}

/// `{name: value, ...}` from string literals, for building answers.
pub(crate) fn object<const N: usize>(properties: [(&str, Value); N]) -> Value {
    Value::Object(
        properties
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> Value {
        Value::String(s.into())
    }

    #[test]
    fn round_trips_every_kind() {
        let values = vec![
            string("connect"),
            Value::Number(1.0),
            object([
                ("app", string("live")),
                ("flashVer", string("FMLE/3.0 (compatible; FMSc/1.0)")),
                ("fpad", Value::Boolean(false)),
                ("nested", object([("x", Value::Null)])),
            ]),
            Value::Null,
            Value::Undefined,
            Value::EcmaArray(vec![("duration".into(), Value::Number(0.0))]),
            Value::StrictArray(vec![string("avc1"), string("hvc1")]),
            Value::Date(1.7e12),
            Value::XmlDocument("<a/>".into()),
            Value::TypedObject {
                class: "flex.Message".into(),
                properties: vec![("id".into(), Value::Number(3.0))],
            },
            Value::Unsupported,
            string(&"x".repeat(70_000)),
        ];
        let bytes = encode_all(&values);
        assert_eq!(decode_all(&bytes).unwrap(), values);
    }

    #[test]
    fn matches_the_spec_bytes() {
        // `_result` (string), 1 (number), {a: true} (object).
        let bytes = encode_all(&[
            string("_result"),
            Value::Number(1.0),
            object([("a", Value::Boolean(true))]),
        ]);
        let mut expected = vec![0x02, 0x00, 0x07];
        expected.extend_from_slice(b"_result");
        expected.extend_from_slice(&[0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0x03, 0x00, 0x01, b'a', 0x01, 0x01, 0x00, 0x00, 0x09]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn refuses_malformed_input_with_its_position() {
        let cases: [(&[u8], usize, &str); 8] = [
            (&[0x00, 0x3f], 1, "runs past the end"),
            (&[0x02, 0x00, 0x05, b'a'], 3, "runs past the end"),
            (&[0x02, 0x00, 0x02, 0xff, 0xfe], 3, "not UTF-8"),
            (&[0x03, 0x00, 0x00, 0x05], 3, "empty name"),
            (&[0x05, 0x07, 0x00, 0x01], 1, "reference"),
            (&[0x11, 0x01], 0, "AMF3"),
            (&[0x09], 0, "object end marker"),
            (
                &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x05],
                6,
                "runs past the end",
            ),
        ];
        for (bytes, position, reason) in cases {
            let err = decode_all(bytes).unwrap_err();
            assert_eq!(err.position, position, "{bytes:?}: {err}");
            assert!(err.reason.contains(reason), "{bytes:?}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        // A million nested objects in 4 MB: each level is marker + name.
        let mut bytes = Vec::new();
        for _ in 0..1_000_000 {
            bytes.extend_from_slice(&[0x03, 0x00, 0x01, b'a']);
        }
        let err = decode_all(&bytes).unwrap_err();
        assert!(err.reason.contains("nested too deeply"), "{err}");
        // Strict arrays and ECMA arrays count too.
        let mut bytes = Vec::new();
        for _ in 0..100 {
            bytes.extend_from_slice(&[0x0a, 0, 0, 0, 1]);
        }
        assert!(decode_all(&bytes).is_err());
        // MAX_DEPTH levels are fine.
        let mut value = Value::Null;
        for _ in 0..MAX_DEPTH {
            value = Value::StrictArray(vec![value]);
        }
        let bytes = encode_all(std::slice::from_ref(&value));
        assert_eq!(decode_all(&bytes).unwrap(), vec![value]);
    }

    #[test]
    fn lookups() {
        let v = object([("app", string("live")), ("n", Value::Number(2.0))]);
        assert_eq!(v.get("app").and_then(Value::as_str), Some("live"));
        assert_eq!(v.get("n").and_then(Value::as_number), Some(2.0));
        assert_eq!(v.get("missing"), None);
        assert_eq!(Value::Null.get("app"), None);
    }
}
