//! A real rmqtt raft cluster end to end (README "A real rmqtt cluster"): `mqid serve` (the
//! main workspace's `target/debug/mqid`, or `MQID_BIN`) with its own rumqttd edge and `[http]`,
//! on the file source; three rmqtt 0.24 nodes (`rmqtt-node`, this package's binary) in one raft
//! cluster on loopback, each with `rmqtt-auth-http` configured as README's rmqtt section says
//! (the very text, port and token filled in) and asking mqid. Real clients (rumqttc, and
//! Eclipse Paho for MQTT 5) show:
//!
//! - every CONNECT is admitted or refused on each node as on mqid's own edge (the expected
//!   outcome comes from the identities below: the SIGNED password is the known answer of
//!   ApsaraMQ's documentation for that client id);
//! - topic permissions across nodes: a message published on node 1 reaches an allowed subscriber
//!   on node 3, never a subscriber whose filter mqid refused; a refused PUBLISH reaches nobody;
//! - an identity removed from the file is refused on every node as soon as mqid has reloaded
//!   (no node caches a decision);
//! - with node 1 (the raft leader) stopped, nodes 2 and 3 go on deciding, and delivering across
//!   nodes.

#[path = "../../common/mqtt.rs"]
mod mqtt;
// The `[broker]` text the main workspace's tests write (mqid-test-support's, by path: that crate
// belongs to the main workspace).
#[allow(dead_code)]
#[path = "../../../crates/mqid-test-support/src/config.rs"]
mod support_config;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqtt::*;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `mqid` under test: `MQID_BIN`, else the main workspace's debug build.
fn mqid_bin() -> PathBuf {
    let bin = std::env::var_os("MQID_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/debug/mqid"));
    assert!(
        bin.exists(),
        "{} does not exist: build the main workspace first (cargo build, or ./scripts/test, \
         which runs this suite after it), or set MQID_BIN",
        bin.display()
    );
    bin
}

/// The Python of the test peers (paho-mqtt): `MQID_TEST_PYTHON`, else the virtual environment
/// `./scripts/test` creates.
fn python() -> PathBuf {
    let py = std::env::var_os("MQID_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/test-venv/bin/python"));
    assert!(
        py.exists(),
        "{} does not exist: run ./scripts/test (it creates the virtual environment with \
         tests/python/requirements.txt) or set MQID_TEST_PYTHON",
        py.display()
    );
    py
}

/// A child process, its stderr in `log`; killed on drop.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(mut cmd: Command, log: PathBuf) -> Proc {
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Proc { child, log }
    }

    fn wait_port(&mut self, port: u16, secs: u64) {
        wait_for_secs(
            &mut self.child,
            &self.log,
            &format!("listening on port {port}"),
            secs,
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TOKEN: &str = "cluster-test-token-0123456789";

/// The docs' known answer: Base64(HMAC-SHA1("62a5916d71767185b48907d85c2efae2",
/// "GID_ICP@@@4d378084")) (ApsaraMQ for MQTT's signature documentation; README "Connect a
/// device").
const PUBLISHER: (&str, &str, &str) = (
    "GID_ICP@@@4d378084",
    "fleet",
    "P+SmVoTf3AU9RoxclbU9WOcbmyM=",
);
const MONITOR: (&str, &str, &str) = ("GID_ICP@@@monitor", "fleet", "monitor-secret");
const INTRUDER: (&str, &str, &str) = ("GID_ICP@@@intruder", "fleet", "intruder-secret");
const PLANT: (&str, &str, &str) = ("plant-7", "plant", "plant-secret");

const IDENTITIES: &str = r#"[
  {"Username":"fleet","Secret":"62a5916d71767185b48907d85c2efae2","IdentityType":"USER","SignMode":"SIGNED"},
  {"Username":"fleet","Secret":"monitor-secret","IdentityType":"CLIENT","ClientId":"GID_ICP@@@monitor","SignMode":"ORIGIN"},
  {"Username":"fleet","Secret":"intruder-secret","IdentityType":"CLIENT","ClientId":"GID_ICP@@@intruder","SignMode":"ORIGIN"},
  {"Username":"plant","Secret":"plant-secret","IdentityType":"USER","SignMode":"ORIGIN"}
]"#;

/// The same set without USER "plant".
const IDENTITIES_WITHOUT_PLANT: &str = r#"[
  {"Username":"fleet","Secret":"62a5916d71767185b48907d85c2efae2","IdentityType":"USER","SignMode":"SIGNED"},
  {"Username":"fleet","Secret":"monitor-secret","IdentityType":"CLIENT","ClientId":"GID_ICP@@@monitor","SignMode":"ORIGIN"},
  {"Username":"fleet","Secret":"intruder-secret","IdentityType":"CLIENT","ClientId":"GID_ICP@@@intruder","SignMode":"ORIGIN"}
]"#;

