//! The server's counters and their Prometheus text rendering (`GET /metrics`),
//! with the process metrics Prometheus' client libraries export, read from
//! `/proc/self`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hyper::StatusCode;

use crate::ModuleInfo;

/// Status codes counted apart; anything else is counted as `other` (the 0).
pub(super) const CODES: [u16; 9] = [200, 400, 404, 405, 408, 413, 500, 503, 0];
const BUCKETS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];
/// Probe paths: answered on the reactor, counted apart from match traffic
/// (GET and HEAD only).
pub(super) const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

#[derive(Default)]
pub(super) struct Metrics {
    requests: [AtomicU64; CODES.len()],
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    probes: [AtomicU64; PROBES.len()],
    pub(super) inputs: AtomicU64,
    pub(super) matches: AtomicU64,
    pub(super) instances_created: AtomicU64,
    pub(super) instance_recycles: AtomicU64,
    pub(super) reloads_ok: AtomicU64,
    pub(super) reloads_failed: AtomicU64,
    pub(super) connections_rejected: AtomicU64,
}

/// What `/metrics` shows besides the counters: the server's state now.
pub(super) struct Snapshot<'a> {
    pub connections_open: usize,
    pub module: &'a ModuleInfo,
    pub generation: u64,
    /// Access log lines dropped because its writer fell behind (`None`: no log).
    pub access_log_dropped: Option<u64>,
    /// Bytes of answers produced and not yet handed to their connections.
    pub pending_response_bytes: usize,
}

impl Metrics {
    /// Counts one match-traffic answer (not a probe).
    pub(super) fn observe(&self, code: StatusCode, elapsed: Duration) {
        let i = CODES
            .iter()
            .position(|&c| c == code.as_u16())
            .unwrap_or(CODES.len() - 1);
        self.requests[i].fetch_add(1, Relaxed);
        // One counter per bucket (not cumulative): one atomic add per
        // request; `render` sums them into Prometheus' cumulative form.
        let secs = elapsed.as_secs_f64();
        if let Some(b) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.latency_buckets[b].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_ns
            .fetch_add(elapsed.as_nanos() as u64, Relaxed);
    }

