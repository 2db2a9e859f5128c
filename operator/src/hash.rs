//! Stable short hashes: of a desired object (to skip writes that would change nothing) and of
//! the ConfigMaps/Secrets a workload references (to roll its pods when they change).

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// First 16 hex digits of SHA-256 over the canonical JSON (`serde_json` keeps key order as
/// built, and the builders are deterministic).
pub fn of_value(v: &Value) -> String {
    let bytes = serde_json::to_vec(v).expect("a JSON value serializes");
    short(&bytes)
}

/// Hash of named data sets (`"Secret/name"` → key → bytes); a missing object is hashed as
/// absent, so its later creation rolls the pods too.
pub fn of_data(sources: &BTreeMap<String, Option<BTreeMap<String, Vec<u8>>>>) -> String {
    let mut h = Sha256::new();
    for (name, data) in sources {
        h.update(name.as_bytes());
        h.update([0]);
        match data {
            None => h.update(b"<absent>"),
            Some(data) => {
                for (k, v) in data {
                    h.update(k.as_bytes());
                    h.update([0]);
                    h.update((v.len() as u64).to_be_bytes());
                    h.update(v);
                }
            }
        }
        h.update([1]);
    }
    hex::encode(&h.finalize()[..8])
}

fn short(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_hash_changes_with_content_and_presence() {
        let mut m = BTreeMap::new();
        m.insert("Secret/a".to_string(), None);
        let absent = of_data(&m);
        m.insert(
            "Secret/a".to_string(),
            Some(BTreeMap::from([("k".to_string(), b"v1".to_vec())])),
        );
        let v1 = of_data(&m);
        m.insert(
            "Secret/a".to_string(),
            Some(BTreeMap::from([("k".to_string(), b"v2".to_vec())])),
        );
        let v2 = of_data(&m);
        assert_ne!(absent, v1);
        assert_ne!(v1, v2);
        assert_eq!(v2.len(), 16);
    }
}
