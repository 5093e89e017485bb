//! The reminder section of the config: when the scheduler runs (a cron
//! expression in a time zone) and the reminder policy.

use crate::core::reminders::Policy;
use serde::Deserialize;
use std::str::FromStr;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawReminders {
    /// Cron expression with seconds: `sec min hour day-of-month month day-of-week [year]`.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default = "default_first")]
    pub first_after_days: u32,
    #[serde(default = "default_every")]
    pub every_days: u32,
    #[serde(default = "default_max")]
    pub max: u32,
    #[serde(default = "default_expire")]
    pub expire_after_days: u32,
}

fn default_schedule() -> String {
    "0 0 9 * * Mon-Fri *".into()
}
fn default_timezone() -> String {
    "UTC".into()
}
fn default_first() -> u32 {
    Policy::default().first_after_days
}
fn default_every() -> u32 {
    Policy::default().every_days
}
fn default_max() -> u32 {
    Policy::default().max
}
fn default_expire() -> u32 {
    Policy::default().expire_after_days
}

impl Default for RawReminders {
    fn default() -> Self {
        RawReminders {
            schedule: default_schedule(),
            timezone: default_timezone(),
            first_after_days: default_first(),
            every_days: default_every(),
            max: default_max(),
            expire_after_days: default_expire(),
        }
    }
}

/// When reminder passes run, and what they do.
#[derive(Debug, Clone)]
pub struct ReminderSettings {
    pub schedule: cron::Schedule,
    pub timezone: chrono_tz::Tz,
    pub policy: Policy,
}

impl RawReminders {
    pub(super) fn validate(self, problems: &mut Vec<String>) -> ReminderSettings {
        let schedule = cron::Schedule::from_str(&self.schedule).unwrap_or_else(|e| {
            problems.push(format!("reminders.schedule {:?}: {e}", self.schedule));
            // A valid expression; never used once a problem is reported.
            cron::Schedule::from_str("0 0 9 * * * *")
                .unwrap_or_else(|_| unreachable!("a constant cron expression"))
        });
        let timezone = self.timezone.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            problems.push(format!(
                "reminders.timezone {:?} is not an IANA time zone",
                self.timezone
            ));
            chrono_tz::UTC
        });
        if self.every_days == 0 && self.max > 1 {
            problems.push("reminders.every-days must be at least 1".into());
        }
        ReminderSettings {
            schedule,
            timezone,
            policy: Policy {
                first_after_days: self.first_after_days,
                every_days: self.every_days,
                max: self.max,
                expire_after_days: self.expire_after_days,
            },
        }
    }
}
