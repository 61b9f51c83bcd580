//! One playlist poller per stream, the way a player reloads a live playlist:
//! one keep-alive connection, a reload every `1/rate` s at a random phase,
//! never two at once (a reload slower than the interval delays the next one;
//! missed ticks are skipped, not bunched).

use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::http::{Client, Url};
use crate::playlist;

/// The longest a single request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Media sequence numbers tracked per stream (a day of 2 s segments).
const MAX_MSN: u64 = 50_000;
/// Error messages kept per stream.
const MAX_ERROR_SAMPLES: usize = 5;

pub struct Spec {
    pub url: Url,
    /// `url` is a master playlist: poll it until it lists a variant, then
    /// poll the variant's media playlist.
    pub master: bool,
    pub rate: f64,
    /// Phase in `[0, 1)` of the period.
    pub phase: f64,
    /// First poll at `start` (+ phase), the last one starts before `stop`.
    pub start: Instant,
    pub stop: Instant,
    /// Seconds since the run's start are measured from here.
    pub base: Instant,
    pub user_agent: String,
}

#[derive(Clone, Copy, Debug)]
pub struct Seen {
    pub duration: f64,
    /// Seconds since the run's start at which a response listing it was
    /// first read completely.
    pub first_seen: f64,
}

#[derive(Debug, Default)]
pub struct Report {
    /// The media playlist polled (after resolving the master).
    pub media_url: Option<String>,
    /// Requests made (master and media playlists, whatever the answer).
    pub polls: u64,
    /// Start times of the polls, seconds since the run's start, for the
    /// achieved rate inside a window.
    pub poll_starts: Vec<f64>,
    /// Time from sending a request to reading its whole response, seconds.
    pub response_times: Vec<f32>,
    /// 404s before the first playlist with a segment (the stream not yet
    /// started: expected).
    pub not_ready: u64,
    /// Transport errors, timeouts, unparsable playlists, and statuses other
    /// than 200 (404 counts only once the stream has started).
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub connects: u64,
    /// Indexed by media sequence number.
    pub segments: Vec<Option<Seen>>,
    /// Media sequence number of the first playlist with segments.
    pub first_msn: Option<u64>,
    /// A segment left the playlist before we saw it (its msn stays None).
    pub missed: bool,
    pub target_duration: Option<f64>,
    pub ended_at: Option<f64>,
    /// First and last poll start, seconds since the run's start.
    pub first_poll: Option<f64>,
    pub last_poll: Option<f64>,
}

impl Report {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.error_samples.len() < MAX_ERROR_SAMPLES {
            self.error_samples.push(what);
        }
    }
}

pub async fn run(spec: Spec) -> Report {
    let mut report = Report::default();
    let period = Duration::from_secs_f64(1.0 / spec.rate);
    let first = spec.start + period.mul_f64(spec.phase);
    let mut ticks = tokio::time::interval_at(first, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut client = Client::new(spec.url.addr, spec.user_agent.clone());
    let mut url = spec.url.clone();
    let mut in_master = spec.master;
    let max_polls = ((spec.stop.saturating_duration_since(spec.start)).as_secs_f64() * spec.rate)
        .ceil() as u64
        + 10;
    // Bounded by max_polls and by `stop`.
    while report.polls < max_polls {
        ticks.tick().await;
        if Instant::now() >= spec.stop {
            break;
        }
        // A master that just resolved is followed by its media playlist at
        // once (at most once per tick).
        for _ in 0..2 {
            let sent = Instant::now();
            let sent_s = sent.duration_since(spec.base).as_secs_f64();
            report.polls += 1;
            report.first_poll.get_or_insert(sent_s);
            report.last_poll = Some(sent_s);
            report.poll_starts.push(sent_s);
            let timeout = REQUEST_TIMEOUT.min(spec.stop.saturating_duration_since(sent));
            let response = client
                .get(&url, timeout.max(Duration::from_millis(1)))
                .await;
            let done = Instant::now();
            let done_s = done.duration_since(spec.base).as_secs_f64();
            report
                .response_times
                .push(done.duration_since(sent).as_secs_f32());
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    report.error(format!("{:.3} s: {}: {e}", sent_s, url.path));
                    break;
                }
            };
            let started = report.first_msn.is_some() || (spec.master && !in_master);
            if response.status == 404 && !started {
                report.not_ready += 1;
                break;
            }
            if response.status != 200 {
                report.error(format!(
                    "{:.3} s: {}: status {}",
                    sent_s, url.path, response.status
                ));
                break;
            }
            let text = String::from_utf8_lossy(&response.body);
            if in_master {
                match playlist::first_variant(&text).map(|v| url.join(v)) {
                    Some(Ok(media)) => {
                        url = media;
                        in_master = false;
                        report.media_url = Some(format!("http://{}{}", url.authority, url.path));
                        continue;
                    }
                    Some(Err(e)) => {
                        report.error(format!("{:.3} s: master: {e}", sent_s));
                        break;
                    }
                    // A master without variants yet: as not started.
                    None => {
                        report.not_ready += 1;
                        break;
                    }
                }
            }
            match playlist::parse_media(&text) {
                Ok(media) => record(&mut report, &media, done_s),
                Err(e) => report.error(format!("{:.3} s: {}: {e}", sent_s, url.path)),
            }
            break;
        }
    }
    report.connects = client.connects;
    if report.media_url.is_none() && !spec.master {
        report.media_url = Some(format!("http://{}{}", spec.url.authority, spec.url.path));
    }
    report
}

fn record(report: &mut Report, media: &playlist::Media, now: f64) {
    if media.target_duration.is_some() {
        report.target_duration = media.target_duration;
    }
    if media.ended && report.ended_at.is_none() {
        report.ended_at = Some(now);
    }
    if media.durations.is_empty() {
        return;
    }
    report.first_msn.get_or_insert(media.media_sequence);
    let last = media.media_sequence + media.durations.len() as u64 - 1;
    if last >= MAX_MSN {
        return;
    }
    // Segments that left the window unseen: anything below this playlist's
    // first msn that we never saw, once we have seen a playlist before.
    if (report.segments.len() as u64) < media.media_sequence {
        report.missed = true;
    }
    if report.segments.len() as u64 <= last {
        report.segments.resize(last as usize + 1, None);
    }
    for (i, &duration) in media.durations.iter().enumerate() {
        let slot = &mut report.segments[media.media_sequence as usize + i];
        if slot.is_none() {
            *slot = Some(Seen {
                duration,
                first_seen: now,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_first_sightings_and_misses() {
        let mut r = Report::default();
        let p = |seq, n| playlist::Media {
            media_sequence: seq,
            durations: vec![2.0; n],
            target_duration: Some(2.0),
            ended: false,
        };
        record(&mut r, &p(0, 1), 1.0);
        record(&mut r, &p(0, 2), 3.0);
        record(&mut r, &p(1, 2), 5.0);
        assert_eq!(r.first_msn, Some(0));
        assert!(!r.missed);
        let seen: Vec<f64> = r.segments.iter().map(|s| s.unwrap().first_seen).collect();
        assert_eq!(seen, vec![1.0, 3.0, 5.0]);
        record(&mut r, &p(5, 1), 7.0);
        assert!(r.missed);
    }
}
