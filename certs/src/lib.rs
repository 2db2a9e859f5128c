//! fmesh-certs: the certificates an admission webhook serves with, managed without cert-manager.
//!
//! - [`pki`]: a CA and serving certificates made with rcgen (pure, no I/O).
//! - [`store`]: the pair kept in one Secret, written with optimistic concurrency so that several
//!   replicas agree on a single CA and serving certificate.
//! - [`inject`]: the CA bundle written into named Validating/MutatingWebhookConfigurations.
//! - [`rotation`]: when to renew ([`rotation::plan`], pure) and the loop that does it.
//! - [`resolver`]: a rustls certificate resolver whose certificate is swapped without a restart.
//! - [`files`]: cert-manager mode, serving mounted files and reloading them when they change.

pub mod error;
pub mod files;
pub mod inject;
pub mod pki;
pub mod resolver;
pub mod rotation;
pub mod store;

pub use error::{Error, Result};
pub use resolver::HotResolver;
