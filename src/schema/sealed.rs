//! Secrets kept out of strata's records. A sensitive attribute ([`super::Attribute::sensitive`],
//! an SSM SecureString's value, a secret's string) is sent to AWS and nowhere else: what
//! state, the write-ahead record of a create and plans hold in its place is its seal,
//! `{ "salt": HEX, "sha256": HEX }`, a salted SHA-256 of the value. A seal tells whether the
//! stack's value is the one that was written ([`opens`]); it never shows the value, and the
//! random salt keeps two equal secrets (or a guessed one) from matching across states.

use indexmap::IndexMap;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::Schema;
use crate::value::{Attrs, Value};

const SALT: &str = "salt";
const HASH: &str = "sha256";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(salt: &str, clear: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([0]);
    hasher.update(clear.as_bytes());
    hex(&hasher.finalize())
}

/// The seal of `clear`, with a fresh random salt.
pub fn seal(clear: &str) -> Value {
    let salt = hex(&rand::rng().random::<[u8; 16]>());
    let hash = digest(&salt, clear);
    Value::Map(IndexMap::from([
        (SALT.to_string(), Value::Str(salt)),
        (HASH.to_string(), Value::Str(hash)),
    ]))
}

/// Whether `value` is a seal (and not a value a stack could have written).
pub fn is_sealed(value: &Value) -> bool {
    value.as_map().is_some_and(|m| {
        m.len() == 2
            && m.get(SALT).and_then(Value::as_str).is_some()
            && m.get(HASH).and_then(Value::as_str).is_some()
    })
}

/// Whether `sealed` is the seal of `clear`.
pub fn opens(sealed: &Value, clear: &str) -> bool {
    let Some(map) = sealed.as_map() else {
        return false;
    };
    match (
        map.get(SALT).and_then(Value::as_str),
        map.get(HASH).and_then(Value::as_str),
    ) {
        (Some(salt), Some(hash)) => digest(salt, clear) == hash,
        _ => false,
    }
}

/// `attrs` with each sensitive attribute's clear value sealed: what may be written down.
pub fn seal_attributes(schema: &Schema, attrs: &Attrs) -> Attrs {
    attrs
        .iter()
        .map(|(name, value)| {
            let sensitive = schema.attribute(name).is_some_and(|a| a.sensitive);
            let value = match value {
                Value::Str(clear) if sensitive => seal(clear),
                other => other.clone(),
            };
            (name.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_opens_only_with_its_value_and_never_contains_it() {
        let sealed = seal("hunter2-correct-horse");
        assert!(is_sealed(&sealed));
        assert!(opens(&sealed, "hunter2-correct-horse"));
        assert!(!opens(&sealed, "hunter2-correct-hors"));
        assert!(!opens(&Value::Str("x".into()), "x"));
        assert!(!sealed.to_json().to_string().contains("hunter2"));
        // A fresh salt each time: two seals of one value differ.
        assert_ne!(seal("same"), seal("same"));
        assert!(!is_sealed(&Value::Str("sha256".into())));
    }
}
