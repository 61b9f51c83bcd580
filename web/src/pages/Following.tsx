import { Link } from "react-router-dom";
import { get, isLive, type Channel } from "../api";
import { useAuth } from "../auth";
import { ErrorBox, useInterval, useLoad } from "../util";
import { Thumb } from "./Browse";

export default function FollowingPage() {
  const { user, loading: authLoading } = useAuth();
  const { data, error, loading, reload } = useLoad(
    () => (user ? get<{ data: Channel[] }>("/api/v1/me/following") : Promise.resolve({ data: [] as Channel[] })),
    [user?.user_id],
  );
  useInterval(() => void reload(), 10000);
  if (!authLoading && !user)
    return (
      <main className="page">
        <Link to="/login">Log in</Link> to see the channels you follow.
      </main>
    );
  const channels = [...(data?.data ?? [])].sort((a, b) => Number(isLive(b)) - Number(isLive(a)));
  return (
    <main className="page">
      <h1>Following</h1>
      <ErrorBox error={error} onRetry={() => void reload()} />
      {(loading || authLoading) && !data && <p className="muted">Loading…</p>}
      {data && channels.length === 0 && (
        <p className="muted">
          You follow nobody yet. <Link to="/">Browse</Link> and follow a channel.
        </p>
      )}
      <ul className="list">
        {channels.map((c) => {
          const live = isLive(c);
          return (
            <li key={c.channel_id} data-testid="following-item" data-live={live ? "true" : "false"} data-slug={c.slug}>
              <Link to={`/c/${c.slug}`} className="list-row">
                {live ? <Thumb src={c.thumbnail_url} alt={c.title} /> : <div className="thumb thumb-empty">▶</div>}
                <span className="grow">
                  <strong>{c.title || c.slug}</strong>
                  <span className="muted small-text"> {c.slug}{c.category ? ` · ${c.category}` : ""}</span>
                </span>
                {live ? (
                  <span className="badge live">LIVE · {c.current_viewers ?? 0}</span>
                ) : (
                  <span className="muted">offline</span>
                )}
              </Link>
            </li>
          );
        })}
      </ul>
    </main>
  );
}
