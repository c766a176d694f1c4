//! Who may use a cluster and how its traffic is protected.
//!
//! - **TLS** (rustls) on every gRPC and Arrow Flight connection when the node has the
//!   cluster's CA: servers present their certificate; executors present theirs to the
//!   scheduler and to each other (mutual TLS), and the scheduler takes executor calls
//!   only from a peer whose certificate the CA signed.
//! - **The token** (`KEYRANK_CLUSTER_TOKEN`), checked on every call by every server.
//!   Ballista lets a node shape each connection it opens ([`Security::endpoint`]) but
//!   not add headers to every request, so the token rides in the connection's
//!   `user-agent` as `keyrank-token/TOKEN` (inside TLS); a plain Ballista client may
//!   send `authorization: Bearer TOKEN` instead.
//! - **The bind rule** ([`check_bind`]): a server on an address other than loopback
//!   needs both, or `--insecure`, which warns on every start.
//! - **The cluster secret** ([`Security::secret`]): jobs derive their keys from the
//!   token and a per-job nonce, so no key crosses the wire or appears in a plan.

use crate::error::{Error, Result};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};
use tonic::{Request, Status};

/// The environment variable every node and client reads the token from.
pub const TOKEN_ENV: &str = "KEYRANK_CLUSTER_TOKEN";
/// A client's CA, certificate and key (PEM files), when not given as flags.
pub const CA_ENV: &str = "KEYRANK_CLUSTER_CA";
pub const CERT_ENV: &str = "KEYRANK_CLUSTER_CERT";
pub const KEY_ENV: &str = "KEYRANK_CLUSTER_KEY";
/// The shortest token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;
const UA_PREFIX: &str = "keyrank-token/";

/// The cluster's shared secret. Never printed: its `Debug` is redacted.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(redacted)")
    }
}

impl Token {
    /// A token of at least [`MIN_TOKEN_CHARS`] characters that can travel in a header
    /// (letters, digits and `-._~+/=`).
    pub fn new(text: &str) -> Result<Token> {
        let text = text.trim();
        if text.chars().count() < MIN_TOKEN_CHARS {
            return Err(Error::usage(format!(
                "{TOKEN_ENV}: the cluster token must be at least {MIN_TOKEN_CHARS} characters \
                 (e.g. `openssl rand -hex 32`)"
            )));
        }
        if let Some(c) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._~+/=".contains(*c)))
        {
            return Err(Error::usage(format!(
                "{TOKEN_ENV}: the cluster token may hold letters, digits and -._~+/= only, \
                 not {c:?}"
            )));
        }
        Ok(Token(text.into()))
    }

    /// Whether `offered` is this token, in time that does not depend on where they
    /// differ (BLAKE3 hashes compare in constant time).
    fn matches(&self, offered: &str) -> bool {
        blake3::hash(self.0.as_bytes()) == blake3::hash(offered.as_bytes())
    }
}

/// The PEM files of one node: the CA that signs the cluster's certificates, and the
/// node's own certificate and key (a server's are required; a client's optional).
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// A client's files from [`CA_ENV`], [`CERT_ENV`] and [`KEY_ENV`].
    pub fn from_env() -> TlsFiles {
        let path = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        TlsFiles {
            ca: path(CA_ENV),
            cert: path(CERT_ENV),
            key: path(KEY_ENV),
        }
    }
}

#[derive(Clone)]
struct Tls {
    ca: Certificate,
    identity: Option<Identity>,
}

/// A node's credentials: TLS material and the token, either of which may be absent.
#[derive(Clone, Default)]
pub struct Security {
    tls: Option<Tls>,
    token: Option<Token>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("token", &self.token.is_some())
            .finish()
    }
}

fn read_pem(path: &Path, what: &str, marker: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !String::from_utf8_lossy(&bytes).contains(marker) {
        return Err(Error::usage(format!(
            "{}: not a PEM {what} (no \"{marker}\" line)",
            path.display()
        )));
    }
    Ok(bytes)
}

impl Security {
    /// Loads `files` and the token. A certificate needs its key and the reverse; a
    /// certificate without the CA is refused, since nothing could check its peers.
    pub fn load(files: &TlsFiles, token: Option<&str>) -> Result<Security> {
        let token = token
            .filter(|t| !t.trim().is_empty())
            .map(Token::new)
            .transpose()?;
        let identity = match (&files.cert, &files.key) {
            (Some(c), Some(k)) => Some(Identity::from_pem(
                read_pem(c, "certificate", "-----BEGIN CERTIFICATE-----")?,
                read_pem(k, "private key", "PRIVATE KEY-----")?,
            )),
            (None, None) => None,
            _ => {
                return Err(Error::usage(
                    "--tls-cert and --tls-key go together: give both or neither",
                ));
            }
        };
        let tls = match (&files.ca, identity) {
            (Some(ca), identity) => Some(Tls {
                ca: Certificate::from_pem(read_pem(
                    ca,
                    "CA certificate",
                    "-----BEGIN CERTIFICATE-----",
                )?),
                identity,
            }),
            (None, Some(_)) => {
                return Err(Error::usage(
                    "--tls-cert needs --tls-ca, the authority that signed the cluster's \
                     certificates",
                ));
            }
            (None, None) => None,
        };
        Ok(Security { tls, token })
    }

