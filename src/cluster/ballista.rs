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

use crate::error::{Error, Result};
use crate::store::Store;
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::{ConfigProducer, RuntimeProducer};
use datafusion::execution::{FunctionRegistry, SessionState, SessionStateBuilder};
use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The scheduler's default port, as in Ballista.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// The session settings of every cluster context: Ballista's, with keyrank's catalog.
fn config() -> SessionConfig {
    crate::query::keyrank_settings(
        SessionConfig::new_with_ballista().with_ballista_adaptive_query_planner(false),
    )
}

/// Aggregate functions the jobs of higher layers run on the cluster (the distributed
/// ingest's), added by them: the cluster knows nothing of what its jobs compute.
static JOB_FUNCTIONS: std::sync::RwLock<Vec<AggregateUDF>> = std::sync::RwLock::new(Vec::new());

/// Adds functions every scheduler, executor and client of this process knows. Call it
/// before starting or reaching a cluster; a function already added is kept once.
pub fn add_job_functions(functions: impl IntoIterator<Item = AggregateUDF>) {
    let mut all = JOB_FUNCTIONS.write().unwrap_or_else(|p| p.into_inner());
    for f in functions {
        if !all.iter().any(|g| g.name() == f.name()) {
            all.push(f);
        }
    }
}

fn job_functions() -> Vec<AggregateUDF> {
    JOB_FUNCTIONS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
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
    for f in job_functions() {
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

/// The functions an executor resolves plan nodes with: DataFusion's and keyrank's.
pub fn function_registry() -> Result<BallistaFunctionRegistry> {
    Ok(BallistaFunctionRegistry::from(&scheduler_state(config())?))
}

/// A client context on the scheduler at `url` (`df://HOST:PORT`) with the store's
/// tables and keyrank's functions. Fails at once, naming `url`, when nothing answers
/// there.
pub async fn connect(url: &str, store: &Store) -> Result<SessionContext> {
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
        .with_config(config())
        .with_runtime_env(crate::store::object_stores::runtime_env()?)
        .with_default_features()
        .build();
    let ctx = SessionContext::remote_with_state(url, state)
        .await
        .map_err(|e| Error::usage(format!("--cluster {url}: {e}")))?;
    // Functions go on after the upgrade to Ballista, which replaces the function lists.
    crate::query::register_all(&ctx, store).await?;
    for f in job_functions() {
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

/// Runs a scheduler on `bind` until the process is stopped. Executors connect to it;
/// clients send it SQL.
pub async fn run_scheduler(bind: SocketAddr, external_host: &str) -> Result<()> {
    let scheduler_config = ballista_scheduler::config::SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: external_host.to_string(),
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        override_session_builder: Some(Arc::new(scheduler_state)),
        override_config_producer: Some(Arc::new(config)),
        ..Default::default()
    };
    let cluster = ballista_scheduler::cluster::BallistaCluster::new_from_config(&scheduler_config)
        .await
        .map_err(|e| Error::Other(format!("scheduler: {e}")))?;
    eprintln!("keyrank scheduler listening on {bind}");
    ballista_scheduler::scheduler_process::start_server(cluster, bind, Arc::new(scheduler_config))
        .await
        .map_err(|e| Error::Other(format!("scheduler: {e}")))
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
    /// Shuffle files go here (default: a temporary folder).
    pub work_dir: Option<String>,
}

/// Runs an executor until the process is stopped: it pulls tasks from the scheduler
/// and serves their results over Arrow Flight.
pub async fn run_executor(opts: ExecutorOptions) -> Result<()> {
    let config = ballista_executor::executor_process::ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: Some(opts.external_host.clone()),
        port: opts.port,
        scheduler_host: opts.scheduler_host.clone(),
        scheduler_port: opts.scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: opts.vcores,
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: opts.work_dir.clone(),
        override_function_registry: Some(Arc::new(function_registry()?)),
        override_config_producer: Some(Arc::new(config)),
        override_runtime_producer: Some(Arc::new(executor_runtime)),
        ..Default::default()
    };
    eprintln!(
        "keyrank executor on {}:{} for scheduler {}:{}",
        opts.bind_host, opts.port, opts.scheduler_host, opts.scheduler_port
    );
    ballista_executor::executor_process::start_executor_process(Arc::new(config))
        .await
        .map_err(|e| Error::Other(format!("executor: {e}")))
}

/// A scheduler and executors on loopback, served by their own runtime in this process;
/// dropping it stops them.
pub struct LocalCluster {
    url: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LocalCluster {
    /// Starts a scheduler and `executors` executors with `vcores` task slots each.
    pub fn start(executors: usize, vcores: usize) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("keyrank-cluster")
            .build()
            .map_err(|e| Error::Other(format!("async runtime: {e}")))?;
        let port = runtime.block_on(async {
            let codec = BallistaCodec::default();
            let producer: ConfigProducer = Arc::new(config);
            let addr = ballista_scheduler::standalone::new_standalone_scheduler_with_builder(
                Arc::new(scheduler_state),
                producer.clone(),
                codec.clone(),
            )
            .await
            .map_err(|e| Error::Other(format!("scheduler: {e}")))?;
            let url = format!("http://localhost:{}", addr.port());
            // The server is spawned: wait until it accepts.
            let mut tries = 0;
            let scheduler = loop {
                match SchedulerGrpcClient::connect(url.clone()).await {
                    Ok(c) => break c,
                    Err(e) if tries >= 100 => {
                        return Err(Error::Other(format!("scheduler at {url}: {e}")));
                    }
                    Err(_) => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            };
            let runtime_producer: RuntimeProducer = Arc::new(executor_runtime);
            for _ in 0..executors {
                ballista_executor::new_standalone_executor_from_builder(
                    scheduler.clone(),
                    vcores.max(1),
                    producer.clone(),
                    runtime_producer.clone(),
                    codec.clone(),
                    function_registry()?,
                )
                .await
                .map_err(|e| Error::Other(format!("executor: {e}")))?;
            }
            Ok::<u16, Error>(addr.port())
        })?;
        Ok(LocalCluster {
            url: format!("df://localhost:{port}"),
            runtime: Some(runtime),
        })
    }

    /// `df://localhost:PORT`, for [`connect`] and `--cluster`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
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
