//! Cutting user text (a cell, a name) to a readable length before it goes into a message: one
//! bad 1 MB cell must not make a 1,000,000-character error.

use std::borrow::Cow;

/// The most characters of user text a message quotes.
pub const MAX_QUOTED_CHARS: usize = 60;

/// `text` itself when it has at most [`MAX_QUOTED_CHARS`] characters, else its start followed
/// by `... (N characters)`, cut on a character boundary.
pub fn shorten(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}... ({} characters)", &text[..end], text.chars().count())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_short_text_kept() {
        assert_eq!(shorten("setosa"), "setosa");
        let exact = "x".repeat(MAX_QUOTED_CHARS);
        assert_eq!(shorten(&exact), exact.as_str());
        let long = "é".repeat(1_000_000);
        let cut = shorten(&long);
        assert_eq!(cut, format!("{}... (1000000 characters)", "é".repeat(MAX_QUOTED_CHARS)));
    }
}
