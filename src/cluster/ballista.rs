//! Scale-out on Apache DataFusion Ballista: keyrank's SQL on a scheduler and its
//! executors, with keyrank's functions registered on every one of them.
//!
//! - [`connect`]: a client context on `df://HOST:PORT` with the store's tables and
//!   keyrank's functions, for `sql`, `query`, `rank` and `budget --cluster`;
//! - [`run_scheduler`] and [`run_executor`]: the `keyrank scheduler` and `keyrank
//!   executor` processes (pull scheduling, so executors need no inbound gRPC port);
//! - [`LocalCluster`]: a scheduler and executors on loopback inside this process, for
//!   tests and benchmarks.
//!
//! The store must be on storage every executor sees under the same path: the plan
//! carries the Parquet file paths, and each executor reads its own share of them.

use super::guard::{Guarded, Readable};
use super::security::{ClusterSecret, Security};
use crate::error::{Error, Result};
use crate::store::Store;
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::ConfigProducer;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use datafusion::execution::{FunctionRegistry, SessionState, SessionStateBuilder};
use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The scheduler's default port, as in Ballista.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// The session settings of every cluster context: Ballista's, with keyrank's catalog.
pub(super) fn config() -> SessionConfig {
    crate::query::keyrank_settings(
        SessionConfig::new_with_ballista().with_ballista_adaptive_query_planner(false),
    )
}

/// [`config`] for a node with `security`: every connection Ballista opens from it
/// (to the scheduler, to executors for shuffles and results) is shaped by
/// [`Security::endpoint`].
fn node_config(security: &Security) -> SessionConfig {
    config().with_ballista_override_create_grpc_client_endpoint(endpoint_fn(security))
}

fn endpoint_fn(security: &Security) -> ballista_core::extension::EndpointOverrideFn {
    let s = security.clone();
    Arc::new(move |e| s.endpoint(e))
}

/// Builds the aggregate functions of a kind of job, given the node's cluster secret
/// (none on a node without a token).
pub type JobFunctions = fn(Option<&ClusterSecret>) -> Vec<AggregateUDF>;

/// The job kinds of higher layers (the distributed ingest's), added by them: the
/// cluster knows nothing of what its jobs compute.
static JOB_FUNCTIONS: std::sync::RwLock<Vec<JobFunctions>> = std::sync::RwLock::new(Vec::new());

/// Adds a kind of job every scheduler, executor and client of this process knows.
/// Call it before starting or reaching a cluster; a kind already added is kept once.
pub fn add_job_functions(functions: JobFunctions) {
    let mut all = JOB_FUNCTIONS.write().unwrap_or_else(|p| p.into_inner());
    if !all.iter().any(|f| std::ptr::fn_addr_eq(*f, functions)) {
        all.push(functions);
    }
}

fn job_functions(secret: Option<&ClusterSecret>) -> Vec<AggregateUDF> {
    let kinds = JOB_FUNCTIONS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut out: Vec<AggregateUDF> = Vec::new();
    for f in kinds.iter().flat_map(|k| k(secret)) {
        if !out.iter().any(|g| g.name() == f.name()) {
            out.push(f);
        }
    }
    out
}

/// Credentials of the clusters this process runs ([`LocalCluster`]), by URL: their
/// clients use them rather than the environment's.
static LOCAL_CLIENTS: std::sync::Mutex<Vec<(String, Security)>> = std::sync::Mutex::new(Vec::new());

/// The credentials a client of `url` uses: those of a cluster this process runs, else
/// the environment's ([`Security::from_env`]).
pub fn client_security(url: &str) -> Result<Security> {
    let known = LOCAL_CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    match known.iter().find(|(u, _)| u == url) {
        Some((_, s)) => Ok(s.clone()),
        None => Security::from_env(),
    }
}

/// [`crate::query::session`], or with `cluster` (`df://HOST:PORT`) a context whose
/// queries run on that Ballista cluster.
pub async fn session_at(store: &Store, cluster: Option<&str>) -> Result<SessionContext> {
    match cluster {
        Some(url) => connect(url, store).await,
        None => crate::query::session(store).await,
    }
}

