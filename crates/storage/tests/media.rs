//! `Media` on both backends: the local filesystem, and a real S3-compatible
//! server (s3s-fs, started by `scripts/test`) behind a fault-injecting proxy.
//! The S3 tests skip without the server unless `AETHEX_TEST_REQUIRE_S3=1`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use storage::testutil::{self, Backend, ProxyMode, S3Server, TestMedia};
use storage::{Error, Store, keys};

/// Bound on every wait for uploads in these tests.
const WAIT: Duration = Duration::from_secs(30);

fn body(s: &str) -> Vec<Bytes> {
    vec![Bytes::copy_from_slice(s.as_bytes())]
}

/// A body of `len` bytes derived from `seed`, in three parts.
fn big_body(seed: u8, len: usize) -> Vec<Bytes> {
    let data: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
    let data = Bytes::from(data);
    vec![
        data.slice(..len / 3),
        data.slice(len / 3..len / 2),
        data.slice(len / 2..),
    ]
}

fn concat(parts: &[Bytes]) -> Bytes {
    parts.concat().into()
}

/// A store on the same bucket that bypasses the proxy and the spool: what
/// viewers reading the bucket see.
fn direct_store(server: &S3Server, m: &TestMedia) -> Store {
    Store::open_with(&m.url, &server.config(&server.endpoint)).unwrap()
}

/// PUT request paths through the proxy, without the bucket, in order.
fn put_paths(m: &TestMedia) -> Vec<String> {
    let bucket = format!("/{}/", m.bucket.as_ref().unwrap().name);
    m.proxy()
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .filter_map(|r| r.path.strip_prefix(&bucket).map(str::to_string))
        .collect()
}

