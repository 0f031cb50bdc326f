//! Brokers in processes of their own, so that their CPU time and resident memory are theirs alone:
//! `mqid serve` (mqid's edge on rumqttd's router, deciding with mqid) and rumqttd's stock listener
//! without authentication (`mqid bench stock-broker`, a hidden helper: `rumqttd::Broker` on the
//! same router configuration, nothing else). Also the `/proc` readings the benches use and a
//! light MQTT 3.1.1 device (rumqttc's own packet codec on a plain socket) for loads of thousands
//! of connections, where one rumqttc event loop per device would cost the bench more CPU than the
//! broker it measures.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{Connect, Packet};
use rumqttc::ConnectReturnCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Which listener a broker process serves its clients with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Listener {
    /// rumqttd's stock listener, no authentication (`mqid bench stock-broker`).
    #[serde(rename = "stock")]
    Stock,
    /// mqid's edge with mqid's decision (`mqid serve`).
    #[serde(rename = "edge")]
    Edge,
}

impl Listener {
    pub const BOTH: [Listener; 2] = [Listener::Stock, Listener::Edge];

    pub fn name(self) -> &'static str {
        match self {
            Listener::Stock => "stock",
            Listener::Edge => "edge",
        }
    }

    /// Both listeners, the first one rotated by `round`: which runs first alternates.
    pub fn order(round: usize) -> [Listener; 2] {
        let mut o = Self::BOTH;
        o.rotate_left(round % 2);
        o
    }
}

/// The one identity every bench device connects as (USER, ORIGIN), and its password.
pub const USERNAME: &str = "bench";
pub const PASSWORD: &str = "bench-secret";
const IDENTITIES: &str =
    r#"[{"Username":"bench","Secret":"bench-secret","IdentityType":"USER","SignMode":"ORIGIN"}]"#;

/// rumqttd's configuration text (`rumqttd.toml`'s keys) for v4 listeners on `ports`, with every
/// table under `prefix` (`""` for rumqttd itself, `"broker."` inside `mqid.toml`). `tls`: the
/// certificate and key files every listener serves.
pub fn rumqttd_toml(
    prefix: &str,
    ports: &[u16],
    max_connections: usize,
    tls: Option<(&str, &str)>,
) -> String {
    let mut text = format!(
        "id = 0\n[{prefix}router]\nmax_connections = {max_connections}\n\
         max_outgoing_packet_count = 200\nmax_segment_size = 10485760\nmax_segment_count = 10\n"
    );
    for (k, port) in ports.iter().enumerate() {
        let k = k + 1;
        text.push_str(&format!(
            "[{prefix}v4.{k}]\nname = \"v4-{k}\"\nlisten = \"127.0.0.1:{port}\"\n\
             next_connection_delay_ms = 0\n[{prefix}v4.{k}.connections]\n\
             connection_timeout_ms = 10000\nmax_payload_size = 20480\nmax_inflight_count = 100\n\
             dynamic_filters = true\n"
        ));
        if let Some((cert, key)) = tls {
            text.push_str(&format!(
                "[{prefix}v4.{k}.tls]\ncertpath = {cert:?}\nkeypath = {key:?}\n"
            ));
        }
    }
    text
}

/// What a spawned broker serves.
#[derive(Clone, Debug)]
pub struct BrokerSpec {
    pub max_connections: usize,
    /// Topic rules of the bench identity (a JSON array of permission records), for the edge;
    /// `None`: no topic is enforced.
    pub rules: Option<String>,
    /// `RUST_LOG` of `mqid serve`; `None`: unset (mqid's default logging). The stock helper
    /// logs nothing either way.
    pub rust_log: Option<&'static str>,
}

impl BrokerSpec {
    /// Room for `max_connections`, no topic rules, no logging.
    pub fn quiet(max_connections: usize) -> Self {
        BrokerSpec {
            max_connections,
            rules: None,
            rust_log: Some("off"),
        }
    }
}

/// A broker process; killed when dropped.
pub struct Broker {
    pub listener: Listener,
    pub port: u16,
    child: Child,
    spec: BrokerSpec,
    dir: tempfile::TempDir,
    mqid: std::path::PathBuf,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// Starts `listener`'s broker on a free loopback port and waits until it admits a CONNECT.
    pub fn start(mqid: &Path, listener: Listener, spec: BrokerSpec) -> Result<Broker, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = crate::connect::free_port().map_err(|e| e.to_string())?;
        let child = spawn(mqid, listener, &spec, dir.path(), port)?;
        let mut b = Broker {
            listener,
            port,
            child,
            spec,
            dir,
            mqid: mqid.to_path_buf(),
        };
        b.wait_ready(Duration::from_secs(30))?;
        Ok(b)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process (SIGKILL, as a crash or a host restart does) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the same broker again on the same port, without waiting for it.
    pub fn respawn(&mut self) -> Result<(), String> {
        self.child = spawn(
            &self.mqid,
            self.listener,
            &self.spec,
            self.dir.path(),
            self.port,
        )?;
        Ok(())
    }

    /// Waits until a CONNECT is admitted (for `mqid serve`, that the index is loaded too).
    pub fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + within;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log =
                    std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default();
                return Err(format!(
                    "the {} broker exited with {status}: {}",
                    self.listener.name(),
                    log.trim()
                ));
            }
            let probe = rt.block_on(async {
                let mut s = tokio::time::timeout(
                    Duration::from_secs(2),
                    tokio::net::TcpStream::connect(addr),
                )
                .await
                .ok()?
                .ok()?;
                tokio::time::timeout(
                    Duration::from_secs(2),
                    mqtt_connect(&mut s, "bench-probe", 60),
                )
                .await
                .ok()?
                .ok()
            });
            if probe == Some(ConnectReturnCode::Success) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the {} broker admitted no CONNECT within {within:?}",
                    self.listener.name()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The broker process's CPU time so far.
    pub fn cpu(&self) -> Option<Duration> {
        cpu_time(self.pid())
    }

    /// The broker process's resident set, bytes.
    pub fn rss(&self) -> Option<u64> {
        rss_bytes(self.pid())
    }
}

