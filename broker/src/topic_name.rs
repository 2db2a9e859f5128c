//! Topic names: parsed once, normalised to `persistent://tenant/ns/local`.

use std::fmt;

use crate::error::BrokerError;

const PARTITION_SUFFIX: &str = "-partition-";
/// Directory prefix of non-persistent topics ('~' cannot occur in a topic name).
const NON_PERSISTENT_DIR_PREFIX: &str = "~np~";

/// A fully qualified topic name (possibly one partition of a partitioned topic).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName {
    /// `persistent` or `non-persistent` (the latter is stored like persistent).
    pub domain: String,
    /// Tenant, e.g. `public`.
    pub tenant: String,
    /// Namespace inside the tenant, e.g. `default`.
    pub namespace: String,
    /// Local name, including any `-partition-N` suffix.
    pub local: String,
}

impl TopicName {
    /// Parses `t`, `tenant/ns/t` or `persistent://tenant/ns/t`.
    pub fn parse(raw: &str) -> Result<Self, BrokerError> {
        let invalid = || BrokerError::InvalidTopic(raw.to_string());
        let (domain, rest) = match raw.split_once("://") {
            Some((d @ ("persistent" | "non-persistent"), rest)) => (d, rest),
            Some(_) => return Err(invalid()),
            None => ("persistent", raw),
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (tenant, namespace, local) = match parts.as_slice() {
            [local] => ("public", "default", *local),
            [tenant, ns, local] => (*tenant, *ns, *local),
            _ => return Err(invalid()),
        };
        let ok = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.=:%".contains(c))
        };
        if !ok(tenant) || !ok(namespace) || !ok(local) {
            return Err(invalid());
        }
        Ok(TopicName {
            domain: domain.to_string(),
            tenant: tenant.to_string(),
            namespace: namespace.to_string(),
            local: local.to_string(),
        })
    }

    /// `tenant/namespace`.
    pub fn namespace_path(&self) -> String {
        format!("{}/{}", self.tenant, self.namespace)
    }

    /// The name of partition `i` of this topic.
    pub fn partition(&self, i: u32) -> TopicName {
        TopicName {
            local: format!("{}{PARTITION_SUFFIX}{i}", self.local),
            ..self.clone()
        }
    }

    /// If this names a partition, the partitioned topic and the index.
    pub fn partition_of(&self) -> Option<(TopicName, u32)> {
        let (base, idx) = self.local.rsplit_once(PARTITION_SUFFIX)?;
        let idx = idx.parse().ok()?;
        Some((
            TopicName {
                local: base.to_string(),
                ..self.clone()
            },
            idx,
        ))
    }

    /// The partition index as sent in message ids (-1 when not a partition).
    pub fn partition_index(&self) -> i32 {
        self.partition_of()
            .and_then(|(_, i)| i32::try_from(i).ok())
            .unwrap_or(-1)
    }

    /// Relative directory for this topic's files (one level per name part).
    /// Non-persistent topics are stored too (simpler than a second engine) but
    /// must never share files with the persistent topic of the same name.
    pub fn storage_path(&self) -> std::path::PathBuf {
        let local = if self.domain == "non-persistent" {
            format!("{NON_PERSISTENT_DIR_PREFIX}{}", self.local)
        } else {
            self.local.clone()
        };
        [&self.tenant, &self.namespace, &local].iter().collect()
    }

    /// Inverse of [`TopicName::storage_path`] for the three directory names.
    pub fn from_storage(tenant: &str, namespace: &str, dir: &str) -> Result<Self, BrokerError> {
        match dir.strip_prefix(NON_PERSISTENT_DIR_PREFIX) {
            Some(local) => {
                TopicName::parse(&format!("non-persistent://{tenant}/{namespace}/{local}"))
            }
            None => TopicName::parse(&format!("persistent://{tenant}/{namespace}/{dir}")),
        }
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}/{}/{}",
            self.domain, self.tenant, self.namespace, self.local
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_normalised() {
        let t = TopicName::parse("orders").unwrap();
        assert_eq!(t.to_string(), "persistent://public/default/orders");
        let t = TopicName::parse("acme/ns1/orders").unwrap();
        assert_eq!(t.to_string(), "persistent://acme/ns1/orders");
    }

    #[test]
    fn partitions_round_trip() {
        let t = TopicName::parse("persistent://a/b/t").unwrap();
        let p = t.partition(3);
        assert_eq!(p.to_string(), "persistent://a/b/t-partition-3");
        assert_eq!(p.partition_of(), Some((t, 3)));
        assert_eq!(p.partition_index(), 3);
    }

    #[test]
    fn persistent_and_non_persistent_never_share_storage() {
        let p = TopicName::parse("persistent://a/b/t").unwrap();
        let n = TopicName::parse("non-persistent://a/b/t").unwrap();
        assert_ne!(p.storage_path(), n.storage_path());
        let dir = n.storage_path();
        let parts: Vec<String> = dir
            .iter()
            .map(|s| s.to_string_lossy().to_string())
            .collect();
        assert_eq!(
            TopicName::from_storage(&parts[0], &parts[1], &parts[2]).unwrap(),
            n
        );
        assert_eq!(TopicName::from_storage("a", "b", "t").unwrap(), p);
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "a/b", "x://a/b/c", "a/b/c/d", "a/b/c d", "../../etc"] {
            assert!(TopicName::parse(bad).is_err(), "{bad}");
        }
    }
}
