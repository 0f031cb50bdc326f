//! `[auth.limits]` of `mqid.toml`: the limiter's settings as an operator writes them.

use std::time::Duration;

use serde::Deserialize;

use super::{Limits, MAX_FAILURES};

/// A configuration value that cannot work: its key (`limits.max_failures`, …) and why. (Also
/// what `mqid_sync`'s `[auth]` errors carry.)
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct InvalidSetting {
    pub key: &'static str,
    pub problem: String,
}

impl InvalidSetting {
    pub fn new(key: &'static str, problem: impl Into<String>) -> Self {
        InvalidSetting {
            key,
            problem: problem.into(),
        }
    }
}

/// `[auth.limits]`: after `max_failures` bad passwords for one (username, client id) pair
/// within `window_secs`, that pair is refused for `cooldown_secs`, before any password check.
/// See [the module](super) for the choice of key and what it does not protect against.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Off: no limiting at all.
    pub enabled: bool,
    pub max_failures: u32,
    pub window_secs: u64,
    pub cooldown_secs: u64,
    /// Entries in the limiter's fixed table (memory: 8 bytes each, rounded up to a power of 2).
    pub max_tracked_keys: usize,
    /// Bad passwords for one username, across client ids, within `window_secs` that log a
    /// warning (never a refusal); 0 = off.
    pub username_alert_failures: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = Limits::default();
        LimitsConfig {
            enabled: true,
            max_failures: d.max_failures,
            window_secs: d.window.as_secs(),
            cooldown_secs: d.cooldown.as_secs(),
            max_tracked_keys: d.max_tracked_keys,
            username_alert_failures: d.username_alert_failures,
        }
    }
}

impl LimitsConfig {
    /// The limiter's settings, or `None` when disabled.
    pub fn limits(&self) -> Option<Limits> {
        self.enabled.then(|| Limits {
            max_failures: self.max_failures,
            window: Duration::from_secs(self.window_secs),
            cooldown: Duration::from_secs(self.cooldown_secs),
            max_tracked_keys: self.max_tracked_keys,
            username_alert_failures: self.username_alert_failures,
        })
    }

    /// Checks the values; the error names the key (`limits.…`) and what is wrong with it.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        const DAY: u64 = 86_400;
        if !(1..=MAX_FAILURES).contains(&self.max_failures) {
            return Err(InvalidSetting::new(
                "limits.max_failures",
                format!("{} is outside 1..={MAX_FAILURES}", self.max_failures),
            ));
        }
        if self.username_alert_failures > MAX_FAILURES {
            return Err(InvalidSetting::new(
                "limits.username_alert_failures",
                format!(
                    "{} is over {MAX_FAILURES} (0 turns the alert off)",
                    self.username_alert_failures
                ),
            ));
        }
        if !(1..=DAY).contains(&self.window_secs) {
            return Err(InvalidSetting::new(
                "limits.window_secs",
                format!("{} is outside 1..={DAY}", self.window_secs),
            ));
        }
        if !(1..=DAY).contains(&self.cooldown_secs) {
            return Err(InvalidSetting::new(
                "limits.cooldown_secs",
                format!("{} is outside 1..={DAY}", self.cooldown_secs),
            ));
        }
        if !(64..=1 << 28).contains(&self.max_tracked_keys) {
            return Err(InvalidSetting::new(
                "limits.max_tracked_keys",
                format!(
                    "{} is outside 64..=268435456 (8 bytes each)",
                    self.max_tracked_keys
                ),
            ));
        }
        Ok(())
    }
}
