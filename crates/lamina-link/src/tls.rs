//! TLS (rustls) for the ISO 8583 listener and client.
//!
//! The ISO 8583 link (docs/iso8583.md §8: 2-byte length prefix) optionally runs inside a
//! TLS session (RFC 8446 TLS 1.3 or RFC 5246 TLS 1.2, rustls' safe defaults). Acquirer
//! links are usually mutually authenticated, so the server can require a client
//! certificate issued by a given CA.
//!
//! * [`server_config_pem`] / [`server_config_files`]: the host's certificate chain and
//!   private key (PEM), and optionally a CA whose client certificates are required (mTLS);
//! * [`client_config_pem`] / [`client_config_files`]: the CA the client trusts, and
//!   optionally its own certificate and key;
//! * [`ClientTls`]: a client configuration plus the name expected in the server's
//!   certificate, as [`crate::client::HostClient::connect_with`] takes it;
//! * [`TestPki`]: a freshly generated **test** CA, server and client certificate (rcgen),
//!   for tests and `lamina host tls-certs` — never for production.
//!
//! Cryptography always comes from rustls' `ring` provider, passed explicitly to every
//! builder: nothing here depends on a process-wide default provider. Errors name files and
//! rustls' reasons, never key material.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub use rustls;
pub use tokio_rustls;
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// TLS configuration errors. Never contain key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM input is not what it should be (no certificate, no private key, bad base64).
    #[error("{what}: {reason}")]
    Pem {
        /// Which input (a file name or "certificate", "private key", "CA").
        what: String,
        /// Why (without the file's contents).
        reason: String,
    },
    /// rustls refused the configuration (key does not match the certificate, ...).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built (e.g. an empty CA set).
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    /// The server name is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// Generating test certificates failed.
    #[error("certificate generation: {0}")]
    Generate(String),
}

/// rustls' `ring` provider, the only one this crate uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Every `CERTIFICATE` block of a PEM text, in order (a chain: leaf first).
pub fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what: what.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM text.
pub fn key_from_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Pem {
        what: what.to_owned(),
        reason: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no PRIVATE KEY block".into(),
            other => other.to_string(),
        },
    })
}

fn roots_from_pem(pem: &[u8], what: &str) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs_from_pem(pem, what)?);
    if added == 0 {
        return Err(TlsError::Pem {
            what: what.to_owned(),
            reason: "no usable CA certificate".into(),
        });
    }
    Ok(Arc::new(roots))
}

/// A server configuration from PEM texts: the host's certificate chain (leaf first) and
/// private key; with `client_ca`, every client must present a certificate issued by that
/// CA (mutual TLS, RFC 8446 §4.3.2 CertificateRequest), without it no client certificate
/// is asked for.
pub fn server_config_pem(
    cert_chain: &[u8],
    key: &[u8],
    client_ca: Option<&[u8]>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = certs_from_pem(cert_chain, "certificate")?;
    let key = key_from_pem(key, "private key")?;
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let roots = roots_from_pem(ca, "client CA")?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(builder.with_single_cert(chain, key)?))
}

/// [`server_config_pem`] from files.
pub fn server_config_files(
    cert_chain: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let ca = client_ca.map(read).transpose()?;
    server_config_pem(&read(cert_chain)?, &read(key)?, ca.as_deref()).map_err(|e| name(e, key))
}

/// Names the key file in a PEM error about "private key", the others by their role.
fn name(e: TlsError, key: &Path) -> TlsError {
    match e {
        TlsError::Pem { what, reason } if what == "private key" => TlsError::Pem {
            what: key.display().to_string(),
            reason,
        },
        other => other,
    }
}

