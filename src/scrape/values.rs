//! The values on the site's pages, pure: money ("£51.77"), the star word ("Three"), the
//! availability text ("In stock (22 available)").

/// Star word ("One".."Five") to a number.
pub fn rating_from_word(word: &str) -> Option<u8> {
    match word {
        "One" => Some(1),
        "Two" => Some(2),
        "Three" => Some(3),
        "Four" => Some(4),
        "Five" => Some(5),
        _ => None,
    }
}

/// A rating 1..=5 back to its star word (what [`rating_from_word`] read); `None` otherwise.
pub fn star_word(rating: u8) -> Option<&'static str> {
    ["One", "Two", "Three", "Four", "Five"]
        .get(usize::from(rating).checked_sub(1)?)
        .copied()
}

/// "£51.77" (or "Â£51.77" from a mis-decoded page) to 51.77.
pub fn parse_money(text: &str) -> Option<f64> {
    let digits: String = text
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse().ok()
}

/// "In stock (22 available)" -> "In stock"; anything mentioning "out of stock" -> "Out of stock".
pub fn normalise_availability(text: &str) -> String {
    if text.to_ascii_lowercase().contains("out of stock") || !text.contains("In stock") {
        "Out of stock".to_owned()
    } else {
        "In stock".to_owned()
    }
}

/// "In stock (22 available)" -> 22; "Out of stock" -> 0.
pub fn stock_count(text: &str) -> Option<u32> {
    if normalise_availability(text) == "Out of stock" {
        return Some(0);
    }
    let start = text.find('(')? + 1;
    text[start..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_parses_pound_sign_and_mojibake() {
        assert_eq!(parse_money("£51.77"), Some(51.77));
        assert_eq!(parse_money("Â£0.00"), Some(0.0));
        assert_eq!(parse_money("n/a"), None);
    }

    #[test]
    fn star_words_map_to_ratings() {
        let got: Vec<_> = ["One", "Two", "Three", "Four", "Five", "Six"]
            .iter()
            .map(|w| rating_from_word(w))
            .collect();
        for r in 1..=5 {
            assert_eq!(star_word(r).and_then(rating_from_word), Some(r));
        }
        assert_eq!((star_word(0), star_word(6)), (None, None));
        assert_eq!(
            got,
            [Some(1), Some(2), Some(3), Some(4), Some(5), None].to_vec()
        );
    }

    #[test]
    fn availability_vocabulary_is_the_old_one() {
        assert_eq!(
            normalise_availability("In stock (22 available)"),
            "In stock"
        );
        assert_eq!(normalise_availability("In stock"), "In stock");
        assert_eq!(normalise_availability("Out of stock"), "Out of stock");
        assert_eq!(stock_count("In stock (22 available)"), Some(22));
        assert_eq!(stock_count("In stock (1 available)"), Some(1));
        assert_eq!(stock_count("Out of stock"), Some(0));
        assert_eq!(stock_count("In stock"), None);
    }
}
