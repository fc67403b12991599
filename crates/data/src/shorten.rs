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

/// The most items of a list (column names, classes) a message shows.
pub const MAX_LISTED_ITEMS: usize = 20;

/// `items` joined by `, `, each [`shorten`]ed, with at most [`MAX_LISTED_ITEMS`] shown and the
/// rest counted (`a, b, ... (20000 in all)`): 20,000 columns must not make a 149 KB message.
pub fn shorten_list<S: AsRef<str>>(items: &[S]) -> String {
    let shown: Vec<Cow<'_, str>> = items.iter().take(MAX_LISTED_ITEMS).map(|s| shorten(s.as_ref())).collect();
    let mut text = shown.join(", ");
    if items.len() > MAX_LISTED_ITEMS {
        text.push_str(&format!(", ... ({} in all)", items.len()));
    }
    text
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

    #[test]
    fn long_lists_show_their_start_and_their_length() {
        assert_eq!(shorten_list(&["a", "b"]), "a, b");
        let many: Vec<String> = (0..20_000).map(|i| format!("c{i}")).collect();
        let text = shorten_list(&many);
        assert!(text.starts_with("c0, c1, c2,") && text.ends_with(", c19, ... (20000 in all)"), "{text}");
    }
}
