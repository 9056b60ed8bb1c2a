//! Finds Rust debug formatting in what a command prints (shared by the binary
//! tests: what people read never shows `Some(..)`, enum names or struct dumps).
#![allow(dead_code)]

/// Rust debug formatting found in `text`: `Some(`, `None`, `::`, struct dumps
/// (`Name { field: …`), an identifier in parentheses (`(NotAccepted)`) and
/// CamelCase identifiers (`ApprovedOnline`, `NoCvm`).
pub fn debug_text(text: &str, allowed: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for pat in ["Some(", "::"] {
        if text.contains(pat) {
            found.push(pat.to_owned());
        }
    }
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .collect();
    for w in &words {
        let mut chars = w.chars();
        let first_upper = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest: Vec<char> = chars.collect();
        let camel = first_upper
            && rest.iter().any(char::is_ascii_lowercase)
            && rest.iter().any(char::is_ascii_uppercase);
        if (*w == "None" || camel) && !allowed.contains(w) {
            found.push((*w).to_owned());
        }
    }
    // `Name { field:` and `(Word)` without spaces inside.
    for (i, _) in text.match_indices(" { ") {
        let before = text[..i]
            .rsplit(|c: char| !c.is_ascii_alphanumeric())
            .next();
        let after = text[i + 3..].split(':').next().unwrap_or("");
        if before.is_some_and(|b| b.starts_with(|c: char| c.is_ascii_uppercase()))
            && after.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            found.push(format!("struct dump at {i}"));
        }
    }
    for part in text.split('(').skip(1) {
        let inner = part.split(')').next().unwrap_or("");
        if inner.len() > 1
            && part.contains(')')
            && inner.starts_with(|c: char| c.is_ascii_uppercase())
            && inner.chars().all(|c| c.is_ascii_alphabetic())
            && inner.chars().any(|c| c.is_ascii_lowercase())
        {
            found.push(format!("({inner})"));
        }
    }
    found.sort();
    found.dedup();
    found
}