fn spawn(
    mqid: &Path,
    listener: Listener,
    spec: &BrokerSpec,
    dir: &Path,
    port: u16,
) -> Result<Child, String> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok::<_, String>(path)
    };
    let log = std::fs::File::create(dir.join("broker.log")).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(mqid);
    match listener {
        Listener::Stock => {
            let path = write(
                "rumqttd.toml",
                &rumqttd_toml("", &[port], spec.max_connections, None),
            )?;
            cmd.args(["bench", "stock-broker", "--config"]).arg(path);
        }
        Listener::Edge => {
            write("identities.json", IDENTITIES)?;
            let mut text = format!(
                "[broker]\n{}",
                rumqttd_toml("broker.", &[port], spec.max_connections, None)
            );
            text.push_str("[auth]\nsource = \"file\"\nfile = \"identities.json\"\n");
            if let Some(rules) = &spec.rules {
                write("permissions.json", rules)?;
                text.push_str("permissions = \"permissions.json\"\n");
            }
            let path = write("mqid.toml", &text)?;
            cmd.arg("serve").arg("--config").arg(path);
        }
    }
    // The stock helper installs no log subscriber at all.
    match spec.rust_log {
        Some(level) => cmd.env("RUST_LOG", level),
        None => cmd.env_remove("RUST_LOG"),
    };
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
    cmd.spawn().map_err(|e| format!("{}: {e}", mqid.display()))
}

/// The body of `mqid bench stock-broker`: rumqttd with the configuration at `path` (rumqttd's own
/// keys), stock listener, no authentication, no logging. Runs until killed.
pub fn stock_broker(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config: rumqttd::Config =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    rumqttd::Broker::new(config)
        .start()
        .map_err(|e| format!("rumqttd: {e}"))
}

/// Raises this process's open-file limit to at least `want` (soft, and hard if this process may:
/// it needs `CAP_SYS_RESOURCE`), so that it, and the broker processes it starts (they inherit
/// it), each hold that many sockets. An error names the limit when it cannot.
pub fn raise_nofile(want: u64) -> Result<u64, String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 {
        return Err(format!(
            "getrlimit(RLIMIT_NOFILE): {}",
            std::io::Error::last_os_error()
        ));
    }
    if lim.rlim_cur >= want {
        return Ok(lim.rlim_cur);
    }
    let set = |cur, max| {
        let new = libc::rlimit {
            rlim_cur: cur,
            rlim_max: max,
        };
        #[allow(unsafe_code)]
        // SAFETY: as above.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) };
        rc == 0
    };
    if set(want, lim.rlim_max.max(want)) {
        return Ok(want);
    }
    let err = std::io::Error::last_os_error();
    // at least up to the hard limit, which needs no privilege
    set(lim.rlim_max, lim.rlim_max);
    Err(format!(
        "this run needs {want} open files per process; the limit is {} and cannot be raised \
         ({err}: raising `ulimit -Hn` needs CAP_SYS_RESOURCE): use fewer connections",
        lim.rlim_max
    ))
}

/// CPU time (user + system) the process `pid` has used, from `/proc`; `None` elsewhere.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name (which may hold spaces) in parentheses
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux
    Some(Duration::from_millis(ticks * 10))
}

/// The resident set of the process `pid` (`VmRSS`), bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A loopback source address for device `i`: 127.0.0.2 up to 127.0.0.33, so that tens of
/// thousands of connections to one port do not run out of ephemeral ports of one address.
pub fn device_addr(i: usize) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(127, 0, 0, 2 + (i % 32) as u8),
        0,
    ))
}

/// Opens a TCP connection from device `i`'s source address to `port` on loopback.
pub async fn dial(i: usize, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(device_addr(i))?;
    s.connect(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Sends an MQTT 3.1.1 CONNECT (clean session, the bench identity's credentials) with rumqttc's
/// codec and reads the answer: the CONNACK's code, or an error if the broker closed the socket
/// or answered something else.
pub async fn mqtt_connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    client_id: &str,
    keep_alive: u16,
) -> std::io::Result<ConnectReturnCode> {
    mqtt_connect_as(stream, client_id, USERNAME, PASSWORD, keep_alive).await
}

/// [`mqtt_connect`] with other credentials.
pub async fn mqtt_connect_as<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    client_id: &str,
    username: &str,
    password: &str,
    keep_alive: u16,
) -> std::io::Result<ConnectReturnCode> {
    let mut connect = Connect::new(client_id);
    connect.keep_alive = keep_alive;
    connect.set_login(username, password);
    let mut buf = BytesMut::with_capacity(64);
    connect.write(&mut buf).map_err(std::io::Error::other)?;
    stream.write_all(&buf).await?;
    stream.flush().await?;
    buf.clear();
    loop {
        match Packet::read(&mut buf, 1024) {
            Ok(Packet::ConnAck(ack)) => return Ok(ack.code),
            Ok(other) => {
                return Err(std::io::Error::other(format!(
                    "expected CONNACK, got {other:?}"
                )))
            }
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => return Err(std::io::Error::other(e)),
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Median of unsorted values (`NaN` for none).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    crate::stats::median(&s)
}

/// `min–max` of a list of figures, for a report's spread.
pub fn spread(v: &[f64], digits: usize) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.is_empty() {
        "-".into()
    } else {
        format!("{lo:.digits$}–{hi:.digits$}")
    }
}