/// USER "fleet" publishes `fleet/+/up` except `fleet/7/up`; the monitor subscribes to
/// `fleet/+/up`; the intruder to `fleet/#` except `fleet/3/#`.
const RULES: &str = r##"[
  {"Identity":"fleet","IdentityType":"USER","Topic":"fleet/+/up","PermitAction":"PUB","Effect":"ALLOW"},
  {"Identity":"fleet","IdentityType":"USER","Topic":"fleet/7/up","PermitAction":"PUB","Effect":"DENY"},
  {"Identity":"GID_ICP@@@monitor","IdentityType":"CLIENT","Topic":"fleet/+/up","PermitAction":"SUB","Effect":"ALLOW"},
  {"Identity":"GID_ICP@@@intruder","IdentityType":"CLIENT","Topic":"fleet/#","PermitAction":"SUB","Effect":"ALLOW"},
  {"Identity":"GID_ICP@@@intruder","IdentityType":"CLIENT","Topic":"fleet/3/#","PermitAction":"SUB","Effect":"DENY"}
]"##;

/// README's rmqtt-auth-http configuration, as printed there, with mqid's port and the token.
fn readme_rmqtt_auth_http(http_port: u16) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("rmqtt (`etc/plugins/rmqtt-auth-http.toml`")
        .expect("README names rmqtt's plugin file");
    let block = &readme[start..];
    let block = &block[block.find("```toml\n").expect("a toml block follows") + 8..];
    let block = &block[..block.find("```").unwrap()];
    assert!(
        block.contains("127.0.0.1:8088") && block.contains("Bearer TOKEN"),
        "README's rmqtt block changed shape:\n{block}"
    );
    block
        .replace("127.0.0.1:8088", &format!("127.0.0.1:{http_port}"))
        .replace("Bearer TOKEN", &format!("Bearer {TOKEN}"))
}

struct Node {
    mqtt: u16,
    _proc: Proc,
}

struct Cluster {
    dir: tempfile::TempDir,
    _mqid: Proc,
    edge: u16,
    nodes: Vec<Option<Node>>,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("identities.json"), IDENTITIES).unwrap();
        std::fs::write(d.join("rules.json"), RULES).unwrap();
        std::fs::write(d.join("http.token"), TOKEN).unwrap();
        let (edge, edge5, http) = (free_port(), free_port(), free_port());
        std::fs::write(
            d.join("mqid.toml"),
            format!(
                "{}\n[http]\nlisten = \"127.0.0.1:{http}\"\ntoken_file = \"http.token\"\n\
                 [auth]\nsource = \"file\"\nfile = \"identities.json\"\nwatch_interval_ms = 100\n\
                 [auth.permissions]\nfile = \"rules.json\"\n\
                 [auth.limits]\nmax_failures = 1000\ncooldown_secs = 1\n",
                support_config::broker_toml(
                    &format!("127.0.0.1:{edge}"),
                    &format!("127.0.0.1:{edge5}")
                )
            ),
        )
        .unwrap();
        let mut cmd = Command::new(mqid_bin());
        cmd.arg("serve")
            .arg("--config")
            .arg(d.join("mqid.toml"))
            .env("RUST_LOG", "info")
            .env_remove("MQID_HTTP_TOKEN");
        let mut mqid = Proc::spawn(cmd, d.join("mqid.log"));
        mqid.wait_port(edge, 30);
        mqid.wait_port(http, 30);
        wait_for_ready(&mut mqid.child, &mqid.log);

        // One plugin folder for the three nodes: the raft peers and gRPC addresses name them
        // all, each node finds itself by its id.
        let plugins = d.join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        std::fs::write(
            plugins.join("rmqtt-auth-http.toml"),
            readme_rmqtt_auth_http(http),
        )
        .unwrap();
        let ids = [1u64, 2, 3];
        let grpc: Vec<u16> = ids.iter().map(|_| free_port()).collect();
        let raft: Vec<u16> = ids.iter().map(|_| free_port()).collect();
        let list = |ports: &[u16]| {
            ids.iter()
                .zip(ports)
                .map(|(id, p)| format!("\"{id}@127.0.0.1:{p}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        std::fs::write(
            plugins.join("rmqtt-cluster-raft.toml"),
            format!(
                "node_grpc_addrs = [{}]\nraft_peer_addrs = [{}]\n\
                 # node 1 leads; the others join it\nleader_id = 1\nworker_threads = 2\n",
                list(&grpc),
                list(&raft)
            ),
        )
        .unwrap();
        let mut nodes: Vec<(u16, Proc)> = ids
            .iter()
            .zip(&grpc)
            .map(|(id, grpc)| {
                let mqtt = free_port();
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_rmqtt-node"));
                cmd.args(["--id", &id.to_string()])
                    .args(["--mqtt", &format!("127.0.0.1:{mqtt}")])
                    .args(["--grpc", &format!("127.0.0.1:{grpc}")])
                    .arg("--plugins")
                    .arg(&plugins)
                    .env("RUST_LOG", "info");
                (mqtt, Proc::spawn(cmd, d.join(format!("rmqtt-{id}.log"))))
            })
            .collect();
        // A node binds its MQTT port once it has joined the raft cluster.
        for (mqtt, proc) in &mut nodes {
            proc.wait_port(*mqtt, 120);
        }
        Cluster {
            dir,
            _mqid: mqid,
            edge,
            nodes: nodes
                .into_iter()
                .map(|(mqtt, p)| Some(Node { mqtt, _proc: p }))
                .collect(),
        }
    }

    /// The MQTT port of node `id` (1-based).
    fn node(&self, id: usize) -> u16 {
        self.nodes[id - 1].as_ref().expect("node running").mqtt
    }

    fn running(&self) -> Vec<(usize, u16)> {
        (1..=self.nodes.len())
            .filter(|&i| self.nodes[i - 1].is_some())
            .map(|i| (i, self.node(i)))
            .collect()
    }

    fn stop(&mut self, id: usize) {
        self.nodes[id - 1] = None;
    }
}

