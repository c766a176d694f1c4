//! `keyrank scheduler` and `keyrank executor`: a Ballista cluster that knows keyrank's
//! functions, for `sql`, `query`, `rank` and `budget --cluster df://HOST:PORT`.

#[cfg(feature = "cluster")]
use crate::cluster::{self, DEFAULT_SCHEDULER_PORT, ExecutorOptions};
#[cfg(feature = "cluster")]
use crate::error::Error;
use crate::error::Result;

#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Address to listen on (IP:PORT).
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: String,
    /// Host name executors and clients reach this scheduler by.
    #[arg(long, default_value = "localhost")]
    pub external_host: String,
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
    /// Folder for shuffle files (default: a temporary folder).
    #[arg(long)]
    pub work_dir: Option<String>,
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
    cluster::add_job_functions(crate::ingest::distributed::functions());
    super::runtime()?.block_on(cluster::run_scheduler(bind, &args.external_host))
}

#[cfg(feature = "cluster")]
pub fn run_executor(args: ExecutorArgs) -> Result<()> {
    let (scheduler_host, scheduler_port) =
        cluster::parse_addr(&args.scheduler, DEFAULT_SCHEDULER_PORT)?;
    if args.bind_host.parse::<std::net::IpAddr>().is_err() {
        return Err(Error::usage(format!(
            "--bind-host {:?}: expected an IP address",
            args.bind_host
        )));
    }
    cluster::add_job_functions(crate::ingest::distributed::functions());
    super::runtime()?.block_on(cluster::run_executor(ExecutorOptions {
        scheduler_host,
        scheduler_port,
        bind_host: args.bind_host,
        port: args.port,
        external_host: args.external_host,
        vcores: args.vcores,
        work_dir: args.work_dir,
    }))
}
