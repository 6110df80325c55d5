//! `switchboard admin ...`: offline maintenance of a stopped host's data folder.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::output::outln;
use crate::server::{MASTER_KEY_ENV, MASTER_KEY_FILE};

#[derive(Debug, Subcommand)]
pub(super) enum AdminCommand {
    /// Replace the master key and re-seal every stored secret under the new one.
    ///
    /// Offline: stop the host first (the database can be open in one process only). The
    /// old key file is replaced by the new key.
    RotateKey {
        /// The host's data folder.
        #[arg(long, env = "SWITCHBOARD_DATA", default_value = "switchboard-data")]
        data: PathBuf,
    },
}

pub(super) async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::RotateKey { data } => {
            let dir = data.clone();
            let report =
                tokio::task::spawn_blocking(move || crate::server::rotate_master_key(&dir))
                    .await
                    .context("the key rotation stopped unexpectedly")?
                    .with_context(|| {
                        format!(
                            "cannot rotate the master key in {} (is the host stopped?)",
                            data.display()
                        )
                    })?;
            outln!(
                "re-sealed {} secrets: master key {} -> {} (written to {})",
                report.resealed,
                report.old_key_id,
                report.new_key_id,
                data.join(MASTER_KEY_FILE).display()
            );
            if report.from_env {
                outln!(
                    "the old key came from {MASTER_KEY_ENV}: set it to the new key in {} before starting the host",
                    data.join(MASTER_KEY_FILE).display()
                );
            }
        }
    }
    Ok(())
}
