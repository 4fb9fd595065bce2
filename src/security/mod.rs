//! Security: data encrypted under a rotating AES-256-GCM key ring ([`crypto`]), people let in
//! with a password and a second factor ([`authn`]), each action allowed only to the roles that
//! hold it ([`authz`]); every decision leaves one audit record ([`crate::Audit`]) through the
//! [`crate::AuditLog`] the component is given.

pub(crate) mod audit;
pub mod authn;
pub mod authz;
pub mod crypto;

pub use audit::AuditLog;