/// A client configuration from PEM texts: the CA that issued the host's certificate and,
/// for mutual TLS, the client's own certificate chain and private key.
pub fn client_config_pem(
    ca: &[u8],
    identity: Option<(&[u8], &[u8])>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let roots = roots_from_pem(ca, "CA")?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(
            certs_from_pem(chain, "client certificate")?,
            key_from_pem(key, "private key")?,
        )?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// [`client_config_pem`] from files.
pub fn client_config_files(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let ca_pem = read(ca)?;
    match identity {
        Some((chain, key)) => {
            client_config_pem(&ca_pem, Some((&read(chain)?, &read(key)?))).map_err(|e| name(e, key))
        }
        None => client_config_pem(&ca_pem, None),
    }
}

/// What a client needs to open a TLS session to the host: its configuration and the name
/// (DNS name or IP address) the host's certificate must carry.
#[derive(Clone)]
pub struct ClientTls {
    /// The rustls client configuration.
    pub config: Arc<rustls::ClientConfig>,
    /// The name checked against the server certificate's subjectAltName.
    pub server_name: ServerName<'static>,
}

impl core::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .field(
                "client_auth",
                &self.config.client_auth_cert_resolver.has_certs(),
            )
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// A client configuration for `server_name`.
    pub fn new(config: Arc<rustls::ClientConfig>, server_name: &str) -> Result<Self, TlsError> {
        Ok(ClientTls {
            config,
            server_name: parse_server_name(server_name)?,
        })
    }
}

/// A server name: an IP address literal or a DNS name.
pub fn parse_server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TlsError::ServerName(name.to_owned()))
}

/// The host part of `host:port`, `[v6]:port` or a bare host: the default TLS server name
/// for an address given on the command line.
pub fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        // One colon: host:port. More than one without brackets: a bare IPv6 address.
        Some((h, _)) if !h.contains(':') => h,
        _ => addr,
    }
}

/// A TLS acceptor for the host's listener (`lamina_host::server::ServerConfig::tls`).
pub fn acceptor(config: Arc<rustls::ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(config)
}

/// A freshly generated **test** public-key infrastructure: a self-signed CA, a server
/// certificate for `localhost`, `127.0.0.1` and `::1` (plus any extra names), and a
/// client certificate for mutual TLS, all ECDSA P-256 (rcgen with ring). The subjects say
/// "TEST"; these certificates are for tests and local trials only.
#[derive(Clone)]
pub struct TestPki {
    /// The CA certificate (PEM): trust anchor for both sides.
    pub ca_cert_pem: String,
    /// The server certificate (PEM).
    pub server_cert_pem: String,
    /// The server's private key (PKCS#8 PEM).
    pub server_key_pem: String,
    /// The client certificate (PEM).
    pub client_cert_pem: String,
    /// The client's private key (PKCS#8 PEM).
    pub client_key_pem: String,
}

impl core::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestPki")
            .field("server_key_pem", &"REDACTED")
            .field("client_key_pem", &"REDACTED")
            .finish_non_exhaustive()
    }
}

/// The file names [`TestPki::write`] uses.
pub const TEST_PKI_FILES: [&str; 5] = [
    "ca.pem",
    "server.pem",
    "server.key",
    "client.pem",
    "client.key",
];

impl TestPki {
    /// Generates a new test CA, server and client certificate; `extra_names` are added to
    /// the server certificate's subjectAltName (DNS names or IP addresses).
    pub fn generate(extra_names: &[String]) -> Result<Self, TlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
            ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
        };
        let g = |e: rcgen::Error| TlsError::Generate(e.to_string());
        let dn = |cn: &str| {
            let mut d = DistinguishedName::new();
            d.push(DnType::OrganizationName, "Lamina TEST certificates");
            d.push(DnType::CommonName, cn);
            d
        };

        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = dn("Lamina TEST CA - not for production");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(g)?).map_err(g)?;

        let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
        names.extend(extra_names.iter().cloned());
        let mut server_params = CertificateParams::new(names).map_err(g)?;
        server_params.distinguished_name = dn("Lamina TEST host");
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().map_err(g)?;
        let server = server_params.signed_by(&server_key, &ca).map_err(g)?;

        let mut client_params = CertificateParams::default();
        client_params.distinguished_name = dn("Lamina TEST acquirer");
        client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().map_err(g)?;
        let client = client_params.signed_by(&client_key, &ca).map_err(g)?;

        Ok(TestPki {
            ca_cert_pem: ca.pem(),
            server_cert_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
        })
    }

    /// Writes the five files of [`TEST_PKI_FILES`] into `dir` (created if needed; the key
    /// files readable by the owner only on Unix) and returns their paths in that order.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, TlsError> {
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let contents = [
            &self.ca_cert_pem,
            &self.server_cert_pem,
            &self.server_key_pem,
            &self.client_cert_pem,
            &self.client_key_pem,
        ];
        let mut out = Vec::with_capacity(contents.len());
        for (file, text) in TEST_PKI_FILES.iter().zip(contents) {
            let path = dir.join(file);
            write_file(&path, text.as_bytes(), file.ends_with(".key"))?;
            out.push(path);
        }
        Ok(out)
    }

    /// A server configuration from these certificates (mTLS when `require_client_cert`).
    pub fn server_config(
        &self,
        require_client_cert: bool,
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        server_config_pem(
            self.server_cert_pem.as_bytes(),
            self.server_key_pem.as_bytes(),
            require_client_cert.then_some(self.ca_cert_pem.as_bytes()),
        )
    }

    /// A client configuration trusting this CA (with the client certificate when
    /// `with_client_cert`).
    pub fn client_config(
        &self,
        with_client_cert: bool,
    ) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        client_config_pem(
            self.ca_cert_pem.as_bytes(),
            with_client_cert.then_some((
                self.client_cert_pem.as_bytes(),
                self.client_key_pem.as_bytes(),
            )),
        )
    }
}

fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(if private { 0o600 } else { 0o644 })
            .open(path)
            .map_err(io)?;
        f.write_all(data).map_err(io)
    }
    #[cfg(not(unix))]
    {
        let _ = private;
        std::fs::write(path, data).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_part_of_addresses() {
        assert_eq!(host_of("127.0.0.1:8583"), "127.0.0.1");
        assert_eq!(host_of("host.example:8583"), "host.example");
        assert_eq!(host_of("[::1]:8583"), "::1");
        assert_eq!(host_of("::1"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }

    #[test]
    fn test_pki_builds_both_configs_and_redacts_keys() {
        let pki = TestPki::generate(&["host.test".into()]).unwrap();
        assert!(pki.server_config(true).is_ok());
        assert!(pki.server_config(false).is_ok());
        assert!(pki.client_config(true).is_ok());
        assert!(pki.client_config(false).is_ok());
        let dbg = format!("{pki:?}");
        assert!(dbg.contains("REDACTED"));
        assert!(!dbg.contains("PRIVATE KEY"));
        assert!(pki.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pki.server_key_pem.contains("PRIVATE KEY"));
    }

    #[test]
    fn bad_pem_inputs_are_errors_without_contents() {
        let pki = TestPki::generate(&[]).unwrap();
        // A key where the certificate should be, and the other way round.
        let e = server_config_pem(
            pki.server_key_pem.as_bytes(),
            pki.server_key_pem.as_bytes(),
            None,
        )
        .unwrap_err();
        assert!(matches!(e, TlsError::Pem { .. }), "{e}");
        let e = server_config_pem(
            pki.server_cert_pem.as_bytes(),
            pki.server_cert_pem.as_bytes(),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no PRIVATE KEY"), "{e}");
        // The client's key does not belong to the server's certificate.
        let e = server_config_pem(
            pki.server_cert_pem.as_bytes(),
            pki.client_key_pem.as_bytes(),
            None,
        )
        .unwrap_err();
        assert!(matches!(e, TlsError::Rustls(_)), "{e}");
        assert!(!e.to_string().contains("PRIVATE"));
        assert!(matches!(
            parse_server_name("not a name!"),
            Err(TlsError::ServerName(_))
        ));
    }

    #[test]
    fn write_then_load_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate(&[]).unwrap();
        let paths = pki.write(dir.path()).unwrap();
        assert_eq!(paths.len(), 5);
        server_config_files(&paths[1], &paths[2], Some(&paths[0])).unwrap();
        client_config_files(&paths[0], Some((&paths[3], &paths[4]))).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&paths[2]).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file readable by others");
        }
        let missing = dir.path().join("nope.pem");
        assert!(matches!(
            client_config_files(&missing, None),
            Err(TlsError::Io { .. })
        ));
    }
}
