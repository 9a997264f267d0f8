//! Header values: the closed set of FITS value types, parsed from and formatted to card text.

use std::fmt;

/// A header card's value.
///
/// Integers too large for `i64` are kept as their text ([`Value::BigInteger`]);
/// text that is no valid FITS value is kept verbatim ([`Value::Invalid`]) so a
/// header still round-trips and the defect can be reported when the value is used.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `T` or `F`.
    Logical(bool),
    /// An integer that fits in `i64`.
    Integer(i64),
    /// An integer beyond the range of `i64`, kept as written (sign and digits).
    BigInteger(String),
    /// A floating-point value (`E` or `D` exponents).
    Float(f64),
    /// A complex value `(re, im)`.
    Complex(f64, f64),
    /// A character string, quotes removed and doubled quotes undone; trailing blanks dropped.
    String(String),
    /// The value field is blank: the keyword has an undefined value.
    Undefined,
    /// Text that is no valid FITS value, kept verbatim.
    Invalid(String),
}

impl Value {
    /// A short name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Logical(_) => "logical",
            Value::Integer(_) | Value::BigInteger(_) => "integer",
            Value::Float(_) => "float",
            Value::Complex(..) => "complex",
            Value::String(_) => "string",
            Value::Undefined => "undefined",
            Value::Invalid(_) => "invalid value",
        }
    }

    /// The value as `i64`, if it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as `f64`, if it is numeric (integer, big integer or float).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Integer(i) => Some(*i as f64),
            Value::BigInteger(text) => text.parse::<f64>().ok(),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as a string slice, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool, if it is logical.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Logical(b) => Some(*b),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// Writes the value as it would appear in a card (strings quoted).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Logical(b) => f.write_str(if *b { "T" } else { "F" }),
            Value::Integer(i) => write!(f, "{i}"),
            Value::BigInteger(t) | Value::Invalid(t) => f.write_str(t),
            Value::Float(x) => f.write_str(&format_float(*x).unwrap_or_else(|| x.to_string())),
            Value::Complex(re, im) => {
                let re = format_float(*re).unwrap_or_else(|| re.to_string());
                let im = format_float(*im).unwrap_or_else(|| im.to_string());
                write!(f, "({re}, {im})")
            }
            Value::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Value::Undefined => Ok(()),
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Logical(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Integer(v.into())
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(v.into())
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        match i64::try_from(v) {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::BigInteger(v.to_string()),
        }
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        match i64::try_from(v) {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::BigInteger(v.to_string()),
        }
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(v.into())
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

/// Formats a float in the shortest text that reads back to the same value,
/// always with a decimal point and an upper-case `E` exponent. `None` for NaN
/// and infinities, which FITS headers cannot hold.
pub fn format_float(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let s = format!("{x:?}");
    Some(match s.split_once('e') {
        Some((mantissa, exponent)) => {
            let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
            format!("{mantissa}E{exponent}")
        }
        None if s.contains('.') => s,
        None => format!("{s}.0"),
    })
}

/// The result of parsing a card's value field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedField {
    pub(crate) value: Value,
    pub(crate) comment: Option<String>,
    /// A defect that did not stop parsing (unterminated string, text after a value).
    pub(crate) defect: Option<String>,
}

/// Parses the value field of a card: everything after the value indicator.
pub(crate) fn parse_value_field(field: &str) -> ParsedField {
    let trimmed = field.trim_start();
    if let Some(rest) = trimmed.strip_prefix('\'') {
        return parse_string_field(rest);
    }
    let (text, comment) = match trimmed.find('/') {
        Some(i) => (&trimmed[..i], Some(clean_comment(&trimmed[i + 1..]))),
        None => (trimmed, None),
    };
    let text = text.trim();
    let value = parse_scalar(text);
    let defect = match &value {
        Value::Invalid(t) => Some(format!("cannot parse value {t:?}")),
        _ => None,
    };
    ParsedField { value, comment, defect }
}

fn clean_comment(text: &str) -> String {
    let text = text.trim_end();
    text.strip_prefix(' ').unwrap_or(text).to_string()
}

fn parse_string_field(after_quote: &str) -> ParsedField {
    let mut out = String::new();
    let mut chars = after_quote.char_indices().peekable();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if let Some((_, '\'')) = chars.peek() {
                out.push('\'');
                chars.next();
            } else {
                end = Some(i + 1);
                break;
            }
        } else {
            out.push(c);
        }
    }
    let value = Value::String(out.trim_end().to_string());
    let Some(end) = end else {
        return ParsedField { value, comment: None, defect: Some("string value has no closing quote".into()) };
    };
    let rest = after_quote[end..].trim_start();
    if rest.is_empty() {
        ParsedField { value, comment: None, defect: None }
    } else if let Some(comment) = rest.strip_prefix('/') {
        ParsedField { value, comment: Some(clean_comment(comment)), defect: None }
    } else {
        ParsedField { value, comment: None, defect: Some(format!("text {:?} after the string value", rest.trim_end())) }
    }
}

