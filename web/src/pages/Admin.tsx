import { useState } from "react";
import { Link } from "react-router-dom";
import { fmtTime, get, isLive, patch, post, type Channel, type LiveStream, type Page, type User } from "../api";
import { useAuth } from "../auth";
import { ErrorBox, useInterval, useLoad } from "../util";

function Users() {
  const list = useLoad(() => get<Page<User>>("/api/v1/users?limit=100"), []);
  const [error, setError] = useState<unknown>(null);
  const setRole = async (u: User, role: string) => {
    setError(null);
    try {
      await patch(`/api/v1/users/${u.user_id}`, { role });
      await list.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section className="panel">
      <h3>Users</h3>
      <ErrorBox error={list.error ?? error} onRetry={() => void list.reload()} />
      <table className="table">
        <thead>
          <tr>
            <th>User</th>
            <th>Role</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.data.map((u) => (
            <tr key={u.user_id}>
              <td>{u.username}</td>
              <td>
                <select value={u.role} onChange={(e) => void setRole(u, e.target.value)} aria-label={`Role of ${u.username}`}>
                  <option value="viewer">viewer</option>
                  <option value="creator">creator</option>
                  <option value="admin">admin</option>
                </select>
              </td>
              <td className="muted">{fmtTime(u.created_at_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function LiveStreamRow({ c }: { c: Channel }) {
  const { data, error } = useLoad(
    () => (c.current_live_stream_id ? get<LiveStream>(`/api/v1/live-streams/${c.current_live_stream_id}`) : Promise.resolve(null)),
    [c.current_live_stream_id],
  );
  const ing = data?.ingest;
  return (
    <tr>
      <td>
        <Link to={`/c/${c.slug}`}>{c.slug}</Link>
      </td>
      <td>{data?.status ?? c.status}</td>
      <td>{ing?.width && ing.height ? `${ing.width}×${ing.height}` : "–"}</td>
      <td>{ing?.bitrate_bps != null ? `${Math.round(ing.bitrate_bps / 1000)} kb/s` : "–"}</td>
      <td>{data ? `${data.current_viewers} (peak ${data.peak_viewers})` : "–"}</td>
      <td className="muted">{data ? fmtTime(data.started_at_ms) : ""}</td>
      <td>{error ? <ErrorBox error={error} /> : null}</td>
    </tr>
  );
}

export default function AdminPage() {
  const { user, loading } = useAuth();
  const channels = useLoad(() => get<Page<Channel>>("/api/v1/channels?limit=100"), [user?.user_id]);
  const [error, setError] = useState<unknown>(null);
  useInterval(() => void channels.reload(), 10000);
  if (loading) return <main className="page muted">Loading…</main>;
  if (user?.role !== "admin")
    return (
      <main className="page">
        <ErrorBox error="Admins only." />
      </main>
    );
  const list = channels.data?.data ?? [];
  const toggle = async (c: Channel) => {
    setError(null);
    try {
      // An admin's disable is a suspension; enable lifts it.
      const on = c.enabled && !c.suspended;
      await post(`/api/v1/channels/${c.channel_id}/${on ? "disable" : "enable"}`);
      await channels.reload();
    } catch (e) {
      setError(e);
    }
  };
  const streaming = list.filter((c) => c.current_live_stream_id);
  return (
    <main className="page">
      <h1>Admin</h1>
      <section className="panel">
        <h3>Live streams ({streaming.length})</h3>
        {streaming.length === 0 && <p className="muted">Nothing is streaming.</p>}
        {streaming.length > 0 && (
          <table className="table">
            <thead>
              <tr>
                <th>Channel</th>
                <th>Status</th>
                <th>Resolution</th>
                <th>Bitrate</th>
                <th>Viewers</th>
                <th>Started</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {streaming.map((c) => (
                <LiveStreamRow key={c.channel_id} c={c} />
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="panel">
        <h3>Channels</h3>
        <ErrorBox error={channels.error ?? error} onRetry={() => void channels.reload()} />
        <table className="table">
          <thead>
            <tr>
              <th>Slug</th>
              <th>Title</th>
              <th>Status</th>
              <th>Visibility</th>
              <th>Enabled</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((c) => (
              <tr key={c.channel_id}>
                <td>
                  <Link to={`/c/${c.slug}`}>{c.slug}</Link>
                </td>
                <td>{c.title}</td>
                <td>{isLive(c) ? <span className="badge live">LIVE</span> : c.status}</td>
                <td>{c.visibility}</td>
                <td>{c.suspended ? "suspended" : c.enabled ? "yes" : "no"}</td>
                <td>
                  <button
                    className={`small ${c.enabled && !c.suspended ? "danger" : ""}`}
                    onClick={() => void toggle(c)}
                  >
                    {c.suspended ? "Lift suspension" : c.enabled ? "Suspend" : "Enable"}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <Users />
    </main>
  );
}
