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

/// The configuration of every property: proptest's defaults (failure persistence under
/// `proptest-regressions/`, shrinking) with [`cases`] cases.
pub fn config() -> Config {
    Config { cases: cases(), ..Config::default() }
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
