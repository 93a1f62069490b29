//! The IoT Hub tiers whose job limits the local hub reproduces.

use std::{fmt, str::FromStr};

/// An IoT Hub tier, for the limit it puts on scheduled jobs
/// ([`LocalHubBuilder::tier`](crate::LocalHubBuilder::tier)). The basic tiers run no jobs, so
/// they are not here.
///
/// Import and export jobs are limited to one at a time on every tier, so the tier does not
/// change that limit.
///
/// ```
/// use iothub_local_hub::Tier;
///
/// let tier: Tier = "s2".parse()?;
/// assert_eq!((tier, tier.max_active_jobs()), (Tier::S2, 5));
/// # Ok::<(), iothub_local_hub::ParseTierError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// The free tier: one active scheduled job.
    Free,
    /// Standard S1: one active scheduled job.
    S1,
    /// Standard S2: five active scheduled jobs.
    S2,
    /// Standard S3: ten active scheduled jobs.
    S3,
}

impl Tier {
    /// Every tier with its name, as [`FromStr`] reads it.
    const NAMED: [(&str, Tier); 4] = [
        ("Free", Tier::Free),
        ("S1", Tier::S1),
        ("S2", Tier::S2),
        ("S3", Tier::S3),
    ];

    /// How many scheduled jobs may be queued, scheduled or running at once on a hub of this
    /// tier: 1 on Free and S1, 5 on S2, 10 on S3 (IoT Hub's quotas, "Jobs max concurrent").
    /// A hub built without a tier allows 100, so tests are not throttled unless they ask.
    pub fn max_active_jobs(self) -> usize {
        match self {
            Tier::Free | Tier::S1 => 1,
            Tier::S2 => 5,
            Tier::S3 => 10,
        }
    }
}

impl FromStr for Tier {
    type Err = ParseTierError;

    /// `Free`, `S1`, `S2` or `S3`, in any case.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::NAMED
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, tier)| *tier)
            .ok_or_else(|| ParseTierError {
                given: name.to_owned(),
            })
    }
}

/// A name that is not a [`Tier`]'s; its message names the accepted ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseTierError {
    given: String,
}

impl fmt::Display for ParseTierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an IoT Hub tier with jobs: use Free, S1, S2 or S3",
            self.given
        )
    }
}

impl std::error::Error for ParseTierError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_read_in_any_case() {
        for (name, tier) in [
            ("Free", Tier::Free),
            ("FREE", Tier::Free),
            ("s1", Tier::S1),
            ("S2", Tier::S2),
            ("s3", Tier::S3),
        ] {
            assert_eq!(name.parse(), Ok(tier), "{name}");
        }
    }

    #[test]
    fn other_names_are_refused_with_the_accepted_ones() {
        for name in ["", "S4", "B1", " S1", "standard"] {
            let refused = name.parse::<Tier>().unwrap_err();
            let message = refused.to_string();
            assert!(
                message.contains(&format!("{name:?}")) && message.contains("Free, S1, S2 or S3"),
                "{message}"
            );
        }
    }

    #[test]
    fn each_tier_allows_its_documented_number_of_jobs() {
        let limits = Tier::NAMED.map(|(_, tier)| tier.max_active_jobs());
        assert_eq!(limits, [1, 1, 5, 10]);
    }
}
