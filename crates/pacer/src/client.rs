//! The HTTP client every command uses: hyper-util over rustls (no
//! OpenSSL), trusting the platform's roots and webpki's, plus any
//! certificate given with `--ca-cert`.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use crate::error::CliError;

/// The client: HTTP/1 with keep-alive, `http://` and `https://`.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client trusting the platform's roots, webpki's, and `extra_ca` (a
/// PEM file, e.g. a test server's self-signed certificate).
pub fn http_client(extra_ca: Option<&Path>) -> Result<HttpClient, CliError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // The platform's store may be missing or partly unreadable: what it
    // gives is added, the rest is webpki's.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = extra_ca {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| CliError::usage(format!("--ca-cert {}: {e}", path.display())))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| CliError::usage(format!("--ca-cert {}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::usage(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build(connector))
}
