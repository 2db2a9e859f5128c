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
        TopicParts::parse(s).map(|p| TopicName {
            domain: p.domain,
            tenant: p.tenant.to_string(),
            namespace: p.namespace.to_string(),
            local: p.local.to_string(),
        })
    }
}

/// A valid topic name's parts, borrowed from its text: what validation and the mesh graph need
/// to check and compare names without allocating (they read each mesh's topics several times).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicParts<'a> {
    pub domain: Domain,
    pub tenant: &'a str,
    /// `tenant/ns`, or `tenant/cluster/ns` in the legacy form: always a slice of the text,
    /// or `public/default` for a bare local name.
    pub namespace: &'a str,
    pub local: &'a str,
}

impl<'a> TopicParts<'a> {
    /// Parses and checks `s` by the rules of [`TopicName`].
    pub fn parse(s: &'a str) -> Result<Self, TopicError> {
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
                let mut slashes = s.match_indices('/').map(|(i, _)| i);
                return match (slashes.next(), slashes.next(), slashes.next()) {
                    (None, _, _) => {
                        Self::checked(Domain::Persistent, "public", "public/default", s)
                    }
                    (Some(first), Some(second), None) => Self::checked(
                        Domain::Persistent,
                        &s[..first],
                        &s[..second],
                        &s[second + 1..],
                    ),
                    _ => Err(topic_error(
                        format!("`{s}` is not a valid short topic name"),
                        FORM_HINT,
                    )),
                };
            }
        };
        // `tenant/ns/name`, or the legacy `tenant/cluster/ns/name` (whose name may hold '/').
        let mut slashes = rest.match_indices('/').map(|(i, _)| i);
        match (slashes.next(), slashes.next(), slashes.next()) {
            (Some(first), Some(second), None) => {
                Self::checked(domain, &rest[..first], &rest[..second], &rest[second + 1..])
            }
            (Some(first), Some(second), Some(third)) => {
                let cluster = &rest[first + 1..second];
                if !is_named_entity(cluster) {
                    return Err(topic_error(
                        format!("invalid cluster name `{cluster}`"),
                        FORM_HINT,
                    ));
                }
                Self::checked(domain, &rest[..first], &rest[..third], &rest[third + 1..])
            }
            _ => Err(topic_error(
                format!("`{s}` has no tenant/namespace/name after the domain"),
                FORM_HINT,
            )),
        }
    }

    fn checked(
        domain: Domain,
        tenant: &'a str,
        namespace: &'a str,
        local: &'a str,
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
        Ok(TopicParts {
            domain,
            tenant,
            namespace,
            local,
        })
    }
}

impl TopicName {
    /// The name's parts, borrowed.
    pub fn parts(&self) -> TopicParts<'_> {
        TopicParts {
            domain: self.domain,
            tenant: &self.tenant,
            namespace: &self.namespace,
            local: &self.local,
        }
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
        self.parts().fmt(f)
    }
}

impl fmt::Display for TopicParts<'_> {
    /// The fully qualified name: `persistent://tenant/ns/name`.
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
    pub domain: Domain,
    pub namespace: String,
    /// Literal text every matching local name starts with (may be empty).
    prefix: String,
    regex: Regex,
}

/// Compiled size of one pattern's regular expression: a topic pattern needs a few KiB; the
/// regex crate's default (10 MiB) would let each pattern of a mesh take milliseconds to compile.
const PATTERN_SIZE_LIMIT: usize = 256 * 1024;

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
        let regex = regex::RegexBuilder::new(&anchored_regex(&name))
            .size_limit(PATTERN_SIZE_LIMIT)
            .dfa_size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|e| {
                topic_error(
                    format!("invalid regular expression: {e}"),
                    "check the pattern's syntax, and keep it short",
                )
            })?;
        Ok(TopicPattern {
            full,
            domain: name.domain,
            prefix: literal_prefix(&name.local).to_string(),
            namespace: name.namespace,
            regex,
        })
    }

    /// Whether the pattern matches a topic (a partition matches through its base name).
    pub fn matches(&self, topic: &TopicName) -> bool {
        self.matches_full(&topic.to_string()) || self.matches_full(&topic.base().to_string())
    }

    /// Whether the pattern matches a fully qualified topic name, as [`TopicName`] prints it.
    pub fn matches_full(&self, full: &str) -> bool {
        self.regex.is_match(full)
    }

    /// Literal text every local name this pattern matches starts with: an index key.
    pub fn literal_prefix(&self) -> &str {
        &self.prefix
    }
}