/// The state the scheduler plans a client's SQL in: Ballista's defaults plus keyrank's
/// functions, so plans that call them decode there.
pub fn scheduler_state(config: SessionConfig) -> datafusion::common::Result<SessionState> {
    // Ballista's defaults, resolving object store URLs (s3://) the way keyrank does:
    // the scheduler lists a store's files.
    let state = ballista_core::utils::default_session_builder(config)?;
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(crate::store::object_stores::runtime_env()?)
        .build();
    for f in crate::query::udf::scalar_functions() {
        state.register_udf(Arc::new(f))?;
    }
    for f in crate::query::udf::aggregate_functions() {
        state.register_udaf(Arc::new(f))?;
    }
    // The scheduler plans jobs but runs none of their functions: no secret.
    for f in job_functions(None) {
        state.register_udaf(Arc::new(f))?;
    }
    Ok(state)
}

/// The runtime an executor runs each task in: it resolves `s3://` stores.
fn executor_runtime(
    _: &SessionConfig,
) -> datafusion::common::Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
    crate::store::object_stores::runtime_env()
}

/// The functions an executor resolves plan nodes with: DataFusion's and keyrank's,
/// the jobs' built with the executor's cluster secret.
pub fn function_registry(secret: Option<&ClusterSecret>) -> Result<BallistaFunctionRegistry> {
    let mut registry = BallistaFunctionRegistry::from(&scheduler_state(config())?);
    for f in job_functions(secret) {
        registry
            .aggregate_functions
            .insert(f.name().to_string(), Arc::new(f));
    }
    Ok(registry)
}

/// A client context on the scheduler at `url` (`df://HOST:PORT`) with the store's
/// tables and keyrank's functions, using [`client_security`]. Fails at once, naming
/// `url`, when nothing answers there.
pub async fn connect(url: &str, store: &Store) -> Result<SessionContext> {
    connect_with(url, store, &client_security(url)?).await
}

/// [`connect`] with the given credentials.
pub async fn connect_with(url: &str, store: &Store, security: &Security) -> Result<SessionContext> {
    let (host, port) = parse_addr(url, DEFAULT_SCHEDULER_PORT)?;
    let reach = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(Duration::from_secs(10), reach).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(Error::usage(format!(
                "--cluster {url}: cannot reach the scheduler: {e}"
            )));
        }
        Err(_) => {
            return Err(Error::usage(format!(
                "--cluster {url}: the scheduler did not answer within 10 s"
            )));
        }
    }
    let state = SessionStateBuilder::new()
        .with_config(node_config(security))
        .with_runtime_env(crate::store::object_stores::runtime_env()?)
        .with_default_features()
        .build();
    let ctx = SessionContext::remote_with_state(url, state)
        .await
        .map_err(|e| Error::usage(format!("--cluster {url}: {e}")))?;
    // Functions go on after the upgrade to Ballista, which replaces the function lists.
    crate::query::register_all(&ctx, store).await?;
    for f in job_functions(security.secret().as_ref()) {
        ctx.register_udaf(f);
    }
    Ok(ctx)
}

/// `host:port`, with Ballista's default port when none is given.
pub fn parse_addr(text: &str, default_port: u16) -> Result<(String, u16)> {
    let text = text.trim_start_matches("df://");
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| Error::usage(format!("{text:?}: the port is not a number")))?,
        ),
        None => (text, default_port),
    };
    if host.is_empty() {
        return Err(Error::usage(format!("{text:?}: no host")));
    }
    Ok((host.to_string(), port))
}

/// Seconds a finished job's last output stays on the executors for its client to
/// fetch, before the scheduler has them delete it (intermediate shuffles go at once).
pub const FINISHED_JOB_KEPT_SECONDS: u64 = 10;

/// What a scheduler serves and whom.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub bind: SocketAddr,
    /// Host name executors and clients reach this scheduler by.
    pub external_host: String,
    pub security: Security,
    /// The stores clients may read (`--store`).
    pub readable: Readable,
    /// Leave finished jobs' output on the executors (for debugging).
    pub keep_shuffle: bool,
}