/// One CONNECT with Eclipse Paho over MQTT 5 (tests/python/paho_connect.py).
fn paho_v5(port: u16, (client_id, user, pass): (&str, &str, &str)) -> bool {
    let out = Command::new(python())
        .arg(repo().join("tests/python/paho_connect.py"))
        .args([&port.to_string(), "5", client_id, user, pass])
        .output()
        .expect("run paho_connect.py");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("admitted") || said.starts_with("refused"),
        "paho_connect.py said {said:?}, stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

/// A refusal must be a CONNACK refusal, not a broker that fell over.
fn assert_decided(outcome: &Outcome, expect_admitted: bool, where_: &str) {
    match outcome {
        Outcome::Admitted => assert!(expect_admitted, "{where_}: admitted, expected refused"),
        Outcome::Refused(why) => {
            assert!(
                !expect_admitted,
                "{where_}: refused ({why}), expected admitted"
            );
            assert!(
                why.contains("Connection refused"),
                "{where_}: closed without a CONNACK refusal: {why}"
            );
        }
    }
}

fn creds<'a>(c: (&'a str, &'a str, &'a str)) -> Option<(&'a str, &'a str)> {
    Some((c.1, c.2))
}

/// The CONNECTs every node must decide as the edge does: (who, expected admitted).
fn connect_cases() -> Vec<((&'static str, &'static str, &'static str), bool)> {
    vec![
        (PUBLISHER, true),
        // one character short of the signature
        (
            (PUBLISHER.0, PUBLISHER.1, "P+SmVoTf3AU9RoxclbU9WOcbmyM"),
            false,
        ),
        (MONITOR, true),
        // the CLIENT identity decides for its client id, not USER "fleet"
        ((MONITOR.0, MONITOR.1, PUBLISHER.2), false),
        (PLANT, true),
        ((PLANT.0, "nobody", PLANT.2), false),
    ]
}

/// A subscriber whose session runs in the background, keeping what it receives.
struct Subscriber {
    client: AsyncClient,
    got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Subscriber {
    /// Connects to `port`, subscribes to each filter in turn; returns the SUBACK codes.
    async fn start(
        port: u16,
        who: (&str, &str, &str),
        filters: &[&str],
    ) -> (Subscriber, Vec<SubscribeReasonCode>) {
        let mut o = MqttOptions::new(who.0, "127.0.0.1", port);
        o.set_credentials(who.1, who.2);
        o.set_keep_alive(Duration::from_secs(30));
        let (client, mut ev) = AsyncClient::new(o, 100);
        let mut codes = Vec::new();
        let subscribed = tokio::time::timeout(Duration::from_secs(20), async {
            let mut sent = 0;
            loop {
                match ev.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        client
                            .subscribe(filters[0], QoS::AtLeastOnce)
                            .await
                            .unwrap();
                        sent = 1;
                    }
                    Ok(Event::Incoming(Packet::SubAck(a))) => {
                        codes.extend(a.return_codes);
                        if sent == filters.len() {
                            return Ok(());
                        }
                        client
                            .subscribe(filters[sent], QoS::AtLeastOnce)
                            .await
                            .unwrap();
                        sent += 1;
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .await;
        match subscribed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{} on port {port}: connection lost: {e}", who.0),
            Err(_) => panic!("{} on port {port}: no SUBACK within 20 s", who.0),
        }
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        tokio::spawn(async move {
            while let Ok(e) = ev.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = e {
                    let payload = String::from_utf8_lossy(&p.payload).into_owned();
                    sink.lock().unwrap().push((p.topic, payload));
                }
            }
        });
        (Subscriber { client, got }, codes)
    }

    fn payloads(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, p)| p.clone())
            .collect()
    }

    fn has(&self, payload: &str) -> bool {
        self.payloads().iter().any(|p| p == payload)
    }

    async fn stop(self) {
        let _ = self.client.disconnect().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Connects to `port` and publishes each (topic, payload) at QoS 1, waiting for its PUBACK.
/// `Err` when the broker closed the connection instead (with how many were acknowledged).
async fn publish(
    port: u16,
    who: (&str, &str, &str),
    msgs: &[(&str, &str)],
) -> Result<(), (usize, String)> {
    let mut o = MqttOptions::new(who.0, "127.0.0.1", port);
    o.set_credentials(who.1, who.2);
    let (client, mut ev) = AsyncClient::new(o, 100);
    let mut acked = 0;
    let result = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let (t, p) = msgs[0];
                    client.publish(t, QoS::AtLeastOnce, false, p).await.unwrap();
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    acked += 1;
                    if acked == msgs.len() {
                        return Ok(());
                    }
                    let (t, p) = msgs[acked];
                    client.publish(t, QoS::AtLeastOnce, false, p).await.unwrap();
                }
                Ok(_) => {}
                Err(e) => return Err((acked, e.to_string())),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} on port {port}: no PUBACK nor close within 20 s", who.0));
    if result.is_ok() {
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while ev.poll().await.is_ok() {}
        })
        .await;
    }
    result
}

