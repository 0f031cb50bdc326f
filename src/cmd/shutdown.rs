//! SIGTERM and SIGINT: a clean stop. rumqttd 0.20 has no shutdown API, so mqid cannot drain its
//! listeners one by one; what it can do is stop as one: wait for a snapshot or identities file
//! being written to be complete (a write is never cut half-way, and no temporary file is left),
//! log one line, and exit with status 0. The process's exit closes every listener and connection
//! at once; a client sees its connection closed, as with any broker restart.

use anyhow::{Context, Result};

/// Installs the handlers; from now on SIGTERM or SIGINT stops the process cleanly.
#[cfg(unix)]
pub fn install() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler's runtime")?;
    let (mut term, mut int) = {
        let _in_runtime = rt.enter();
        (
            signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        )
    };
    std::thread::Builder::new()
        .name("mqid-signal".into())
        .spawn(move || {
            let name = rt.block_on(async {
                tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                }
            });
            // Held until the process is gone: a write in progress completes first, none starts.
            let _no_write = mqid_sync::snapshot::hold_writes();
            tracing::info!(
                signal = name,
                "{name} received: mqid stops; listeners and connections close with the process, \
                 and no file write was cut short"
            );
            std::process::exit(0);
        })
        .context("cannot start the signal handler's thread")?;
    Ok(())
}

#[cfg(not(unix))]
pub fn install() -> Result<()> {
    Ok(())
}
