//! HTTPS: a rustls acceptor from PEM files (feature `tls`).

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;

use crate::config::TlsFiles;
use crate::error::MockError;

/// Reads the certificate chain and key, and builds the acceptor.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, MockError> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| MockError::Tls(format!("{}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(MockError::Tls(format!(
            "{}: no certificate in the file",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| MockError::Tls(format!("{}: {e}", files.key.display())))?;
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| MockError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
