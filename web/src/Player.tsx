import Hls, { type ErrorData, type Level } from "hls.js";
import { useEffect, useRef, useState } from "react";

export interface PlayerProps {
  src: string;
  live: boolean;
  lowLatency?: boolean;
  poster?: string;
  /** Receives the <video> element (for "clip this"). */
  videoRef?: (v: HTMLVideoElement | null) => void;
}

interface LevelItem {
  index: number;
  name: string;
  bitrate: number;
  height?: number;
}

/**
 * The rendition's name from a variant URI `{live_stream_id}/{rendition}/index.m3u8`
 * (relative to the master), else its height.
 */
export function renditionName(uri: string | undefined, base: string, height?: number): string {
  if (uri) {
    try {
      const parts = new URL(uri, new URL(base, window.location.href)).pathname.split("/").filter(Boolean);
      if (parts.length >= 2 && parts[parts.length - 1].endsWith(".m3u8")) return parts[parts.length - 2];
    } catch {
      /* fall through */
    }
  }
  return height ? `${height}p` : "?";
}

function levelUri(l: Level): string | undefined {
  const anyLevel = l as unknown as { uri?: string; url?: string[] | string };
  if (anyLevel.uri) return anyLevel.uri;
  if (Array.isArray(anyLevel.url)) return anyLevel.url[0];
  return anyLevel.url;
}

