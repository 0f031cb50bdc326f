//! rumqttd binds its listeners on threads of its own and only logs a bind error, so a broker
//! whose port is taken would say it is ready and run on fewer listeners (or none). Every address
//! is bound once here, before rumqttd starts: one that cannot be bound stops start-up, named.

use anyhow::{bail, Result};

/// Binds, then releases, every listener address of `config` (and the console's); the first that
/// cannot be bound is an error naming the listener, the address and why.
pub fn check(config: &rumqttd::Config) -> Result<()> {
    let mut addrs: Vec<(String, String)> = mqid_rumqttd::listeners(config)
        .into_iter()
        .map(|(key, name, addr)| {
            (
                format!("listener [broker.{key}] ({name})"),
                addr.to_string(),
            )
        })
        .collect();
    if let Some(console) = &config.console {
        addrs.push(("[broker.console]".into(), console.listen.clone()));
    }
    for (what, addr) in addrs {
        if let Err(e) = std::net::TcpListener::bind(addr.as_str()) {
            bail!("{what} cannot listen on {addr}: {e}");
        }
    }
    Ok(())
}
