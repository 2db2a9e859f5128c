//! When to renew ([`plan`], pure) and the self-managed loop: load or create the bundle in the
//! Secret, renew it before expiry, inject the CA bundle, and hot-swap the served certificate.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::inject::Injector;
use crate::pki::{self, KeyedCert};
use crate::resolver::HotResolver;
#[cfg(test)]
use crate::store::Renewal;
use crate::store::{Bundle, SecretStore, Write};

/// How long certificates live and when they are renewed.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The CA's common name.
    pub ca_name: String,
    /// The serving certificate's common name.
    pub serving_name: String,
    /// DNS names / IPs the serving certificate covers (`<svc>.<ns>.svc`, …).
    pub sans: Vec<String>,
    pub ca_validity: Duration,
    pub serving_validity: Duration,
    /// Renew once less than this fraction of a certificate's lifetime is left (e.g. 1/3).
    pub renew_when_left: f64,
    /// After a new CA is published, how long the old serving certificate is still served so
    /// every apiserver has the new CA bundle before a certificate from the new CA shows up.
    pub trust_propagation: Duration,
}

impl Policy {
    /// Ten-year CA, one-year serving certificate, renewed with a third of its life left.
    pub fn new(sans: Vec<String>) -> Self {
        const DAY: u64 = 86_400;
        Policy {
            ca_name: "fmesh-webhook-ca".into(),
            serving_name: "fmesh-webhook".into(),
            sans,
            ca_validity: Duration::from_secs(3650 * DAY),
            serving_validity: Duration::from_secs(365 * DAY),
            renew_when_left: 1.0 / 3.0,
            trust_propagation: Duration::from_secs(120),
        }
    }
}

/// What a bundle needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Fine until `renew_at`.
    Keep { renew_at: SystemTime },
    /// A new serving certificate from the same CA.
    RenewServing,
    /// A new CA; the old one stays trusted and its serving certificate stays served until the
    /// new CA bundle has had time to reach every apiserver (then [`Plan::RenewServing`]).
    RenewCa,
    /// Nothing usable: make everything.
    Create,
}

/// Decides what `bundle` needs at `now` under `policy` (pure).
pub fn plan(bundle: Option<&Bundle>, policy: &Policy, now: SystemTime) -> Plan {
    let Some(bundle) = bundle else {
        return Plan::Create;
    };
    let renew_at = |pem: &str| -> Option<SystemTime> {
        let (nb, na) = pki::validity(pem).ok()?;
        let life = na.duration_since(nb).ok()?;
        Some(na - life.mul_f64(policy.renew_when_left))
    };
    let Some(ca_renew) = renew_at(&bundle.ca.cert_pem) else {
        return Plan::RenewCa;
    };
    if now >= ca_renew {
        return Plan::RenewCa;
    }
    let Some(serving_renew) = renew_at(&bundle.serving.cert_pem) else {
        return Plan::RenewServing;
    };
    if now >= serving_renew || !covers(&bundle.serving.cert_pem, &policy.sans) {
        return Plan::RenewServing;
    }
    // Served by the previous CA after a CA renewal: switch once the new CA is trusted everywhere.
    if !pki::issued_by(&bundle.serving.cert_pem, &bundle.ca.cert_pem).unwrap_or(true) {
        let switch_at = pki::validity(&bundle.ca.cert_pem)
            .map(|(nb, _)| nb + pki::BACKDATE + policy.trust_propagation)
            .unwrap_or(now);
        if now >= switch_at {
            return Plan::RenewServing;
        }
        return Plan::Keep {
            renew_at: switch_at.min(serving_renew),
        };
    }
    Plan::Keep {
        renew_at: serving_renew.min(ca_renew),
    }
}

/// Whether the certificate names every SAN the policy asks for (a renamed Service gets a new one).
fn covers(cert_pem: &str, sans: &[String]) -> bool {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()) else {
        return false;
    };
    let Ok(cert) = pem.parse_x509() else {
        return false;
    };
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return sans.is_empty();
    };
    let names: Vec<String> = ext
        .value
        .general_names
        .iter()
        .map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
            x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
                _ => String::new(),
            },
            _ => String::new(),
        })
        .collect();
    sans.iter().all(|s| names.contains(s))
}

