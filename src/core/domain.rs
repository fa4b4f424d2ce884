//! Domain names and the file names they become.
//!
//! A domain name comes from the data (a folder name or a column value such as The Pile's
//! `meta.pile_set_name`), and every later stage turns it into folder and file names
//! (`dedup/<domain>/`, `tokens/<domain>.bin`). Data is not to be trusted with the file system:
//! `../../x`, `a/b`, the empty string, control characters and 300-character names all occur in the
//! wild. [`file_stem`] is the one place that maps a name to a safe, unique file name; every artifact
//! keeps the original name beside it, so the mapping never has to be guessed back.

use sha2::{Digest, Sha256};

/// Longest file stem we emit, in bytes. File systems allow 255; stages append suffixes such as
/// `.val.bin` and `part-00000.parquet`, so we keep well clear of the limit.
const MAX_STEM_BYTES: usize = 120;

/// The safe file stem for a domain name.
///
/// ASCII letters, digits, `-` and `_` pass through; every other byte (including `.`, `/`, `%`,
/// spaces, control characters and non-ASCII UTF-8) is written as `%XX`, so distinct names give
/// distinct stems and [`name_from_stem`] reverses the mapping. The empty name becomes `%`. A stem
/// that would exceed [`MAX_STEM_BYTES`] is cut and suffixed with `~` and 16 hex digits of the
/// name's SHA-256, which keeps it unique; such a stem is not reversible, which is why artifacts
/// store the original name.
pub fn file_stem(name: &str) -> String {
    if name.is_empty() {
        return "%".to_string();
    }
    let mut stem = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            stem.push(byte as char);
        } else {
            stem.push_str(&format!("%{byte:02X}"));
        }
    }
    if stem.len() <= MAX_STEM_BYTES {
        return stem;
    }
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let mut cut = MAX_STEM_BYTES - 17;
    // Never cut inside a `%XX` escape.
    while stem.as_bytes()[..cut]
        .iter()
        .rev()
        .take(2)
        .any(|&b| b == b'%')
    {
        cut -= 1;
    }
    format!("{}~{hash}", &stem[..cut])
}

/// The domain name a stem came from, when the stem is a full (not hash-shortened) encoding.
pub fn name_from_stem(stem: &str) -> Option<String> {
    if stem == "%" {
        return Some(String::new());
    }
    if stem.contains('~') {
        return None;
    }
    let bytes = stem.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = stem.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_safe(stem: &str) {
        assert!(!stem.is_empty());
        assert!(stem.len() <= MAX_STEM_BYTES, "{stem} too long");
        assert!(!stem.starts_with('.'));
        assert!(
            stem.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_%~".contains(&b)),
            "{stem}"
        );
    }

    #[test]
    fn plain_names_pass_through() {
        assert_eq!(file_stem("web"), "web");
        assert_eq!(file_stem("Pile-CC"), "Pile-CC");
        assert_eq!(file_stem("the_pile_arxiv"), "the_pile_arxiv");
    }

    #[test]
    fn hostile_names_are_safe_unique_and_reversible() {
        let names = [
            "../../x",
            "a/b",
            "",
            "a b",
            "a.b",
            "a%2Fb",
            "tab\there",
            "nul\0",
            "é",
            "..",
            ".",
            "%",
            "~",
            "CON",
            "a\\b",
        ];
        let mut stems = std::collections::HashSet::new();
        for name in names {
            let stem = file_stem(name);
            assert_safe(&stem);
            assert!(stems.insert(stem.clone()), "collision on {name:?}");
            assert_eq!(name_from_stem(&stem).as_deref(), Some(name), "{stem}");
        }
    }

    #[test]
    fn long_names_are_shortened_uniquely() {
        let a = "x".repeat(300);
        let b = format!("{}y", "x".repeat(299));
        let c = "é".repeat(150);
        for name in [&a, &b, &c] {
            assert_safe(&file_stem(name));
            assert_eq!(name_from_stem(&file_stem(name)), None);
        }
        assert_ne!(file_stem(&a), file_stem(&b));
    }
}