/// Parses a non-string value (already trimmed).
pub(crate) fn parse_scalar(text: &str) -> Value {
    if text.is_empty() {
        return Value::Undefined;
    }
    match text {
        "T" => return Value::Logical(true),
        "F" => return Value::Logical(false),
        _ => {}
    }
    if let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        if let Some((re, im)) = inner.split_once(',') {
            if let (Some(re), Some(im)) = (parse_number(re.trim()), parse_number(im.trim())) {
                return Value::Complex(re, im);
            }
        }
        return Value::Invalid(text.to_string());
    }
    if is_integer(text) {
        return match text.parse::<i64>() {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::BigInteger(text.to_string()),
        };
    }
    match parse_float(text) {
        Some(f) => Value::Float(f),
        None => Value::Invalid(text.to_string()),
    }
}

fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn parse_number(text: &str) -> Option<f64> {
    if is_integer(text) { text.parse::<f64>().ok() } else { parse_float(text) }
}

/// Parses a FITS floating-point literal: digits, one decimal point, optional
/// `E`/`D` exponent. Rejects the words Rust accepts (`inf`, `NaN`).
pub(crate) fn parse_float(text: &str) -> Option<f64> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['E', 'e', 'D', 'd']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mut digits = 0;
    let mut points = 0;
    for b in mantissa.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => points += 1,
            _ => return None,
        }
    }
    if digits == 0 || points > 1 {
        return None;
    }
    if let Some(exp) = exponent {
        if !is_integer(exp) {
            return None;
        }
    }
    let normalized: String = text.chars().map(|c| if matches!(c, 'D' | 'd') { 'E' } else { c }).collect();
    normalized.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(parse_scalar("T"), Value::Logical(true));
        assert_eq!(parse_scalar("F"), Value::Logical(false));
        assert_eq!(parse_scalar("-42"), Value::Integer(-42));
        assert_eq!(parse_scalar("+7"), Value::Integer(7));
        assert_eq!(parse_scalar("9223372036854775808"), Value::BigInteger("9223372036854775808".into()));
        assert_eq!(parse_scalar("1.5E3"), Value::Float(1500.0));
        assert_eq!(parse_scalar("1.5D-3"), Value::Float(0.0015));
        assert_eq!(parse_scalar("-.5"), Value::Float(-0.5));
        assert_eq!(parse_scalar("5."), Value::Float(5.0));
        assert_eq!(parse_scalar("(1.5, -2)"), Value::Complex(1.5, -2.0));
        assert_eq!(parse_scalar(""), Value::Undefined);
        assert_eq!(parse_scalar("inf"), Value::Invalid("inf".into()));
        assert_eq!(parse_scalar("NaN"), Value::Invalid("NaN".into()));
        assert_eq!(parse_scalar("1.2.3"), Value::Invalid("1.2.3".into()));
        assert_eq!(parse_scalar("E5"), Value::Invalid("E5".into()));
    }

    #[test]
    fn strings() {
        let p = parse_value_field(" 'O''Hara '   / the name ");
        assert_eq!(p.value, Value::String("O'Hara".into()));
        assert_eq!(p.comment.as_deref(), Some("the name"));
        assert!(p.defect.is_none());
        let p = parse_value_field(" '  lead'");
        assert_eq!(p.value, Value::String("  lead".into()));
        let p = parse_value_field(" 'open");
        assert!(p.defect.is_some());
        let p = parse_value_field(" ''");
        assert_eq!(p.value, Value::String(String::new()));
        let p = parse_value_field(" 'a' junk");
        assert!(p.defect.unwrap().contains("junk"));
    }

    #[test]
    fn undefined_with_comment() {
        let p = parse_value_field("                     / nothing here");
        assert_eq!(p.value, Value::Undefined);
        assert_eq!(p.comment.as_deref(), Some("nothing here"));
    }

    #[test]
    fn float_formatting_round_trips() {
        for x in [0.0, 1.0, -2.5, 1e-7, 6.02214076e23, 0.1, 123456.789, f64::MAX, f64::MIN_POSITIVE] {
            let s = format_float(x).unwrap();
            assert!(s.contains('.'), "{s}");
            assert!(!s.contains('e'), "{s}");
            assert_eq!(parse_float(&s), Some(x), "{s}");
        }
        assert_eq!(format_float(1e-7).unwrap(), "1.0E-7");
        assert!(format_float(f64::NAN).is_none());
        assert!(format_float(f64::INFINITY).is_none());
    }
}
