import { useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { fmtDuration, get, post, type Channel, type Clip, type Vod } from "../api";
import { useAuth } from "../auth";
import Player from "../Player";
import { ErrorBox, useLoad } from "../util";

/** Pick start and end from the player's position, then create a clip. */
function ClipThis({
  video,
  source,
  offset = 0,
}: {
  video: () => HTMLVideoElement | null;
  source: { vod_id?: string; live_stream_id?: string };
  /** Seconds to add to the player's time (a clip of a clip is cut from its source). */
  offset?: number;
}) {
  const { user } = useAuth();
  const navigate = useNavigate();
  const [start, setStart] = useState<number | null>(null);
  const [end, setEnd] = useState<number | null>(null);
  const [title, setTitle] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  if (!user) {
    return (
      <p className="muted">
        <Link to="/login">Log in</Link> to clip this.
      </p>
    );
  }
  const now = () => (video()?.currentTime ?? 0) + offset;
  const create = async () => {
    if (start === null || end === null) return;
    setBusy(true);
    setError(null);
    try {
      const clip = await post<Clip>("/api/v1/clips", {
        ...source,
        start_s: Math.min(start, end),
        end_s: Math.max(start, end),
        title: title || undefined,
      });
      navigate(`/watch/clip/${clip.clip_id}`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const valid = start !== null && end !== null && Math.abs(end - start) >= 1;
  return (
    <div className="clip-this panel">
      <strong>Clip this</strong>
      <button className="small" data-testid="clip-start" onClick={() => setStart(now())}>
        Start {start !== null ? `@ ${fmtDuration(start)}` : "here"}
      </button>
      <button className="small" data-testid="clip-end" onClick={() => setEnd(now())}>
        End {end !== null ? `@ ${fmtDuration(end)}` : "here"}
      </button>
      <input placeholder="Clip title" value={title} onChange={(e) => setTitle(e.target.value)} />
      <button className="primary small" disabled={!valid || busy} data-testid="clip-create" onClick={() => void create()}>
        {busy ? "Creating…" : "Create clip"}
      </button>
      {start !== null && end !== null && !valid && <span className="muted">pick at least 1 s</span>}
      <ErrorBox error={error} />
    </div>
  );
}

function ChannelLink({ channelId }: { channelId: string }) {
  const { data } = useLoad(() => get<Channel>(`/api/v1/channels/${channelId}`), [channelId]);
  if (!data) return null;
  return <Link to={`/c/${data.slug}`}>{data.title || data.slug}</Link>;
}

export function VodPage() {
  const { id = "" } = useParams();
  const { data: vod, error, reload } = useLoad(() => get<Vod>(`/api/v1/vods/${id}`), [id]);
  const videoEl = useRef<HTMLVideoElement | null>(null);
  return (
    <main className="page">
      <ErrorBox error={error} onRetry={() => void reload()} />
      {vod && (
        <>
          {vod.playback_url ? (
            <Player src={vod.playback_url} live={false} poster={vod.poster_url ?? undefined} videoRef={(v) => (videoEl.current = v)} />
          ) : (
            <div className="offline-banner">This recording is {vod.status}; it is not playable yet.</div>
          )}
          <h1>{vod.title || "Recording"}</h1>
          <p className="muted">
            <ChannelLink channelId={vod.channel_id} /> · {fmtDuration(vod.duration_s)} ·{" "}
            {new Date(vod.created_at_ms).toLocaleString()}
          </p>
          {vod.playback_url && <ClipThis video={() => videoEl.current} source={{ vod_id: vod.vod_id }} />}
        </>
      )}
    </main>
  );
}

export function ClipPage() {
  const { id = "" } = useParams();
  const { data: clip, error, reload } = useLoad(() => get<Clip>(`/api/v1/clips/${id}`), [id]);
  const videoEl = useRef<HTMLVideoElement | null>(null);
  return (
    <main className="page">
      <ErrorBox error={error} onRetry={() => void reload()} />
      {clip && (
        <>
          {clip.playback_url ? (
            <Player src={clip.playback_url} live={false} videoRef={(v) => (videoEl.current = v)} />
          ) : (
            <div className="offline-banner">This clip is {clip.status}.</div>
          )}
          <h1>{clip.title || "Clip"}</h1>
          <p className="muted">
            <ChannelLink channelId={clip.channel_id} /> · {fmtDuration(clip.duration_s)} ·{" "}
            {new Date(clip.created_at_ms).toLocaleString()}
            {clip.mp4_url && (
              <>
                {" · "}
                <a href={clip.mp4_url}>Download MP4</a>
              </>
            )}
          </p>
          {clip.playback_url && (
            <ClipThis
              video={() => videoEl.current}
              source={clip.vod_id ? { vod_id: clip.vod_id } : { live_stream_id: clip.live_stream_id }}
              offset={clip.start_s}
            />
          )}
        </>
      )}
    </main>
  );
}