/// Runs a scheduler on `opts.bind` until the process is stopped. Executors connect to
/// it; clients send it plans.
pub async fn run_scheduler(opts: SchedulerOptions) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(opts.bind)
        .await
        .map_err(|e| Error::Other(format!("scheduler: cannot listen on {}: {e}", opts.bind)))?;
    eprintln!(
        "keyrank scheduler listening on {} ({})",
        opts.bind,
        describe(&opts.security)
    );
    serve_scheduler(listener, opts).await
}

fn describe(security: &Security) -> &'static str {
    match (security.tls(), security.token().is_some()) {
        (true, true) => "TLS, token",
        (true, false) => "TLS, no token",
        (false, true) => "token, no TLS",
        (false, false) => "no TLS, no token",
    }
}

/// The scheduler on an already-bound listener: Ballista's scheduler service behind
/// keyrank's checks ([`Guarded`]), on tonic with TLS when the node has it. Nothing
/// else is served: no REST API, no Flight SQL, no proxy.
async fn serve_scheduler(listener: tokio::net::TcpListener, opts: SchedulerOptions) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| Error::Other(format!("scheduler: {e}"));
    let bind = listener.local_addr().map_err(|e| err(&e))?;
    let security = opts.security.clone();
    let producer: ConfigProducer = {
        let s = security.clone();
        Arc::new(move || node_config(&s))
    };
    let scheduler_config = ballista_scheduler::config::SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: opts.external_host.clone(),
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        override_session_builder: Some(Arc::new(scheduler_state)),
        override_config_producer: Some(producer),
        override_create_grpc_client_endpoint: Some(endpoint_fn(&security)),
        finished_job_data_clean_up_interval_seconds: if opts.keep_shuffle {
            0
        } else {
            FINISHED_JOB_KEPT_SECONDS
        },
        ..Default::default()
    };
    scheduler_config.validate().map_err(|e| err(&e))?;
    let (max_in, max_out) = (
        scheduler_config.grpc_server_max_decoding_message_size as usize,
        scheduler_config.grpc_server_max_encoding_message_size as usize,
    );
    let cluster = ballista_scheduler::cluster::BallistaCluster::new_from_config(&scheduler_config)
        .await
        .map_err(|e| err(&e))?;
    let scheduler = ballista_scheduler::scheduler_process::create_scheduler::<
        LogicalPlanNode,
        PhysicalPlanNode,
    >(cluster, Arc::new(scheduler_config))
    .await
    .map_err(|e| err(&e))?;
    let guarded = Guarded::new(scheduler, security.clone(), opts.readable);
    let service = tonic::service::interceptor::InterceptedService::new(
        SchedulerGrpcServer::new(guarded)
            .max_decoding_message_size(max_in)
            .max_encoding_message_size(max_out),
        security.interceptor(),
    );
    let mut server = ballista_core::utils::create_grpc_server(&Default::default());
    if let Some(tls) = security.server_tls("keyrank scheduler")? {
        server = server.tls_config(tls).map_err(|e| err(&e))?;
    }
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    server
        .add_service(service)
        .serve_with_incoming(incoming)
        .await
        .map_err(|e| err(&e))
}

/// Where an executor listens and whom it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// Address the executor's Arrow Flight server binds (an IP).
    pub bind_host: String,
    pub port: u16,
    /// Name the scheduler and clients reach this executor by.
    pub external_host: String,
    /// Tasks run at once (0: one per core).
    pub vcores: usize,
    /// The folder keyrank's shuffle folder goes in (default: the system's temporary
    /// folder).
    pub work_dir: Option<String>,
    pub security: Security,
    /// Leave shuffle files in place: no wipe at start, no removal by age or at exit.
    pub keep_shuffle: bool,
}

/// The executor's own shuffle folder, `keyrank-shuffle-PORT` inside `work_dir`:
/// keyrank owns it, so it can empty it without touching anything else there.
pub fn shuffle_dir(work_dir: Option<&str>, port: u16) -> PathBuf {
    let base = work_dir
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    base.join(format!("keyrank-shuffle-{port}"))
}

