//! TLS with rustls: the server certificate and key (PEM), optionally a client CA whose
//! certificates authenticate callers (mTLS, the certificate's subject becoming the principal).
//! The files are watched: a changed certificate, key or CA is loaded for new handshakes without
//! dropping a connection; a change that does not load keeps the previous one in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use crate::watch::Stamp;

/// Whether a client certificate is required when a client CA is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// Every connection presents a certificate the CA signed.
    #[default]
    Required,
    /// A certificate is checked when presented; callers without one authenticate otherwise.
    Optional,
}

/// The TLS files.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsFiles {
    /// The certificate chain, PEM.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CA that signs client certificates, PEM.
    pub client_ca: Option<PathBuf>,
    /// Whether client certificates are required.
    pub client_auth: ClientAuth,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("cannot read the certificate {}: {e}", files.cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the certificate {}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("the private key {}: {e}", files.key.display()))?;
    CertifiedKey::from_der(certs, key, provider)
        .map(Arc::new)
        .map_err(|e| {
            format!(
                "the certificate {} and key {}: {e}",
                files.cert.display(),
                files.key.display()
            )
        })
}

fn load_verifier(
    ca: &Path,
    client_auth: ClientAuth,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)
        .map_err(|e| format!("cannot read the client CA {}: {e}", ca.display()))?
    {
        let cert = cert.map_err(|e| format!("the client CA {}: {e}", ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("the client CA {}: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no CA certificate", ca.display()));
    }
    let builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    let builder = match client_auth {
        ClientAuth::Required => builder,
        ClientAuth::Optional => builder.allow_unauthenticated(),
    };
    builder
        .build()
        .map_err(|e| format!("the client CA {}: {e}", ca.display()))
}

/// The certificate in force, swapped when its files change.
#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.read()))
    }
}

/// The client-certificate verifier in force, swapped when the CA file changes.
#[derive(Debug)]
struct Verifier {
    inner: RwLock<Arc<dyn ClientCertVerifier>>,
    mandatory: bool,
}

impl ClientCertVerifier for Verifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // The hints would have to outlive a reload; clients send their certificate without.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let inner = Arc::clone(&self.inner.read());
        inner.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let inner = Arc::clone(&self.inner.read());
        inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let inner = Arc::clone(&self.inner.read());
        inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.read().supported_verify_schemes()
    }
}

/// TLS for the listener, and the watch on its files.
pub struct Tls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    resolver: Arc<Resolver>,
    verifier: Option<Arc<Verifier>>,
    stamp: parking_lot::Mutex<Vec<Stamp>>,
}

impl Tls {
    /// Loads the files; any that does not load is an error naming it.
    pub fn load(files: TlsFiles) -> Result<Tls, String> {
        let provider = provider();
        let key = load_key(&files, &provider)?;
        let verifier = match &files.client_ca {
            Some(ca) => Some(Arc::new(Verifier {
                inner: RwLock::new(load_verifier(ca, files.client_auth, &provider)?),
                mandatory: files.client_auth == ClientAuth::Required,
            })),
            None => None,
        };
        let stamp = parking_lot::Mutex::new(Stamp::of_all(&watched(&files)));
        Ok(Tls {
            files,
            provider,
            resolver: Arc::new(Resolver(RwLock::new(key))),
            verifier,
            stamp,
        })
    }

    /// The rustls config for the listener: TLS 1.3 and 1.2, HTTP/1.1.
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        let builder = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = match &self.verifier {
            Some(verifier) => builder
                .with_client_cert_verifier(Arc::clone(verifier) as Arc<dyn ClientCertVerifier>),
            None => builder.with_no_client_auth(),
        };
        let mut config =
            builder.with_cert_resolver(Arc::clone(&self.resolver) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Whether client certificates authenticate callers.
    pub fn verifies_clients(&self) -> bool {
        self.verifier.is_some()
    }

    /// Loads the files again if any changed since they were last loaded. A change that does
    /// not load is logged and the previous certificate (or CA) stays in force.
    pub fn reload_if_changed(&self) {
        let now = Stamp::of_all(&watched(&self.files));
        {
            let mut stamp = self.stamp.lock();
            if *stamp == now {
                return;
            }
            *stamp = now;
        }
        match load_key(&self.files, &self.provider) {
            Ok(key) => {
                *self.resolver.0.write() = key;
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
            }
            Err(error) => {
                tracing::error!(%error, "the TLS certificate did not reload; the previous one stays in force")
            }
        }
        if let (Some(verifier), Some(ca)) = (&self.verifier, &self.files.client_ca) {
            match load_verifier(ca, self.files.client_auth, &self.provider) {
                Ok(inner) => {
                    *verifier.inner.write() = inner;
                    tracing::info!(ca = %ca.display(), "client CA reloaded");
                }
                Err(error) => {
                    tracing::error!(%error, "the client CA did not reload; the previous one stays in force")
                }
            }
        }
    }
}

fn watched(files: &TlsFiles) -> Vec<PathBuf> {
    let mut paths = vec![files.cert.clone(), files.key.clone()];
    paths.extend(files.client_ca.clone());
    paths
}

/// The principal a client certificate names: its subject as an RFC 4514 string
/// (`CN=ci,O=Acme,C=DE`, last RDN first), the form Kafka's SSL principals take.
pub fn certificate_principal(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let subject = cert.subject();
    let mut rdns: Vec<String> = Vec::new();
    for rdn in subject.iter() {
        let parts: Vec<String> = rdn
            .iter()
            .map(|attribute| {
                let oid = attribute.attr_type();
                let name =
                    x509_parser::objects::oid2abbrev(oid, x509_parser::objects::oid_registry())
                        .map(|name| short_name(name).to_string())
                        .unwrap_or_else(|_| oid.to_id_string());
                let value = match attribute.as_str() {
                    Ok(text) => escape_rfc4514(text),
                    Err(_) => format!(
                        "#{}",
                        attribute
                            .attr_value()
                            .data
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<String>()
                    ),
                };
                format!("{name}={value}")
            })
            .collect();
        rdns.push(parts.join("+"));
    }
    if rdns.is_empty() {
        return None;
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// The short attribute names RFC 4514 uses.
fn short_name(sn: &str) -> &str {
    match sn {
        "commonName" => "CN",
        "countryName" => "C",
        "localityName" => "L",
        "stateOrProvinceName" => "ST",
        "organizationName" => "O",
        "organizationalUnitName" => "OU",
        "streetAddress" => "STREET",
        "domainComponent" => "DC",
        "userId" => "UID",
        other => other,
    }
}

fn escape_rfc4514(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4514_subjects() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "DE");
        dn.push(rcgen::DnType::OrganizationName, "Acme, Inc.");
        dn.push(rcgen::DnType::CommonName, "ci-bot");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        assert_eq!(
            certificate_principal(cert.der()).as_deref(),
            Some("CN=ci-bot,O=Acme\\, Inc.,C=DE")
        );
        assert_eq!(certificate_principal(b"not a certificate"), None);
    }
}