export default function Player({ src, live, lowLatency = false, poster, videoRef }: PlayerProps) {
  const video = useRef<HTMLVideoElement | null>(null);
  const hlsRef = useRef<Hls | null>(null);
  const [levels, setLevels] = useState<LevelItem[]>([]);
  const [selected, setSelected] = useState("auto");
  const [playing, setPlaying] = useState<string>("");
  const [error, setError] = useState<string | null>(null);
  const [needsClick, setNeedsClick] = useState(false);
  const [latency, setLatency] = useState<number | null>(null);
  const [engine, setEngine] = useState<"hls.js" | "native" | "none">("none");

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    setLevels([]);
    setSelected("auto");
    setPlaying("");
    setError(null);
    setNeedsClick(false);
    delete v.dataset.hlsFatal;
    const tryPlay = () => {
      v.play().then(
        () => setNeedsClick(false),
        () => setNeedsClick(true),
      );
    };

    if (Hls.isSupported()) {
      setEngine("hls.js");
      const hls = new Hls({
        lowLatencyMode: lowLatency,
        // Low latency: play up to 1.5x to get back to the target latency
        // (PART-HOLD-BACK) after a slow start or a stall, instead of
        // staying behind for the rest of the session.
        maxLiveSyncPlaybackRate: lowLatency ? 1.5 : 1,
        backBufferLength: live ? 30 : 90,
        enableWorker: true,
      });
      hlsRef.current = hls;
      let recoveries = 0;
      hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        const items = data.levels.map((l, index) => ({
          index,
          name: renditionName(levelUri(l), src, l.height),
          bitrate: l.bitrate,
          height: l.height,
        }));
        items.sort((a, b) => b.bitrate - a.bitrate);
        setLevels(items);
        tryPlay();
      });
      hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
        const l = hls.levels[data.level];
        const name = l ? renditionName(levelUri(l), src, l.height) : "";
        setPlaying(name);
        v.dataset.rendition = name;
      });
      hls.on(Hls.Events.ERROR, (_e, data: ErrorData) => {
        if (!data.fatal) return;
        const fatals = Number(v.dataset.hlsFatal ?? "0") + 1;
        v.dataset.hlsFatal = String(fatals);
        setError(`Playback error: ${data.type} ${data.details}`);
        if (recoveries++ < 3) {
          if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
            window.setTimeout(() => hls.startLoad(), 1000);
          } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
            hls.recoverMediaError();
          }
        }
      });
      hls.on(Hls.Events.FRAG_BUFFERED, () => {
        recoveries = 0;
      });
      // Stalls: the video waiting for data after it first played
      // (data-stalls, read by the browser test).
      let started = false;
      const onPlaying = () => {
        started = true;
      };
      const onWaiting = () => {
        if (started) v.dataset.stalls = String(Number(v.dataset.stalls ?? "0") + 1);
      };
      v.dataset.stalls = "0";
      v.addEventListener("playing", onPlaying);
      v.addEventListener("waiting", onWaiting);
      hls.loadSource(src);
      hls.attachMedia(v);
      return () => {
        v.removeEventListener("playing", onPlaying);
        v.removeEventListener("waiting", onWaiting);
        delete v.dataset.stalls;
        hls.destroy();
        hlsRef.current = null;
      };
    }
    if (v.canPlayType("application/vnd.apple.mpegurl")) {
      setEngine("native");
      v.src = src;
      const onMeta = () => tryPlay();
      const onErr = () => setError("Playback error: the browser could not play this stream");
      v.addEventListener("loadedmetadata", onMeta);
      v.addEventListener("error", onErr);
      return () => {
        v.removeEventListener("loadedmetadata", onMeta);
        v.removeEventListener("error", onErr);
        v.removeAttribute("src");
        v.load();
      };
    }
    setEngine("none");
    setError("This browser cannot play HLS video.");
    return undefined;
  }, [src, live, lowLatency]);

  // Latency: seconds behind the live edge.
  useEffect(() => {
    if (!live) {
      setLatency(null);
      return;
    }
    const id = window.setInterval(() => {
      const v = video.current;
      if (!v) return;
      const hls = hlsRef.current;
      let lat: number | null = null;
      if (hls && Number.isFinite(hls.latency) && hls.latency > 0) lat = hls.latency;
      else if (v.seekable.length > 0) lat = v.seekable.end(v.seekable.length - 1) - v.currentTime;
      // Glass to player: now minus the program date time (EXT-X-PROGRAM-
      // DATE-TIME, the server's clock when the media arrived at ingest) of
      // the frame on screen. Milliseconds, for tests and measurements.
      const shown = hls?.playingDate?.getTime();
      if (shown && Number.isFinite(shown)) v.dataset.glassLatencyMs = String(Date.now() - shown);
      setLatency(lat !== null && Number.isFinite(lat) ? Math.max(0, lat) : null);
    }, 250);
    return () => window.clearInterval(id);
  }, [live]);

  const choose = (value: string) => {
    setSelected(value);
    const hls = hlsRef.current;
    if (!hls) return;
    if (value === "auto") {
      hls.currentLevel = -1;
      return;
    }
    const item = levels.find((l) => l.name === value);
    if (item) hls.currentLevel = item.index;
  };

  const goLive = () => {
    const v = video.current;
    const hls = hlsRef.current;
    if (!v) return;
    const edge = hls?.liveSyncPosition ?? (v.seekable.length ? v.seekable.end(v.seekable.length - 1) : null);
    if (edge) v.currentTime = edge;
  };

  return (
    <div className="player">
      <div className="player-frame">
        <video
          data-testid="player"
          ref={(el) => {
            video.current = el;
            videoRef?.(el);
          }}
          controls
          muted
          playsInline
          autoPlay
          poster={poster}
        />
        {needsClick && (
          <button
            className="play-overlay"
            onClick={() => {
              video.current?.play().then(() => setNeedsClick(false), (e) => setError(`Cannot play: ${e}`));
            }}
          >
            ▶ Play
          </button>
        )}
      </div>
      <div className="player-bar">
        {live && (
          <button className="live-badge" data-testid="live-badge" onClick={goLive} title="Jump to live">
            ● LIVE
          </button>
        )}
        {live && (
          <span className="muted" data-testid="latency" title="Seconds behind the live edge">
            {latency === null ? "latency –" : `${latency.toFixed(1)} s behind live`}
          </span>
        )}
        {lowLatency && <span className="pill">low latency</span>}
        <span className="spacer" />
        <label className="quality">
          Quality{" "}
          <select
            data-testid="quality-menu"
            value={selected}
            onChange={(e) => choose(e.target.value)}
            disabled={engine !== "hls.js"}
          >
            <option value="auto">auto{selected === "auto" && playing ? ` (${playing})` : ""}</option>
            {levels.map((l) => (
              <option key={l.index} value={l.name}>
                {l.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}
