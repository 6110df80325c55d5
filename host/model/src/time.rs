//! Times as the records keep them (Unix milliseconds) and as the API shows them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds, from the system clock (0 before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Unix milliseconds as RFC 3339 with milliseconds, in UTC.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}
