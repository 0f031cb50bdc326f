//! Refresh throughput: one complete OpenAPI pass over N identities, paged from the emulator on
//! loopback, beside two figures of the same run:
//!
//! * the **file baseline**: the same identities read from a local JSON file, validated and built
//!   into an index (what the set costs without HTTP, signing and paging);
//! * the **API's request ceiling**: the time the real API's rate limits impose on the same number
//!   of requests (300 QPS blocks a source IP; mqid paces at `max_requests_per_sec`, 20 by default).
//!
//! The emulator runs as a separate process (`mqid openapi-emulator`, the executable given), so the
//! client CPU time read from `/proc/self/stat` is mqid's alone. The client runs unpaced here, to
//! show what mqid itself could sustain; a real pass is bounded by the API when the API's ceiling
//! is far below that.

use std::fmt;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqid_core::{Index, Secret};
use mqid_sync::openapi::{Client, Credentials};
use mqid_sync::OpenApiConfig;
use serde::Serialize;

use crate::synth;

/// The real API blocks a source IP above this many requests per second.
pub const API_BLOCK_QPS: f64 = 300.0;
/// mqid's default pacing (`[auth.openapi] max_requests_per_sec`).
pub const DEFAULT_PACING_RPS: f64 = 20.0;

pub struct RefreshOpts {
    pub identities: usize,
    pub page_size: u32,
}

impl crate::Preset for RefreshOpts {
    fn standard() -> Self {
        RefreshOpts {
            identities: 200_000,
            page_size: 100,
        }
    }
    fn quick() -> Self {
        RefreshOpts {
            identities: 20_000,
            page_size: 100,
        }
    }
}

#[derive(Serialize)]
pub struct RefreshReport {
    pub machine: String,
    pub identities: usize,
    pub page_size: u32,
    pub requests: usize,
    /// Wall time of the pass (all pages of identities and of the blacklist), unpaced.
    pub pass_secs: f64,
    /// Building the index from the pass's result.
    pub build_secs: f64,
    pub identities_per_sec: f64,
    pub pages_per_sec: f64,
    /// Client CPU (user + system) per page, milliseconds.
    pub client_cpu_ms_per_page: f64,
    /// Baseline: read + validate + build from a local file of the same identities.
    pub file_baseline_secs: f64,
    /// (pass + build) / file baseline.
    pub ratio_to_file: f64,
    /// The least time the API's 300 QPS ceiling allows for these requests.
    pub api_ceiling_secs: f64,
    /// The time at mqid's default pacing of 20 requests/s.
    pub default_pacing_secs: f64,
    /// api_ceiling_secs / pass_secs: above 1, a pass is bounded by the API, not by mqid.
    pub api_bound_factor: f64,
    /// Pages a second one core of client CPU could sustain (1 / CPU per page), over 300 QPS.
    pub client_cpu_factor: f64,
}

impl fmt::Display for RefreshReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "mqid bench refresh: {}", self.machine)?;
        writeln!(
            f,
            "{} identities, Size {}, {} requests to the emulator on loopback (separate process), unpaced",
            self.identities, self.page_size, self.requests
        )?;
        writeln!(
            f,
            "  pass            {:>9.3} s   {:>10.0} identities/s  {:>8.0} pages/s",
            self.pass_secs, self.identities_per_sec, self.pages_per_sec
        )?;
        writeln!(f, "  index build     {:>9.3} s", self.build_secs)?;
        writeln!(
            f,
            "  client CPU      {:>9.3} ms per page",
            self.client_cpu_ms_per_page
        )?;
        writeln!(
            f,
            "  baseline: file  {:>9.3} s   (pass + build) / file = {:.2}x",
            self.file_baseline_secs, self.ratio_to_file
        )?;
        writeln!(
            f,
            "  API ceiling     {:>9.3} s   at {API_BLOCK_QPS} QPS: {:.1}x the unpaced pass -> {}",
            self.api_ceiling_secs,
            self.api_bound_factor,
            if self.api_bound_factor > 1.0 {
                "bounded by the API's request rate (target: pass)"
            } else {
                "bounded by mqid (target: MISS)"
            }
        )?;
        writeln!(
            f,
            "  client CPU bound              {:.0} pages/s on one core = {:.1}x the API's {API_BLOCK_QPS} QPS",
            1e3 / self.client_cpu_ms_per_page,
            self.client_cpu_factor
        )?;
        writeln!(
            f,
            "  default pacing  {:>9.3} s   at {DEFAULT_PACING_RPS} requests/s",
            self.default_pacing_secs
        )
    }
}

