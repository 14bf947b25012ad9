//! TLS for the Pharos ports, on rustls with the ring provider.
//!
//! [`TlsFiles`] names a certificate, its key and the cluster CA as PEM files; [`ReloadingTls`]
//! loads them and loads them again when one of them changes on disk (checked at most once a
//! second), so that every new connection, accepted ([`incoming`]) or dialed ([`Connector`]),
//! uses the newest good files. A connection already made keeps the certificate it was made
//! with. A reload that fails (a half-written file, a key that does not match) keeps the last
//! good config and says so in the log. This crate must never fall back to plaintext: a port
//! configured with TLS accepts and dials TLS only.

mod connector;
pub mod dial;
mod incoming;
mod reload;

pub use connector::Connector;
pub use incoming::{Connection, incoming};
pub use reload::{ReloadingTls, Role, TlsError, TlsFiles, client_config_verifying};
