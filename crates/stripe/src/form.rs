//! Stripe's form encoding: nested parameters as brackets (`metadata[hold_id]=…`,
//! `line_items[0][price_data][currency]=eur`), both ways — the client encodes, the sandbox decodes.

use serde_json::{Map, Value};

/// Parameters in the order they were added, encoded as Stripe expects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub fn new() -> Form {
        Form::default()
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl ToString) -> &mut Form {
        self.pairs.push((key.into(), value.to_string()));
        self
    }

    pub fn with(mut self, key: impl Into<String>, value: impl ToString) -> Form {
        self.push(key, value);
        self
    }

    /// Adds a JSON value under `prefix`, objects and arrays as brackets (`prefix[a][0]`).
    pub fn push_value(&mut self, prefix: &str, value: &Value) -> &mut Form {
        match value {
            Value::Null => {}
            Value::Object(map) => {
                for (k, v) in map {
                    self.push_value(&format!("{prefix}[{k}]"), v);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.push_value(&format!("{prefix}[{i}]"), v);
                }
            }
            Value::String(s) => {
                self.push(prefix, s);
            }
            other => {
                self.push(prefix, other);
            }
        }
        self
    }

    /// Builds a form from a JSON object, each top-level key a parameter.
    pub fn from_json(value: &Value) -> Form {
        let mut form = Form::new();
        if let Value::Object(map) = value {
            for (k, v) in map {
                form.push_value(k, v);
            }
        }
        form
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `application/x-www-form-urlencoded` text, brackets left unescaped as Stripe's SDKs send them.
    pub fn encode(&self) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| format!("{}={}", escape(k, true), escape(v, false)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// RFC 3986's unreserved bytes: what a percent-encoding never needs to escape.
pub fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// caisse's one percent codec, encoding half: every byte for which `keep` is false becomes `%XX`.
pub fn percent_encode(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// caisse's one percent codec, decoding half: `%XX` escapes (and `+` as a space when
/// `plus_is_space`, as in forms); a broken escape or bytes that are not UTF-8 are an error.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, FormError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(FormError::BadEscape)?;
                let hex = std::str::from_utf8(hex).map_err(|_| FormError::BadEscape)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| FormError::BadEscape)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::BadEscape)
}

/// A form key or value, brackets left unescaped in keys as Stripe's SDKs send them.
fn escape(s: &str, keep_brackets: bool) -> String {
    percent_encode(s, |b| {
        unreserved(b) || (keep_brackets && matches!(b, b'[' | b']'))
    })
    .replace("%20", "+")
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("invalid percent-encoding")]
    BadEscape,
    #[error("invalid parameter name `{0}`")]
    BadKey(String),
    #[error("parameter `{0}` is given both as a value and as a hash")]
    Conflict(String),
    #[error("too many parameters")]
    TooLarge,
}

/// Decodes a form body into nested JSON: every leaf a string, brackets as objects, objects whose
/// keys are exactly `0..n` as arrays. `a[]=x&a[]=y` appends.
pub fn decode(body: &str) -> Result<Value, FormError> {
    const MAX_PAIRS: usize = 2_000;
    const MAX_DEPTH: usize = 8;
    let mut root = Map::new();
    for (n, pair) in body.split('&').filter(|p| !p.is_empty()).enumerate() {
        if n >= MAX_PAIRS {
            return Err(FormError::TooLarge);
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(k, true)?;
        let value = percent_decode(v, true)?;
        let path = split_key(&key)?;
        if path.len() > MAX_DEPTH {
            return Err(FormError::BadKey(key));
        }
        insert(&mut root, &path, value, &key)?;
    }
    Ok(arrays(Value::Object(root)))
}

fn split_key(key: &str) -> Result<Vec<String>, FormError> {
    let bad = || FormError::BadKey(key.to_string());
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(bad());
    }
    let mut path = vec![head.to_string()];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        let end = inner.find(']').ok_or_else(bad)?;
        path.push(inner[..end].to_string());
        rest = &inner[end + 1..];
    }
    Ok(path)
}

fn insert(
    map: &mut Map<String, Value>,
    path: &[String],
    value: String,
    key: &str,
) -> Result<(), FormError> {
    let conflict = || FormError::Conflict(key.to_string());
    let segment = if path[0].is_empty() {
        map.len().to_string()
    } else {
        path[0].clone()
    };
    if path.len() == 1 {
        if map.get(&segment).is_some_and(Value::is_object) {
            return Err(conflict());
        }
        map.insert(segment, Value::String(value));
        return Ok(());
    }
    let child = map
        .entry(segment)
        .or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(inner) => insert(inner, &path[1..], value, key),
        _ => Err(conflict()),
    }
}

fn arrays(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let is_list =
                !map.is_empty() && (0..map.len()).all(|i| map.contains_key(&i.to_string()));
            if is_list {
                let mut map = map;
                Value::Array(
                    (0..map.len())
                        .map(|i| arrays(map.remove(&i.to_string()).unwrap_or(Value::Null)))
                        .collect(),
                )
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, arrays(v))).collect())
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_nested_parameters_as_stripe_does() {
        let form = Form::from_json(&json!({
            "mode": "payment",
            "line_items": [{"price_data": {"currency": "eur", "unit_amount": 2500, "product_data": {"name": "T shirt & co"}}, "quantity": 2}],
            "metadata": {"hold_id": "hold_1"},
            "payment_intent_data": {"metadata": {"hold_id": "hold_1"}},
        }));
        let text = form.encode();
        assert!(
            text.contains("line_items[0][price_data][currency]=eur"),
            "{text}"
        );
        assert!(
            text.contains("line_items[0][price_data][product_data][name]=T+shirt+%26+co"),
            "{text}"
        );
        assert!(
            text.contains("payment_intent_data[metadata][hold_id]=hold_1"),
            "{text}"
        );
    }

    #[test]
    fn decode_inverts_encode() {
        let original = json!({
            "mode": "payment",
            "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2", "quantity": "1"}],
            "metadata": {"hold_id": "hold_1", "note": "a=b&c"},
            "expand": ["payment_intent"],
        });
        assert_eq!(
            decode(&Form::from_json(&original).encode()).unwrap(),
            original
        );
        assert_eq!(
            decode("expand[]=a&expand[]=b").unwrap(),
            json!({"expand": ["a", "b"]})
        );
        assert_eq!(decode("a%5Bb%5D=1").unwrap(), json!({"a": {"b": "1"}}));
    }

    #[test]
    fn decode_refuses_nonsense() {
        assert_eq!(
            decode("a=1&a[b]=2"),
            Err(FormError::Conflict("a[b]".into()))
        );
        assert_eq!(decode("a[b]=1&a=2"), Err(FormError::Conflict("a".into())));
        assert!(matches!(decode("[x]=1"), Err(FormError::BadKey(_))));
        assert!(matches!(decode("a[x=1"), Err(FormError::BadKey(_))));
        assert_eq!(decode("a=%zz"), Err(FormError::BadEscape));
    }
}
