//! Token lifetimes as the "Set Token Expiry" and "Set Token Expiry Unit"
//! screens express them, and plain durations such as `12h`.
//!
//! Calendar units have fixed lengths so that a token's lifetime never depends
//! on the date it was issued: a month is 30 days and a year is 365 days.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A unit of the token expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExpiryUnit {
    /// 1 second.
    Seconds,
    /// 60 seconds.
    Minutes,
    /// 3,600 seconds.
    Hours,
    /// 86,400 seconds.
    Days,
    /// 604,800 seconds.
    Weeks,
    /// 30 days: 2,592,000 seconds.
    Months,
    /// 365 days: 31,536,000 seconds.
    Years,
}

impl ExpiryUnit {
    /// Every unit, in the order the screen lists them.
    pub const ALL: [ExpiryUnit; 7] = [
        ExpiryUnit::Seconds,
        ExpiryUnit::Minutes,
        ExpiryUnit::Hours,
        ExpiryUnit::Days,
        ExpiryUnit::Weeks,
        ExpiryUnit::Months,
        ExpiryUnit::Years,
    ];

    /// Seconds in one unit.
    pub fn seconds(self) -> u64 {
        match self {
            ExpiryUnit::Seconds => 1,
            ExpiryUnit::Minutes => 60,
            ExpiryUnit::Hours => 3_600,
            ExpiryUnit::Days => 86_400,
            ExpiryUnit::Weeks => 604_800,
            ExpiryUnit::Months => 30 * 86_400,
            ExpiryUnit::Years => 365 * 86_400,
        }
    }

    /// The name used in files and JSON (`minutes`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryUnit::Seconds => "seconds",
            ExpiryUnit::Minutes => "minutes",
            ExpiryUnit::Hours => "hours",
            ExpiryUnit::Days => "days",
            ExpiryUnit::Weeks => "weeks",
            ExpiryUnit::Months => "months",
            ExpiryUnit::Years => "years",
        }
    }

    /// The label the appliance screen shows (`minute(s)`).
    pub fn label(self) -> &'static str {
        match self {
            ExpiryUnit::Seconds => "second(s)",
            ExpiryUnit::Minutes => "minute(s)",
            ExpiryUnit::Hours => "hour(s)",
            ExpiryUnit::Days => "day(s)",
            ExpiryUnit::Weeks => "week(s)",
            ExpiryUnit::Months => "month(s)",
            ExpiryUnit::Years => "year(s)",
        }
    }
}

impl std::fmt::Display for ExpiryUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An expiry unit or duration that could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeError {
    /// Not one of the seven units.
    #[error(
        "unknown expiry unit {0:?}; use second(s), minute(s), hour(s), day(s), week(s), month(s) or year(s)"
    )]
    UnknownUnit(String),
    /// A value of zero or one too large.
    #[error("expiry value {0} is out of range; give a whole number from 1 to {MAX_EXPIRY_VALUE}")]
    ValueOutOfRange(u64),
    /// A duration string that does not parse.
    #[error(
        "cannot read duration {0:?}; write a number and a unit, for example 12h, 90m, 2d or 43200s"
    )]
    BadDuration(String),
}

/// The largest expiry value accepted, in any unit.
pub const MAX_EXPIRY_VALUE: u64 = 1_000_000;

impl std::str::FromStr for ExpiryUnit {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_suffix("(s)").unwrap_or(&t);
        let t = t.strip_suffix('s').filter(|r| !r.is_empty()).unwrap_or(t);
        Ok(match t {
            "second" | "sec" => ExpiryUnit::Seconds,
            "minute" | "min" => ExpiryUnit::Minutes,
            "hour" | "h" | "hr" => ExpiryUnit::Hours,
            "day" | "d" => ExpiryUnit::Days,
            "week" | "w" | "wk" => ExpiryUnit::Weeks,
            "month" | "mo" => ExpiryUnit::Months,
            "year" | "y" | "yr" => ExpiryUnit::Years,
            _ if s.trim() == "s" => ExpiryUnit::Seconds,
            _ => return Err(TimeError::UnknownUnit(s.to_owned())),
        })
    }
}

/// A token expiry: a value and a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// How many units.
    pub value: u64,
    /// Which unit.
    pub unit: ExpiryUnit,
}

impl Expiry {
    /// Builds an expiry, refusing zero and values above [`MAX_EXPIRY_VALUE`].
    pub fn new(value: u64, unit: ExpiryUnit) -> Result<Self, TimeError> {
        if value == 0 || value > MAX_EXPIRY_VALUE {
            return Err(TimeError::ValueOutOfRange(value));
        }
        Ok(Self { value, unit })
    }

    /// The lifetime in seconds.
    pub fn seconds(self) -> u64 {
        self.value.saturating_mul(self.unit.seconds())
    }
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.value, self.unit)
    }
}

/// Parses `12h`, `90m`, `2d`, `1w`, `43200s`, `43200` (seconds) or `12 hours` into seconds.
pub fn parse_duration(s: &str) -> Result<u64, TimeError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: u64 = num
        .parse()
        .map_err(|_| TimeError::BadDuration(s.to_owned()))?;
    let unit = unit.trim();
    let unit = if unit.is_empty() {
        ExpiryUnit::Seconds
    } else if unit == "m" {
        ExpiryUnit::Minutes
    } else {
        unit.parse()
            .map_err(|_| TimeError::BadDuration(s.to_owned()))?
    };
    if value == 0 {
        return Err(TimeError::BadDuration(s.to_owned()));
    }
    value
        .checked_mul(unit.seconds())
        .ok_or_else(|| TimeError::BadDuration(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_in_every_spelling_the_screen_and_users_use() {
        for (s, u) in [
            ("second(s)", ExpiryUnit::Seconds),
            ("seconds", ExpiryUnit::Seconds),
            ("second", ExpiryUnit::Seconds),
            ("s", ExpiryUnit::Seconds),
            ("Minute(s)", ExpiryUnit::Minutes),
            ("min", ExpiryUnit::Minutes),
            ("hours", ExpiryUnit::Hours),
            ("day(s)", ExpiryUnit::Days),
            ("weeks", ExpiryUnit::Weeks),
            ("month", ExpiryUnit::Months),
            ("year(s)", ExpiryUnit::Years),
        ] {
            assert_eq!(s.parse::<ExpiryUnit>().unwrap(), u, "{s}");
        }
        assert!("fortnight".parse::<ExpiryUnit>().is_err());
    }

    #[test]
    fn months_and_years_have_fixed_lengths() {
        assert_eq!(
            Expiry::new(1, ExpiryUnit::Months).unwrap().seconds(),
            2_592_000
        );
        assert_eq!(
            Expiry::new(1, ExpiryUnit::Years).unwrap().seconds(),
            31_536_000
        );
        assert_eq!(
            Expiry::new(30, ExpiryUnit::Minutes).unwrap().seconds(),
            1_800
        );
        assert!(Expiry::new(0, ExpiryUnit::Minutes).is_err());
        assert!(Expiry::new(MAX_EXPIRY_VALUE + 1, ExpiryUnit::Seconds).is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("12h").unwrap(), 43_200);
        assert_eq!(parse_duration("90m").unwrap(), 5_400);
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        assert_eq!(parse_duration("43200").unwrap(), 43_200);
        assert_eq!(parse_duration("12 hours").unwrap(), 43_200);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0h").is_err());
    }
}
