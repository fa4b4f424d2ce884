//! Counting whitespace-separated words fast.

/// ASCII bytes that Unicode calls white space: tab, line feed, vertical tab, form feed, carriage
/// return and space.
const ASCII_SPACE: [bool; 128] = {
    let mut table = [false; 128];
    let mut i = 0;
    while i < 128 {
        table[i] = matches!(i as u8, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ');
        i += 1;
    }
    table
};

/// The number of words in `text`, exactly as `text.split_whitespace().count()` counts them, at
/// several times its speed: a table look-up per ASCII byte, and a character decode only after the
/// four UTF-8 lead bytes (0xC2, 0xE1, 0xE2, 0xE3) that can start a non-ASCII space.
pub fn count_words(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut words = 0u64;
    let mut in_word = false;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        let (space, width) = if byte < 0x80 {
            (ASCII_SPACE[byte as usize], 1)
        } else if matches!(byte, 0xC2 | 0xE1 | 0xE2 | 0xE3) {
            // `i` is a char boundary: we only ever step by whole characters.
            let c = text[i..].chars().next().unwrap_or('x');
            (c.is_whitespace(), c.len_utf8())
        } else {
            (false, utf8_width(byte))
        };
        words += u64::from(!space && !in_word);
        in_word = !space;
        i += width;
    }
    words
}

fn utf8_width(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_split_whitespace() {
        let samples = [
            "",
            " ",
            "one",
            "  two  words ",
            "tab\tnew\nline\r\nvt\x0bff\x0c",
            "nbsp\u{a0}between\u{2003}em\u{3000}ideographic\u{85}nel",
            "héllo wörld 日本語 テキスト 😀 emoji",
            "\u{2028}\u{2029}\u{202f}\u{205f}\u{1680}x",
            "\x1c\x1d\x1e\x1f are not spaces",
        ];
        for s in samples {
            assert_eq!(count_words(s), s.split_whitespace().count() as u64, "{s:?}");
        }
        // Every character up to U+3100, alone and between letters.
        for code in 0..0x3100u32 {
            if let Some(c) = char::from_u32(code) {
                let s = format!("a{c}b {c}");
                assert_eq!(
                    count_words(&s),
                    s.split_whitespace().count() as u64,
                    "U+{code:04X}"
                );
            }
        }
    }
}
