//! Fixed, deterministic text for numbers and values in human reports.

use serde_json::Value;

/// A rate as a percentage with two decimals, rounded down so that anything
/// short of a perfect match never shows as 100.00%.
pub fn percent(rate: f64) -> String {
    format!("{:.2}%", (rate * 10_000.0).floor() / 100.0)
}

/// A signed change as a percentage with two decimals (`+1.25%`).
pub fn signed_percent(change: f64) -> String {
    format!("{:+.2}%", change * 100.0)
}

/// A number in at most about 7 significant digits, plain when readable and
/// in scientific notation when very large or very small.
pub fn number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 {
        "0".to_string()
    } else if (1e-4..1e12).contains(&magnitude) {
        let text = format!("{value:.6}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{value:.3e}")
    }
}

/// Thousands separated with `,` for counts.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A sample value as terminal text: NULL spelled out, strings unquoted with
/// control characters escaped, long text cut.
pub fn cell(value: &Value) -> String {
    const LIMIT: usize = 60;
    let text = match value {
        Value::Null => "NULL".to_string(),
        Value::String(s) => s.escape_debug().to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > LIMIT {
        let cut: String = text.chars().take(LIMIT - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_fixed_and_readable() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(0.01), "0.01");
        assert_eq!(number(1234.5), "1234.5");
        assert_eq!(number(1e-9), "1.000e-9");
        assert_eq!(percent(0.99999), "99.99%");
        assert_eq!(percent(1.0), "100.00%");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
    }

    #[test]
    fn cells_escape_control_characters() {
        assert_eq!(cell(&Value::String("a\nb".into())), "a\\nb");
        assert_eq!(cell(&Value::Null), "NULL");
    }
}
