//! The payloads of RTMP messages other than media: protocol control
//! (§5.4), user control (§6.2) and command messages (§7.1.1, §7.2), parsed
//! from what a client sends and written for what the server sends.

use super::amf0::{self, Value};
use super::chunk_writer::{COMMAND_CSID, CONTROL_CSID, ChunkWriter};
use super::message_type;

/// User control event types (§6.2, §7.1.7).
mod user_control {
    pub const STREAM_BEGIN: u16 = 0;
    pub const PING_REQUEST: u16 = 6;
    pub const PING_RESPONSE: u16 = 7;
}

/// Set Peer Bandwidth limit type "dynamic" (§5.4.5).
const LIMIT_DYNAMIC: u8 = 2;

/// A command message: `name(transaction_id, command_object, arguments…)`.
pub(crate) struct Command {
    pub name: String,
    pub transaction_id: f64,
    /// `Null` when the client sent none.
    pub command_object: Value,
    pub arguments: Vec<Value>,
}

impl Command {
    /// Parses an AMF0 command payload (for an AMF3 command message, the
    /// payload after its format byte). The name must be a string; a missing
    /// or non-numeric transaction id reads as 0, as some clients send
    /// `null` for it in notifications.
    pub(crate) fn parse(payload: &[u8]) -> Result<Command, String> {
        let mut values = amf0::decode_all(payload)
            .map_err(|e| format!("malformed command message: {e}"))?
            .into_iter();
        let name = match values.next() {
            Some(Value::String(name)) => name,
            Some(_) => return Err("command message whose name is not a string".into()),
            None => return Err("empty command message".into()),
        };
        let transaction_id = values.next().and_then(|v| v.as_number()).unwrap_or(0.0);
        let command_object = values.next().unwrap_or(Value::Null);
        Ok(Command {
            name,
            transaction_id,
            command_object,
            arguments: values.collect(),
        })
    }

    /// The first argument as a string.
    pub(crate) fn string_argument(&self, index: usize) -> Option<&str> {
        self.arguments.get(index).and_then(Value::as_str)
    }

    /// The first argument as a message stream id, if it is a number that
    /// is one (a whole number in `u32`).
    pub(crate) fn stream_id_argument(&self) -> Option<u32> {
        let n = self.arguments.first()?.as_number()?;
        (n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n)).then_some(n as u32)
    }
}

/// A user control event the session acts on.
pub(crate) enum UserControl {
    /// Ping Request with the client's timestamp, to be echoed.
    PingRequest(u32),
    /// Any other event (Set Buffer Length, Ping Response, …), ignored.
    Other,
}

impl UserControl {
    pub(crate) fn parse(payload: &[u8]) -> Result<UserControl, String> {
        let Some(event) = payload.get(..2) else {
            return Err(format!(
                "User Control message of {} bytes (at least 2 expected)",
                payload.len()
            ));
        };
        let event = u16::from_be_bytes([event[0], event[1]]);
        Ok(match (event, payload.get(2..6)) {
            (user_control::PING_REQUEST, Some(t)) => {
                UserControl::PingRequest(u32::from_be_bytes([t[0], t[1], t[2], t[3]]))
            }
            (user_control::PING_REQUEST, None) => {
                return Err("Ping Request without its 4-byte timestamp".into());
            }
            _ => UserControl::Other,
        })
    }
}

/// A 4-byte big-endian protocol control value (Window Acknowledgement
/// Size, Set Peer Bandwidth, Acknowledgement).
pub(crate) fn control_value(name: &str, payload: &[u8]) -> Result<u32, String> {
    match payload.get(..4) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(format!(
            "{name} message of {} bytes (4 expected)",
            payload.len()
        )),
    }
}

/// `{level, code, description}`, the info object of `_result`, `_error`
/// and `onStatus`.
pub(crate) fn status(level: &str, code: &str, description: &str) -> Vec<(String, Value)> {
    vec![
        ("level".into(), Value::String(level.into())),
        ("code".into(), Value::String(code.into())),
        ("description".into(), Value::String(description.into())),
    ]
}

/// Writes what the server sends to a client.
pub(crate) trait WriteMessages {
    fn window_ack_size(&mut self, size: u32);
    fn set_peer_bandwidth(&mut self, size: u32);
    fn acknowledgement(&mut self, sequence_number: u32);
    fn stream_begin(&mut self, message_stream_id: u32);
    fn ping_response(&mut self, timestamp: u32);
    /// A command message on `message_stream_id`.
    fn command(
        &mut self,
        message_stream_id: u32,
        name: &str,
        transaction_id: f64,
        values: &[Value],
    );
}

