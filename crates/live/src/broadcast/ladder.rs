//! The transcoding ladder as the core sees it: asked for on each source
//! video configuration, its rungs as renditions, its output, its failure,
//! and its lag.

use std::time::Duration;

use av::LadderEvent;
use av::{H264Config, MediaInfo};
use tracing::{error, warn};

use super::rendition::{Changes, Rendition};
use super::{Action, Broadcast, LADDER_WARM_UP, LadderRun, Measure, Now, Phase};

impl Broadcast {
    /// Starts the ladder for a source configuration (a second configuration
    /// restarts it).
    pub(super) fn start_ladder(&mut self, now: Now, source: H264Config) {
        self.stop_ladder(now);
        self.ladder_requested = true;
        self.actions.push_back(Action::StartLadder(source));
    }

    pub(super) fn ladder_started(&mut self, rungs: Vec<(String, u32)>) {
        // An empty list: the driver could not start one (no capacity, no
        // rung below the source, an error); the source goes on alone.
        if !std::mem::take(&mut self.ladder_requested) || self.is_ending() || rungs.is_empty() {
            return;
        }
        let audio = self.renditions[0].info.audio.clone();
        let mut rung_renditions = Vec::new();
        for (name, bitrate_kbps) in &rungs {
            let index = match self.renditions.iter().position(|r| &*r.name == name) {
                Some(i) => i,
                None => {
                    let info = MediaInfo {
                        video: None,
                        audio: audio.clone(),
                    };
                    let index = self.renditions.len();
                    self.renditions.push(Rendition::new(
                        name,
                        index,
                        false,
                        info,
                        self.config.segmenter.clone(),
                        true,
                    ));
                    index
                }
            };
            let r = &mut self.renditions[index];
            r.reopen();
            // Until measured: the video bitrate plus room for audio.
            r.estimated_bps = Some(u64::from(*bitrate_kbps) * 1000 + 160_000);
            rung_renditions.push(index);
        }
        self.ladder = Some(LadderRun {
            dropped: vec![false; rung_renditions.len()],
            rung_renditions,
        });
    }

    /// Stops the ladder (failure or restart): its renditions end.
    pub(super) fn stop_ladder(&mut self, now: Now) {
        let had = std::mem::take(&mut self.ladder_requested);
        let Some(run) = self.ladder.take() else {
            if had {
                self.actions.push_back(Action::StopLadder);
            }
            return;
        };
        self.actions.push_back(Action::StopLadder);
        let (mut out, renditions) = self.out(now);
        for &i in &run.rung_renditions {
            let r = &mut renditions[i];
            if !r.stopped {
                r.finish(&mut out);
                r.stopped = true;
            }
        }
    }

    pub(super) fn ladder_event(&mut self, now: Now, event: LadderEvent) {
        let rendition = |b: &Self, rung: usize| {
            b.ladder
                .as_ref()
                .and_then(|l| l.rung_renditions.get(rung).copied())
        };
        let changes = match event {
            LadderEvent::Config { rung, config } => match rendition(self, rung) {
                Some(i) => {
                    let (mut out, renditions) = self.out(now);
                    renditions[i].set_video(&mut out, config)
                }
                None => Changes::default(),
            },
            LadderEvent::Unit { rung, unit } => match rendition(self, rung) {
                Some(i) => {
                    let (mut out, renditions) = self.out(now);
                    renditions[i].push(&mut out, unit)
                }
                None => Changes::default(),
            },
            LadderEvent::Error(message) => {
                error!(error = %message, "transcoder failed; continuing with the source only");
                self.stop_ladder(now);
                Changes {
                    segment: true,
                    ..Changes::default()
                }
            }
            LadderEvent::Finished => {
                if let Phase::FlushingLadder { reason, .. } = self.phase {
                    self.finish_renditions(now, reason);
                }
                Changes::default()
            }
        };
        self.republish(now, changes);
    }

    /// Drops the lowest rendition still encoded when the ladder has fallen
    /// further behind real time than allowed (after its first seconds,
    /// while encoders warm up): viewers lose a rendition, never the stream.
    pub(super) fn ladder_lag(&mut self, now: Now, lag: Duration) {
        let Some(run) = &self.ladder else {
            return;
        };
        let rung = (0..run.dropped.len()).rev().find(|&r| !run.dropped[r]);
        self.actions
            .push_back(Action::Measure(Measure::TranscodeLag(lag)));
        let warmed_up = self.renditions[0]
            .last_video_pts
            .zip(self.media_start)
            .is_some_and(|(now, start)| now - start > LADDER_WARM_UP);
        if !warmed_up || lag <= self.config.max_ladder_lag {
            return;
        }
        let (Some(rung), Some(run)) = (rung, &mut self.ladder) else {
            return;
        };
        run.dropped[rung] = true;
        let index = run.rung_renditions[rung];
        let name = self.renditions[index].name.clone();
        warn!(
            rendition = %name,
            lag_s = lag.as_secs_f64(),
            max_lag_s = self.config.max_ladder_lag.as_secs_f64(),
            "transcoder is falling behind real time; dropping its lowest rendition"
        );
        self.actions.push_back(Action::DropRung(rung));
        self.actions
            .push_back(Action::Measure(Measure::RenditionDropped(name)));
        let (mut out, renditions) = self.out(now);
        let r = &mut renditions[index];
        r.finish(&mut out);
        r.stopped = true;
        self.publish(now, true);
    }
}
