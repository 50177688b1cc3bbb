//! Word lists and phrase patterns that give the generated books realistic titles,
//! descriptions and categories.
//!
//! The titles deliberately include what makes real titles awkward for a scraper: `&`,
//! straight and curly quotes, colons, parentheses with series numbers, em dashes, accents,
//! a rare `<`, and long titles that the listing cuts short.

use super::generate::Rng;

/// Real category names of books.toscrape.com with their ids, which appear in category URLs
/// (`category/books/poetry_23/index.html`). "Add a comment" and "Default" are genuine oddities
/// of the real site and are kept for that reason.
pub const CATEGORIES: &[(&str, u32)] = &[
    ("Travel", 2),
    ("Mystery", 3),
    ("Historical Fiction", 4),
    ("Sequential Art", 5),
    ("Classics", 6),
    ("Philosophy", 7),
    ("Romance", 8),
    ("Womens Fiction", 9),
    ("Fiction", 10),
    ("Childrens", 11),
    ("Nonfiction", 13),
    ("Music", 14),
    ("Default", 15),
    ("Science Fiction", 16),
    ("Sports and Games", 17),
    ("Add a comment", 18),
    ("Fantasy", 19),
    ("Young Adult", 21),
    ("Science", 22),
    ("Poetry", 23),
    ("Horror", 31),
    ("History", 32),
    ("Food and Drink", 33),
    ("Business", 35),
    ("Thriller", 37),
];

const ADJECTIVES: &[&str] = &[
    "Silent",
    "Lost",
    "Hidden",
    "Broken",
    "Golden",
    "Secret",
    "Last",
    "Little",
    "Wild",
    "Burning",
    "Invisible",
    "Forgotten",
    "Midnight",
    "Crimson",
    "Quiet",
    "Dark",
    "Electric",
    "Beautiful",
    "Strange",
    "Endless",
    "Wandering",
    "Sweet",
    "Bitter",
    "Frozen",
    "Hungry",
    "Naïve",
    "Curious",
];

const NOUNS: &[&str] = &[
    "Garden",
    "River",
    "House",
    "Kingdom",
    "Orchard",
    "Letter",
    "Mountain",
    "Daughter",
    "Machine",
    "Sea",
    "Library",
    "Promise",
    "Compass",
    "Empire",
    "Stranger",
    "Winter",
    "Island",
    "Lighthouse",
    "Clockmaker",
    "Alphabet",
    "Map",
    "Bridge",
    "Storm",
    "Voyage",
    "Heart",
    "Attic",
    "Piano",
    "Café",
    "Circus",
    "Wolf",
];

const PLACES: &[&str] = &[
    "Paris",
    "the North",
    "Avalon",
    "Kyoto",
    "the Attic",
    "Nowhere",
    "Brooklyn",
    "Montréal",
    "the Moors",
    "Zürich",
    "São Paulo",
    "Babylon",
    "the Himalayas",
    "Berlin",
];

const NAMES: &[&str] = &[
    "Sophie",
    "Scott",
    "Maude",
    "Shakespeare",
    "Elena",
    "Jasper",
    "Amélie",
    "Ruth",
    "Odile",
    "Tomás",
    "Zoë",
    "Harriet",
    "Björn",
];

const SUBTITLES: &[&str] = &[
    "A Novel",
    "A Memoir",
    "Poems",
    "Stories",
    "The Complete Collection",
    "A Practical Guide to Personal Freedom",
    "Nine Americans and Their Epic Quest for Gold",
    "Scenes from the Indie Underground, 1981-1991",
    "A Foolproof Guide to Small Batch Jams, Jellies, Pickles, and More",
    "How to Express Heartfelt Commitment to Your Mate",
    "A Story in Pictures",
];

const VERBS: &[&str] = &[
    "discovers",
    "remembers",
    "loses",
    "follows",
    "builds",
    "questions",
    "escapes",
    "inherits",
];

/// Picks one element; the lists are never empty.
pub fn pick<'a, T>(rng: &mut Rng, list: &'a [T]) -> &'a T {
    &list[rng.below(list.len() as u64) as usize]
}

/// A title; which pattern is used depends only on the generator's state.
pub fn title(rng: &mut Rng) -> String {
    let adj = *pick(rng, ADJECTIVES);
    let noun = *pick(rng, NOUNS);
    let other = *pick(rng, NOUNS);
    let third = *pick(rng, NOUNS);
    let place = *pick(rng, PLACES);
    let name = *pick(rng, NAMES);
    let subtitle = *pick(rng, SUBTITLES);
    let n = 1 + rng.below(9);
    match rng.below(20) {
        0 | 1 => format!("The {adj} {noun}"),
        2 => format!("{noun} of {place}"),
        3 => format!("{name}'s {noun}"),
        4 => format!("{name}’s {adj} {noun}"),
        5 => format!("The {noun} & the {other}"),
        6 | 7 => format!("The {adj} {noun}: {subtitle}"),
        8 => format!("{adj} {} ({name} {noun} #{n})", plural(noun)),
        9 => format!("{adj} {noun} ({} Trilogy, #{n})", capitalize(place)),
        10 => format!("\"{adj} {}\": {subtitle}", plural(noun)),
        11 => format!("{noun} — {adj} Letters from {place}"),
        12 => format!("The {noun}, the {other} & the {adj} {third}: {subtitle} from {place}"),
        13 => noun.to_string(),
        14 => format!("It's Only {place}"),
        15 => format!("{} {adj} Year in {place}", capitalize(a(adj))),
        16 => format!("{name} and the {adj} {noun}"),
        17 => format!(
            "How to Build {} {noun} (and Other {adj} {})",
            a(noun),
            plural(other)
        ),
        18 => format!("{} {noun} in {place}: {subtitle}", capitalize(a(noun))),
        _ if rng.chance(25) => format!("I <3 {place}"),
        _ => format!("Once Upon {} {noun}", a(noun)),
    }
}

/// The indefinite article for `word`.
fn a(word: &str) -> &'static str {
    if word.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// English plural of the nouns above.
fn plural(noun: &str) -> String {
    if let Some(stem) = noun.strip_suffix('f') {
        format!("{stem}ves")
    } else if noun.ends_with('s') {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

/// A description of a few sentences mentioning the title; like the real site's, some end in
/// "...more".
pub fn description(rng: &mut Rng, title: &str) -> String {
    let mut text = String::new();
    let sentences = 2 + rng.below(4);
    for index in 0..sentences {
        if index > 0 {
            text.push(' ');
        }
        let adj = pick(rng, ADJECTIVES).to_lowercase();
        let noun = pick(rng, NOUNS).to_lowercase();
        let place = *pick(rng, PLACES);
        let name = *pick(rng, NAMES);
        let verb = *pick(rng, VERBS);
        let sentence = match rng.below(6) {
            0 => format!("It's hard to imagine a world without {title}."),
            1 => format!("{name} {verb} {} {adj} {noun} in {place}.", a(&adj)),
            2 => format!(
                "\"{} {adj} book,\" says one reviewer — and it's true.",
                capitalize(a(&adj))
            ),
            3 => format!("Part {noun}, part {adj} romance & all heart."),
            4 => format!("When {name} {verb} the {noun}, nothing in {place} stays the same."),
            _ => format!("Need proof? The {noun} is no safe place to rock."),
        };
        text.push_str(&sentence);
    }
    if rng.chance(40) {
        text.push_str(" ...more");
    }
    text
}