impl WriteMessages for ChunkWriter {
    fn window_ack_size(&mut self, size: u32) {
        let t = message_type::WINDOW_ACK_SIZE;
        self.write(CONTROL_CSID, 0, t, 0, &size.to_be_bytes());
    }

    fn set_peer_bandwidth(&mut self, size: u32) {
        let mut payload = size.to_be_bytes().to_vec();
        payload.push(LIMIT_DYNAMIC);
        let t = message_type::SET_PEER_BANDWIDTH;
        self.write(CONTROL_CSID, 0, t, 0, &payload);
    }

    fn acknowledgement(&mut self, sequence_number: u32) {
        let t = message_type::ACKNOWLEDGEMENT;
        self.write(CONTROL_CSID, 0, t, 0, &sequence_number.to_be_bytes());
    }

    fn stream_begin(&mut self, message_stream_id: u32) {
        let mut payload = user_control::STREAM_BEGIN.to_be_bytes().to_vec();
        payload.extend_from_slice(&message_stream_id.to_be_bytes());
        self.write(CONTROL_CSID, 0, message_type::USER_CONTROL, 0, &payload);
    }

    fn ping_response(&mut self, timestamp: u32) {
        let mut payload = user_control::PING_RESPONSE.to_be_bytes().to_vec();
        payload.extend_from_slice(&timestamp.to_be_bytes());
        self.write(CONTROL_CSID, 0, message_type::USER_CONTROL, 0, &payload);
    }

    fn command(
        &mut self,
        message_stream_id: u32,
        name: &str,
        transaction_id: f64,
        values: &[Value],
    ) {
        let mut payload =
            amf0::encode_all(&[Value::String(name.into()), Value::Number(transaction_id)]);
        for v in values {
            amf0::encode(v, &mut payload);
        }
        let t = message_type::AMF0_COMMAND;
        self.write(COMMAND_CSID, message_stream_id, t, 0, &payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_leniently_where_clients_differ() {
        let payload = amf0::encode_all(&[
            Value::String("publish".into()),
            Value::Number(5.0),
            Value::Null,
            Value::String("key".into()),
            Value::String("live".into()),
        ]);
        let c = Command::parse(&payload).unwrap();
        assert_eq!((c.name.as_str(), c.transaction_id), ("publish", 5.0));
        assert_eq!(c.string_argument(0), Some("key"));
        assert_eq!(c.string_argument(1), Some("live"));
        // Name only: transaction 0, null command object.
        let c = Command::parse(&amf0::encode_all(&[Value::String("x".into())])).unwrap();
        assert_eq!((c.transaction_id, c.command_object), (0.0, Value::Null));
        assert!(Command::parse(&[]).err().unwrap().contains("empty"));
        let number = amf0::encode_all(&[Value::Number(1.0)]);
        assert!(
            Command::parse(&number)
                .err()
                .unwrap()
                .contains("not a string")
        );
        assert!(
            Command::parse(&[0x02, 0x00])
                .err()
                .unwrap()
                .contains("malformed")
        );
    }

    #[test]
    fn stream_id_arguments_must_be_whole_numbers() {
        let with = |v: Value| Command {
            name: "deleteStream".into(),
            transaction_id: 0.0,
            command_object: Value::Null,
            arguments: vec![v],
        };
        assert_eq!(with(Value::Number(1.0)).stream_id_argument(), Some(1));
        for bad in [-1.0, 1.5, 5e9, f64::NAN, f64::INFINITY] {
            assert_eq!(with(Value::Number(bad)).stream_id_argument(), None, "{bad}");
        }
        assert_eq!(with(Value::Null).stream_id_argument(), None);
    }

    #[test]
    fn user_control_and_control_values() {
        assert!(matches!(
            UserControl::parse(&[0, 6, 0, 0, 1, 0]),
            Ok(UserControl::PingRequest(256))
        ));
        assert!(matches!(
            UserControl::parse(&[0, 3, 0, 0, 0, 1, 0, 0, 0, 0]),
            Ok(UserControl::Other)
        ));
        assert!(UserControl::parse(&[0]).is_err());
        assert!(UserControl::parse(&[0, 6, 0]).is_err());
        assert_eq!(
            control_value("Window Acknowledgement Size", &[0, 0, 1, 0, 9]),
            Ok(256)
        );
        assert!(
            control_value("Acknowledgement", &[0, 1])
                .err()
                .unwrap()
                .contains("2 bytes")
        );
    }
}
