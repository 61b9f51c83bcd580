import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { del, get, isLive, put, type Channel, type Clip, type Page, type Vod } from "../api";
import { useAuth } from "../auth";
import Chat from "../Chat";
import Player from "../Player";
import { ErrorBox, useInterval, useLoad } from "../util";
import { ClipCard, VodCard } from "./Browse";

function FollowButton({ channel, onChange }: { channel: Channel; onChange: (c: Channel) => void }) {
  const { user } = useAuth();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const following = !!channel.following;
  const toggle = async () => {
    if (!user) {
      navigate("/login");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const path = `/api/v1/channels/${channel.channel_id}/follow`;
      if (following) await del(path);
      else await put(path);
      const count = (channel.follower_count ?? 0) + (following ? -1 : 1);
      onChange({ ...channel, following: !following, follower_count: Math.max(0, count) });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="follow">
      <button
        data-testid="follow-button"
        className={following ? "secondary" : "primary"}
        disabled={busy || (user?.user_id === channel.owner_user_id)}
        onClick={() => void toggle()}
        data-following={following ? "true" : "false"}
      >
        {following ? "Following" : "Follow"}
      </button>
      <span className="muted" data-testid="follower-count">
        {channel.follower_count ?? 0} followers
      </span>
      <ErrorBox error={error} />
    </span>
  );
}

function Offline({ channel }: { channel: Channel }) {
  const vods = useLoad(() => get<Page<Vod>>(`/api/v1/channels/${channel.channel_id}/vods?limit=12`), [channel.channel_id]);
  const clips = useLoad(
    () => get<Page<Clip>>(`/api/v1/clips?channel_id=${channel.channel_id}&limit=12`),
    [channel.channel_id],
  );
  return (
    <div className="offline">
      <div className="offline-banner">
        <strong>{channel.title || channel.slug}</strong> is offline.
      </div>
      <h2>Past broadcasts</h2>
      <ErrorBox error={vods.error} onRetry={() => void vods.reload()} />
      {vods.data && vods.data.data.length === 0 && <p className="muted">No recordings yet.</p>}
      <div className="grid">{vods.data?.data.map((v) => <VodCard key={v.vod_id} v={v} />)}</div>
      <h2>Clips</h2>
      <ErrorBox error={clips.error} onRetry={() => void clips.reload()} />
      {clips.data && clips.data.data.length === 0 && <p className="muted">No clips yet.</p>}
      <div className="grid">{clips.data?.data.map((c) => <ClipCard key={c.clip_id} c={c} />)}</div>
    </div>
  );
}

export default function ChannelPage() {
  const { slug = "" } = useParams();
  const { user } = useAuth();
  const { data: channel, error, loading, reload, setData } = useLoad(
    () => get<Channel>(`/api/v1/channels/by-slug/${encodeURIComponent(slug)}`),
    [slug, user?.user_id],
  );
  // Viewer count and live state.
  useInterval(() => void reload(), 5000);

  if (loading && !channel) return <main className="page muted">Loading…</main>;
  if (!channel)
    return (
      <main className="page">
        <ErrorBox error={error ?? "No such channel"} onRetry={() => void reload()} />
        <Link to="/">Back to browse</Link>
      </main>
    );
  const live = isLive(channel);
  const moderator = !!user && (user.user_id === channel.owner_user_id || user.role === "admin");
  return (
    <main className="watch">
      <section className="watch-main">
        {live ? (
          <Player
            key={`${channel.playback_url}|${channel.current_live_stream_id ?? ""}`}
            src={channel.playback_url}
            live
            lowLatency={channel.latency_mode === "low"}
          />
        ) : (
          <Offline channel={channel} />
        )}
        <div className="watch-info">
          <div className="grow">
            <h1>{channel.title || channel.slug}</h1>
            <div className="muted">
              {channel.slug}
              {channel.category ? ` · ${channel.category}` : ""}
              {live ? (
                <>
                  {" · "}
                  <span data-testid="viewer-count">{channel.current_viewers ?? 0}</span> watching
                </>
              ) : (
                " · offline"
              )}
            </div>
          </div>
          <FollowButton channel={channel} onChange={(c) => setData(c)} />
        </div>
        <ErrorBox error={error} />
      </section>
      <Chat slug={channel.slug} loggedIn={!!user} moderator={moderator} myUserId={user?.user_id} />
    </main>
  );
}
