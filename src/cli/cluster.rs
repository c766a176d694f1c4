//! `keyrank scheduler` and `keyrank executor`: a Ballista cluster that knows keyrank's
//! functions, for `sql`, `query`, `rank` and `budget --cluster df://HOST:PORT`.

#[cfg(feature = "cluster")]
use crate::cluster::{
    self, DEFAULT_SCHEDULER_PORT, ExecutorOptions, Readable, SchedulerOptions, Security, TlsFiles,
};
#[cfg(feature = "cluster")]
use crate::error::Error;
use crate::error::Result;

/// TLS and the token of a scheduler or executor (see "Securing a cluster").
#[derive(Debug, clap::Args)]
pub struct NodeSecurityArgs {
    /// This node's certificate (PEM), signed by the cluster's CA.
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// This node's private key (PEM).
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<std::path::PathBuf>,
    /// The cluster's CA certificate (PEM): peers must hold a certificate it signed.
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// The cluster's shared secret, checked on every call (at least 16 characters).
    #[arg(
        long = "token",
        env = "KEYRANK_CLUSTER_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Allow an address other than loopback without TLS and a token (for a lab on a
    /// network you trust); warns on every start.
    #[arg(long)]
    pub insecure: bool,
    /// Keep shuffle files (for debugging): finished jobs' output stays on the
    /// executors, and an executor neither empties its shuffle folder at start nor
    /// sweeps old ones.
    #[arg(long)]
    pub keep_shuffle: bool,
}

#[cfg(feature = "cluster")]
impl NodeSecurityArgs {
    fn load(&self) -> Result<Security> {
        Security::load(
            &TlsFiles {
                ca: self.tls_ca.clone(),
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
            },
            self.token.as_deref(),
        )
    }
}

#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Address to listen on (IP:PORT).
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: String,
    /// Host name executors and clients reach this scheduler by.
    #[arg(long, default_value = "localhost")]
    pub external_host: String,
    /// A store clients may query (a folder, or an s3:// URL); repeat for more. Queries
    /// may read only these stores' tables.
    #[arg(long = "store", value_name = "DIR")]
    pub stores: Vec<String>,
    #[command(flatten)]
    pub security: NodeSecurityArgs,
}

#[derive(Debug, clap::Args)]
pub struct ExecutorArgs {
    /// The scheduler, HOST[:PORT] (or df://HOST:PORT).
    #[arg(long, default_value = "localhost:50050")]
    pub scheduler: String,
    /// IP the executor's Arrow Flight server binds.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_host: String,
    /// Arrow Flight port (one per executor on a machine).
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// Host name the scheduler and clients reach this executor by.
    #[arg(long, default_value = "localhost")]
    pub external_host: String,
    /// Tasks run at once (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub vcores: usize,
    /// Folder the executor's shuffle folder (keyrank-shuffle-PORT) goes in (default:
    /// the system's temporary folder).
    #[arg(long)]
    pub work_dir: Option<String>,
    #[command(flatten)]
    pub security: NodeSecurityArgs,
}

#[cfg(not(feature = "cluster"))]
pub fn run_scheduler(_: SchedulerArgs) -> Result<()> {
    Err(crate::cluster::not_built("keyrank scheduler"))
}

#[cfg(not(feature = "cluster"))]
pub fn run_executor(_: ExecutorArgs) -> Result<()> {
    Err(crate::cluster::not_built("keyrank executor"))
}

#[cfg(feature = "cluster")]
pub fn run_scheduler(args: SchedulerArgs) -> Result<()> {
    let bind = args.bind.parse().map_err(|_| {
        Error::usage(format!(
            "--bind {:?}: expected IP:PORT, e.g. 127.0.0.1:{DEFAULT_SCHEDULER_PORT}",
            args.bind
        ))
    })?;
    let security = args.security.load()?;
    cluster::security::check_bind(
        std::net::SocketAddr::ip(&bind),
        &security,
        args.security.insecure,
        "keyrank scheduler",
    )?;
    let readable = Readable::stores(&args.stores)?;
    cluster::add_job_functions(crate::ingest::distributed::functions);
    super::runtime()?.block_on(cluster::run_scheduler(SchedulerOptions {
        bind,
        external_host: args.external_host,
        security,
        readable,
        keep_shuffle: args.security.keep_shuffle,
    }))
}

#[cfg(feature = "cluster")]
pub fn run_executor(args: ExecutorArgs) -> Result<()> {
    let (scheduler_host, scheduler_port) =
        cluster::parse_addr(&args.scheduler, DEFAULT_SCHEDULER_PORT)?;
    let ip: std::net::IpAddr = args.bind_host.parse().map_err(|_| {
        Error::usage(format!(
            "--bind-host {:?}: expected an IP address",
            args.bind_host
        ))
    })?;
    let security = args.security.load()?;
    cluster::security::check_bind(ip, &security, args.security.insecure, "keyrank executor")?;
    if security.tls() && !security.has_identity() {
        return Err(Error::usage(
            "keyrank executor: with --tls-ca, an executor needs its own certificate and key \
             (--tls-cert, --tls-key): the scheduler takes executors' calls only from them",
        ));
    }
    cluster::add_job_functions(crate::ingest::distributed::functions);
    super::runtime()?.block_on(cluster::run_executor(ExecutorOptions {
        scheduler_host,
        scheduler_port,
        bind_host: args.bind_host,
        port: args.port,
        external_host: args.external_host,
        vcores: args.vcores,
        work_dir: args.work_dir,
        security,
        keep_shuffle: args.security.keep_shuffle,
    }))
}
