//! Pulsar topic names and topic patterns, parsed once and normalised.
//!
//! Rules follow Pulsar's `TopicName`: `t` means `persistent://public/default/t`,
//! `tenant/ns/t` means `persistent://tenant/ns/t`, the legacy form with a cluster
//! (`persistent://tenant/cluster/ns/t`) is accepted, and `t-partition-N` names partition N of `t`.

use std::fmt;
use std::str::FromStr;

use regex::Regex;

/// `persistent` or `non-persistent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    Persistent,
    NonPersistent,
}

impl Domain {
    fn as_str(self) -> &'static str {
        match self {
            Domain::Persistent => "persistent",
            Domain::NonPersistent => "non-persistent",
        }
    }
}

/// A fully qualified Pulsar topic name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName {
    pub domain: Domain,
    pub tenant: String,
    /// `tenant/ns` in the V2 form; `tenant/cluster/ns` in the legacy form.
    pub namespace: String,
    /// The local name, with any `-partition-N` suffix.
    pub local: String,
}

/// Why a string is not a valid topic name, with the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct TopicError {
    pub reason: String,
    pub hint: &'static str,
}

const FORM_HINT: &str =
    "write `name`, `tenant/namespace/name` or `persistent://tenant/namespace/name`";

fn topic_error(reason: impl Into<String>, hint: &'static str) -> TopicError {
    TopicError {
        reason: reason.into(),
        hint,
    }
}

/// Tenant, cluster and namespace names: Pulsar's `NamedEntity` rule.
fn is_named_entity(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=' | ':' | '.'))
}

impl FromStr for TopicName {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() != s || s.is_empty() {
            return Err(topic_error(
                "topic name is empty or has surrounding spaces",
                FORM_HINT,
            ));
        }
        let (domain, rest) = match s.split_once("://") {
            Some(("persistent", rest)) => (Domain::Persistent, rest),
            Some(("non-persistent", rest)) => (Domain::NonPersistent, rest),
            Some((other, _)) => {
                return Err(topic_error(
                    format!("unknown topic domain `{other}`"),
                    "the domain is `persistent://` or `non-persistent://`",
                ));
            }
            None => {
                // Short forms: `name` or `tenant/ns/name`; nothing else.
                let parts: Vec<&str> = s.split('/').collect();
                match parts.as_slice() {
                    [_] => {
                        return Self::from_parts(Domain::Persistent, "public", "public/default", s);
                    }
                    [t, ns, name] => {
                        return Self::from_parts(Domain::Persistent, t, &format!("{t}/{ns}"), name);
                    }
                    _ => {
                        return Err(topic_error(
                            format!("`{s}` is not a valid short topic name"),
                            FORM_HINT,
                        ));
                    }
                }
            }
        };
        let parts: Vec<&str> = rest.splitn(4, '/').collect();
        match parts.as_slice() {
            [t, ns, name] => Self::from_parts(domain, t, &format!("{t}/{ns}"), name),
            [t, cluster, ns, name] => {
                if !is_named_entity(cluster) {
                    return Err(topic_error(
                        format!("invalid cluster name `{cluster}`"),
                        FORM_HINT,
                    ));
                }
                Self::from_parts(domain, t, &format!("{t}/{cluster}/{ns}"), name)
            }
            _ => Err(topic_error(
                format!("`{s}` has no tenant/namespace/name after the domain"),
                FORM_HINT,
            )),
        }
    }
}

impl TopicName {
    fn from_parts(
        domain: Domain,
        tenant: &str,
        namespace: &str,
        local: &str,
    ) -> Result<Self, TopicError> {
        if !is_named_entity(tenant) {
            return Err(topic_error(
                format!("invalid tenant `{tenant}`"),
                "tenant names use letters, digits and - _ = : .",
            ));
        }
        let ns_name = namespace.rsplit('/').next().unwrap_or_default();
        if !is_named_entity(ns_name) {
            return Err(topic_error(
                format!("invalid namespace `{ns_name}`"),
                "namespace names use letters, digits and - _ = : .",
            ));
        }
        if local.is_empty() {
            return Err(topic_error("the topic's local name is empty", FORM_HINT));
        }
        Ok(TopicName {
            domain,
            tenant: tenant.to_string(),
            namespace: namespace.to_string(),
            local: local.to_string(),
        })
    }

