//! Runs the emulator by hand (e.g. for `tests/python/test_sdk_interop.py` or curl); the product's
//! way is `mqid openapi-emulator`.
//!
//! ```text
//! ALIBABA_CLOUD_ACCESS_KEY_ID=id ALIBABA_CLOUD_ACCESS_KEY_SECRET=secret \
//!   cargo run -p mqid-emulator --example emulator -- 127.0.0.1:8080 identities.json [blacklist.json]
//! ```

use mqid_emulator::{serve_until, EmulatorConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (addr, identities, blacklist) = match args.as_slice() {
        [a, i] => (a, i, None),
        [a, i, b] => (a, i, Some(b)),
        _ => {
            eprintln!("usage: emulator ADDR IDENTITIES.json [BLACKLIST.json]");
            std::process::exit(2);
        }
    };
    let env = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            eprintln!("{k} is not set");
            std::process::exit(2)
        })
    };
    let mut cfg = EmulatorConfig::new(
        identities,
        env("ALIBABA_CLOUD_ACCESS_KEY_ID"),
        env("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
    );
    cfg.blacklist = blacklist.map(Into::into);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_until(listener, cfg, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
