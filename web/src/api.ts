// The REST API (/api/v1, see docs/api.md and docs/web.md): a small fetch
// wrapper that sends the CSRF token on writes and turns error bodies
// ({"error":{"code","message"}}) into ApiError.

export class ApiError extends Error {
  status: number;
  code: string;
  field?: string;
  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

/** True when the browser holds a session (the readable CSRF cookie). */
export function hasSession(): boolean {
  return readCookie("aethex_csrf") !== null;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const csrf = readCookie("aethex_csrf");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let res: Response;
  try {
    res = await fetch(path.startsWith("/") ? path : `/api/v1/${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "network", `Network error: ${(e as Error).message}`);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = undefined;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      if (!res.ok) throw new ApiError(res.status, "http", `HTTP ${res.status}`);
      throw new ApiError(res.status, "bad_json", "The server sent an unreadable answer");
    }
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string; field?: string } })?.error;
    throw new ApiError(res.status, err?.code ?? "http", err?.message ?? `HTTP ${res.status}`, err?.field);
  }
  return json as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});
export const patch = <T>(path: string, body: unknown) => api<T>("PATCH", path, body);
export const put = <T>(path: string, body?: unknown) => api<T>("PUT", path, body);
export const del = <T>(path: string) => api<T>("DELETE", path);

export interface User {
  user_id: string;
  username: string;
  role: "admin" | "creator" | "viewer" | string;
  email?: string | null;
  created_at_ms: number;
}

export interface Channel {
  channel_id: string;
  owner_user_id: string;
  slug: string;
  title: string;
  status: "idle" | "connected" | "active" | "disconnected" | string;
  enabled: boolean;
  /** Suspended by an administrator: only an administrator lifts it. */
  suspended: boolean;
  /** Playback tokens issued before this (unix ms) are refused. */
  playback_tokens_not_before_ms: number | null;
  latency_mode: "standard" | "low" | string;
  reconnect_window_s: number;
  ladder: string;
  record: boolean;
  visibility: string;
  playback_policy: string;
  segment_format: string;
  playback_id: string;
  playback_url: string;
  thumbnail_url: string;
  current_live_stream_id?: string | null;
  created_at_ms: number;
  updated_at_ms: number;
  // docs/web.md additions
  category?: string | null;
  follower_count?: number;
  following?: boolean;
  live?: boolean;
  current_viewers?: number;
  live_stream_id?: string | null;
  chat_slow_mode_s?: number;
  chat_blocked_words?: string[] | string | null;
}

export interface Ingest {
  audio_codec?: string | null;
  video_codec?: string | null;
  bitrate_bps?: number | null;
  fps?: number | null;
  width?: number | null;
  height?: number | null;
  keyframe_interval_ms?: number | null;
}

export interface LiveStream {
  live_stream_id: string;
  channel_id: string;
  status: string;
  started_at_ms: number;
  active_at_ms?: number | null;
  ended_at_ms?: number | null;
  end_reason?: string | null;
  ingest: Ingest;
  current_viewers: number;
  peak_viewers: number;
  [extra: string]: unknown;
}

export interface Vod {
  vod_id: string;
  channel_id: string;
  live_stream_id: string;
  status: string;
  title: string;
  duration_s: number;
  segment_count: number;
  playback_url?: string | null;
  poster_url?: string | null;
  created_at_ms: number;
}

export interface Clip {
  clip_id: string;
  channel_id: string;
  live_stream_id: string;
  vod_id?: string | null;
  start_s: number;
  end_s: number;
  duration_s: number;
  title: string;
  status: string;
  export_status: string;
  export_progress: number;
  playback_url?: string | null;
  mp4_url?: string | null;
  created_at_ms: number;
}

export interface Page<T> {
  data: T[];
  next_cursor?: string | null;
}

export interface ApiToken {
  api_token_id: string;
  name: string;
  secret_prefix: string;
  created_at_ms: number;
  last_used_at_ms?: number | null;
}

/** A webhook endpoint's body format: this server's own body signed with
 * X-Aethex-Signature, or Mux's body and event names signed with
 * mux-signature (for receivers written for Mux: mux.webhooks.unwrap). */
export type WebhookFormat = "native" | "mux";

export interface Webhook {
  webhook_endpoint_id: string;
  url: string;
  event_types: string[];
  enabled: boolean;
  format: WebhookFormat;
  created_at_ms: number;
}

/** POST /api/v1/webhooks; `format` defaults to "native". */
export interface CreateWebhook {
  url: string;
  event_types?: string[];
  format?: WebhookFormat;
}

/** PATCH /api/v1/webhooks/{id}; absent fields are left as they are. */
export interface UpdateWebhook {
  url?: string;
  event_types?: string[];
  enabled?: boolean;
  format?: WebhookFormat;
}

export interface Browse {
  live: Channel[];
  vods: Vod[];
  clips: Clip[];
}

export function isLive(c: Channel): boolean {
  return c.live ?? c.status === "active";
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.field ? `${e.message} (${e.field})` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function fmtTime(ms: number): string {
  return new Date(ms).toLocaleString();
}

export function fmtDuration(s: number): string {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(sec).padStart(2, "0")}`;
}