/// Publishes `topic` from `from` until `sub` has received a message, so that the cluster's
/// routes for `sub` are known everywhere; the payloads start with "warm".
async fn warm_up(from: u16, sub: &Subscriber, topic: &str) {
    for i in 0..150 {
        let payload = format!("warm-{i}");
        let _ = publish(from, PUBLISHER, &[(topic, &payload)]).await;
        for _ in 0..10 {
            if sub.payloads().iter().any(|p| p.starts_with("warm")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("nothing published on {topic} from port {from} reached the subscriber in 30 s");
}

/// Publishing and subscribing across nodes, decided by mqid on each node.
async fn permissions_across(c: &Cluster, publisher: usize, intruder: usize, monitor: usize) {
    let tag = format!("{publisher}{intruder}{monitor}");
    let (mon, codes) = Subscriber::start(c.node(monitor), MONITOR, &["fleet/+/up"]).await;
    assert!(
        matches!(codes[..], [SubscribeReasonCode::Success(_)]),
        "node {monitor}: the monitor's fleet/+/up (ALLOW SUB) was refused: {codes:?}"
    );
    let (intr, codes) =
        Subscriber::start(c.node(intruder), INTRUDER, &["fleet/3/up", "fleet/4/up"]).await;
    assert!(
        matches!(
            codes[..],
            [
                SubscribeReasonCode::Failure,
                SubscribeReasonCode::Success(_)
            ]
        ),
        "node {intruder}: the intruder's fleet/3/up (DENY SUB fleet/3/#) must be refused and \
         fleet/4/up (ALLOW SUB fleet/#) allowed: {codes:?}"
    );
    warm_up(c.node(publisher), &mon, "fleet/1/up").await;
    warm_up(c.node(publisher), &intr, "fleet/4/up").await;

    let (m3, m4, m7, end) = (
        format!("m3-{tag}"),
        format!("m4-{tag}"),
        format!("m7-{tag}"),
        format!("end-{tag}"),
    );
    let p = c.node(publisher);
    publish(p, PUBLISHER, &[("fleet/3/up", &m3), ("fleet/4/up", &m4)])
        .await
        .unwrap_or_else(|e| panic!("node {publisher}: allowed publishes refused: {e:?}"));
    // DENY PUB fleet/7/up: rmqtt refuses it, and (disconnect_if_pub_rejected, its default)
    // closes the connection.
    let denied = publish(p, PUBLISHER, &[("fleet/7/up", &m7)]).await;
    assert!(
        matches!(denied, Err((0, _))),
        "node {publisher}: a PUBLISH on fleet/7/up (DENY PUB) was acknowledged: {denied:?}"
    );
    publish(p, PUBLISHER, &[("fleet/5/up", &end)])
        .await
        .unwrap_or_else(|e| panic!("node {publisher}: the closing publish was refused: {e:?}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(mon.has(&end) && intr.has(&m4)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered within 20 s: monitor got {:?}, intruder got {:?}",
            mon.payloads(),
            intr.payloads()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What was refused was refused before routing; a grace period all the same.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mon_got, intr_got) = (mon.payloads(), intr.payloads());
    assert!(
        mon.has(&m3) && mon.has(&m4) && !mon.has(&m7),
        "node {publisher} -> node {monitor}: the monitor (fleet/+/up) must get {m3}, {m4} and \
         never {m7}: {mon_got:?}"
    );
    assert!(
        !intr.has(&m3) && !intr.has(&m7) && !intr.has(&end),
        "node {publisher} -> node {intruder}: the intruder got what its refused or missing \
         subscriptions cover: {intr_got:?}"
    );
    mon.stop().await;
    intr.stop().await;
}

#[test]
fn rmqtt_raft_cluster_decides_as_mqid() {
    let t0 = std::time::Instant::now();
    let step = |what: &str| eprintln!("[{:>5.1} s] {what}", t0.elapsed().as_secs_f64());
    let mut c = Cluster::start();
    step("mqid and three rmqtt nodes up");

    // 1. CONNECT: every node decides as mqid's edge; Paho (MQTT 5) too.
    for (who, admitted) in connect_cases() {
        let edge = connect(c.edge, Proto::V4, who.0, creds(who));
        assert_decided(&edge, admitted, &format!("edge, {who:?}"));
        for (id, port) in c.running() {
            let node = connect(port, Proto::V4, who.0, creds(who));
            assert_decided(&node, admitted, &format!("rmqtt node {id}, {who:?}"));
        }
    }
    for (id, port) in c.running() {
        assert!(paho_v5(port, PUBLISHER), "node {id}: Paho v5 publisher");
        assert!(
            !paho_v5(port, (PUBLISHER.0, PUBLISHER.1, "wrong")),
            "node {id}: Paho v5 with a wrong password was admitted"
        );
    }

    step("CONNECTs decided on the edge and every node");
    // 2. Topic permissions across nodes: publish on 1, refused subscription on 2, allowed on 3.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(permissions_across(&c, 1, 2, 3));

    step("permissions across nodes");
    // 3. USER "plant" removed from the file: refused on every node as soon as mqid has it.
    std::fs::write(
        c.dir.path().join("identities.json"),
        IDENTITIES_WITHOUT_PLANT,
    )
    .unwrap();
    eventually(10, "mqid's edge refuses the removed identity", || {
        !connect(c.edge, Proto::V4, PLANT.0, creds(PLANT)).admitted()
    });
    for (id, port) in c.running() {
        let o = connect(port, Proto::V4, PLANT.0, creds(PLANT));
        assert_decided(&o, false, &format!("rmqtt node {id}, the removed identity"));
    }

    step("removed identity refused everywhere");
    // 4. Node 1, the raft leader, stops: nodes 2 and 3 go on deciding once they have elected.
    c.stop(1);
    eventually(60, "node 2 admits the publisher without node 1", || {
        rt.block_on(try_connect_async(
            c.node(2),
            Proto::V4,
            PUBLISHER.0,
            creds(PUBLISHER),
        )) == Some(Outcome::Admitted)
    });
    step("node 1 stopped; node 2 admits again");
    for (who, admitted) in connect_cases() {
        let admitted = admitted && who != PLANT; // removed in step 3
        for (id, port) in c.running() {
            let node = connect(port, Proto::V4, who.0, creds(who));
            assert_decided(
                &node,
                admitted,
                &format!("node 1 stopped, node {id}, {who:?}"),
            );
        }
    }
    rt.block_on(permissions_across(&c, 2, 3, 3));
    step("nodes 2 and 3 decide and deliver");
}
