import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { get, fmtDuration, type Browse, type Channel, type Clip, type Vod } from "../api";
import { ErrorBox, useInterval, useLoad } from "../util";

export function Thumb({ src, alt }: { src?: string | null; alt: string }) {
  const [failed, setFailed] = useState(false);
  if (!src || failed) return <div className="thumb thumb-empty">▶</div>;
  return <img className="thumb" src={src} alt={alt} loading="lazy" onError={() => setFailed(true)} />;
}

export function LiveCard({ c }: { c: Channel }) {
  return (
    <Link to={`/c/${c.slug}`} className="card" data-testid="browse-live-item" data-slug={c.slug}>
      <div className="thumb-wrap">
        <Thumb src={c.thumbnail_url} alt={c.title} />
        <span className="badge live">LIVE</span>
        <span className="badge viewers">{c.current_viewers ?? 0} watching</span>
      </div>
      <div className="card-body">
        <div className="card-title">{c.title || c.slug}</div>
        <div className="muted small-text">
          {c.slug}
          {c.category ? ` · ${c.category}` : ""}
          {c.following ? " · following" : ""}
        </div>
      </div>
    </Link>
  );
}

export function VodCard({ v }: { v: Vod }) {
  return (
    <Link to={`/watch/vod/${v.vod_id}`} className="card">
      <div className="thumb-wrap">
        <Thumb src={v.poster_url} alt={v.title} />
        <span className="badge viewers">{fmtDuration(v.duration_s)}</span>
      </div>
      <div className="card-body">
        <div className="card-title">{v.title || "Recording"}</div>
        <div className="muted small-text">{new Date(v.created_at_ms).toLocaleDateString()}</div>
      </div>
    </Link>
  );
}

export function ClipCard({ c }: { c: Clip }) {
  return (
    <Link to={`/watch/clip/${c.clip_id}`} className="card">
      <div className="thumb-wrap">
        <div className="thumb thumb-empty">✂</div>
        <span className="badge viewers">{fmtDuration(c.duration_s)}</span>
      </div>
      <div className="card-body">
        <div className="card-title">{c.title || "Clip"}</div>
        <div className="muted small-text">{new Date(c.created_at_ms).toLocaleDateString()}</div>
      </div>
    </Link>
  );
}

export default function BrowsePage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  // Search as you type (debounced).
  useEffect(() => {
    const id = window.setTimeout(() => {
      if (text !== q) setParams(text ? { q: text } : {}, { replace: true });
    }, 300);
    return () => window.clearTimeout(id);
  }, [text, q, setParams]);

  const { data, error, loading, reload } = useLoad(
    () => get<Browse>(`/api/v1/browse${q ? `?q=${encodeURIComponent(q)}` : ""}`),
    [q],
  );
  useInterval(() => void reload(), 15000);

  return (
    <main className="page">
      <div className="row wrap">
        <h1 className="grow">Live now</h1>
        <input
          className="search"
          type="search"
          data-testid="search-input"
          placeholder="Search channels"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
      </div>
      <ErrorBox error={error} onRetry={() => void reload()} />
      {loading && !data && <p className="muted">Loading…</p>}
      {data && (
        <>
          {data.live.length === 0 ? (
            <p className="muted">{q ? "No live channel matches." : "Nobody is live right now."}</p>
          ) : (
            <div className="grid">
              {data.live.map((c) => (
                <LiveCard key={c.channel_id} c={c} />
              ))}
            </div>
          )}
          {data.vods.length > 0 && (
            <>
              <h2>Recent broadcasts</h2>
              <div className="grid">
                {data.vods.map((v) => (
                  <VodCard key={v.vod_id} v={v} />
                ))}
              </div>
            </>
          )}
          {data.clips.length > 0 && (
            <>
              <h2>Recent clips</h2>
              <div className="grid">
                {data.clips.map((c) => (
                  <ClipCard key={c.clip_id} c={c} />
                ))}
              </div>
            </>
          )}
        </>
      )}
    </main>
  );
}
