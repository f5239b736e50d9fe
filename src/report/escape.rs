//! Making text from the data (and from names people chose) inert in each
//! output language: HTML, XML and GitHub-flavoured markdown.

/// Longest value shown in a markdown or HTML cell, in characters.
pub const CELL_LIMIT: usize = 80;

/// Longest finding (a rule's message) shown in markdown, in characters.
pub const MESSAGE_LIMIT: usize = 400;

/// `text` cut to `limit` characters, with `…` when cut.
pub fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// Text for HTML element content and quoted attribute values.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_html(&mut out, c);
    }
    out
}

fn push_html(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        _ => out.push(c),
    }
}

/// Text for XML 1.0 content and attributes: escaped, white space kept as
/// character references (attribute values would fold it into spaces), and
/// the control characters XML cannot hold replaced by U+FFFD.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => push_html(&mut out, c),
        }
    }
    out
}

/// One line of text for a markdown table cell or heading: HTML and
/// markdown syntax escaped, table pipes and backticks as entities, line
/// breaks shown as `⏎`, and `@` kept from mentioning anyone (a zero-width
/// space after it), cut to `CELL_LIMIT`.
pub fn markdown(text: &str) -> String {
    markdown_within(text, CELL_LIMIT)
}

/// `markdown`, cut to `limit` characters instead.
pub fn markdown_within(text: &str, limit: usize) -> String {
    let text = shorten(text, limit);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("&#124;"),
            '`' => out.push_str("&#96;"),
            '\n' | '\r' => out.push('⏎'),
            '@' => out.push_str("@\u{200b}"),
            '\\' | '*' | '_' | '[' | ']' | '~' | '#' | '!' | '$' | ':' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push('\u{fffd}'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert() {
        let evil = "a|b`c<script>alert(1)</script></details>@org/team\nx";
        let md = markdown(evil);
        for bad in ["|", "`", "<script", "</details>", "@org", "\n"] {
            assert!(!md.contains(bad), "{bad} in {md}");
        }
        assert!(html("<b a=\"x\">").starts_with("&lt;b a=&quot;x&quot;&gt;"));
        assert_eq!(xml("a\u{1}b"), "a\u{fffd}b");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}
