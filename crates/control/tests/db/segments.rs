use control::testutil::{self, each_backend};
use control::{Error, NewSegment};

fn segment(live_stream_id: &str, sequence: i64) -> NewSegment {
    NewSegment {
        live_stream_id: live_stream_id.to_string(),
        rendition: "source".to_string(),
        sequence,
        duration_90k: 180_000 + sequence,
        size_bytes: 600_000,
        discontinuity: sequence == 2,
        uri: format!("{sequence}.m4s"),
        map_uri: (sequence > 0).then(|| "init.mp4".to_string()),
        gap: sequence == 1,
        program_date_time_ms: (sequence != 2).then_some(1_795_000_000_000 + sequence * 2000),
    }
}

#[tokio::test]
async fn segment_index() {
    each_backend(async |db| {
        let (channel, _) = testutil::channel(&db, "segments").await;
        let ls = db.begin_live_stream(&channel.channel_id).await.unwrap();
        let id = &ls.live_stream_id;
        assert!(db.segments(id, "source").await.unwrap().is_empty());
        // Out of order on purpose: the index returns them by sequence.
        for seq in [1, 0, 2] {
            db.add_segment(segment(id, seq)).await.unwrap();
        }
        let listed = db.segments(id, "source").await.unwrap();
        let seqs: Vec<i64> = listed.iter().map(|s| s.sequence).collect();
        assert_eq!(seqs, [0, 1, 2]);
        assert_eq!(listed[1].duration_90k, 180_001);
        assert_eq!(listed[1].size_bytes, 600_000);
        assert!(!listed[1].discontinuity);
        assert!(listed[2].discontinuity);
        assert_eq!(listed[1].uri, "1.m4s");
        assert_eq!(listed[0].map_uri, None);
        assert_eq!(listed[2].map_uri.as_deref(), Some("init.mp4"));
        assert!(listed[1].gap && !listed[0].gap);
        assert_eq!(listed[0].program_date_time_ms, Some(1_795_000_000_000));
        assert_eq!(listed[2].program_date_time_ms, None);
        assert!(db.segments(id, "720p").await.unwrap().is_empty());
        let mut other = segment(id, 0);
        other.rendition = "360p".into();
        db.add_segment(other).await.unwrap();
        assert_eq!(db.segment_renditions(id).await.unwrap(), ["360p", "source"]);

        match db.add_segment(segment(id, 1)).await {
            Err(Error::Conflict { what }) => assert_eq!(what, "segment"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            db.add_segment(segment("no-such-stream", 0)).await,
            Err(Error::NotFound { .. })
        ));
        let mut bad = segment(id, 9);
        bad.duration_90k = 0;
        assert!(matches!(
            db.add_segment(bad).await,
            Err(Error::Invalid {
                field: "duration_90k",
                ..
            })
        ));
        db.ping().await.unwrap();
    })
    .await;
}