/// Removes what an earlier executor left in `dir` (jobs whose end it never heard of).
fn wipe_stale(dir: &std::path::Path) -> Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let done = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        done.map_err(|e| Error::io(&path, e))?;
        removed += 1;
    }
    Ok(removed)
}

/// Seconds between an executor's sweeps for job folders no scheduler asked it to
/// remove, and the age at which a sweep removes one.
const SWEEP_EVERY_SECONDS: u64 = 60;
const SWEEP_AGE_SECONDS: u64 = 3600;

/// Runs an executor until the process is stopped: it pulls tasks from the scheduler
/// and serves their results over Arrow Flight (TLS and the token when it has them).
pub async fn run_executor(opts: ExecutorOptions) -> Result<()> {
    let dir = shuffle_dir(opts.work_dir.as_deref(), opts.port);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    if !opts.keep_shuffle {
        let n = wipe_stale(&dir)?;
        if n > 0 {
            eprintln!("keyrank executor: removed {n} stale shuffle folder(s) from an earlier run");
        }
    }
    let security = opts.security.clone();
    let producer: ConfigProducer = {
        let s = security.clone();
        Arc::new(move || node_config(&s))
    };
    let flight_security = security.clone();
    let flight: Arc<ballista_executor::ArrowFlightServerProvider> =
        Arc::new(move |work_dir, address, mut shutdown, grpc| {
            let security = flight_security.clone();
            tokio::spawn(async move {
                let flight = arrow_flight::flight_service_server::FlightServiceServer::new(
                    ballista_executor::flight_service::BallistaFlightService::new(work_dir),
                )
                .max_decoding_message_size(16 << 20)
                .max_encoding_message_size(16 << 20);
                let service = tonic::service::interceptor::InterceptedService::new(
                    flight,
                    security.interceptor(),
                );
                let mut server = ballista_core::utils::create_grpc_server(&grpc);
                if let Some(tls) = security
                    .server_tls("keyrank executor")
                    .map_err(|e| ballista_core::error::BallistaError::General(e.to_string()))?
                {
                    server = server.tls_config(tls)?;
                }
                server
                    .add_service(service)
                    .serve_with_shutdown(address, async move { shutdown.recv().await })
                    .await?;
                Ok(())
            })
        });
    let config = ballista_executor::executor_process::ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: Some(opts.external_host.clone()),
        port: opts.port,
        scheduler_host: opts.scheduler_host.clone(),
        scheduler_port: opts.scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: opts.vcores,
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: Some(dir.display().to_string()),
        job_data_clean_up_interval_seconds: if opts.keep_shuffle {
            0
        } else {
            SWEEP_EVERY_SECONDS
        },
        job_data_ttl_seconds: SWEEP_AGE_SECONDS,
        override_function_registry: Some(Arc::new(function_registry(security.secret().as_ref())?)),
        override_config_producer: Some(producer),
        override_runtime_producer: Some(Arc::new(executor_runtime)),
        override_arrow_flight_service: Some(flight),
        override_create_grpc_client_endpoint: Some(endpoint_fn(&security)),
        ..Default::default()
    };
    eprintln!(
        "keyrank executor on {}:{} for scheduler {}:{} ({})",
        opts.bind_host,
        opts.port,
        opts.scheduler_host,
        opts.scheduler_port,
        describe(&security)
    );
    ballista_executor::executor_process::start_executor_process(Arc::new(config))
        .await
        .map_err(|e| Error::Other(format!("executor: {e}")))
}

/// How a [`LocalCluster`] is made.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub executors: usize,
    pub vcores: usize,
    /// The scheduler's and every executor's credentials. Without a token of its own
    /// the cluster gets a random one, so its jobs have a secret.
    pub nodes: Security,
    /// What this process's clients of the cluster use.
    pub client: Security,
    /// The stores clients may read.
    pub readable: Readable,
    /// The folder the executors' shuffle folders go in (default: the system's
    /// temporary folder).
    pub work_dir: Option<PathBuf>,
}