/// Builds the bundle `plan` asks for from `current`.
fn next_bundle(current: Option<&Bundle>, plan: Plan, policy: &Policy) -> Result<Bundle> {
    let issue = |ca: &KeyedCert| {
        pki::issue_serving(
            ca,
            &policy.serving_name,
            &policy.sans,
            policy.serving_validity,
        )
    };
    let resource_version = current.and_then(|b| b.resource_version.clone());
    let renewal = current.map(|b| b.renewal.clone()).unwrap_or_default();
    match (plan, current) {
        (Plan::RenewServing, Some(cur)) => Ok(Bundle {
            serving: issue(&cur.ca)?,
            ca: cur.ca.clone(),
            previous_ca_pem: cur.previous_ca_pem.clone(),
            resource_version,
            renewal,
        }),
        (Plan::RenewCa, Some(cur)) => {
            let ca = pki::generate_ca(&policy.ca_name, policy.ca_validity)?;
            // Keep trusting the old CA only while it is still valid; while it is, its serving
            // certificate stays in service (trust first, then serve: see `plan`).
            let previous = pki::validity(&cur.ca.cert_pem)
                .ok()
                .filter(|(_, na)| *na > SystemTime::now())
                .map(|_| cur.ca.cert_pem.clone());
            let serving_still_good = previous.is_some()
                && pki::validity(&cur.serving.cert_pem)
                    .is_ok_and(|(_, na)| na > SystemTime::now() + policy.trust_propagation);
            Ok(Bundle {
                serving: if serving_still_good {
                    cur.serving.clone()
                } else {
                    issue(&ca)?
                },
                ca,
                previous_ca_pem: previous,
                resource_version,
                renewal,
            })
        }
        _ => {
            let ca = pki::generate_ca(&policy.ca_name, policy.ca_validity)?;
            Ok(Bundle {
                serving: issue(&ca)?,
                ca,
                previous_ca_pem: None,
                resource_version,
                renewal,
            })
        }
    }
}

/// Self-managed certificates: the Secret is the truth every replica converges on.
pub struct SelfManaged {
    store: SecretStore,
    injector: Option<Injector>,
    resolver: Arc<HotResolver>,
    policy: Policy,
}

/// Conflicting Secret writes tolerated per pass.
const ATTEMPTS: u32 = 5;

impl SelfManaged {
    /// Manages the bundle in `store`, injecting into `injector`'s configurations (if any) and
    /// serving through `resolver`.
    pub fn new(
        store: SecretStore,
        injector: Option<Injector>,
        resolver: Arc<HotResolver>,
        policy: Policy,
    ) -> Self {
        SelfManaged {
            store,
            injector,
            resolver,
            policy,
        }
    }

    /// One pass: read the Secret, renew what is due (losing a race means using the winner's),
    /// inject the CA bundle, serve the Secret's certificate. Returns when the next pass is due.
    pub async fn reconcile(&self) -> Result<SystemTime> {
        let bundle = self.converge(None).await?;
        self.publish(&bundle).await?;
        match plan(Some(&bundle), &self.policy, SystemTime::now()) {
            Plan::Keep { renew_at } => Ok(renew_at),
            _ => Ok(SystemTime::now()),
        }
    }

    /// Replaces the serving certificate now (same CA), whatever its age; for operators who
    /// suspect a leaked key, and for tests of rotation under load.
    pub async fn rotate_serving_now(&self) -> Result<Bundle> {
        let bundle = self.converge(Some(Plan::RenewServing)).await?;
        self.publish(&bundle).await?;
        Ok(bundle)
    }

    async fn converge(&self, force: Option<Plan>) -> Result<Bundle> {
        let mut force = force;
        for _ in 0..ATTEMPTS {
            let current = self.store.read().await?;
            let requested = current.as_ref().is_some_and(|c| c.renewal.pending());
            let wanted = match (force, &current) {
                (Some(p), Some(_)) => p,
                _ => match plan(current.as_ref(), &self.policy, SystemTime::now()) {
                    // Asked for on the Secret: at least a new serving certificate.
                    Plan::Keep { .. } if requested => Plan::RenewServing,
                    p => p,
                },
            };
            if let (Plan::Keep { .. }, Some(cur)) = (wanted, &current) {
                return Ok(cur.clone());
            }
            let mut next = next_bundle(current.as_ref(), wanted, &self.policy)?;
            if requested {
                next.renewal.done = next.renewal.requested.clone();
            }
            match self.store.write(&next).await? {
                Write::Stored(stored) => {
                    tracing::info!(secret = %self.store.describe(), plan = ?wanted, "certificates written");
                    return Ok(stored);
                }
                Write::Lost => {
                    tracing::info!(secret = %self.store.describe(), "another replica wrote the certificates first; using theirs");
                    // Theirs is fresh: a forced rotation is satisfied by it too.
                    force = None;
                }
            }
        }
        Err(Error::Contention {
            what: self.store.describe(),
            attempts: ATTEMPTS,
        })
    }

    /// Trust first, then serve: the CA bundle reaches the apiserver before a certificate from
    /// a new CA is presented.
    async fn publish(&self, bundle: &Bundle) -> Result<()> {
        if let Some(injector) = &self.injector {
            injector.inject(&bundle.ca_bundle_pem()).await?;
        }
        self.resolver
            .set_pem(&bundle.serving.cert_pem, &bundle.serving.key_pem)?;
        Ok(())
    }