    /// A client's credentials from the environment ([`TOKEN_ENV`], [`CA_ENV`], ...).
    pub fn from_env() -> Result<Security> {
        let token = std::env::var(TOKEN_ENV).ok();
        Security::load(&TlsFiles::from_env(), token.as_deref())
    }

    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn token(&self) -> Option<&Token> {
        self.token.as_ref()
    }

    /// Whether this node presents a certificate of its own.
    pub fn has_identity(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.identity.is_some())
    }

    /// The secret jobs derive their keys from: the token, if there is one.
    pub fn secret(&self) -> Option<ClusterSecret> {
        self.token.as_ref().map(|t| {
            ClusterSecret(blake3::derive_key(
                "keyrank cluster secret 2026-12",
                t.0.as_bytes(),
            ))
        })
    }

    /// A server's TLS: its certificate, and the CA its peers' certificates are checked
    /// against (a peer may present none: then only the token admits it).
    pub(crate) fn server_tls(&self, what: &str) -> Result<Option<ServerTlsConfig>> {
        let Some(tls) = &self.tls else {
            return Ok(None);
        };
        // The tree builds both of rustls's providers (the store's TLS brings one,
        // tonic's the other), so a server must be told which: aws-lc, as tonic's
        // clients use.
        static PROVIDER: std::sync::Once = std::sync::Once::new();
        PROVIDER.call_once(|| {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        });
        let identity = tls.identity.clone().ok_or_else(|| {
            Error::usage(format!(
                "{what}: TLS needs this node's own certificate and key (--tls-cert, --tls-key)"
            ))
        })?;
        Ok(Some(
            ServerTlsConfig::new()
                .identity(identity)
                .client_ca_root(tls.ca.clone())
                .client_auth_optional(true),
        ))
    }

    /// Shapes a connection Ballista opens: TLS (`https`, the CA, this node's
    /// certificate) and the token in its `user-agent`.
    pub(crate) fn endpoint(
        &self,
        endpoint: Endpoint,
    ) -> std::result::Result<Endpoint, Box<dyn std::error::Error + Send + Sync>> {
        let mut endpoint = endpoint;
        if let Some(tls) = &self.tls {
            // Ballista names every peer `http://HOST:PORT`; tonic speaks TLS only to an
            // `https` URI, so the endpoint is rebuilt with that scheme and Ballista's
            // connection settings.
            let uri = endpoint.uri().clone();
            let mut parts = uri.into_parts();
            parts.scheme = Some(tonic::codegen::http::uri::Scheme::HTTPS);
            let uri = tonic::codegen::http::Uri::from_parts(parts)?;
            let mut secure = Endpoint::from(uri)
                .tcp_nodelay(endpoint.get_tcp_nodelay())
                .tcp_keepalive(endpoint.get_tcp_keepalive());
            if let Some(t) = endpoint.get_connect_timeout() {
                secure = secure.connect_timeout(t);
            }
            let mut config = ClientTlsConfig::new().ca_certificate(tls.ca.clone());
            if let Some(id) = &tls.identity {
                config = config.identity(id.clone());
            }
            endpoint = secure.tls_config(config)?;
        }
        if let Some(token) = &self.token {
            endpoint = endpoint.user_agent(format!("{UA_PREFIX}{}", token.0))?;
        }
        Ok(endpoint)
    }

    /// Admits a call carrying the token (in `user-agent` or as a Bearer), or any call
    /// when this node has no token.
    pub(crate) fn check_call<T>(&self, request: &Request<T>) -> std::result::Result<(), Status> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let meta = request.metadata();
        let from_agent = meta
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split_whitespace().next())
            .and_then(|first| first.strip_prefix(UA_PREFIX));
        let from_bearer = meta
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match from_agent.or(from_bearer) {
            Some(offered) if token.matches(offered.trim()) => Ok(()),
            Some(_) => Err(Status::unauthenticated("keyrank: wrong cluster token")),
            None => Err(Status::unauthenticated(format!(
                "keyrank: this cluster needs its token ({TOKEN_ENV})"
            ))),
        }
    }

    /// A tonic interceptor running [`Security::check_call`].
    pub(crate) fn interceptor(
        &self,
    ) -> impl FnMut(Request<()>) -> std::result::Result<Request<()>, Status> + Clone + use<> {
        let me = self.clone();
        move |request: Request<()>| {
            me.check_call(&request)?;
            Ok(request)
        }
    }
}

