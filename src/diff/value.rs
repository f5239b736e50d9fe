//! One Arrow cell as a typed JSON value, for samples.
//!
//! Integers and finite floats are JSON numbers, booleans JSON booleans,
//! strings JSON strings. Decimals stay exact as strings (`"12.50"`), NaN and
//! infinities are the strings `"NaN"`, `"inf"`, `"-inf"`, binaries are hex
//! strings (`"0x0a1f"`), dates and times ISO 8601 strings, and nested values
//! their Arrow display text.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::Value;

pub fn cell_to_json(array: &dyn Array, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => float_to_json(array.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8View => Value::String(array.as_string_view().value(i).to_string()),
        DataType::BinaryView => {
            let bytes = array.as_binary_view().value(i);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            Value::String(format!("0x{hex}"))
        }
        _ => {
            let options = FormatOptions::default().with_display_error(true);
            match ArrayFormatter::try_new(array, &options) {
                Ok(formatter) => Value::String(formatter.value(i).to_string()),
                Err(e) => Value::String(format!("<{e}>")),
            }
        }
    }
}

pub fn float_to_json(value: f64) -> Value {
    if value.is_nan() {
        Value::String("NaN".into())
    } else if value.is_infinite() {
        Value::String(if value > 0.0 { "inf" } else { "-inf" }.into())
    } else {
        // -0.0 prints as 0: they compare equal.
        serde_json::Number::from_f64(if value == 0.0 { 0.0 } else { value })
            .map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BinaryViewArray, Decimal128Array, Float64Array};

    #[test]
    fn cells_keep_their_types() {
        let decimals = Decimal128Array::from(vec![1250])
            .with_precision_and_scale(38, 2)
            .unwrap();
        assert_eq!(cell_to_json(&decimals, 0), Value::String("12.50".into()));
        let floats = Float64Array::from(vec![f64::NAN, f64::NEG_INFINITY, 1.5]);
        assert_eq!(cell_to_json(&floats, 0), Value::String("NaN".into()));
        assert_eq!(cell_to_json(&floats, 1), Value::String("-inf".into()));
        assert_eq!(cell_to_json(&floats, 2), serde_json::json!(1.5));
        let bytes = BinaryViewArray::from(vec![&b"\x0a\x1f"[..]]);
        assert_eq!(cell_to_json(&bytes, 0), Value::String("0x0a1f".into()));
    }
}
