//! How many cases each property runs.

use proptest::test_runner::Config;

/// Cases per property in a default run. Every property of the suite uses the same count, so that
/// `PROPTEST_CASES = 10 × DEFAULT_CASES` is exactly a ten times deeper run of each; the sizes of
/// the expensive properties (whole networks) are chosen to fit this count into the time budget.
pub const DEFAULT_CASES: u32 = 64;

/// The number of cases per property: `PROPTEST_CASES` when it is set (a deep run), else
/// [`DEFAULT_CASES`].
///
/// # Panics
/// When `PROPTEST_CASES` is set but is not a positive whole number: a deep run that silently ran
/// the default count would be worse than none.
pub fn cases() -> u32 {
    cases_from(std::env::var("PROPTEST_CASES").ok().as_deref())
}

fn cases_from(var: Option<&str>) -> u32 {
    match var {
        None => DEFAULT_CASES,
        Some(text) => match text.trim().parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => panic!("PROPTEST_CASES must be a positive whole number, got {text:?}"),
        },
    }
}

/// How long shrinking a failure may take, in milliseconds.
pub const MAX_SHRINK_MILLIS: u32 = 120_000;

/// The configuration of every property: proptest's defaults (failure persistence, shrinking)
/// with [`cases`] cases, and two limits that scale with them:
///
/// - shrinking may take up to 16 384 steps (proptest's automatic limit is only 4 × cases,
///   too few to reduce a random network to a minimal one) and `MAX_SHRINK_MILLIS`;
/// - up to one discarded case per case (a network near a kink), at least proptest's 1024, so
///   that a deep run is not aborted by the small share of cases it discards.
pub fn config() -> Config {
    let cases = cases();
    Config {
        cases,
        max_shrink_iters: 16_384.max(cases.saturating_mul(4)),
        max_shrink_time: MAX_SHRINK_MILLIS,
        max_global_rejects: 1024.max(cases),
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_default_count() {
        assert_eq!(cases_from(None), DEFAULT_CASES);
        assert_eq!(cases_from(Some("320")), 320);
        assert_eq!(cases_from(Some(" 7 ")), 7);
    }

    #[test]
    fn limits_scale_with_the_cases() {
        let c = config();
        assert_eq!(c.cases, cases());
        assert!(c.max_shrink_iters >= 16_384 && c.max_global_rejects >= c.cases.max(1024));
    }

    #[test]
    #[should_panic(expected = "PROPTEST_CASES must be a positive whole number, got \"lots\"")]
    fn a_malformed_count_is_an_error() {
        cases_from(Some("lots"));
    }

    #[test]
    #[should_panic(expected = "got \"0\"")]
    fn zero_cases_is_an_error() {
        cases_from(Some("0"));
    }
}
