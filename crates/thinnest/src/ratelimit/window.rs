//! The sliding-log window: a budget holds the times of the requests it accepted in
//! the last window, so "at most N in any window" holds exactly, and the time until
//! the next slot frees is known. Limits count over a minute unless a budget says
//! otherwise (mail to one address, for instance, counts over an hour).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The rolling window every limit counts over.
pub const WINDOW_MS: i64 = 60_000;

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests still allowed in the current window after this one.
    pub remaining: u32,
    /// Milliseconds until the oldest counted request leaves the window, freeing a slot.
    pub reset_ms: i64,
}

/// Whether to count the request or only look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Count the request if there is room.
    Take,
    /// Report whether there is room; count nothing.
    Peek,
}

/// Applies the sliding log to one budget's accepted times (oldest first) over a
/// window of `window_ms`.
pub fn decide(
    log: &mut VecDeque<i64>,
    limit: u32,
    window_ms: i64,
    now: i64,
    mode: Mode,
) -> Decision {
    while log.front().is_some_and(|&t| t <= now - window_ms) {
        log.pop_front();
    }
    let count = u32::try_from(log.len()).unwrap_or(u32::MAX);
    let allowed = count < limit;
    if allowed && mode == Mode::Take {
        log.push_back(now);
    }
    let used = u32::try_from(log.len()).unwrap_or(u32::MAX);
    // A slot frees when the count falls below the limit: when the entry `used - limit`
    // (oldest first) leaves the window. After a limit was lowered that is not the oldest.
    let freeing = log.get(log.len().saturating_sub(limit as usize));
    Decision {
        allowed,
        limit,
        remaining: limit.saturating_sub(used),
        reset_ms: freeing.map_or(0, |&t| t + window_ms - now),
    }
}

/// In-process budgets, keyed by name, each with its window.
#[derive(Default)]
pub struct LocalWindows {
    logs: Mutex<HashMap<String, (i64, VecDeque<i64>)>>,
    decisions: AtomicU64,
}

impl LocalWindows {
    pub fn decide(&self, key: &str, limit: u32, window_ms: i64, now: i64, mode: Mode) -> Decision {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        // Now and then, forget budgets idle for a whole window.
        if self.decisions.fetch_add(1, Ordering::Relaxed) % 4096 == 0 {
            logs.retain(|_, (window, log)| log.back().is_some_and(|&t| t > now - *window));
        }
        match logs.get_mut(key) {
            Some((_, log)) => decide(log, limit, window_ms, now, mode),
            None => {
                let mut log = VecDeque::new();
                let decision = decide(&mut log, limit, window_ms, now, mode);
                if !log.is_empty() {
                    logs.insert(key.to_owned(), (window_ms, log));
                }
                decision
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_window_of_60_seconds_ever_holds_more_than_the_limit() {
        // Requests every 250 ms for 5 minutes against a limit of 7: check every window.
        let windows = LocalWindows::default();
        let mut accepted = Vec::new();
        for i in 0..1200 {
            let now = 1_000_000 + i * 250;
            if windows.decide("k", 7, WINDOW_MS, now, Mode::Take).allowed {
                accepted.push(now);
            }
        }
        for (i, &start) in accepted.iter().enumerate() {
            let inside = accepted[i..]
                .iter()
                .take_while(|&&t| t < start + WINDOW_MS)
                .count();
            assert!(inside <= 7, "{inside} accepted in the window from {start}");
        }
        assert_eq!(accepted.len(), 35, "7 per minute for 5 minutes");
    }

    #[test]
    fn a_refusal_spends_nothing_and_says_when_a_slot_frees() {
        let mut log = VecDeque::new();
        assert!(decide(&mut log, 2, WINDOW_MS, 0, Mode::Take).allowed);
        assert!(decide(&mut log, 2, WINDOW_MS, 10_000, Mode::Take).allowed);
        let refused = decide(&mut log, 2, WINDOW_MS, 30_000, Mode::Take);
        assert!(!refused.allowed);
        assert_eq!((refused.remaining, refused.reset_ms), (0, 30_000));
        assert_eq!(log.len(), 2);
        assert!(!decide(&mut log, 2, WINDOW_MS, 59_999, Mode::Take).allowed);
        assert!(
            decide(&mut log, 2, WINDOW_MS, 60_000, Mode::Take).allowed,
            "the first left the window"
        );
    }

    #[test]
    fn after_a_limit_is_lowered_the_wait_is_until_the_count_falls_below_it() {
        let mut log = VecDeque::new();
        for t in [0, 10_000, 20_000, 30_000] {
            assert!(decide(&mut log, 10, WINDOW_MS, t, Mode::Take).allowed);
        }
        // Four counted, limit now 2: three must leave, the third at 20 000 + 60 000.
        let refused = decide(&mut log, 2, WINDOW_MS, 40_000, Mode::Take);
        assert!(!refused.allowed);
        assert_eq!(refused.reset_ms, 40_000);
        assert!(!decide(&mut log, 2, WINDOW_MS, 69_999, Mode::Take).allowed);
        assert!(decide(&mut log, 2, WINDOW_MS, 80_000, Mode::Take).allowed);
    }

    #[test]
    fn peeking_counts_nothing() {
        let mut log = VecDeque::new();
        for _ in 0..5 {
            assert!(decide(&mut log, 1, WINDOW_MS, 0, Mode::Peek).allowed);
        }
        assert!(log.is_empty());
    }
}