/// Client CPU time of this process so far (Linux `/proc/self/stat`, clock ticks of 10 ms).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const AK_ID: &str = "LTAI5tBenchKeyId";
const AK_SECRET: &str = "bench-access-key-secret";

/// Runs the benchmark; `mqid` is the executable that has the `openapi-emulator` subcommand.
pub fn run(
    opts: &RefreshOpts,
    mqid: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<RefreshReport, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ids_path = dir.path().join("identities.json");
    progress(&format!("writing {} identities", opts.identities));
    {
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(&ids_path).map_err(|e| e.to_string())?);
        let _ = f.write_all(b"[");
        for i in 0..opts.identities {
            if i > 0 {
                let _ = f.write_all(b",\n");
            }
            serde_json::to_writer(&mut f, &synth::identity(i)).map_err(|e| e.to_string())?;
        }
        f.write_all(b"]\n").map_err(|e| e.to_string())?;
    }
    // Date the file an hour back: the emulator (like mqid's file source) re-hashes a file whose
    // modification time is only seconds old on every request, which a fresh file would measure.
    std::fs::File::options()
        .write(true)
        .open(&ids_path)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600)))
        .map_err(|e| e.to_string())?;

    // Baseline: the file source's path for the same set.
    let t = Instant::now();
    let body = std::fs::read(&ids_path).map_err(|e| e.to_string())?;
    let ids = mqid_core::parse_identity_list(&body).map_err(|e| e.to_string())?;
    let (index, _) = Index::build(ids, []);
    let file_baseline = t.elapsed();
    assert_eq!(index.len(), opts.identities);
    drop(index);
    drop(body);

    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let _emulator = Emulator(
        Command::new(mqid)
            .args(["openapi-emulator", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--identities")
            .arg(&ids_path)
            .args(["--access-key-id", AK_ID, "--access-key-secret", AK_SECRET])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {} openapi-emulator: {e}", mqid.display()))?,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("the emulator did not listen within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let config: OpenApiConfig = serde_json::from_value(serde_json::json!({
        "endpoint": format!("http://127.0.0.1:{port}"),
        "region_id": "bench",
        "instance_id": "mqtt-local",
        "page_size": opts.page_size,
        "max_requests_per_sec": 1_000_000.0,
        "request_timeout_secs": 30,
        "max_retries_per_pass": 0,
    }))
    .map_err(|e| e.to_string())?;
    let client = Client::new(
        &config,
        Credentials::new(AK_ID, Secret::new(AK_SECRET), None),
    )
    .map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;

    // One warm-up pass (connection set-up, the emulator's first read of the file), then the
    // measured one.
    progress("warm-up pass");
    rt.block_on(client.pass()).map_err(|e| e.to_string())?;
    progress("measured pass");
    let cpu0 = cpu_time();
    let t = Instant::now();
    let (loaded, stats) = rt.block_on(client.pass()).map_err(|e| e.to_string())?;
    let pass = t.elapsed();
    let cpu = cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    let t = Instant::now();
    let (index, _) = Index::build(loaded.identities, loaded.blacklist);
    let build = t.elapsed();
    if index.len() != opts.identities {
        return Err(format!(
            "the pass brought {} identities, not {}",
            index.len(),
            opts.identities
        ));
    }

    let requests = stats.requests as usize;
    let api_ceiling = requests as f64 / API_BLOCK_QPS;
    let cpu_ms_per_page = cpu
        .map(|c| c.as_secs_f64() * 1e3 / requests as f64)
        .unwrap_or(f64::NAN);
    Ok(RefreshReport {
        machine: crate::machine(),
        identities: opts.identities,
        page_size: opts.page_size,
        requests,
        pass_secs: pass.as_secs_f64(),
        build_secs: build.as_secs_f64(),
        identities_per_sec: opts.identities as f64 / pass.as_secs_f64(),
        pages_per_sec: requests as f64 / pass.as_secs_f64(),
        client_cpu_ms_per_page: cpu_ms_per_page,
        file_baseline_secs: file_baseline.as_secs_f64(),
        ratio_to_file: (pass + build).as_secs_f64() / file_baseline.as_secs_f64(),
        api_ceiling_secs: api_ceiling,
        default_pacing_secs: requests as f64 / DEFAULT_PACING_RPS,
        api_bound_factor: api_ceiling / pass.as_secs_f64(),
        client_cpu_factor: 1e3 / cpu_ms_per_page / API_BLOCK_QPS,
    })
}
