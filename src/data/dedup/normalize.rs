//! Text normalisation before hashing: what "the same document" means to dedup.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// How text is normalised before the exact hash and the MinHash shingles are computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Normalization {
    /// Unicode NFC, so that a precomposed `é` and `e` + combining accent are the same text. Default on:
    /// the same document copied through different tools often differs only in composition.
    pub nfc: bool,
    /// Every run of whitespace becomes one space, and leading and trailing whitespace goes. Default on:
    /// re-wrapped lines and trailing newlines are the commonest difference between copies.
    pub fold_whitespace: bool,
    /// Lower-case the text. Default off: case carries meaning in code and in names.
    pub lowercase: bool,
}

impl Default for Normalization {
    fn default() -> Self {
        Self {
            nfc: true,
            fold_whitespace: true,
            lowercase: false,
        }
    }
}

impl Normalization {
    /// Normalises `text` into `out` (cleared first), reusing its allocation.
    pub fn apply(&self, text: &str, out: &mut String) {
        out.clear();
        out.reserve(text.len());
        // Most text is already NFC; the quick check costs far less than composing.
        if !self.nfc || text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
            self.push_chars(text.chars(), out);
        } else {
            self.push_chars(text.nfc(), out);
        }
    }

    fn push_chars(&self, chars: impl Iterator<Item = char>, out: &mut String) {
        let mut pending_space = false;
        for c in chars {
            if self.fold_whitespace && c.is_whitespace() {
                pending_space = !out.is_empty();
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            if self.lowercase {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(settings: &Normalization, text: &str) -> String {
        let mut out = String::new();
        settings.apply(text, &mut out);
        out
    }

    #[test]
    fn folds_whitespace_and_composes() {
        let default = Normalization::default();
        assert_eq!(norm(&default, "  a \n\t b  c\n"), "a b c");
        assert_eq!(norm(&default, "Caf\u{0065}\u{0301}"), "Caf\u{00e9}");
        assert_eq!(norm(&default, "Ab"), "Ab");
        let lower = Normalization {
            lowercase: true,
            ..Default::default()
        };
        assert_eq!(norm(&lower, "Ab  CD"), "ab cd");
        let raw = Normalization {
            nfc: false,
            fold_whitespace: false,
            lowercase: false,
        };
        assert_eq!(norm(&raw, " a\n"), " a\n");
    }
}
