//! The reminder policy (pure): when a pending invite is reminded, how often,
//! and when it expires. Times are Unix seconds; nothing here reads a clock.

use crate::model::Timestamp;

const DAY: Timestamp = 86_400;

/// First reminder N days after the invite, then every M days, at most K
/// reminders; `expired` D days after the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub first_after_days: u32,
    pub every_days: u32,
    pub max: u32,
    pub expire_after_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            first_after_days: 3,
            every_days: 4,
            max: 2,
            expire_after_days: 7,
        }
    }
}

/// What is due for a pending invite whose reminder time has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Send a reminder; the next look is at this time.
    Remind { next: Timestamp },
    /// The last reminder's grace period is over.
    Expire,
}

impl Policy {
    /// When a fresh invite (sent at `invited_at`) is first looked at.
    pub fn first_look(&self, invited_at: Timestamp) -> Timestamp {
        if self.max == 0 {
            invited_at + Timestamp::from(self.expire_after_days) * DAY
        } else {
            invited_at + Timestamp::from(self.first_after_days) * DAY
        }
    }

    /// What to do at `now` for an invite that has had `sent` reminders.
    pub fn due(&self, sent: u32, now: Timestamp) -> Due {
        if sent >= self.max {
            return Due::Expire;
        }
        let next = if sent + 1 >= self.max {
            now + Timestamp::from(self.expire_after_days) * DAY
        } else {
            now + Timestamp::from(self.every_days) * DAY
        };
        Due::Remind { next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole life of an unanswered invite, day by day.
    #[test]
    fn cadence_then_expiry() {
        let p = Policy {
            first_after_days: 3,
            every_days: 4,
            max: 2,
            expire_after_days: 7,
        };
        let t0 = 1_000 * DAY;
        let first = p.first_look(t0);
        assert_eq!(first, t0 + 3 * DAY);
        let Due::Remind { next } = p.due(0, first) else {
            panic!("first reminder")
        };
        assert_eq!(next, t0 + 7 * DAY);
        let Due::Remind { next } = p.due(1, next) else {
            panic!("second reminder")
        };
        assert_eq!(next, t0 + 14 * DAY, "expiry 7 days after the last reminder");
        assert_eq!(p.due(2, next), Due::Expire);
    }

    #[test]
    fn no_reminders_means_expiry_only() {
        let p = Policy {
            max: 0,
            ..Policy::default()
        };
        assert_eq!(p.first_look(0), 7 * DAY);
        assert_eq!(p.due(0, 7 * DAY), Due::Expire);
    }
}
