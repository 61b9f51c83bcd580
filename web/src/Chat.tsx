import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link } from "react-router-dom";

export interface ChatMessage {
  message_id: string;
  user_id: string;
  username: string;
  body: string;
  created_at_ms: number;
}

type ServerFrame =
  | { type: "history"; messages: ChatMessage[] }
  | { type: "message"; message: ChatMessage }
  | { type: "deleted"; message_id: string }
  | { type: "settings"; slow_mode_s: number }
  | { type: "joined"; user_id: string | null; username: string | null; moderator: boolean; slow_mode_s: number }
  | { type: "moderation"; action: string; user_id: string; until_ms?: number }
  | { type: "error"; code: string; message: string };

interface Props {
  slug: string;
  loggedIn: boolean;
  /** The viewer may moderate (owner, moderator or admin). */
  moderator: boolean;
  myUserId?: string;
}

const MAX_MESSAGES = 200;

export default function Chat({ slug, loggedIn, moderator: ownerOrAdmin, myUserId }: Props) {
  // The server says on join whether this connection may moderate
  // (channel moderators too); the owner and admins may in any case.
  const [joinedModerator, setJoinedModerator] = useState(false);
  const moderator = ownerOrAdmin || joinedModerator;
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [state, setState] = useState<"connecting" | "open" | "closed">("connecting");
  const [notice, setNotice] = useState<string | null>(null);
  const [slowMode, setSlowMode] = useState(0);
  const [text, setText] = useState("");
  const ws = useRef<WebSocket | null>(null);
  const list = useRef<HTMLDivElement | null>(null);

  useEffect(() => {
    let stopped = false;
    let attempt = 0;
    let timer: number | undefined;
    const connect = () => {
      setState("connecting");
      const proto = window.location.protocol === "https:" ? "wss" : "ws";
      const sock = new WebSocket(`${proto}://${window.location.host}/ws/chat/${encodeURIComponent(slug)}`);
      ws.current = sock;
      sock.onopen = () => {
        attempt = 0;
        setState("open");
        setNotice(null);
      };
      sock.onmessage = (ev) => {
        let frame: ServerFrame;
        try {
          frame = JSON.parse(String(ev.data)) as ServerFrame;
        } catch {
          return;
        }
        switch (frame.type) {
          case "history":
            setMessages(frame.messages.slice(-MAX_MESSAGES));
            break;
          case "message":
            setMessages((m) =>
              m.some((x) => x.message_id === frame.message.message_id)
                ? m
                : [...m, frame.message].slice(-MAX_MESSAGES),
            );
            break;
          case "deleted":
            setMessages((m) => m.filter((x) => x.message_id !== frame.message_id));
            break;
          case "settings":
            setSlowMode(frame.slow_mode_s);
            break;
          case "joined":
            setJoinedModerator(frame.moderator);
            setSlowMode(frame.slow_mode_s);
            break;
          case "moderation":
            if (frame.user_id === myUserId) {
              setNotice(
                frame.action === "timeout" && frame.until_ms
                  ? `You are timed out until ${new Date(frame.until_ms).toLocaleTimeString()}`
                  : frame.action === "ban"
                    ? "You are banned from this chat"
                    : frame.action === "unban"
                      ? "You may chat again"
                      : `Moderation: ${frame.action}`,
              );
            }
            break;
          case "error":
            setNotice(frame.message || frame.code);
            break;
        }
      };
      sock.onclose = () => {
        if (ws.current === sock) ws.current = null;
        if (stopped) return;
        setState("closed");
        const delay = Math.min(30000, 1000 * 2 ** attempt++);
        setNotice(`Chat disconnected; reconnecting in ${Math.round(delay / 1000)} s`);
        timer = window.setTimeout(connect, delay);
      };
    };
    connect();
    return () => {
      setJoinedModerator(false);
      stopped = true;
      window.clearTimeout(timer);
      ws.current?.close();
      ws.current = null;
    };
  }, [slug, myUserId]);

  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages]);

  const send = (frame: object) => {
    const sock = ws.current;
    if (!sock || sock.readyState !== WebSocket.OPEN) {
      setNotice("Chat is not connected");
      return false;
    }
    sock.send(JSON.stringify(frame));
    return true;
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = text.trim();
    if (!body) return;
    if (send({ type: "send", body })) {
      setText("");
      setNotice(null);
    }
  };

  return (
    <aside className="chat">
      <div className="chat-head">
        <strong>Chat</strong>
        <span className={`dot ${state}`} title={state} />
        {slowMode > 0 && <span className="pill">slow mode {slowMode} s</span>}
        {moderator && (
          <select
            className="small"
            aria-label="Slow mode"
            value={String(slowMode)}
            onChange={(e) => send({ type: "slow_mode", seconds: Number(e.target.value) })}
          >
            {[0, 5, 10, 30, 60].map((s) => (
              <option key={s} value={s}>
                {s ? `slow ${s} s` : "slow mode off"}
              </option>
            ))}
          </select>
        )}
      </div>
      <div className="chat-list" ref={list}>
        {messages.length === 0 && <p className="muted">No messages yet.</p>}
        {messages.map((m) => (
          <div key={m.message_id} className="chat-message" data-testid="chat-message" data-message-id={m.message_id}>
            <span className="chat-user">{m.username}</span> <span className="chat-body">{m.body}</span>
            {moderator && (
              <span className="chat-mod">
                <button
                  className="link"
                  data-testid="chat-delete"
                  title="Delete message"
                  onClick={() => send({ type: "delete", message_id: m.message_id })}
                >
                  delete
                </button>
                {m.user_id !== myUserId && (
                  <>
                    <button
                      className="link"
                      title="Time out for 10 minutes"
                      onClick={() => send({ type: "timeout", user_id: m.user_id, seconds: 600 })}
                    >
                      timeout
                    </button>
                    <button className="link" title="Ban" onClick={() => send({ type: "ban", user_id: m.user_id })}>
                      ban
                    </button>
                  </>
                )}
              </span>
            )}
          </div>
        ))}
      </div>
      {notice && (
        <div className="error small-text" role="alert">
          {notice}
        </div>
      )}
      {loggedIn ? (
        <form className="chat-form" onSubmit={submit}>
          <input
            data-testid="chat-input"
            value={text}
            maxLength={500}
            placeholder="Say something"
            onChange={(e) => setText(e.target.value)}
          />
          <button data-testid="chat-send" type="submit" disabled={state !== "open"}>
            Send
          </button>
        </form>
      ) : (
        <p className="muted small-text">
          <Link to="/login">Log in</Link> to chat.
        </p>
      )}
    </aside>
  );
}