    /// Counts a GET or HEAD of `PROBES[probe]`.
    pub(super) fn observe_probe(&self, probe: usize) {
        self.probes[probe].fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub(super) fn render(&self, now: &Snapshot) -> String {
        let m = self;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP dfabake_requests_total HTTP requests by status code (probes apart)."
        );
        let _ = writeln!(s, "# TYPE dfabake_requests_total counter");
        for (i, code) in CODES.iter().enumerate() {
            let label = if *code == 0 {
                "other".to_string()
            } else {
                code.to_string()
            };
            let _ = writeln!(
                s,
                "dfabake_requests_total{{code=\"{label}\"}} {}",
                m.requests[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP dfabake_request_duration_seconds Request latency."
        );
        let _ = writeln!(s, "# TYPE dfabake_request_duration_seconds histogram");
        let mut cumulative = 0;
        for (b, bound) in BUCKETS.iter().enumerate() {
            cumulative += m.latency_buckets[b].load(Relaxed);
            let _ = writeln!(
                s,
                "dfabake_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = m.latency_count.load(Relaxed);
        let _ = writeln!(
            s,
            "dfabake_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "dfabake_request_duration_seconds_sum {}",
            m.latency_sum_ns.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(s, "dfabake_request_duration_seconds_count {count}");
        for (name, help, v) in [
            ("dfabake_inputs_total", "Inputs matched.", &m.inputs),
            ("dfabake_matches_total", "Matches returned.", &m.matches),
            (
                "dfabake_instances_created_total",
                "Instances created.",
                &m.instances_created,
            ),
            (
                "dfabake_instance_recycles_total",
                "Instances discarded after a trap or timeout.",
                &m.instance_recycles,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP dfabake_probe_requests_total GET and HEAD of the probe paths (not in dfabake_requests_total)."
        );
        let _ = writeln!(s, "# TYPE dfabake_probe_requests_total counter");
        for (i, path) in PROBES.iter().enumerate() {
            let _ = writeln!(
                s,
                "dfabake_probe_requests_total{{path=\"{path}\"}} {}",
                m.probes[i].load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP dfabake_connections_open Connections open now.\n# TYPE dfabake_connections_open gauge\ndfabake_connections_open {}",
            now.connections_open
        );
        let _ = writeln!(
            s,
            "# HELP dfabake_pending_response_bytes Bytes of answers produced and not yet handed to their connections (clients slow to read them).\n# TYPE dfabake_pending_response_bytes gauge\ndfabake_pending_response_bytes {}",
            now.pending_response_bytes
        );
        let _ = writeln!(
            s,
            "# HELP dfabake_connections_rejected_total Connections closed at once because --max-connections were open.\n# TYPE dfabake_connections_rejected_total counter\ndfabake_connections_rejected_total {}",
            m.connections_rejected.load(Relaxed)
        );
        let _ = writeln!(s, "# HELP dfabake_reloads_total Module reloads by result.");
        let _ = writeln!(s, "# TYPE dfabake_reloads_total counter");
        let _ = writeln!(
            s,
            "dfabake_reloads_total{{result=\"ok\"}} {}",
            m.reloads_ok.load(Relaxed)
        );
        let _ = writeln!(
            s,
            "dfabake_reloads_total{{result=\"error\"}} {}",
            m.reloads_failed.load(Relaxed)
        );
        if let Some(dropped) = now.access_log_dropped {
            let _ = writeln!(
                s,
                "# HELP dfabake_access_log_dropped_total Access log lines dropped because writing them fell behind.\n# TYPE dfabake_access_log_dropped_total counter\ndfabake_access_log_dropped_total {dropped}"
            );
        }
        let info = now.module;
        let _ = writeln!(s, "# HELP dfabake_module_info The module being served.");
        let _ = writeln!(s, "# TYPE dfabake_module_info gauge");
        let _ = writeln!(
            s,
            "dfabake_module_info{{sha256=\"{}\",checksum=\"{:016x}\",rules=\"{}\",generation=\"{}\"}} 1",
            info.sha256, info.checksum, info.rules, now.generation
        );
        let _ = writeln!(
            s,
            "# HELP dfabake_build_info The dfabake-host version and the module it serves.\n# TYPE dfabake_build_info gauge\ndfabake_build_info{{version=\"{}\",module_sha256=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            info.sha256
        );
        render_process(&mut s);
        s
    }
}

/// `process_*` metrics, named and typed as Prometheus' client libraries
/// name them, so existing dashboards and alerts apply. A value that cannot
/// be read (no `/proc`) is left out rather than reported as 0.
fn render_process(s: &mut String) {
    let stat = ProcStat::read();
    let mut gauge = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(v) = value {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
    };
    gauge(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        stat.as_ref().map(|st| st.cpu_seconds),
    );
    gauge(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        stat.as_ref().and_then(|st| st.start_time_seconds),
    );
    gauge(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        stat.as_ref().map(|st| st.resident_bytes),
    );
    gauge(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        stat.as_ref().map(|st| st.virtual_bytes),
    );
    gauge(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        std::fs::read_dir("/proc/self/fd")
            .ok()
            // Less the descriptor of the listing itself.
            .map(|d| d.count().saturating_sub(1) as f64),
    );
    gauge(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        max_fds(),
    );
}

fn max_fds() -> Option<f64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur as f64)
}

/// The fields of `/proc/self/stat` that the process metrics need.
struct ProcStat {
    cpu_seconds: f64,
    start_time_seconds: Option<f64>,
    resident_bytes: f64,
    virtual_bytes: f64,
}

impl ProcStat {
    fn read() -> Option<ProcStat> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        ProcStat::parse(&stat, boot_time_seconds())
    }

    /// Parses `/proc/self/stat` (see proc(5)); `boot_time` is `btime` of
    /// `/proc/stat`, the base of the start time.
    fn parse(stat: &str, boot_time: Option<f64>) -> Option<ProcStat> {
        // The command name (field 2) is in parentheses and may hold spaces
        // and parentheses: the fields after it start after the last ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `fields[0]` is field 3 (state).
        let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse::<f64>().ok() };
        // SAFETY: sysconf has no preconditions.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if ticks <= 0 || page <= 0 {
            return None;
        }
        let ticks = ticks as f64;
        Some(ProcStat {
            cpu_seconds: (field(14)? + field(15)?) / ticks,
            start_time_seconds: boot_time
                .zip(field(22))
                .map(|(boot, start)| boot + start / ticks),
            virtual_bytes: field(23)?,
            resident_bytes: field(24)? * page as f64,
        })
    }
}

fn boot_time_seconds() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parses_past_a_command_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime cutime cstime priority nice threads
        // itrealvalue starttime vsize rss ...
        let stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 \
                    1000 123456789 2048 18446744073709551615";
        let st = ProcStat::parse(stat, Some(1_700_000_000.0)).unwrap();
        // SAFETY: as above.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK) as f64,
                libc::sysconf(libc::_SC_PAGESIZE) as f64,
            )
        };
        assert_eq!(st.cpu_seconds, 300.0 / ticks);
        assert_eq!(
            st.start_time_seconds,
            Some(1_700_000_000.0 + 1000.0 / ticks)
        );
        assert_eq!(st.virtual_bytes, 123456789.0);
        assert_eq!(st.resident_bytes, 2048.0 * page);
        assert!(ProcStat::parse("42 (truncated", None).is_none());
    }
}
