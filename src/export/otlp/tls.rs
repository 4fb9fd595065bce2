//! TLS for `https://` endpoints (feature `otlp-tls`): ureq's rustls with the ring provider,
//! trusting Mozilla's roots, or only the certificates of the PEM file the configuration
//! names (`OTEL_EXPORTER_OTLP_CERTIFICATE`, the `[otlp]` section's `certificate`).

use std::path::Path;

use super::config::OtlpConfigError;

/// The certificates of `file` (every one it holds), or `None` without a file; read and
/// parsed at [`OtlpConfig::validate`](super::OtlpConfig::validate) (so a bad file refuses
/// the start or the reconfiguration) and again when the transport is built.
#[cfg(feature = "otlp-tls")]
pub(crate) fn roots(
    file: Option<&Path>,
) -> Result<Option<Vec<ureq::tls::Certificate<'static>>>, OtlpConfigError> {
    let Some(path) = file else { return Ok(None) };
    let bad = |why: String| OtlpConfigError {
        variable: "certificate",
        value: path.display().to_string(),
        reason: why,
    };
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(bad(format!("not PEM: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(bad(
            "no certificate in it (expected PEM `CERTIFICATE` blocks)".into(),
        ));
    }
    Ok(Some(certs))
}

/// Without the `otlp-tls` feature a certificate is refused: nothing would use it.
#[cfg(not(feature = "otlp-tls"))]
pub(crate) fn roots(file: Option<&Path>) -> Result<Option<()>, OtlpConfigError> {
    match file {
        None => Ok(None),
        Some(path) => Err(OtlpConfigError {
            variable: "certificate",
            value: path.display().to_string(),
            reason: "a certificate is for https, which needs tickwatch built with the \
                     `otlp-tls` feature"
                .into(),
        }),
    }
}

/// The agent's TLS settings: the file's certificates as the only roots, else Mozilla's. A
/// file that became unreadable since validation leaves no root at all, so every `https`
/// request fails (counted, with the error) rather than trusting more than was asked.
#[cfg(feature = "otlp-tls")]
pub(crate) fn config(file: Option<&Path>) -> ureq::tls::TlsConfig {
    use std::sync::Arc;
    use ureq::tls::{RootCerts, TlsConfig};
    let roots = match roots(file) {
        Ok(None) => RootCerts::WebPki,
        Ok(Some(certs)) => RootCerts::Specific(Arc::new(certs)),
        Err(_) => RootCerts::Specific(Arc::new(Vec::new())),
    };
    TlsConfig::builder().root_certs(roots).build()
}
