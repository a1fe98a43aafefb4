//! Resident and peak memory of this process, from `/proc/self/status` (Linux).

use std::fs;

/// `VmHWM` (peak resident set) in bytes, or `None` where `/proc` does not say.
pub fn peak_rss() -> Option<u64> {
    status_kib("VmHWM:").map(|k| k * 1024)
}

/// `VmRSS` (current resident set) in bytes, or `None` where `/proc` does not say.
pub fn rss() -> Option<u64> {
    status_kib("VmRSS:").map(|k| k * 1024)
}

/// Resets the peak resident set to the current one (`echo 5 > /proc/self/clear_refs`), so
/// that [`peak_rss`] measures one phase. Returns whether the kernel accepted it.
pub fn reset_peak() -> bool {
    fs::write("/proc/self/clear_refs", b"5").is_ok()
}

/// CPU time this process's threads have run, in nanoseconds (the first field of each
/// `/proc/self/task/*/schedstat`), or `None` where `/proc` does not say. Like `std::clock()`,
/// which Brian2 times its runs with, it does not grow while other processes hold the CPU.
pub fn cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for entry in fs::read_dir("/proc/self/task").ok()? {
        let path = entry.ok()?.path().join("schedstat");
        // A thread may end between the listing and the read: it is skipped.
        if let Ok(text) = fs::read_to_string(path) {
            total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

fn status_kib(key: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/self/status").ok()?;
    parse_kib(&text, key)
}

/// The value in KiB of the `key` line of a `/proc/*/status` text.
fn parse_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let mut words = line[key.len()..].split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let text = "Name:\tx\nVmHWM:\t  12345 kB\nVmRSS:\t   100 kB\n";
        assert_eq!(parse_kib(text, "VmHWM:"), Some(12345));
        assert_eq!(parse_kib(text, "VmRSS:"), Some(100));
        assert_eq!(parse_kib(text, "VmSwap:"), None);
        assert_eq!(parse_kib("VmHWM: 12 MB\n", "VmHWM:"), None);
    }

    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            // Current first: other test threads may allocate in between.
            let now = rss().expect("linux has VmRSS");
            let peak = peak_rss().expect("linux has VmHWM");
            assert!(peak >= now && now > 0, "{peak} {now}");
        }
    }
}