    /// Reconciles forever: at least every `check_every` (picking up a rotation another replica
    /// made) and when renewal is due; errors are logged and retried after `check_every`.
    pub async fn run(self, check_every: Duration) {
        loop {
            let wait = match self.reconcile().await {
                Ok(next) => next
                    .duration_since(SystemTime::now())
                    .unwrap_or_default()
                    .min(check_every)
                    .max(Duration::from_secs(1)),
                Err(e) => {
                    tracing::warn!(error = %e, secret = %self.store.describe(), "certificate reconcile failed; retrying");
                    check_every
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn policy() -> Policy {
        Policy::new(vec!["svc.ns.svc".into(), "127.0.0.1".into()])
    }

    fn bundle(ca_days: u32, serving_days: u32, p: &Policy) -> Bundle {
        let ca = pki::generate_ca("ca", DAY * ca_days).unwrap();
        let serving = pki::issue_serving(&ca, "s", &p.sans, DAY * serving_days).unwrap();
        Bundle {
            ca,
            serving,
            previous_ca_pem: None,
            resource_version: Some("1".into()),
            renewal: Renewal::default(),
        }
    }

    #[test]
    fn plans_follow_remaining_lifetime() {
        let p = policy();
        let now = SystemTime::now();
        assert_eq!(plan(None, &p, now), Plan::Create);
        let b = bundle(3650, 365, &p);
        let Plan::Keep { renew_at } = plan(Some(&b), &p, now) else {
            panic!("fresh bundle must be kept")
        };
        let until = renew_at.duration_since(now).unwrap();
        assert!(until > 240 * DAY && until < 245 * DAY, "{until:?}");
        assert_eq!(plan(Some(&b), &p, now + 250 * DAY), Plan::RenewServing);
        assert_eq!(plan(Some(&b), &p, now + 2500 * DAY), Plan::RenewCa);
    }

    #[test]
    fn a_certificate_missing_a_san_is_renewed() {
        let p = policy();
        let b = bundle(3650, 365, &p);
        let mut moved = p.clone();
        moved.sans.push("new.ns.svc".into());
        assert_eq!(
            plan(Some(&b), &moved, SystemTime::now()),
            Plan::RenewServing
        );
    }

    #[test]
    fn renewing_keeps_or_replaces_the_ca_as_planned() {
        let p = policy();
        let b = bundle(3650, 365, &p);
        let serving = next_bundle(Some(&b), Plan::RenewServing, &p).unwrap();
        assert_eq!(serving.ca, b.ca);
        assert_ne!(serving.serving, b.serving);
        assert_eq!(serving.resource_version.as_deref(), Some("1"));
        let ca = next_bundle(Some(&b), Plan::RenewCa, &p).unwrap();
        assert_ne!(ca.ca, b.ca);
        assert_eq!(ca.previous_ca_pem.as_deref(), Some(b.ca.cert_pem.as_str()));
        assert_eq!(pki::split_bundle(&ca.ca_bundle_pem()).len(), 2);
    }

    #[test]
    fn a_new_ca_is_trusted_before_its_certificates_are_served() {
        let p = policy();
        let old = bundle(3650, 365, &p);
        let rotated = next_bundle(Some(&old), Plan::RenewCa, &p).unwrap();
        // Phase 1: the bundle trusts both CAs; the old serving certificate is still served.
        assert_eq!(rotated.serving, old.serving);
        assert_eq!(pki::split_bundle(&rotated.ca_bundle_pem()).len(), 2);
        let now = SystemTime::now();
        let Plan::Keep { renew_at } = plan(Some(&rotated), &p, now) else {
            panic!("the switch waits for the CA bundle to propagate")
        };
        assert!(
            renew_at > now && renew_at <= now + p.trust_propagation,
            "{renew_at:?}"
        );
        // Phase 2: after the propagation time, a certificate from the new CA.
        let later = now + p.trust_propagation + Duration::from_secs(1);
        assert_eq!(plan(Some(&rotated), &p, later), Plan::RenewServing);
        let switched = next_bundle(Some(&rotated), Plan::RenewServing, &p).unwrap();
        assert!(pki::issued_by(&switched.serving.cert_pem, &switched.ca.cert_pem).unwrap());
        assert!(matches!(
            plan(Some(&switched), &p, later),
            Plan::Keep { .. }
        ));
    }

    #[test]
    fn an_expired_ca_is_replaced_together_with_its_certificate() {
        let p = policy();
        let mut old = bundle(3650, 365, &p);
        old.ca = pki::generate_ca("ca", Duration::from_secs(1)).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        let rotated = next_bundle(Some(&old), Plan::RenewCa, &p).unwrap();
        assert_eq!(rotated.previous_ca_pem, None);
        assert!(pki::issued_by(&rotated.serving.cert_pem, &rotated.ca.cert_pem).unwrap());
    }
}
