//! Harness for end-to-end tests: the real `aethex` binary on random loopback
//! ports with a temporary data directory, real ffmpeg/GStreamer publishers,
//! and ffprobe checks. Every wait is bounded.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use control::testutil::TestDb;

pub const BIN: &str = env!("CARGO_BIN_EXE_aethex");

/// `media/NAME`, which must exist: `scripts/make-fixtures` generates it.
pub fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../media")
        .join(name);
    assert!(
        path.is_file(),
        "missing test media {}: run scripts/make-fixtures (scripts/test does)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Which database the server under test uses.
pub enum Database {
    /// The embedded default: SQLite in the data directory.
    Sqlite,
    /// A fresh PostgreSQL database (dropped after the test).
    Postgres(TestDb),
}

impl Database {
    /// PostgreSQL if `AETHEX_TEST_PG_URL` is set (required under scripts/test).
    pub async fn postgres() -> Option<Database> {
        TestDb::postgres().await.map(Database::Postgres)
    }
}

/// A running `aethex serve`.
pub struct Server {
    child: Option<Child>,
    pub data_dir: tempfile::TempDir,
    pub http_port: u16,
    pub rtmp_port: u16,
    pub log_path: PathBuf,
    env: Vec<(String, String)>,
    _db: Database,
}

#[derive(Debug, serde::Deserialize)]
pub struct ChannelInfo {
    pub channel_id: String,
    pub stream_key: String,
    pub playback_id: String,
    pub rtmp_url: String,
    pub hls_url: String,
}

impl Server {
    /// Starts the server on the built-in defaults and waits until
    /// `/healthz` answers (≤ 30 s).
    pub async fn start(db: Database) -> Server {
        Self::start_with_config(db, "").await
    }

    /// Starts the server with a configuration file holding `config_toml`
    /// (addresses and data directory still come from the environment).
    pub async fn start_with_config(db: Database, config_toml: &str) -> Server {
        Self::start_with_env(db, config_toml, &[]).await
    }

    /// As [`Server::start_with_config`], with extra (or overriding)
    /// environment variables for the server and the CLI.
    pub async fn start_with_env(db: Database, config_toml: &str, extra: &[(&str, &str)]) -> Server {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let http_port = free_port();
        let rtmp_port = free_port();
        let mut env = vec![
            (
                "AETHEX_DATA_DIR".to_string(),
                data_dir.path().display().to_string(),
            ),
            (
                "AETHEX_HTTP_ADDR".to_string(),
                format!("127.0.0.1:{http_port}"),
            ),
            (
                "AETHEX_RTMP_ADDR".to_string(),
                format!("127.0.0.1:{rtmp_port}"),
            ),
            (
                "AETHEX_HTTP_PUBLIC_URL".to_string(),
                format!("http://127.0.0.1:{http_port}"),
            ),
            (
                "AETHEX_RTMP_PUBLIC_URL".to_string(),
                format!("rtmp://127.0.0.1:{rtmp_port}/live"),
            ),
            ("AETHEX_LOG".to_string(), "info".to_string()),
        ];
        if let Database::Postgres(test_db) = &db {
            env.push(("AETHEX_DATABASE_URL".to_string(), test_db.url().to_string()));
        }
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let config_path = data_dir.path().join("aethex.toml");
        std::fs::write(&config_path, config_toml).expect("write config");
        env.push((
            "AETHEX_CONFIG".to_string(),
            config_path.display().to_string(),
        ));
        let log_path = data_dir.path().join("server.log");
        let mut server = Server {
            child: None,
            data_dir,
            http_port,
            rtmp_port,
            log_path,
            env,
            _db: db,
        };
        server.spawn();
        server.wait_healthy().await;
        server
    }

    /// A command for the binary with exactly our `AETHEX_*` variables (none
    /// inherited from the developer's shell).
    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        for (key, _) in std::env::vars() {
            if key.starts_with("AETHEX_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let child = self
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn aethex serve");
        self.child = Some(child);
    }

    async fn wait_healthy(&self) {
        let url = self.url("/healthz");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server not healthy after 30 s; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The database URL the server uses.
    pub fn database_url(&self) -> String {
        match &self._db {
            Database::Postgres(db) => db.url().to_string(),
            Database::Sqlite => format!("sqlite://{}/aethex.db", self.data_dir.path().display()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn rtmp_url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp_port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// When the server logged the first line containing `needle` (from the
    /// line's RFC 3339 timestamp).
    pub fn log_time(&self, needle: &str) -> Option<std::time::SystemTime> {
        let log = self.log();
        let line = log.lines().find(|l| l.contains(needle))?;
        let stamp = line.split_whitespace().next()?;
        let t = chrono::DateTime::parse_from_rfc3339(stamp).ok()?;
        Some(std::time::SystemTime::from(t))
    }

    /// Runs an `aethex` command with the server's environment.
    pub fn aethex(&self, args: &[&str]) -> Output {
        let started = Instant::now();
        let out = self.command().args(args).output().expect("run aethex");
        // Slow CLI runs delay what a test times after them; say so.
        if started.elapsed() > Duration::from_secs(1) {
            eprintln!("aethex {args:?} took {:?}", started.elapsed());
        }
        out
    }

    /// Creates a user and a channel through the CLI.
    pub fn create_channel(&self, slug: &str) -> ChannelInfo {
        self.create_channel_with(slug, &[])
    }

    /// Creates a user and a channel with extra `channel create` arguments.
    pub fn create_channel_with(&self, slug: &str, extra: &[&str]) -> ChannelInfo {
        let out = self.aethex(&[
            "user",
            "create",
            "--username",
            slug,
            "--password",
            "correct horse battery",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "user create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut args = vec![
            "channel", "create", "--owner", slug, "--slug", slug, "--json",
        ];
        args.extend_from_slice(extra);
        let out = self.aethex(&args);
        assert!(
            out.status.success(),
            "channel create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("channel create --json output")
    }

    /// A new API token of user `username` (made in the database directly).
    pub async fn api_token(&self, username: &str) -> String {
        let db = control::Db::connect(&self.database_url()).await.unwrap();
        let user = db
            .user_by_username(username)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no user {username}"));
        let token = db
            .create_api_token(&user.user_id, "test")
            .await
            .unwrap()
            .secret;
        db.close().await;
        token
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Sends SIGTERM and waits (≤ 40 s) for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        wait_child(&mut child, Duration::from_secs(40)).expect("server did not exit after SIGTERM")
    }

    /// Kills the server with SIGKILL (a crash) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports, data and database.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        self.spawn();
        self.wait_healthy().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- server log ----\n{}", self.log());
        }
    }
}

/// Waits for a child process to exit, at most `timeout`.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A publisher process; killed on drop.
pub struct Publisher {
    pub child: Child,
    pub started: Instant,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Publisher {
    /// `ffmpeg -re -i media/FIXTURE -t SECONDS -c copy -f flv URL`, as OBS would send it.
    pub fn ffmpeg(fixture_name: &str, url: &str, seconds: u32) -> Publisher {
        Self::ffmpeg_args(fixture_name, url, seconds, &[])
    }

    /// As [`Self::ffmpeg`], with output options `extra` (e.g. `-an`).
    pub fn ffmpeg_args(fixture_name: &str, url: &str, seconds: u32, extra: &[&str]) -> Publisher {
        let input = fixture(fixture_name);
        Self::spawn("ffmpeg", |cmd| {
            cmd.args([
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "warning",
                "-re",
                "-i",
            ])
            .arg(&input)
            .args(["-t", &seconds.to_string(), "-c", "copy"])
            .args(extra)
            .args(["-f", "flv", url]);
        })
    }

    /// GStreamer: demux the FLV fixture and republish it with `rtmp2sink`
    /// (real-time: the sink syncs to the clock). `audio` adds the AAC branch
    /// (the muxer would wait forever for an audio pad the file lacks).
    pub fn gstreamer(fixture_name: &str, url: &str, audio: bool) -> Publisher {
        let input = fixture(fixture_name);
        let mut pipeline = format!(
            "filesrc location={} ! flvdemux name=d \
             d.video ! queue ! h264parse ! flvmux name=m streamable=true ! rtmp2sink location={url}",
            input.display()
        );
        if audio {
            pipeline.push_str(" d.audio ! queue ! aacparse ! m.");
        }
        Self::spawn("gst-launch-1.0", |cmd| {
            cmd.arg("-q").args(pipeline.split_whitespace());
        })
    }

    fn spawn(program: &str, args: impl FnOnce(&mut Command)) -> Publisher {
        let dir = tempfile::tempdir().expect("tempdir");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut cmd = Command::new(program);
        args(&mut cmd);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program} (scripts/test installs it): {e}"));
        Publisher {
            child,
            started: Instant::now(),
            stderr_path,
            _dir: dir,
        }
    }

    /// Kills the publisher abruptly (SIGKILL): its connection drops without
    /// an RTMP unpublish, as when a creator's network fails.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the publisher printed so far, and whether it is still running
    /// (for failure messages).
    pub fn report(&mut self) -> String {
        let state = match self.child.try_wait() {
            Ok(None) => "running".to_owned(),
            Ok(Some(status)) => format!("exited: {status}"),
            Err(e) => format!("unknown: {e}"),
        };
        let stderr = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        format!(
            "publisher {state}, {:?} after start; its stderr:\n{stderr}",
            self.started.elapsed()
        )
    }

    /// Waits for exit (bounded) and returns (success, stderr).
    pub fn wait(&mut self, timeout: Duration) -> (bool, String) {
        let status = wait_child(&mut self.child, timeout);
        let stderr = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        (status.is_some_and(|s| s.success()), stderr)
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API request with a bearer token (and a JSON body, if any); the
/// status and the JSON answer (`Null` when not JSON).
pub async fn api_call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let r = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// GET returning (status, content-type, cache-control, body).
pub async fn get(url: &str) -> (u16, String, String, bytes::Bytes) {
    let r = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let ct = header("content-type");
    let cc = header("cache-control");
    let body = r.bytes().await.expect("body");
    (status, ct, cc, body)
}

/// Polls `url` every 100 ms until it answers 200, at most `timeout`.
pub async fn wait_for_200(url: &str, timeout: Duration) -> Option<bytes::Bytes> {
    let deadline = Instant::now() + timeout;
    loop {
        let (status, _, _, body) = get(url).await;
        if status == 200 {
            return Some(body);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls a live media playlist until it carries EXT-X-ENDLIST (≤ 15 s) and
/// returns it.
pub async fn wait_for_endlist(server: &Server, media_url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, _, _, body) = get(media_url).await;
        let text = String::from_utf8_lossy(&body).into_owned();
        if text.contains("#EXT-X-ENDLIST") {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no EXT-X-ENDLIST 15 s after the publisher stopped:\n{text}\nlog:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits up to `timeout` for the channel's newest recording to be `ready`
/// and returns it.
pub async fn wait_for_ready_vod(
    server: &Server,
    channel_id: &str,
    timeout: Duration,
) -> control::Vod {
    let db = control::Db::connect(&server.database_url()).await.unwrap();
    let deadline = Instant::now() + timeout;
    let vod = loop {
        let vods = db.list_vods(channel_id).await.unwrap();
        if vods
            .first()
            .is_some_and(|v| v.status == control::VodStatus::Ready)
        {
            break vods[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no ready recording after {timeout:?}: {vods:?}\nlog:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    db.close().await;
    vod
}

/// Fetches each of `segments` (URIs relative to `playlist_url`) into `dir`
/// and checks that ffmpeg decodes it without errors and that video PTS only
/// increase from one segment to the next (what players need to not stall).
/// Returns each segment's video PTS range.
pub async fn check_segments_decode_in_order(
    playlist_url: &str,
    segments: &[(f64, String)],
    dir: &Path,
) -> Vec<(i64, i64)> {
    let mut ranges = Vec::with_capacity(segments.len());
    let mut last_pts = i64::MIN;
    for (_, uri) in segments {
        let (status, _, _, data) = get(&resolve(playlist_url, uri)).await;
        assert_eq!(status, 200, "{uri}");
        let path = dir.join(uri);
        std::fs::write(&path, &data).unwrap();
        let errors = decode_errors(&path);
        assert!(errors.trim().is_empty(), "{uri}: {errors}");
        let (min, max) = video_pts_range(&path);
        assert!(
            min > last_pts,
            "segment {uri} starts at {min}, before {last_pts}"
        );
        last_pts = max;
        ranges.push((min, max));
    }
    ranges
}

/// The first variant URI of a master playlist.
pub fn first_variant(master: &str) -> String {
    master
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap_or_else(|| panic!("no variant in master playlist:\n{master}"))
        .trim()
        .to_string()
}

/// Waits (≤ `timeout`) for the channel's master playlist and returns the URL
/// of its first media playlist (absolute).
pub async fn wait_for_media_url(server: &Server, playback_id: &str, timeout: Duration) -> String {
    let master_url = server.url(&format!("/hls/{playback_id}/master.m3u8"));
    let master = wait_for_200(&master_url, timeout).await.unwrap_or_else(|| {
        panic!(
            "no master playlist after {timeout:?}; log:\n{}",
            server.log()
        )
    });
    let variant = first_variant(&String::from_utf8_lossy(&master));
    server.url(&format!("/hls/{playback_id}/{variant}"))
}

/// Waits until the live media playlist at `media_url` has listed `n`
/// segments since the broadcast began (media sequence + listed), at most
/// `timeout`; returns the count. For "let some media go by" without a
/// fixed sleep.
pub async fn wait_for_segments(server: &Server, media_url: &str, n: u64, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let (_, _, _, body) = get(media_url).await;
        let text = String::from_utf8_lossy(&body);
        let count = media_sequence(&text) + playlist_segments(&text).len() as u64;
        if count >= n {
            return count;
        }
        assert!(
            Instant::now() < deadline,
            "{count} of {n} segments after {timeout:?}:\n{text}\nlog:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The URL of `uri` relative to the playlist at `playlist_url`.
pub fn resolve(playlist_url: &str, uri: &str) -> String {
    let base = playlist_url
        .rsplit_once('/')
        .map_or(playlist_url, |(b, _)| b);
    format!("{base}/{uri}")
}

/// The EXT-X-MEDIA-SEQUENCE of a media playlist (0 when absent).
pub fn media_sequence(playlist: &str) -> u64 {
    playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The (duration, uri) entries of a media playlist, in order.
pub fn playlist_segments(playlist: &str) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    let mut duration = None;
    for line in playlist.lines() {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let d = rest.split(',').next().unwrap_or_default();
            duration = Some(d.parse::<f64>().expect("EXTINF duration"));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            out.push((
                duration.take().expect("EXTINF before URI"),
                line.trim().to_string(),
            ));
        }
    }
    out
}

/// Runs ffprobe with `args` on `path` and returns stdout; panics on failure.
pub fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe (scripts/test installs ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe {args:?} {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fully decodes a file with ffmpeg; returns its error output (empty when clean).
pub fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let mut errors = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        errors.push_str(&format!("\nffmpeg exited with {}", out.status));
    }
    errors
}

/// Smallest and largest video packet PTS of a TS file, in 90 kHz ticks.
pub fn video_pts_range(path: &Path) -> (i64, i64) {
    let out = ffprobe(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts",
            "-of",
            "csv=p=0",
        ],
    );
    // Lines look like "132030," (and blank lines for side data).
    let pts: Vec<i64> = out
        .lines()
        .filter_map(|l| l.split(',').next()?.trim().parse().ok())
        .collect();
    assert!(!pts.is_empty(), "no video packets in {}", path.display());
    (*pts.iter().min().unwrap(), *pts.iter().max().unwrap())
}