/// 32 bytes every node holding the token derives alike, and nothing else can.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClusterSecret([u8; 32]);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(redacted)")
    }
}

impl ClusterSecret {
    /// A key for `purpose` within the job named by `nonce`.
    pub fn derive(&self, purpose: &str, nonce: &[u8]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(&(purpose.len() as u64).to_le_bytes());
        h.update(purpose.as_bytes());
        h.update(nonce);
        *h.finalize().as_bytes()
    }

    /// A secret of this process alone, for a cluster inside it.
    pub fn random() -> ClusterSecret {
        ClusterSecret(rand::random())
    }
}

/// The bind rule: an address other than loopback needs TLS and a token, unless
/// `insecure`, which is allowed with a warning on every start.
pub fn check_bind(ip: IpAddr, security: &Security, insecure: bool, what: &str) -> Result<()> {
    let complete = security.tls() && security.token().is_some();
    if complete {
        return Ok(());
    }
    let missing = match (security.tls(), security.token().is_some()) {
        (false, false) => {
            "TLS (--tls-cert, --tls-key, --tls-ca) and a token (KEYRANK_CLUSTER_TOKEN)"
        }
        (false, true) => "TLS (--tls-cert, --tls-key, --tls-ca)",
        _ => "a token (KEYRANK_CLUSTER_TOKEN)",
    };
    if insecure {
        eprintln!(
            "warning: {what} runs without {missing} (--insecure): anyone who reaches {ip} can \
             use this cluster. Use it only on a network you trust."
        );
        return Ok(());
    }
    if ip.is_loopback() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "{what}: {ip} is reachable from other machines, so it needs {missing}; see \
         \"Securing a cluster\" in the README, or pass --insecure for a lab"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_token(t: &str) -> Security {
        Security::load(&TlsFiles::default(), Some(t)).unwrap()
    }

    fn call(ua: Option<&str>, bearer: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(ua) = ua {
            r.metadata_mut().insert("user-agent", ua.parse().unwrap());
        }
        if let Some(b) = bearer {
            r.metadata_mut()
                .insert("authorization", format!("Bearer {b}").parse().unwrap());
        }
        r
    }

    #[test]
    fn tokens_are_checked_on_each_call() {
        let s = with_token("0123456789abcdef0123");
        assert!(
            s.check_call(&call(
                Some("keyrank-token/0123456789abcdef0123 tonic/0.14"),
                None
            ))
            .is_ok()
        );
        assert!(
            s.check_call(&call(None, Some("0123456789abcdef0123")))
                .is_ok()
        );
        let wrong = s.check_call(&call(
            Some("keyrank-token/0123456789abcdef0124 tonic/0.14"),
            None,
        ));
        assert_eq!(wrong.unwrap_err().code(), tonic::Code::Unauthenticated);
        let none = s.check_call(&call(Some("tonic/0.14"), None));
        assert_eq!(none.unwrap_err().code(), tonic::Code::Unauthenticated);
        // A node without a token admits every call.
        assert!(Security::default().check_call(&call(None, None)).is_ok());
        // Short or unheaderable tokens are refused; Debug never shows one.
        assert!(Token::new("short").is_err());
        assert!(Token::new("0123456789abcdef 0123").is_err());
        assert!(!format!("{s:?}{:?}", s.token()).contains("0123456789"));
    }

    #[test]
    fn binds_beyond_loopback_need_tls_and_a_token() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        assert!(check_bind(lo, &Security::default(), false, "scheduler").is_ok());
        let err = check_bind(any, &Security::default(), false, "scheduler").unwrap_err();
        assert!(err.to_string().contains("--insecure"), "{err}");
        // A token alone is not enough.
        assert!(check_bind(any, &with_token("0123456789abcdef0123"), false, "scheduler").is_err());
        assert!(check_bind(any, &Security::default(), true, "scheduler").is_ok());
    }

    #[test]
    fn secrets_derive_alike_from_one_token_only() {
        let a = with_token("0123456789abcdef0123").secret().unwrap();
        let b = with_token("0123456789abcdef0123").secret().unwrap();
        let c = with_token("0123456789abcdef0124").secret().unwrap();
        assert_eq!(a.derive("frames", b"job1"), b.derive("frames", b"job1"));
        assert_ne!(a.derive("frames", b"job1"), a.derive("frames", b"job2"));
        assert_ne!(a.derive("frames", b"job1"), a.derive("visitors", b"job1"));
        assert_ne!(a.derive("frames", b"job1"), c.derive("frames", b"job1"));
    }
}
