//! CPU time and RSS of the server's processes, from `/proc`.
//!
//! A process's CPU is utime + stime + cutime + cstime (children it has
//! reaped included), plus the same for every live descendant: a child's
//! time moves from "live descendant" into its parent's cutime when it is
//! reaped, so differences between two samples stay right. `/proc` counts in
//! USER_HZ, which Linux fixes at 100 for user space.

use serde_json::{Value, json};

const USER_HZ: f64 = 100.0;
/// Descendants followed per sample (nginx has two processes; the server one).
const MAX_PROCESSES: usize = 256;

#[derive(Debug, Default, Clone)]
pub struct Sample {
    pub cpu_s: Option<f64>,
    pub rss_kib: Option<u64>,
    pub processes: usize,
}

impl Sample {
    pub fn to_json(&self) -> Value {
        json!({ "cpu_s": self.cpu_s, "rss_kib": self.rss_kib, "processes": self.processes })
    }
}

/// CPU and RSS of `pids` and their descendants (each counted once). `None`
/// when there are no pids or none could be read.
pub fn sample(pids: &[u32]) -> Sample {
    let mut seen = Vec::new();
    let mut queue: Vec<u32> = pids.to_vec();
    let (mut cpu, mut rss) = (0.0, 0u64);
    while let Some(pid) = queue.pop() {
        if seen.contains(&pid) || seen.len() >= MAX_PROCESSES {
            continue;
        }
        let Some(c) = cpu_of(pid) else { continue };
        seen.push(pid);
        cpu += c;
        rss += rss_of(pid).unwrap_or(0);
        queue.extend(children(pid));
    }
    if seen.is_empty() {
        return Sample::default();
    }
    Sample {
        cpu_s: Some(cpu),
        rss_kib: Some(rss),
        processes: seen.len(),
    }
}

/// This process's own CPU seconds (utime + stime).
pub fn self_cpu() -> f64 {
    stat_fields(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
        .map(|f| (f[11] + f[12]) / USER_HZ)
        .unwrap_or(0.0)
}

fn cpu_of(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f = stat_fields(&text)?;
    Some((f[11] + f[12] + f[13] + f[14]) / USER_HZ)
}

/// Numeric fields after the command name (field 3 on is index 0 here; so
/// utime, field 14, is index 11).
fn stat_fields(text: &str) -> Option<Vec<f64>> {
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|s| s.parse::<f64>().unwrap_or(0.0))
        .collect();
    (f.len() > 14).then_some(f)
}

fn rss_of(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten().take(MAX_PROCESSES) {
        let path = task.path().join("children");
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|s| s.parse::<u32>().ok()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_itself() {
        let s = sample(&[std::process::id()]);
        assert!(s.cpu_s.is_some());
        assert!(s.rss_kib.unwrap() > 0);
        assert_eq!(s.processes, 1);
        assert!(self_cpu() >= 0.0);
    }
}