/// The S3 server, if configured; also installs a log subscriber
/// (`RUST_LOG=storage=debug` to see more than warnings).
fn s3() -> Option<S3Server> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "storage=info".into()),
        )
        .with_test_writer()
        .try_init();
    S3Server::from_env()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_list_delete() {
    testutil::each_backend(async |m| {
        let key = "live/ls1/source/0.ts";
        assert_eq!(m.get(key).await.unwrap(), None);
        m.put(
            "ls1/source",
            key,
            vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cd")],
        )
        .await
        .unwrap();
        // Readable at once: from the spool while the upload is pending.
        assert_eq!(m.get(key).await.unwrap().as_deref(), Some(&b"abcd"[..]));
        m.put(
            "ls1/source",
            "live/ls1/source/index.m3u8",
            body("#EXTM3U\n"),
        )
        .await
        .unwrap();
        m.put("ls1", "live/ls10/master.m3u8", body("other stream"))
            .await
            .unwrap();
        assert_eq!(
            m.list("live/ls1").await.unwrap(),
            vec!["live/ls1/source/0.ts", "live/ls1/source/index.m3u8"]
        );
        assert!(m.flush("ls1/source", WAIT).await);
        assert!(m.flush_all(WAIT).await);
        // In the store itself now.
        assert_eq!(
            m.store().get(key).await.unwrap().as_deref(),
            Some(&b"abcd"[..])
        );
        assert_eq!(m.list("live/ls1/").await.unwrap().len(), 2);
        m.delete(key).await.unwrap();
        m.delete(key).await.unwrap();
        assert_eq!(m.get(key).await.unwrap(), None);
        assert_eq!(m.store().get(key).await.unwrap(), None);
        assert_eq!(
            m.list("live").await.unwrap(),
            vec!["live/ls1/source/index.m3u8", "live/ls10/master.m3u8"]
        );
        let stats = m.stats();
        assert_eq!(stats.remote, m.backend == Backend::S3);
        assert_eq!(stats.puts, 3);
        assert_eq!(stats.uploads_ok, 3);
        assert_eq!(stats.queued_objects, 0);
        assert_eq!(stats.put_latency.count, 3);
        assert_eq!(stats.upload_delay.cumulative().last(), Some(&3));
        if m.backend == Backend::S3 {
            assert_eq!(stats.spool_files, 0);
            assert!(m.spool_files().is_empty());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_reads() {
    testutil::each_backend(async |m| {
        let parts = big_body(1, 1000);
        let whole = concat(&parts);
        let key = "clips/c1.mp4";
        assert_eq!(m.get_range(key, 0..10).await.unwrap(), None);
        m.put("clips", key, parts).await.unwrap();
        // Pending (S3) or stored (file), then stored.
        for round in 0..2 {
            let r = |range: std::ops::Range<u64>| {
                let m = &m.media;
                async move { m.get_range(key, range).await.unwrap().unwrap() }
            };
            assert_eq!(r(0..10).await, (whole.slice(0..10), 1000), "round {round}");
            assert_eq!(r(330..700).await, (whole.slice(330..700), 1000));
            assert_eq!(r(990..5000).await, (whole.slice(990..), 1000));
            assert_eq!(r(1000..1001).await, (Bytes::new(), 1000));
            assert_eq!(r(5..5).await, (Bytes::new(), 1000));
            assert!(m.flush("clips", WAIT).await);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_keys_do_not_panic() {
    testutil::each_backend(async |m| {
        let odd = [
            "odd/a b/ü€ ✓.ts",
            "odd/q?x=1&y=%20",
            "odd/plus+sign;semi,comma=eq@at",
            "odd/#hash#x",
            "odd/~tilde/'quote'/(paren)!*$",
            "odd/.hidden",
            "odd/..dots..",
        ];
        for (i, key) in odd.iter().enumerate() {
            m.put("odd", key, body(&format!("v{i}"))).await.unwrap();
        }
        assert!(m.flush("odd", WAIT).await);
        for (i, key) in odd.iter().enumerate() {
            let got = m.store().get(key).await.unwrap();
            assert_eq!(got, Some(Bytes::from(format!("v{i}"))), "{key:?}");
        }
        let mut expected: Vec<String> = odd.iter().map(|k| k.to_string()).collect();
        expected.sort();
        assert_eq!(m.list("odd").await.unwrap(), expected);

        let long = "k".repeat(2000);
        for bad in [
            "",
            "/",
            "/abs",
            "trailing/",
            "a//b",
            "../up",
            "a/./b",
            "a/..",
            "ctl\n",
            "nul\0",
            "x#12",
            &long,
        ] {
            let invalid = |e: Option<Error>| matches!(e, Some(Error::InvalidKey(_)));
            assert!(
                invalid(m.put("odd", bad, body("x")).await.err()),
                "put {bad:?}"
            );
            assert!(invalid(m.get(bad).await.err()), "get {bad:?}");
            assert!(
                invalid(m.get_range(bad, 0..1).await.err()),
                "get_range {bad:?}"
            );
            assert!(invalid(m.delete(bad).await.err()), "delete {bad:?}");
        }
        // Odd lanes are just names.
        m.put("", "odd/lane0", body("x")).await.unwrap();
        m.put("ü/../\n", "odd/lane1", body("x")).await.unwrap();
        assert!(m.flush("", WAIT).await && m.flush("ü/../\n", WAIT).await);
        assert!(
            m.list("/odd/")
                .await
                .unwrap()
                .contains(&"odd/lane1".to_string())
        );
        assert!(m.list("a//b").await.is_err());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_prefix_on_both_backends() {
    testutil::each_backend(async |m| {
        for key in [
            "live/a/1.ts",
            "live/a/x/2.ts",
            "live/ab/1.ts",
            "live/b/1.ts",
        ] {
            m.put("l", key, body(key)).await.unwrap();
        }
        assert!(m.flush("l", WAIT).await);
        assert_eq!(m.delete_prefix("live/a").await.unwrap(), 2);
        assert_eq!(
            m.list("").await.unwrap(),
            vec!["live/ab/1.ts", "live/b/1.ts"]
        );
        assert_eq!(m.delete_prefix("live/a/").await.unwrap(), 0);
        assert_eq!(m.delete_prefix("").await.unwrap(), 2);
        assert!(m.list("").await.unwrap().is_empty());
    })
    .await;
}

/// Segments and playlists in several lanes at once, with a reader polling
/// the bucket directly: whenever it finds a playlist, every segment the
/// playlist lists is already there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlist_never_reaches_the_bucket_before_its_segments() {
    let Some(server) = s3() else { return };
    let m = TestMedia::s3_with(&server, |c| c.upload_concurrency = 2).await;
    let store = direct_store(&server, &m);
    let renditions = ["source", "720p", "480p"];
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut checks = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for r in renditions {
                    let playlist = keys::media_playlist("ls", r);
                    let Some(text) = store.get(&playlist).await.unwrap() else {
                        continue;
                    };
                    let text = String::from_utf8(text.to_vec()).unwrap();
                    for uri in text.lines().filter(|l| !l.starts_with('#')) {
                        let seg = keys::segment("ls", r, uri);
                        assert!(
                            store.get(&seg).await.unwrap().is_some(),
                            "{playlist} lists {uri}, which is not in the bucket yet"
                        );
                        checks += 1;
                    }
                }
            }
            checks
        })
    };
    let writers = renditions.map(|r| {
        let media = m.media.clone();
        tokio::spawn(async move {
            let lane = format!("ls/{r}");
            let mut playlist = String::from("#EXTM3U\n");
            for seq in 0..15u64 {
                let name = keys::segment_file_name(seq, "ts");
                media
                    .put(
                        &lane,
                        &keys::segment("ls", r, &name),
                        big_body(seq as u8, 64 * 1024),
                    )
                    .await
                    .unwrap();
                playlist.push_str(&format!("#EXTINF:2.0,\n{name}\n"));
                media
                    .put(&lane, &keys::media_playlist("ls", r), body(&playlist))
                    .await
                    .unwrap();
            }
        })
    });
    for w in writers {
        w.await.unwrap();
    }
    assert!(m.flush_all(WAIT).await);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let checks = watcher.await.unwrap();
    eprintln!("watcher checked {checks} listed segments");

    // Per lane, each segment's PUT comes before any playlist PUT listing it.
    let puts = put_paths(&m);
    for r in renditions {
        let mut segments_seen = 0u64;
        for path in puts
            .iter()
            .filter(|p| p.starts_with(&format!("live/ls/{r}/")))
        {
            if path.ends_with(".m3u8") {
                assert!(segments_seen > 0, "{path} before any segment");
            } else {
                let seq: u64 = path
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .trim_end_matches(".ts")
                    .parse()
                    .unwrap();
                assert_eq!(seq, segments_seen, "segments of {r} out of order: {puts:?}");
                segments_seen += 1;
            }
        }
        assert_eq!(segments_seen, 15);
        let last = store
            .get(&keys::media_playlist("ls", r))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            last.split(|&b| b == b'\n')
                .filter(|l| l.ends_with(b".ts"))
                .count(),
            15
        );
    }
    assert!(m.spool_files().is_empty());
}

/// A store outage: puts keep returning quickly (into the spool), reads are
/// served from the spool, nothing reaches the bucket; when the store is
/// back, everything lands in order, a rewritten playlist only once, and
/// the spool empties. Once with refused connections, once with resets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_loses_nothing() {
    let Some(server) = s3() else { return };
    let m = TestMedia::s3(&server).await;
    let store = direct_store(&server, &m);
    m.put("ls/source", "live/ls/source/init.mp4", body("init"))
        .await
        .unwrap();
    assert!(m.flush("ls/source", WAIT).await);

    let mut seq = 0u64;
    for (round, mode) in [ProxyMode::Refuse, ProxyMode::Reset]
        .into_iter()
        .enumerate()
    {
        m.proxy().clear();
        m.proxy().set_mode(mode);
        let first = seq;
        let mut slowest = Duration::ZERO;
        let mut playlist = format!("#EXTM3U\n#round {round}\n");
        for _ in 0..10 {
            let name = keys::segment_file_name(seq, "m4s");
            let started = Instant::now();
            m.put(
                "ls/source",
                &keys::segment("ls", "source", &name),
                big_body(seq as u8, 100_000),
            )
            .await
            .unwrap();
            playlist.push_str(&format!("{name}\n"));
            m.put(
                "ls/source",
                &keys::media_playlist("ls", "source"),
                body(&playlist),
            )
            .await
            .unwrap();
            slowest = slowest.max(started.elapsed());
            seq += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Still down: nothing landed, the spool holds it all, reads work.
        assert!(
            slowest < Duration::from_secs(2),
            "a put took {slowest:?} during the outage"
        );
        assert!(!m.flush("ls/source", Duration::from_millis(300)).await);
        let stats = m.stats();
        assert!(
            stats.upload_failures > 0 && stats.consecutive_failures > 0,
            "{stats:?}"
        );
        // 10 segments + the newest playlist (older versions were replaced);
        // one may be in flight, so its replacement waits too.
        assert!((11..=12).contains(&stats.queued_objects), "{stats:?}");
        assert_eq!(stats.spool_files, stats.queued_objects);
        assert_eq!(m.spool_files().len() as u64, stats.spool_files);
        assert!(stats.oldest_queued_age_ms >= 400, "{stats:?}");
        let first_key = keys::segment("ls", "source", &keys::segment_file_name(first, "m4s"));
        assert_eq!(
            m.get(&first_key).await.unwrap(),
            Some(concat(&big_body(first as u8, 100_000)))
        );
        assert_eq!(
            m.get(&keys::media_playlist("ls", "source")).await.unwrap(),
            Some(Bytes::from(playlist.clone()))
        );
        assert!(
            m.list("live/ls/source").await.is_err(),
            "listing needs the store"
        );
        m.proxy().set_mode(ProxyMode::Pass);
        assert_eq!(store.get(&first_key).await.unwrap(), None);

        // Back: everything lands, in order.
        assert!(m.flush("ls/source", WAIT).await);
        let puts = put_paths(&m);
        let expected: Vec<String> = (first..seq)
            .map(|s| format!("live/ls/source/{s}.m4s"))
            .chain(["live/ls/source/index.m3u8".to_string()])
            .collect();
        assert_eq!(puts, expected, "round {round}");
        for s in first..seq {
            let key = keys::segment("ls", "source", &keys::segment_file_name(s, "m4s"));
            assert_eq!(
                store.get(&key).await.unwrap(),
                Some(concat(&big_body(s as u8, 100_000)))
            );
        }
        assert_eq!(
            store
                .get(&keys::media_playlist("ls", "source"))
                .await
                .unwrap(),
            Some(Bytes::from(playlist))
        );
        let stats = m.stats();
        assert_eq!(
            (
                stats.queued_objects,
                stats.spool_files,
                stats.consecutive_failures
            ),
            (0, 0, 0)
        );
        assert!(m.spool_files().is_empty());
        assert!(stats.upload_delay.max_ms >= 400);
    }
    let stats = m.stats();
    assert_eq!(stats.superseded, 18, "{stats:?}");
    assert_eq!(stats.uploads_ok, 1 + 2 * 11);
    assert_eq!(stats.lost, 0);
}

/// A restart while the store is down: the new process finds the spool,
/// serves reads from it, and uploads it all, segments before playlists,
/// once the store is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_an_outage_requeues_the_spool() {
    let Some(server) = s3() else { return };
    let mut m = TestMedia::s3(&server).await;
    let store = direct_store(&server, &m);
    m.proxy().set_mode(ProxyMode::Refuse);
    for r in ["source", "480p"] {
        let lane = format!("ls/{r}");
        let mut playlist = String::new();
        for seq in [8u64, 9, 10, 11] {
            let name = keys::segment_file_name(seq, "ts");
            m.put(
                &lane,
                &keys::segment("ls", r, &name),
                body(&format!("{r}{seq}")),
            )
            .await
            .unwrap();
            playlist.push_str(&format!("{name}\n"));
            m.put(&lane, &keys::media_playlist("ls", r), body(&playlist))
                .await
                .unwrap();
        }
    }
    m.put("ls", &keys::master_playlist("ls"), body("master"))
        .await
        .unwrap();
    m.restart().await;
    // The old handle is closed for good.
    let stats = m.stats();
    assert_eq!(stats.requeued, 11, "{stats:?}");
    assert_eq!(stats.queued_objects, 11);
    assert_eq!(m.spool_files().len(), 11);
    assert_eq!(
        m.get(&keys::segment("ls", "480p", "9.ts")).await.unwrap(),
        Some(Bytes::from_static(b"480p9"))
    );
    assert_eq!(
        m.get_range(&keys::media_playlist("ls", "source"), 0..4)
            .await
            .unwrap(),
        Some((Bytes::from_static(b"8.ts"), 22))
    );
    assert!(!m.flush_all(Duration::from_millis(300)).await);

    m.proxy().set_mode(ProxyMode::Pass);
    assert!(m.flush_all(WAIT).await);
    let puts = put_paths(&m);
    for r in ["source", "480p"] {
        let lane: Vec<&String> = puts
            .iter()
            .filter(|p| p.starts_with(&format!("live/ls/{r}/")))
            .collect();
        assert_eq!(
            lane,
            vec![
                &format!("live/ls/{r}/8.ts"),
                &format!("live/ls/{r}/9.ts"),
                &format!("live/ls/{r}/10.ts"),
                &format!("live/ls/{r}/11.ts"),
                &format!("live/ls/{r}/index.m3u8"),
            ]
        );
        assert_eq!(
            store.get(&keys::media_playlist("ls", r)).await.unwrap(),
            Some(Bytes::from_static(b"8.ts\n9.ts\n10.ts\n11.ts\n"))
        );
    }
    assert_eq!(
        store.get(&keys::master_playlist("ls")).await.unwrap(),
        Some(Bytes::from_static(b"master"))
    );
    assert!(m.spool_files().is_empty());
    assert_eq!(m.stats().spool_files, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_its_lane_only() {
    let Some(server) = s3() else { return };
    let m = TestMedia::s3(&server).await;
    assert!(m.flush("never-used", Duration::ZERO).await);
    m.put("a", "a/1", body("a1")).await.unwrap();
    assert!(m.flush("a", WAIT).await);
    m.proxy().set_mode(ProxyMode::Refuse);
    m.put("b", "b/1", body("b1")).await.unwrap();
    m.put("c", "c/1", body("c1")).await.unwrap();
    // Lane a has nothing pending; b and c are stuck.
    assert!(m.flush("a", Duration::ZERO).await);
    let started = Instant::now();
    assert!(!m.flush("b", Duration::from_millis(200)).await);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Deleting c's only object resolves c's flush.
    m.delete("c/1").await.unwrap_err(); // the store is down, but c/1 is no longer pending
    assert!(m.flush("c", Duration::ZERO).await);
    // A flush started during the outage resolves when it ends.
    let flush = {
        let media = m.media.clone();
        tokio::spawn(async move { media.flush("b", WAIT).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!flush.is_finished());
    m.proxy().set_mode(ProxyMode::Pass);
    assert!(flush.await.unwrap());
    assert_eq!(
        m.store().get("b/1").await.unwrap(),
        Some(Bytes::from_static(b"b1"))
    );
    assert_eq!(m.store().get("c/1").await.unwrap(), None);
    assert_eq!(m.stats().cancelled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_prefix_cancels_pending_uploads() {
    let Some(server) = s3() else { return };
    let m = TestMedia::s3(&server).await;
    let store = direct_store(&server, &m);
    m.put("p", "live/p/0.ts", body("stored")).await.unwrap();
    assert!(m.flush("p", WAIT).await);
    m.proxy().set_mode(ProxyMode::Refuse);
    for key in ["live/p/1.ts", "live/p/index.m3u8", "live/p/x/2.ts"] {
        m.put("p", key, body(key)).await.unwrap();
    }
    m.put("q", "live/q/1.ts", body("q")).await.unwrap();
    // The pending half succeeds without the store; the stored half fails.
    assert!(m.delete_prefix("live/p").await.is_err());
    // No longer pending, and the store cannot be asked.
    assert!(m.get("live/p/1.ts").await.is_err());
    assert_eq!(m.stats().cancelled, 3);
    assert_eq!(m.spool_files().len(), 1, "only q's object is left");
    assert!(m.flush("p", Duration::ZERO).await);

    m.proxy().set_mode(ProxyMode::Pass);
    assert!(m.flush_all(WAIT).await);
    assert_eq!(m.list("live/p").await.unwrap(), vec!["live/p/0.ts"]);
    assert_eq!(m.delete_prefix("live/p").await.unwrap(), 1);
    assert_eq!(m.list("live").await.unwrap(), vec!["live/q/1.ts"]);
    // The cancelled objects never reached the bucket.
    assert_eq!(
        m.proxy().count(
            "PUT",
            &format!("/{}/live/p/", m.bucket.as_ref().unwrap().name)
        ),
        1
    );
    assert_eq!(store.get("live/p/1.ts").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_memory_budget_objects_wait_on_disk_only() {
    let Some(server) = s3() else { return };
    let m = TestMedia::s3_with(&server, |c| c.upload_queue_memory_mb = 1).await;
    m.proxy().set_mode(ProxyMode::Refuse);
    for i in 0..6u8 {
        m.put("l", &format!("big/{i}.ts"), big_body(i, 300_000))
            .await
            .unwrap();
    }
    let stats = m.stats();
    assert_eq!(stats.queued_bytes, 1_800_000);
    assert!(stats.queued_memory_bytes <= 1 << 20, "{stats:?}");
    assert!(stats.queued_memory_bytes >= 900_000, "{stats:?}");
    // Read back from the spool.
    assert_eq!(
        m.get("big/5.ts").await.unwrap(),
        Some(concat(&big_body(5, 300_000)))
    );
    m.proxy().set_mode(ProxyMode::Pass);
    assert!(m.flush("l", WAIT).await);
    for i in 0..6u8 {
        assert_eq!(
            m.store().get(&format!("big/{i}.ts")).await.unwrap(),
            Some(concat(&big_body(i, 300_000)))
        );
    }
    assert_eq!(m.stats().queued_memory_bytes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_the_spool_over() {
    let Some(server) = s3() else { return };
    let m = TestMedia::s3(&server).await;
    // One process per spool.
    let err = storage::Media::open(&m.config, &m.url, &m.spool_dir)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    m.put("l", "k", body("v")).await.unwrap();
    assert!(m.shutdown(WAIT).await);
    assert!(matches!(
        m.put("l", "k2", body("v")).await,
        Err(Error::Closed)
    ));
    // Reads still work.
    assert_eq!(m.get("k").await.unwrap(), Some(Bytes::from_static(b"v")));
    let next = storage::Media::open(&m.config, &m.url, &m.spool_dir)
        .await
        .unwrap();
    next.put("l", "k2", body("v2")).await.unwrap();
    assert!(next.shutdown(WAIT).await);
}

/// s3s checks SigV4: a wrong secret fails every upload, and the objects
/// wait in the spool instead of being dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_keep_objects_spooled() {
    let Some(server) = s3() else { return };
    let m = TestMedia::s3_with(&server, |c| c.s3_secret_access_key = "wrong-secret".into()).await;
    m.put("l", "k", body("v")).await.unwrap();
    assert!(!m.flush("l", Duration::from_millis(500)).await);
    let stats = m.stats();
    assert!(
        stats.upload_failures >= 1 && stats.queued_objects == 1,
        "{stats:?}"
    );
    assert_eq!(m.get("k").await.unwrap(), Some(Bytes::from_static(b"v")));
    assert!(m.store().get("k").await.is_err());
    assert!(!format!("{:?}", m.config).contains("wrong-secret"));
}

/// `s3://bucket/prefix`: keys live under the prefix in the bucket, and
/// come back without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_prefixes() {
    let Some(server) = s3() else { return };
    let bucket = server.fresh_bucket();
    let dir = tempfile::tempdir().unwrap();
    let config = server.config(&server.endpoint);
    let url = bucket.url("media/eu");
    let m = storage::Media::open(&config, &url, dir.path())
        .await
        .unwrap();
    m.put("l", "live/a/0.ts", body("x")).await.unwrap();
    assert!(m.flush("l", WAIT).await);
    assert_eq!(m.list("").await.unwrap(), vec!["live/a/0.ts"]);
    let whole = Store::open_with(&bucket.url(""), &config).unwrap();
    assert_eq!(whole.list("").await.unwrap(), vec!["media/eu/live/a/0.ts"]);
    assert_eq!(m.delete_prefix("").await.unwrap(), 1);
    assert!(whole.list("").await.unwrap().is_empty());
    assert!(m.shutdown(WAIT).await);
}

/// Files go in as parts (a multipart upload on S3) and objects come out as
/// streams, whole or a range, on both backends; nothing about them is
/// held whole in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_parts_and_streams_out() {
    use futures::TryStreamExt;
    testutil::each_backend(async |m| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.mp4");
        // Three parts: two full ones and a short last one.
        let len = 2 * storage::FILE_PART_BYTES + 12_345;
        let data = concat(&big_body(7, len));
        std::fs::write(&path, &data).unwrap();
        let key = "clips/c1.mp4";
        // A pending small version of the key is replaced by the file's.
        m.put("clips/c1", key, body("old")).await.unwrap();
        assert_eq!(m.put_file(key, &path).await.unwrap(), len as u64);
        assert!(m.flush_all(WAIT).await);

        let whole = m.get_stream(key, None).await.unwrap().expect("stored");
        assert_eq!(
            (whole.total, whole.range.clone()),
            (len as u64, 0..len as u64)
        );
        let chunks: Vec<Bytes> = whole.body.try_collect().await.unwrap();
        assert!(chunks.len() > 1, "streamed in chunks");
        assert_eq!(concat(&chunks), data);

        let part = m
            .get_stream(key, Some(1000..3_000_000))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(part.range, 1000..3_000_000);
        let got: Vec<Bytes> = part.body.try_collect().await.unwrap();
        assert_eq!(concat(&got), data.slice(1000..3_000_000));

        let past = m
            .get_stream(key, Some(len as u64..len as u64 + 10))
            .await
            .unwrap()
            .unwrap();
        assert!(past.is_empty());
        assert_eq!(past.total, len as u64);
        assert!(
            m.get_stream("clips/none.mp4", None)
                .await
                .unwrap()
                .is_none()
        );
        // A small pending object streams from the spool.
        m.put("x", "live/ls9/source/0.ts", body("abcd"))
            .await
            .unwrap();
        let pending = m
            .get_stream("live/ls9/source/0.ts", Some(1..3))
            .await
            .unwrap()
            .unwrap();
        let got: Vec<Bytes> = pending.body.try_collect().await.unwrap();
        assert_eq!(concat(&got), Bytes::from_static(b"bc"));
    })
    .await;
}