/// Patterns matched together: one pass over a name finds every pattern that matches it.
pub struct PatternSet<'a> {
    set: Option<regex::RegexSet>,
    /// When the patterns together exceed the size limit: each on its own, after a check of
    /// its literal start.
    each: Vec<&'a TopicPattern>,
}

impl<'a> PatternSet<'a> {
    /// The set of `patterns`; indices of matches are positions in `patterns`.
    pub fn new(patterns: &[&'a TopicPattern]) -> Self {
        let set = regex::RegexSetBuilder::new(patterns.iter().map(|p| p.regex.as_str()))
            .size_limit(PATTERN_SIZE_LIMIT * 4)
            .dfa_size_limit(PATTERN_SIZE_LIMIT * 4)
            .build()
            .ok();
        PatternSet {
            set,
            each: patterns.to_vec(),
        }
    }

    /// Indices of the patterns matching a topic: its fully qualified name and local name.
    pub fn matches(&self, full: &str, local: &str) -> Vec<usize> {
        match &self.set {
            Some(set) => set.matches(full).into_iter().collect(),
            None => self
                .each
                .iter()
                .enumerate()
                .filter(|(_, p)| local.starts_with(p.literal_prefix()) && p.matches_full(full))
                .map(|(i, _)| i)
                .collect(),
        }
    }
}

/// The longest start of a regular expression that is plain text every match begins with:
/// letters, digits, `-` and `_` up to the first other character, less the last one if a
/// quantifier follows it. Empty where an alternation could make any part optional.
fn literal_prefix(regex: &str) -> &str {
    if regex.contains('|') {
        return "";
    }
    let end = regex
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(regex.len());
    let quantified = regex[end..].starts_with(['?', '*', '{', '+']);
    match (quantified, regex[..end].char_indices().last()) {
        (true, Some((last, _))) => &regex[..last],
        (true, None) => "",
        (false, _) => &regex[..end],
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
    fn parts_are_slices_of_the_name() {
        let parts = |s| {
            let p = TopicParts::parse(s).unwrap();
            (p.domain, p.tenant, p.namespace, p.local)
        };
        let persistent = Domain::Persistent;
        assert_eq!(parts("t"), (persistent, "public", "public/default", "t"));
        assert_eq!(parts("acme/ns/t"), (persistent, "acme", "acme/ns", "t"));
        assert_eq!(
            parts("non-persistent://a/b/c"),
            (Domain::NonPersistent, "a", "a/b", "c")
        );
        // The legacy form: a cluster between tenant and namespace; the rest is the local name.
        assert_eq!(
            parts("persistent://a/cl/ns/t/x"),
            (persistent, "a", "a/cl/ns", "t/x")
        );
        let err = TopicParts::parse("persistent://a/c l/ns/t").unwrap_err();
        assert_eq!(err.reason, "invalid cluster name `c l`");
        let err = TopicParts::parse("acme/n s/t").unwrap_err();
        assert_eq!(err.reason, "invalid namespace `n s`");
        // Borrowed and owned names compare and print alike.
        let owned: TopicName = "acme/ns/t".parse().unwrap();
        assert_eq!(
            owned.parts(),
            TopicParts::parse("persistent://acme/ns/t").unwrap()
        );
        assert_eq!(owned.parts().to_string(), owned.to_string());
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
    fn literal_prefixes_are_what_every_match_starts_with() {
        assert_eq!(literal_prefix("orders-.*"), "orders-");
        assert_eq!(literal_prefix("orders"), "orders");
        assert_eq!(literal_prefix("orders?"), "order");
        assert_eq!(literal_prefix("ab{0,2}"), "a");
        assert_eq!(literal_prefix("a*"), "");
        assert_eq!(literal_prefix("orders|refunds"), "");
        assert_eq!(literal_prefix("(?i)orders"), "");
        assert_eq!(literal_prefix(".*"), "");
        let p = TopicPattern::parse("acme/ns/orders-[a-z]+").unwrap();
        assert_eq!(p.literal_prefix(), "orders-");
        assert_eq!(p.domain, Domain::Persistent);
    }

    #[test]
    fn a_huge_pattern_is_refused_quickly() {
        assert!(TopicPattern::parse("t-(?:a{1000}){1000}").is_err());
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert!(TopicPattern::parse("persistent://public/default/orders-(").is_err());
        assert!(TopicPattern::parse("persistent://public/.*/orders").is_err());
    }
}