impl LocalOptions {
    pub fn new(executors: usize, vcores: usize) -> Self {
        LocalOptions {
            executors,
            vcores,
            nodes: Security::default(),
            client: Security::default(),
            readable: Readable::default(),
            work_dir: None,
        }
    }
}

/// A scheduler and executors on loopback, the same servers `keyrank scheduler` and
/// `keyrank executor` run, served by their own runtime in this process; dropping it
/// stops them.
pub struct LocalCluster {
    url: String,
    shuffle_dirs: Vec<PathBuf>,
    runtime: Option<tokio::runtime::Runtime>,
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Other(format!("no free port on loopback: {e}")))
}

impl LocalCluster {
    /// Starts a scheduler and `executors` executors with `vcores` task slots each,
    /// without TLS, that read every store (a token of its own guards it).
    pub fn start(executors: usize, vcores: usize) -> Result<Self> {
        let token = format!("{:032x}", rand::random::<u128>());
        let nodes = Security::load(&Default::default(), Some(&token))?;
        LocalCluster::start_with(LocalOptions {
            client: nodes.clone(),
            nodes,
            readable: Readable::any(),
            ..LocalOptions::new(executors, vcores)
        })
    }

    /// Starts a cluster as `opts` says.
    pub fn start_with(opts: LocalOptions) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("keyrank-cluster")
            .build()
            .map_err(|e| Error::Other(format!("async runtime: {e}")))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| Error::Other(format!("scheduler: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::Other(format!("scheduler: {e}")))?
            .port();
        runtime.spawn(serve_scheduler(
            listener,
            SchedulerOptions {
                bind: ([127, 0, 0, 1], port).into(),
                external_host: "localhost".into(),
                security: opts.nodes.clone(),
                readable: opts.readable.clone(),
                keep_shuffle: false,
            },
        ));
        let mut shuffle_dirs = Vec::new();
        for _ in 0..opts.executors {
            let flight_port = free_port()?;
            let work_dir = opts.work_dir.as_ref().map(|p| p.display().to_string());
            shuffle_dirs.push(shuffle_dir(work_dir.as_deref(), flight_port));
            runtime.spawn(run_executor(ExecutorOptions {
                scheduler_host: "localhost".into(),
                scheduler_port: port,
                bind_host: "127.0.0.1".into(),
                port: flight_port,
                external_host: "localhost".into(),
                vcores: opts.vcores.max(1),
                work_dir,
                security: opts.nodes.clone(),
                keep_shuffle: false,
            }));
        }
        let url = format!("df://localhost:{port}");
        LOCAL_CLIENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((url.clone(), opts.client.clone()));
        let cluster = LocalCluster {
            url,
            shuffle_dirs,
            runtime: Some(runtime),
        };
        cluster.wait_for_scheduler()?;
        Ok(cluster)
    }

    /// Waits until the scheduler accepts connections. Executors register as they
    /// start; a job sent before they have waits for them.
    fn wait_for_scheduler(&self) -> Result<()> {
        let addr = self.url.trim_start_matches("df://").to_string();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            if std::time::Instant::now() > deadline {
                return Err(Error::Other(format!(
                    "the local scheduler at {addr} did not start"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `df://localhost:PORT`, for [`connect`] and `--cluster`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Each executor's shuffle folder.
    pub fn shuffle_dirs(&self) -> &[PathBuf] {
        &self.shuffle_dirs
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        LOCAL_CLIENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(u, _)| u != &self.url);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("df://sched.example:50051", 1).unwrap(),
            ("sched.example".to_string(), 50051)
        );
        assert_eq!(
            parse_addr("10.0.0.5", DEFAULT_SCHEDULER_PORT).unwrap(),
            ("10.0.0.5".to_string(), DEFAULT_SCHEDULER_PORT)
        );
        assert!(parse_addr("host:port", 1).is_err());
        assert!(parse_addr(":50050", 1).is_err());
    }
}
