import { useEffect, useId, useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import {
  del,
  fmtDuration,
  fmtTime,
  get,
  isLive,
  patch,
  post,
  type ApiToken,
  type Channel,
  type Clip,
  type CreateWebhook,
  type LiveStream,
  type Page,
  type Vod,
  type Webhook,
  type WebhookFormat,
} from "../api";
import { useAuth } from "../auth";
import { CopyButton, ErrorBox, useInterval, useLoad } from "../util";

interface KeyInfo {
  stream_key: string;
  rtmp_url?: string | null;
}

const RTMP_URL_KEY = "aethex.rtmp_url";

function CreateChannel({ onCreated }: { onCreated: (c: Channel, key: KeyInfo) => void }) {
  const [slug, setSlug] = useState("");
  const [title, setTitle] = useState("");
  const [latency, setLatency] = useState("standard");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await post<{ channel: Channel; stream_key: string; rtmp_url?: string | null }>("/api/v1/channels", {
        slug,
        title: title || undefined,
        latency_mode: latency,
      });
      setSlug("");
      setTitle("");
      onCreated(res.channel, { stream_key: res.stream_key, rtmp_url: res.rtmp_url });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="panel form inline-form" onSubmit={(e) => void submit(e)}>
      <h3>New channel</h3>
      <label>
        Slug (URL name)
        <input
          data-testid="create-channel-slug"
          value={slug}
          pattern="[a-z0-9][a-z0-9\-]*"
          title="lower-case letters, digits and dashes"
          onChange={(e) => setSlug(e.target.value.toLowerCase())}
          required
        />
      </label>
      <label>
        Title
        <input data-testid="create-channel-title" value={title} onChange={(e) => setTitle(e.target.value)} />
      </label>
      <label>
        Latency
        <select value={latency} onChange={(e) => setLatency(e.target.value)}>
          <option value="standard">standard</option>
          <option value="low">low (LL-HLS)</option>
        </select>
      </label>
      <button className="primary" data-testid="create-channel-submit" disabled={busy}>
        {busy ? "Creating…" : "Create channel"}
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

function ObsSettings({
  channel,
  keyInfo,
  onKey,
}: {
  channel: Channel;
  keyInfo: KeyInfo | undefined;
  onKey: (k: KeyInfo) => void;
}) {
  const [revealed, setRevealed] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const rtmpUrl = keyInfo?.rtmp_url ?? window.localStorage.getItem(RTMP_URL_KEY) ?? "";
  const reset = async () => {
    if (keyInfo && !window.confirm("Reset the stream key? OBS must use the new one.")) return;
    setBusy(true);
    setError(null);
    try {
      const res = await post<KeyInfo>(`/api/v1/channels/${channel.channel_id}/reset-stream-key`);
      onKey(res);
      setRevealed(true);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel">
      <h3>OBS settings</h3>
      <p className="muted small-text">Settings → Stream → Service: Custom…</p>
      <div className="kv">
        <span>Server</span>
        <span className="row">
          <code data-testid="obs-server-url">{rtmpUrl || "(unknown: reset the key to see it)"}</code>
          {rtmpUrl && <CopyButton text={rtmpUrl} />}
        </span>
        <span>Stream key</span>
        <span className="row wrap">
          {keyInfo ? (
            <>
              {revealed ? (
                <code data-testid="stream-key">{keyInfo.stream_key}</code>
              ) : (
                <code className="muted">••••••••••••••••</code>
              )}
              <button className="small" data-testid="stream-key-reveal" onClick={() => setRevealed(!revealed)}>
                {revealed ? "Hide" : "Reveal"}
              </button>
              <CopyButton text={keyInfo.stream_key} testid="stream-key-copy" />
            </>
          ) : (
            <span className="muted small-text">
              Stream keys are stored hashed and shown only when created or reset.
            </span>
          )}
          <button className="small danger" data-testid="stream-key-reset" disabled={busy} onClick={() => void reset()}>
            {keyInfo ? "Reset" : "Reset to get a new key"}
          </button>
        </span>
        <span>Playback</span>
        <span className="row">
          <code className="small-text">{channel.playback_url}</code>
          <CopyButton text={channel.playback_url} />
        </span>
      </div>
      <p className="muted small-text">Output: x264 (H.264) + AAC, keyframe interval 2 s.</p>
      <ErrorBox error={error} />
    </section>
  );
}

function LiveHealth({ channel }: { channel: Channel }) {
  const id = channel.current_live_stream_id;
  const [ls, setLs] = useState<LiveStream | null>(null);
  const [error, setError] = useState<unknown>(null);
  const poll = async () => {
    if (!id) return;
    try {
      setLs(await get<LiveStream>(`/api/v1/live-streams/${id}`));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    setLs(null);
    void poll();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);
  useInterval(() => void poll(), id ? 3000 : null);
  const ing = ls?.ingest;
  const extras = ls
    ? Object.entries(ls).filter(
        ([k, v]) => typeof v === "number" && /dropped|late|lag|segments/.test(k),
      )
    : [];
  return (
    <section className="panel" data-testid="live-health" data-status={ls?.status ?? channel.status}>
      <h3>
        Live health {isLive(channel) && <span className="badge live">LIVE</span>}
      </h3>
      {!id && <p className="muted">Not streaming. Start OBS with the settings above.</p>}
      <ErrorBox error={error} />
      {ls && (
        <div className="stats">
          <div>
            <b>{ls.status}</b>
            <span>status</span>
          </div>
          <div>
            <b>{ing?.bitrate_bps != null ? `${(ing.bitrate_bps / 1000).toFixed(0)} kb/s` : "–"}</b>
            <span>bitrate</span>
          </div>
          <div>
            <b>{ing?.fps != null ? ing.fps.toFixed(1) : "–"}</b>
            <span>fps</span>
          </div>
          <div>
            <b>{ing?.width && ing?.height ? `${ing.width}×${ing.height}` : "–"}</b>
            <span>resolution</span>
          </div>
          <div>
            <b>{ing?.keyframe_interval_ms != null ? `${(ing.keyframe_interval_ms / 1000).toFixed(1)} s` : "–"}</b>
            <span>keyframe interval</span>
          </div>
          <div>
            <b>{ls.current_viewers}</b>
            <span>viewers (peak {ls.peak_viewers})</span>
          </div>
          <div>
            <b>{[ing?.video_codec, ing?.audio_codec].filter(Boolean).join(" + ") || "–"}</b>
            <span>codecs</span>
          </div>
          {extras.map(([k, v]) => (
            <div key={k}>
              <b>{String(v)}</b>
              <span>{k.replace(/_/g, " ")}</span>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}

function blockedWords(c: Channel): string {
  const w = c.chat_blocked_words;
  return Array.isArray(w) ? w.join(", ") : (w ?? "");
}

function ChannelSettings({ channel, onSaved }: { channel: Channel; onSaved: (c: Channel) => void }) {
  const hasCategory = "category" in channel;
  const hasChat = "chat_slow_mode_s" in channel;
  const [chat, setChat] = useState({ slow: channel.chat_slow_mode_s ?? 0, words: blockedWords(channel) });
  useEffect(() => {
    setChat({ slow: channel.chat_slow_mode_s ?? 0, words: blockedWords(channel) });
  }, [channel.channel_id, channel.updated_at_ms]); // eslint-disable-line react-hooks/exhaustive-deps
  const [form, setForm] = useState({
    title: channel.title,
    category: channel.category ?? "",
    latency_mode: channel.latency_mode,
    ladder: channel.ladder,
    record: channel.record,
    visibility: channel.visibility,
    reconnect_window_s: channel.reconnect_window_s,
  });
  useEffect(() => {
    setForm({
      title: channel.title,
      category: channel.category ?? "",
      latency_mode: channel.latency_mode,
      ladder: channel.ladder,
      record: channel.record,
      visibility: channel.visibility,
      reconnect_window_s: channel.reconnect_window_s,
    });
  }, [channel.channel_id, channel.updated_at_ms]); // eslint-disable-line react-hooks/exhaustive-deps
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const { category, ...rest } = form;
      // `category` only where the server knows it (unknown fields are refused).
      let body: Record<string, unknown> = hasCategory ? { ...rest, category } : rest;
      if (hasChat) {
        body = {
          ...body,
          chat_slow_mode_s: chat.slow,
          chat_blocked_words: chat.words
            .split(/[,\n]/)
            .map((w) => w.trim())
            .filter(Boolean),
        };
      }
      onSaved(await patch<Channel>(`/api/v1/channels/${channel.channel_id}`, body));
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const toggleEnabled = async () => {
    setError(null);
    try {
      onSaved(await post<Channel>(`/api/v1/channels/${channel.channel_id}/${channel.enabled ? "disable" : "enable"}`));
    } catch (err) {
      setError(err);
    }
  };
  // Take playback access back: tokens issued so far, or the playback id too.
  const takeBack = async (action: "revoke-playback-tokens" | "rotate-playback-id") => {
    setError(null);
    try {
      onSaved(await post<Channel>(`/api/v1/channels/${channel.channel_id}/${action}`));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="panel form" onSubmit={(e) => void submit(e)}>
      <h3>Channel settings</h3>
      <label>
        Title
        <input value={form.title} onChange={(e) => setForm({ ...form, title: e.target.value })} />
      </label>
      {hasCategory && (
        <label>
          Category
          <input value={form.category} onChange={(e) => setForm({ ...form, category: e.target.value })} />
        </label>
      )}
      <div className="row wrap">
        <label>
          Latency
          <select value={form.latency_mode} onChange={(e) => setForm({ ...form, latency_mode: e.target.value })}>
            <option value="standard">standard</option>
            <option value="low">low</option>
          </select>
        </label>
        <label>
          Ladder
          <input list="ladders" value={form.ladder} onChange={(e) => setForm({ ...form, ladder: e.target.value })} />
          <datalist id="ladders">
            <option value="default" />
            <option value="passthrough-only" />
          </datalist>
        </label>
        <label>
          Visibility
          <select value={form.visibility} onChange={(e) => setForm({ ...form, visibility: e.target.value })}>
            <option value="public">public</option>
            <option value="unlisted">unlisted</option>
            <option value="private">private</option>
          </select>
        </label>
        <label>
          Reconnect window (s)
          <input
            type="number"
            min={0}
            value={form.reconnect_window_s}
            onChange={(e) => setForm({ ...form, reconnect_window_s: Number(e.target.value) })}
          />
        </label>
        {hasChat && (
          <label>
            Chat slow mode (s)
            <input
              type="number"
              min={0}
              max={3600}
              value={chat.slow}
              onChange={(e) => setChat({ ...chat, slow: Number(e.target.value) })}
            />
          </label>
        )}
        <label className="check">
          <input type="checkbox" checked={form.record} onChange={(e) => setForm({ ...form, record: e.target.checked })} />
          Record broadcasts
        </label>
      </div>
      {hasChat && (
        <label>
          Blocked chat words (comma-separated)
          <input value={chat.words} onChange={(e) => setChat({ ...chat, words: e.target.value })} />
        </label>
      )}
      <div className="row">
        <button className="primary" disabled={busy}>
          {busy ? "Saving…" : "Save"}
        </button>
        {saved && <span className="muted">Saved.</span>}
        <span className="spacer" />
        {channel.suspended ? (
          <span className="muted" data-testid="channel-suspended">
            Suspended by an administrator
          </span>
        ) : (
          <button type="button" className="small danger" onClick={() => void toggleEnabled()}>
            {channel.enabled ? "Disable channel" : "Enable channel"}
          </button>
        )}
      </div>
      <div className="row">
        <span className="muted">Playback access</span>
        <span className="spacer" />
        <button
          type="button"
          className="small"
          title="Links and players given out so far stop working; new ones work"
          onClick={() => void takeBack("revoke-playback-tokens")}
        >
          Revoke playback tokens
        </button>
        <button
          type="button"
          className="small danger"
          title="The old playback URL stops working at once; share the new one"
          onClick={() => void takeBack("rotate-playback-id")}
        >
          New playback ID
        </button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}

function Media({ channel }: { channel: Channel }) {
  const vods = useLoad(() => get<Page<Vod>>(`/api/v1/channels/${channel.channel_id}/vods?limit=50`), [channel.channel_id]);
  const clips = useLoad(() => get<Page<Clip>>(`/api/v1/clips?channel_id=${channel.channel_id}&limit=50`), [channel.channel_id]);
  const [error, setError] = useState<unknown>(null);
  const remove = async (path: string, reload: () => Promise<void>) => {
    if (!window.confirm("Delete it? The media is removed.")) return;
    setError(null);
    try {
      await del(path);
      await reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section className="panel">
      <h3>Recordings</h3>
      <ErrorBox error={vods.error ?? error} onRetry={() => void vods.reload()} />
      {vods.data?.data.length === 0 && <p className="muted">No recordings.</p>}
      <table className="table">
        <tbody>
          {vods.data?.data.map((v) => (
            <tr key={v.vod_id}>
              <td>
                <Link to={`/watch/vod/${v.vod_id}`}>{v.title || "Recording"}</Link>
              </td>
              <td>{v.status}</td>
              <td>{fmtDuration(v.duration_s)}</td>
              <td className="muted">{fmtTime(v.created_at_ms)}</td>
              <td>
                <button className="small danger" onClick={() => void remove(`/api/v1/vods/${v.vod_id}`, vods.reload)}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Clips</h3>
      <ErrorBox error={clips.error} onRetry={() => void clips.reload()} />
      {clips.data?.data.length === 0 && <p className="muted">No clips.</p>}
      <table className="table">
        <tbody>
          {clips.data?.data.map((c) => (
            <tr key={c.clip_id}>
              <td>
                <Link to={`/watch/clip/${c.clip_id}`}>{c.title || "Clip"}</Link>
              </td>
              <td>{c.status}</td>
              <td>{fmtDuration(c.duration_s)}</td>
              <td className="muted">{fmtTime(c.created_at_ms)}</td>
              <td>
                <button className="small danger" onClick={() => void remove(`/api/v1/clips/${c.clip_id}`, clips.reload)}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Secret({ label, value, onDone }: { label: string; value: string; onDone: () => void }) {
  return (
    <div className="notice">
      {label} (shown once): <code>{value}</code> <CopyButton text={value} />{" "}
      <button className="link" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

const EVENT_TYPES = [
  "live_stream.connected",
  "live_stream.active",
  "live_stream.disconnected",
  "live_stream.idle",
  "vod.ready",
  "clip.ready",
  "channel.updated",
];

function Webhooks() {
  const list = useLoad(() => get<Page<Webhook>>("/api/v1/webhooks?limit=100"), []);
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>([]);
  const [format, setFormat] = useState<WebhookFormat>("native");
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const formatHint = useId();
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const body: CreateWebhook = {
        url,
        event_types: events.length ? events : undefined,
        format,
      };
      const res = await post<{ secret: string }>("/api/v1/webhooks", body);
      setSecret(res.secret);
      setUrl("");
      setEvents([]);
      setFormat("native");
      await list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (id: string) => {
    if (!window.confirm("Delete this webhook endpoint?")) return;
    setError(null);
    try {
      await del(`/api/v1/webhooks/${id}`);
      await list.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="panel">
      <h3>Webhooks</h3>
      <ErrorBox error={list.error ?? error} onRetry={() => void list.reload()} />
      {secret && <Secret label="Signing secret" value={secret} onDone={() => setSecret(null)} />}
      <table className="table">
        <tbody>
          {list.data?.data.map((w) => (
            <tr key={w.webhook_endpoint_id}>
              <td>
                <code>{w.url}</code>
              </td>
              <td className="small-text">{w.event_types.length ? w.event_types.join(", ") : "all events"}</td>
              <td>
                {w.format === "mux" ? (
                  <span className="pill" title="Mux's body and event names, signed with mux-signature">
                    Mux format
                  </span>
                ) : (
                  <span className="pill" title="AeThex's own body, signed with X-Aethex-Signature">
                    AeThex format
                  </span>
                )}
              </td>
              <td>{w.enabled ? "enabled" : "disabled"}</td>
              <td>
                <button className="small danger" onClick={() => void remove(w.webhook_endpoint_id)}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data?.data.length === 0 && <p className="muted">No endpoints.</p>}
      <form className="form" onSubmit={(e) => void create(e)}>
        <div className="row wrap">
          <label className="grow">
            Endpoint URL
            <input type="url" placeholder="https://example.com/hooks/aethex" value={url} onChange={(e) => setUrl(e.target.value)} required />
          </label>
          <label>
            Format
            <select value={format} onChange={(e) => setFormat(e.target.value as WebhookFormat)} aria-describedby={formatHint}>
              <option value="native">AeThex (native)</option>
              <option value="mux">Mux-compatible</option>
            </select>
          </label>
        </div>
        <p id={formatHint} className="muted small-text hint">
          Mux-compatible: Mux's body and event names (video.live_stream.active, video.asset.ready, …), signed with a
          mux-signature header, so receivers written for Mux (mux.webhooks.unwrap) work unchanged.
        </p>
        <div className="row wrap small-text">
          {EVENT_TYPES.map((t) => (
            <label key={t} className="check">
              <input
                type="checkbox"
                checked={events.includes(t)}
                onChange={(e) => setEvents(e.target.checked ? [...events, t] : events.filter((x) => x !== t))}
              />
              {t}
            </label>
          ))}
        </div>
        <button className="small">Add endpoint</button>
      </form>
    </section>
  );
}

function ApiTokens() {
  const list = useLoad(() => get<Page<ApiToken>>("/api/v1/api-tokens?limit=100"), []);
  const [name, setName] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const res = await post<{ secret: string }>("/api/v1/api-tokens", { name });
      setSecret(res.secret);
      setName("");
      await list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (id: string) => {
    if (!window.confirm("Revoke this token? Scripts using it stop working at once.")) return;
    setError(null);
    try {
      await del(`/api/v1/api-tokens/${id}`);
      await list.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="panel">
      <h3>API tokens</h3>
      <ErrorBox error={list.error ?? error} onRetry={() => void list.reload()} />
      {secret && <Secret label="Token" value={secret} onDone={() => setSecret(null)} />}
      <table className="table">
        <tbody>
          {list.data?.data.map((t) => (
            <tr key={t.api_token_id}>
              <td>{t.name}</td>
              <td>
                <code>{t.secret_prefix}…</code>
              </td>
              <td className="muted small-text">
                {t.last_used_at_ms ? `used ${fmtTime(t.last_used_at_ms)}` : "never used"}
              </td>
              <td>
                <button className="small danger" onClick={() => void revoke(t.api_token_id)}>
                  Revoke
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data?.data.length === 0 && <p className="muted">No tokens.</p>}
      <form className="row" onSubmit={(e) => void create(e)}>
        <input placeholder="Token name" value={name} onChange={(e) => setName(e.target.value)} required />
        <button className="small">Create token</button>
      </form>
    </section>
  );
}

export default function DashboardPage() {
  const { user, loading: authLoading } = useAuth();
  const channels = useLoad(
    () => (user ? get<Page<Channel>>("/api/v1/channels?owner=me&limit=100") : Promise.resolve({ data: [] as Channel[] })),
    [user?.user_id],
  );
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [keys, setKeys] = useState<Record<string, KeyInfo>>({});
  useInterval(() => void channels.reload(), 5000);

  if (authLoading) return <main className="page muted">Loading…</main>;
  if (!user)
    return (
      <main className="page">
        <Link to="/login">Log in</Link> to manage your channels.
      </main>
    );
  const list = channels.data?.data ?? [];
  const selected = list.find((c) => c.channel_id === selectedId) ?? list[0];
  const rememberKey = (channelId: string, k: KeyInfo) => {
    if (k.rtmp_url) window.localStorage.setItem(RTMP_URL_KEY, k.rtmp_url);
    setKeys((old) => ({ ...old, [channelId]: k }));
  };
  const replace = (c: Channel) =>
    channels.setData({ data: list.map((x) => (x.channel_id === c.channel_id ? { ...x, ...c } : x)) });

  return (
    <main className="page dashboard">
      <div className="row wrap">
        <h1 className="grow">Creator dashboard</h1>
        {list.length > 1 && (
          <select value={selected?.channel_id} onChange={(e) => setSelectedId(e.target.value)} aria-label="Channel">
            {list.map((c) => (
              <option key={c.channel_id} value={c.channel_id}>
                {c.title || c.slug}
              </option>
            ))}
          </select>
        )}
        {selected && (
          <Link className="button small" to={`/c/${selected.slug}`}>
            Open watch page
          </Link>
        )}
      </div>
      <ErrorBox error={channels.error} onRetry={() => void channels.reload()} />
      {user.role === "viewer" && (
        <div className="notice">Your account is a viewer account: ask an admin to make you a creator to stream.</div>
      )}
      <div className="dash-grid">
        <div className="dash-col">
          {selected ? (
            <>
              <ObsSettings
                channel={selected}
                keyInfo={keys[selected.channel_id]}
                onKey={(k) => rememberKey(selected.channel_id, k)}
              />
              <LiveHealth channel={selected} />
              <ChannelSettings channel={selected} onSaved={replace} />
            </>
          ) : (
            channels.data && <p className="muted">You have no channel yet: create one.</p>
          )}
          <CreateChannel
            onCreated={(c, k) => {
              rememberKey(c.channel_id, k);
              channels.setData({ data: [c, ...list] });
              setSelectedId(c.channel_id);
            }}
          />
        </div>
        <div className="dash-col">
          {selected && <Media channel={selected} />}
          <Webhooks />
          <ApiTokens />
        </div>
      </div>
    </main>
  );
}
