//! The session through [`Connection`], driven by a client of our own
//! chunk writer: what the server sends and answers, and every refusal.

use av::DemuxEvent;

use crate::rtmp::amf0::{self, Value};
use crate::rtmp::message::Command;
use crate::rtmp::message_type;
use crate::testutil::{TestClient, string};
use crate::{Connection, Error, Event, IngestConfig};

/// Publishes `key` on a new stream (1); returns the request id.
fn publish(client: &mut TestClient, server: &mut Connection, key: &str) -> u32 {
    assert_eq!(client.publish(server, key).unwrap(), Some(1));
    match client.events.pop() {
        Some(Event::PublishRequested { request_id, .. }) => request_id,
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_app_is_refused() {
    let mut server = Connection::with_id(&IngestConfig::default(), 9);
    let mut client = TestClient::handshaken(&mut server).unwrap();
    client.command(
        0,
        "connect",
        1.0,
        &[amf0::object([("app", string("other/"))])],
    );
    let err = client.send(&mut server).unwrap_err();
    assert!(
        matches!(err, Error::UnknownApp(ref a) if a == "other"),
        "{err}"
    );
    let answer = client.commands().pop().unwrap();
    assert_eq!(
        (answer.name.as_str(), answer.transaction_id),
        ("_error", 1.0)
    );
    let info = &answer.arguments[0];
    assert_eq!(
        info.get("code"),
        Some(&string("NetConnection.Connect.Rejected"))
    );
    assert_eq!(
        info.get("description"),
        Some(&string("unknown application \"other\""))
    );
}

#[test]
fn data_messages_are_tolerated() {
    // rml_rtmp 0.8 panicked on a data message holding only
    // "@setDataFrame"; data messages are ignored now, whatever they hold.
    let mut server = Connection::new(&IngestConfig::default());
    let mut client = TestClient::handshaken(&mut server).unwrap();
    client.connect(&mut server).unwrap();
    for payload in [
        amf0::encode_all(&[string("@setDataFrame")]),
        amf0::encode_all(&[
            string("@setDataFrame"),
            string("onMetaData"),
            Value::EcmaArray(vec![("width".into(), Value::Number(1280.0))]),
        ]),
        vec![0xff, 0x00, 0x13],
        Vec::new(),
    ] {
        client
            .writer
            .write(4, 1, message_type::AMF0_DATA, 0, &payload);
        client
            .writer
            .write(4, 1, message_type::AMF3_DATA, 0, &payload);
        client.send(&mut server).unwrap();
    }
}

#[test]
fn the_server_speaks_first_and_answers_connect_as_rml_rtmp_did() {
    let config = IngestConfig {
        chunk_size: 8192,
        ..IngestConfig::default()
    };
    let mut server = Connection::new(&config);
    let mut client = TestClient::handshaken(&mut server).unwrap();
    let first: Vec<(u8, Vec<u8>)> = client
        .messages()
        .into_iter()
        .map(|m| (m.type_id, m.payload.to_vec()))
        .collect();
    let on_bw_done = amf0::encode_all(&[
        string("onBWDone"),
        Value::Number(0.0),
        Value::Null,
        Value::Number(8192.0),
    ]);
    // Set Chunk Size first, which the reader follows rather than returns.
    assert_eq!(client.reader.chunk_size(), 8192);
    assert_eq!(
        first,
        vec![
            (5, (1u32 << 30).to_be_bytes().to_vec()),
            (4, vec![0, 0, 0, 0, 0, 0]),
            (6, vec![0, 0x26, 0x25, 0xa0, 2]),
            (20, on_bw_done),
        ]
    );
    let answer = client.connect(&mut server).unwrap().pop().unwrap();
    assert_eq!(
        (answer.name.as_str(), answer.transaction_id),
        ("_result", 1.0)
    );
    assert_eq!(
        answer.command_object,
        amf0::object([
            ("fmsVer", string("FMS/3,0,1,1233")),
            ("capabilities", Value::Number(31.0)),
        ])
    );
    assert_eq!(
        answer.arguments,
        [amf0::object([
            ("level", string("status")),
            ("code", string("NetConnection.Connect.Success")),
            ("description", string("Successfully connected on app: live")),
            ("objectEncoding", Value::Number(3.0)),
        ])]
    );
}

/// The status object of the last command the client received.
fn last_status(client: &mut TestClient) -> (String, f64, u32, Value) {
    let m = client.messages().pop().unwrap();
    let c = Command::parse(&m.payload).unwrap();
    (
        c.name,
        c.transaction_id,
        m.message_stream_id,
        c.arguments[0].clone(),
    )
}

#[test]
fn a_refused_publish_is_told_why() {
    let mut server = Connection::new(&IngestConfig::default());
    let mut client = TestClient::handshaken(&mut server).unwrap();
    client.connect(&mut server).unwrap();
    let request_id = publish(&mut client, &mut server, "wrong");
    server
        .reject_publish(
            request_id,
            "NetStream.Publish.BadName",
            "unknown stream key",
        )
        .unwrap();
    client.send(&mut server).unwrap();
    let (name, transaction, stream, info) = last_status(&mut client);
    assert_eq!((name.as_str(), transaction, stream), ("_error", 0.0, 1));
    assert_eq!(
        info,
        amf0::object([
            ("level", string("error")),
            ("code", string("NetStream.Publish.BadName")),
            ("description", string("unknown stream key")),
        ])
    );
    assert!(!server.is_publishing());
    assert!(server.accept_publish(request_id).is_err(), "answered once");
}

#[test]
fn an_accepted_publish_starts_media() {
    let mut server = Connection::new(&IngestConfig::default());
    let mut client = TestClient::handshaken(&mut server).unwrap();
    client.connect(&mut server).unwrap();
    let request_id = publish(&mut client, &mut server, "key");
    // Media before the answer is dropped.
    client
        .writer
        .write(4, 1, message_type::AUDIO, 0, &[0xaf, 0x00, 0x11, 0x90]);
    client.send(&mut server).unwrap();
    assert!(client.events.is_empty());
    server.accept_publish(request_id).unwrap();
    client.send(&mut server).unwrap();
    let messages = client.messages();
    assert_eq!(messages[0].type_id, message_type::USER_CONTROL);
    assert_eq!(
        &messages[0].payload[..],
        &[0, 0, 0, 0, 0, 1],
        "StreamBegin 1"
    );
    let start = Command::parse(&messages[1].payload).unwrap();
    assert_eq!(
        (start.name.as_str(), messages[1].message_stream_id),
        ("onStatus", 1)
    );
    assert_eq!(
        start.arguments[0].get("code"),
        Some(&string("NetStream.Publish.Start"))
    );
    // Media on another message stream is not this publish's.
    client
        .writer
        .write(4, 2, message_type::AUDIO, 0, &[0xaf, 0x00, 0x11, 0x90]);
    client
        .writer
        .write(4, 1, message_type::AUDIO, 0, &[0xaf, 0x00, 0x11, 0x90]);
    client.send(&mut server).unwrap();
    assert!(matches!(
        client.events[..],
        [Event::Media(DemuxEvent::AudioConfig(_))]
    ));
    // closeStream ends it.
    client.command(1, "closeStream", 0.0, &[Value::Null]);
    client.send(&mut server).unwrap();
    assert_eq!(client.events.last(), Some(&Event::PublishFinished));
    assert!(!server.is_publishing());
}

#[test]
fn playback_is_refused_and_the_connection_stays() {
    let mut server = Connection::new(&IngestConfig::default());
    let mut client = TestClient::handshaken(&mut server).unwrap();
    client.connect(&mut server).unwrap();
    client.command(0, "createStream", 2.0, &[Value::Null]);
    client.command(1, "play", 0.0, &[Value::Null, string("x")]);
    client.send(&mut server).unwrap();
    let (name, _, stream, info) = last_status(&mut client);
    assert_eq!((name.as_str(), stream), ("_error", 1));
    assert_eq!(info.get("code"), Some(&string("NetStream.Play.Failed")));
}

#[test]
fn every_protocol_refusal_names_the_connection_and_the_byte() {
    let connect = amf0::object([("app", string("live"))]);
    let no_app = [amf0::object([("x", Value::Null)])];
    let created = [Value::Null];
    let publish = [Value::Null, string("k"), string("live")];
    // (steps before, the offending command, what the error says)
    type Step<'a> = (u32, &'a str, &'a [Value]);
    let cases: Vec<(Vec<Step>, Step, &str)> = vec![
        (
            vec![],
            (0, "createStream", &created),
            "createStream before connect",
        ),
        (vec![], (1, "publish", &publish), "publish before connect"),
        (
            vec![],
            (0, "connect", &[]),
            "connect without a command object",
        ),
        (vec![], (0, "connect", &no_app), "without an app name"),
        (
            vec![(0, "connect", std::slice::from_ref(&connect))],
            (0, "connect", std::slice::from_ref(&connect)),
            "second connect",
        ),
        (
            vec![(0, "connect", std::slice::from_ref(&connect))],
            (1, "publish", &publish),
            "publish on message stream 1, which createStream did not create",
        ),
        (
            vec![
                (0, "connect", std::slice::from_ref(&connect)),
                (0, "createStream", &created),
            ],
            (1, "publish", &[Value::Null, Value::Number(1.0)]),
            "publish without a stream name",
        ),
        (
            vec![
                (0, "connect", std::slice::from_ref(&connect)),
                (0, "createStream", &created),
                (1, "publish", &publish),
            ],
            (1, "publish", &publish),
            "second publish",
        ),
        (
            [
                vec![(0, "connect", std::slice::from_ref(&connect))],
                vec![(0, "createStream", &created[..]); 8],
            ]
            .concat(),
            (0, "createStream", &created),
            "more than 8 createStream",
        ),
    ];
    for (before, (stream, name, values), context) in cases {
        let mut server = Connection::with_id(&IngestConfig::default(), 42);
        let mut client = TestClient::handshaken(&mut server).unwrap();
        for (stream, name, values) in before {
            client.command(stream, name, 1.0, values);
            client.send(&mut server).unwrap();
        }
        let offset = server.bytes_received();
        client.command(stream, name, 1.0, values);
        let err = client.send(&mut server).unwrap_err();
        let Error::Invalid {
            connection: 42,
            offset: at,
            context: said,
        } = &err
        else {
            panic!("{context}: {err}");
        };
        assert!(said.contains(context), "{context}: {err}");
        assert_eq!(*at, offset, "{context}: the offending message starts there");
        assert!(server.push(&[0xc3]).is_err(), "{context}: stays closed");
    }
}

#[test]
fn malformed_and_oversized_commands_are_refused() {
    for (payload, context) in [
        (
            vec![0x02, 0x00, 0x09, b'x'],
            "malformed command message: AMF0 value runs past the end at byte 3",
        ),
        (vec![0x05], "command message whose name is not a string"),
        (
            vec![0x02, 0, 1, b'x', 0x0c, 0, 1, 0, 0],
            "malformed command message",
        ),
        (vec![0u8; 64 * 1024 + 1], "command message of 65537 bytes"),
    ] {
        let mut server = Connection::new(&IngestConfig::default());
        let mut client = TestClient::handshaken(&mut server).unwrap();
        client.writer.set_chunk_size(1 << 20);
        client
            .writer
            .write(3, 0, message_type::AMF0_COMMAND, 0, &payload);
        let err = client.send(&mut server).unwrap_err().to_string();
        assert!(err.contains(context), "{err}");
    }
}

#[test]
fn acknowledges_by_window_and_answers_pings() {
    let mut server = Connection::new(&IngestConfig::default());
    let mut client = TestClient::handshaken(&mut server).unwrap();
    client.connect(&mut server).unwrap();
    client.writer.write(
        2,
        0,
        message_type::WINDOW_ACK_SIZE,
        0,
        &1000u32.to_be_bytes(),
    );
    client
        .writer
        .write(2, 0, message_type::USER_CONTROL, 0, &[0, 6, 0, 0, 0, 42]);
    client.send(&mut server).unwrap();
    let pong: Vec<_> = client
        .messages()
        .into_iter()
        .map(|m| m.payload.to_vec())
        .collect();
    assert_eq!(pong, [vec![0, 7, 0, 0, 0, 42]]);
    // Unknown types pass; their bytes count towards the window.
    client.writer.write(5, 0, 0x7f, 0, &[0u8; 900]);
    client.send(&mut server).unwrap();
    let acks: Vec<_> = client
        .messages()
        .into_iter()
        .filter(|m| m.type_id == message_type::ACKNOWLEDGEMENT)
        .map(|m| u32::from_be_bytes(m.payload[..4].try_into().unwrap()))
        .collect();
    let chunk_bytes = server.bytes_received() - 2 * 1536 - 1;
    assert_eq!(
        acks,
        [chunk_bytes as u32],
        "the sequence number counts every byte so far"
    );
}