    /// The partition index when this names one partition (`t-partition-3` → 3).
    pub fn partition(&self) -> Option<u32> {
        let (_, idx) = self.local.rsplit_once("-partition-")?;
        idx.parse().ok()
    }

    /// The partitioned topic this partition belongs to, or the topic itself.
    pub fn base(&self) -> TopicName {
        match (self.partition(), self.local.rsplit_once("-partition-")) {
            (Some(_), Some((base, _))) => TopicName {
                local: base.to_string(),
                ..self.clone()
            },
            _ => self.clone(),
        }
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}/{}",
            self.domain.as_str(),
            self.namespace,
            self.local
        )
    }
}

/// A topic pattern (`input.topicPattern`), anchored and matched against full topic names.
#[derive(Clone, Debug)]
pub struct TopicPattern {
    /// The pattern as fully qualified text (short forms expanded like topic names).
    pub full: String,
    pub namespace: String,
    regex: Regex,
}

impl TopicPattern {
    /// Parses a pattern: the namespace part must be literal, the local part a valid regex.
    pub fn parse(s: &str) -> Result<Self, TopicError> {
        let name: TopicName = s.parse()?;
        if name.namespace.chars().any(|c| "*+?[](){}|^$\\".contains(c)) {
            return Err(topic_error(
                "a topic pattern must name one namespace literally",
                "put the regular expression in the topic's local name only",
            ));
        }
        let full = name.to_string();
        let regex = Regex::new(&anchored_regex(&name)).map_err(|e| {
            topic_error(
                format!("invalid regular expression: {e}"),
                "check the pattern's syntax",
            )
        })?;
        Ok(TopicPattern {
            full,
            namespace: name.namespace,
            regex,
        })
    }

    /// Whether the pattern matches a topic (a partition matches through its base name).
    pub fn matches(&self, topic: &TopicName) -> bool {
        self.regex.is_match(&topic.to_string()) || self.regex.is_match(&topic.base().to_string())
    }
}

/// `^(?:<escaped domain://namespace/><local regex>)$`.
fn anchored_regex(name: &TopicName) -> String {
    let full = name.to_string();
    let prefix = &full[..full.len() - name.local.len()];
    format!("^(?:{}{})$", regex::escape(prefix), name.local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        s.parse::<TopicName>().unwrap().to_string()
    }

    #[test]
    fn short_names_are_normalised() {
        assert_eq!(full("t"), "persistent://public/default/t");
        assert_eq!(full("acme/ns/t"), "persistent://acme/ns/t");
        assert_eq!(full("non-persistent://a/b/c"), "non-persistent://a/b/c");
        assert_eq!(full("persistent://a/cl/ns/t"), "persistent://a/cl/ns/t");
    }

    #[test]
    fn invalid_names_are_rejected_with_a_reason() {
        for bad in [
            "",
            " t",
            "a/b",
            "a/b/c/d",
            "http://a/b/c",
            "persistent://a/b",
            "persistent://a b/ns/t",
            "persistent://a/ns/",
        ] {
            assert!(
                bad.parse::<TopicName>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn partitions_know_their_base() {
        let p: TopicName = "t-partition-3".parse().unwrap();
        assert_eq!(p.partition(), Some(3));
        assert_eq!(p.base().to_string(), "persistent://public/default/t");
        let not: TopicName = "t-partition-x".parse().unwrap();
        assert_eq!(not.partition(), None);
    }

    #[test]
    fn patterns_match_full_names_in_their_namespace() {
        let p = TopicPattern::parse("persistent://public/default/orders-.*").unwrap();
        assert!(p.matches(&"orders-eu".parse().unwrap()));
        assert!(p.matches(&"orders-eu-partition-1".parse().unwrap()));
        assert!(!p.matches(&"other/ns/orders-eu".parse().unwrap()));
        assert!(!p.matches(&"refunds".parse().unwrap()));
        let short = TopicPattern::parse("orders-.*").unwrap();
        assert!(short.matches(&"orders-us".parse().unwrap()));
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert!(TopicPattern::parse("persistent://public/default/orders-(").is_err());
        assert!(TopicPattern::parse("persistent://public/.*/orders").is_err());
    }
}
