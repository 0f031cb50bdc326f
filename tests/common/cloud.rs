//! The OpenAPI emulator in the test process, on a runtime of its own, so a test can edit its
//! files, inject faults, stop it and start it again on the same port.

use std::net::SocketAddr;
use std::path::Path;

use mqid_emulator::{Emulator, EmulatorConfig, Faults};

pub struct Cloud {
    rt: tokio::runtime::Runtime,
    emu: Option<Emulator>,
    pub cfg: EmulatorConfig,
    pub addr: SocketAddr,
}

impl Cloud {
    /// Serves `dir/cloud-identities.json` and `dir/cloud-blacklist.json` (write them first), and
    /// `dir/cloud-permissions.json` if it exists now (else an empty rules list), to whoever signs
    /// with this AccessKey.
    pub fn start(dir: &Path, access_key_id: &str, access_key_secret: &str) -> Cloud {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut cfg = EmulatorConfig::new(
            dir.join("cloud-identities.json"),
            access_key_id,
            access_key_secret,
        );
        cfg.blacklist = Some(dir.join("cloud-blacklist.json"));
        let rules = dir.join("cloud-permissions.json");
        cfg.permissions = rules.exists().then_some(rules);
        let emu = rt
            .block_on(Emulator::bind("127.0.0.1:0", cfg.clone()))
            .unwrap();
        let addr = emu.local_addr();
        Cloud {
            rt,
            emu: Some(emu),
            cfg,
            addr,
        }
    }

    /// `http://<addr>`, the `[auth.openapi] endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops it: the port is closed and connections are cut.
    pub fn stop(&mut self) {
        let emu = self.emu.take().expect("running");
        self.rt.block_on(emu.shutdown());
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        let emu = self
            .rt
            .block_on(Emulator::bind(self.addr, self.cfg.clone()))
            .unwrap();
        self.emu = Some(emu);
    }

    /// Sets the faults in force from the next request.
    pub fn faults(&self, f: Faults) {
        self.emu.as_ref().expect("running").faults().set(&f);
    }

    /// HTTP requests received by the running emulator.
    pub fn requests(&self) -> u64 {
        self.emu.as_ref().expect("running").requests()
    }
}
