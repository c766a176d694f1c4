//! keyrank's scheduler service: Ballista's, with what a cluster may be asked checked
//! before Ballista sees a call.
//!
//! - Every call carries the cluster token ([`Security::check_call`]).
//! - With TLS, executor calls (register, poll, heartbeat, task status, stop) come only
//!   from a peer whose certificate the cluster's CA signed.
//! - Queries are read-only ([`check_plan`]): logical plans only (a physical plan could
//!   name any file or sink), no DDL, DML, COPY or statements, and a table scan only of
//!   Parquet listings inside the stores the scheduler serves (`--store`) or of data the
//!   plan carries in memory.

use super::security::Security;
use ballista_core::extension::SessionConfigHelperExt;
use ballista_core::serde::BallistaLogicalExtensionCodec;
use ballista_core::serde::protobuf::execute_query_params::Query;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpc;
use ballista_core::serde::protobuf::*;
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::catalog::MemTable;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion_proto::logical_plan::AsLogicalPlan;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use std::sync::Arc;
use tonic::{Request, Response, Status};

type Inner = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// Where the scheduler's clients may read: store folders or URLs, each ending in `/`.
#[derive(Debug, Clone, Default)]
pub struct Readable {
    roots: Vec<String>,
    any: bool,
}

impl Readable {
    /// Every location (a cluster inside this process, whose clients are its own).
    pub fn any() -> Readable {
        Readable {
            roots: Vec::new(),
            any: true,
        }
    }

    /// The stores at `locations` (folders or object-store URLs).
    pub fn stores(locations: &[String]) -> crate::error::Result<Readable> {
        let mut roots = Vec::new();
        for loc in locations {
            let urls = if loc.contains("://") {
                vec![
                    url::Url::parse(loc)
                        .map_err(|e| crate::error::Error::usage(format!("--store {loc:?}: {e}")))?,
                ]
            } else {
                // The folder as named and with its links resolved: clients may name it
                // either way.
                let path = std::path::Path::new(loc);
                // A store not yet written (its first ingest may come later) is taken
                // as named.
                let named =
                    std::path::absolute(path).map_err(|e| crate::error::Error::io(path, e))?;
                let real = std::fs::canonicalize(path).unwrap_or_else(|_| named.clone());
                let mut urls = Vec::new();
                for p in [real, named] {
                    urls.push(url::Url::from_directory_path(&p).map_err(|_| {
                        crate::error::Error::usage(format!("--store {loc:?}: not a folder"))
                    })?);
                }
                urls
            };
            for url in urls {
                let mut root = url.to_string();
                if !root.ends_with('/') {
                    root.push('/');
                }
                if !roots.contains(&root) {
                    roots.push(root);
                }
            }
        }
        Ok(Readable { roots, any: false })
    }

    /// Whether `location` (a listing's URL) lies inside one of the stores. The URL is
    /// parsed again, which resolves `.` and `..` segments, and one that still holds
    /// `..` (encoded) is refused.
    fn allows(&self, location: &str) -> bool {
        if self.any {
            return true;
        }
        let Ok(url) = url::Url::parse(location) else {
            return false;
        };
        let normal = url.to_string();
        if normal.to_ascii_lowercase().contains("%2e%2e") || normal.contains("/../") {
            return false;
        }
        self.roots.iter().any(|r| normal.starts_with(r.as_str()))
    }
}

/// Why a plan is refused, or nothing.
pub fn check_plan(plan: &LogicalPlan, readable: &Readable) -> Result<(), String> {
    let mut refusal = None;
    plan.apply_with_subqueries(|node| {
        let why = match node {
            LogicalPlan::Ddl(d) => Some(format!("{} changes the catalog", d.name())),
            LogicalPlan::Dml(_) => Some("INSERT, UPDATE and DELETE write".to_string()),
            LogicalPlan::Copy(_) => Some("COPY writes files".to_string()),
            LogicalPlan::Statement(_) => Some("statements change the session".to_string()),
            LogicalPlan::Extension(e) => Some(format!(
                "the plan node {} is not one keyrank runs",
                e.node.name()
            )),
            LogicalPlan::TableScan(scan) => scan_refusal(scan, readable),
            _ => None,
        };
        match why {
            Some(why) => {
                refusal = Some(why);
                Ok(TreeNodeRecursion::Stop)
            }
            None => Ok(TreeNodeRecursion::Continue),
        }
    })
    .map_err(|e| e.to_string())?;
    match refusal {
        Some(why) => Err(format!("keyrank's cluster is read-only: {why}")),
        None => Ok(()),
    }
}

fn scan_refusal(scan: &datafusion::logical_expr::TableScan, readable: &Readable) -> Option<String> {
    let provider = match source_as_provider(&scan.source) {
        Ok(p) => p,
        Err(_) => return Some(format!("table {} has no readable source", scan.table_name)),
    };
    if provider.is::<MemTable>() {
        return None;
    }
    if let Some(listing) = provider.downcast_ref::<ListingTable>() {
        let outside = listing
            .table_paths()
            .iter()
            .map(|p| p.as_str().to_string())
            .find(|p| !readable.allows(p));
        return outside.map(|p| {
            format!(
                "table {} reads {p}, which is not in a store this scheduler serves (--store)",
                scan.table_name
            )
        });
    }
    Some(format!("table {} is not a store table", scan.table_name))
}

/// Ballista's scheduler service behind keyrank's checks.
pub struct Guarded {
    inner: Inner,
    security: Security,
    readable: Arc<Readable>,
}

impl Guarded {
    pub fn new(inner: Inner, security: Security, readable: Readable) -> Self {
        Guarded {
            inner,
            security,
            readable: Arc::new(readable),
        }
    }

    /// An executor's call: with TLS, its peer must hold a certificate of the CA.
    fn executor_call<T>(&self, request: &Request<T>) -> Result<(), Status> {
        if self.security.tls() && request.peer_certs().is_none_or(|c| c.is_empty()) {
            return Err(Status::permission_denied(
                "keyrank: executors present a certificate the cluster's CA signed",
            ));
        }
        Ok(())
    }

    /// Decodes the query as the scheduler will and checks it.
    async fn check_query(&self, params: &ExecuteQueryParams) -> Result<(), Status> {
        let plan = match &params.query {
            Some(Query::LogicalPlan(bytes)) => bytes,
            Some(_) => {
                return Err(Status::permission_denied(
                    "keyrank's cluster takes logical plans only",
                ));
            }
            None => return Ok(()),
        };
        let config = super::ballista::config().update_from_key_value_pair(&params.settings);
        let state = super::ballista::scheduler_state(config)
            .map_err(|e| Status::internal(format!("keyrank: {e}")))?;
        let ctx = SessionContext::new_with_state(state);
        let codec = BallistaLogicalExtensionCodec::default();
        let plan = LogicalPlanNode::try_decode(plan)
            .and_then(|node| node.try_into_logical_plan(ctx.task_ctx().as_ref(), &codec))
            .map_err(|e| {
                Status::invalid_argument(format!("keyrank: the plan does not decode: {e}"))
            })?;
        check_plan(&plan, &self.readable).map_err(Status::permission_denied)
    }
}

#[tonic::async_trait]
impl SchedulerGrpc for Guarded {
    async fn poll_work(
        &self,
        request: Request<PollWorkParams>,
    ) -> Result<Response<PollWorkResult>, Status> {
        self.executor_call(&request)?;
        SchedulerGrpc::poll_work(&self.inner, request).await
    }

    async fn register_executor(
        &self,
        request: Request<RegisterExecutorParams>,
    ) -> Result<Response<RegisterExecutorResult>, Status> {
        self.executor_call(&request)?;
        SchedulerGrpc::register_executor(&self.inner, request).await
    }

    async fn heart_beat_from_executor(
        &self,
        request: Request<HeartBeatParams>,
    ) -> Result<Response<HeartBeatResult>, Status> {
        self.executor_call(&request)?;
        SchedulerGrpc::heart_beat_from_executor(&self.inner, request).await
    }

    async fn update_task_status(
        &self,
        request: Request<UpdateTaskStatusParams>,
    ) -> Result<Response<UpdateTaskStatusResult>, Status> {
        self.executor_call(&request)?;
        SchedulerGrpc::update_task_status(&self.inner, request).await
    }

    async fn create_update_session(
        &self,
        request: Request<CreateUpdateSessionParams>,
    ) -> Result<Response<CreateUpdateSessionResult>, Status> {
        SchedulerGrpc::create_update_session(&self.inner, request).await
    }

    async fn remove_session(
        &self,
        request: Request<RemoveSessionParams>,
    ) -> Result<Response<RemoveSessionResult>, Status> {
        SchedulerGrpc::remove_session(&self.inner, request).await
    }

    type ExecuteQueryPushStream = <Inner as SchedulerGrpc>::ExecuteQueryPushStream;

    async fn execute_query_push(
        &self,
        request: Request<ExecuteQueryParams>,
    ) -> Result<Response<Self::ExecuteQueryPushStream>, Status> {
        self.check_query(request.get_ref()).await?;
        SchedulerGrpc::execute_query_push(&self.inner, request).await
    }

    async fn execute_query(
        &self,
        request: Request<ExecuteQueryParams>,
    ) -> Result<Response<ExecuteQueryResult>, Status> {
        self.check_query(request.get_ref()).await?;
        SchedulerGrpc::execute_query(&self.inner, request).await
    }

    async fn get_job_status(
        &self,
        request: Request<GetJobStatusParams>,
    ) -> Result<Response<GetJobStatusResult>, Status> {
        SchedulerGrpc::get_job_status(&self.inner, request).await
    }

    async fn get_job_metrics(
        &self,
        request: Request<GetJobMetricsParams>,
    ) -> Result<Response<GetJobMetricsResult>, Status> {
        SchedulerGrpc::get_job_metrics(&self.inner, request).await
    }

    async fn executor_stopped(
        &self,
        request: Request<ExecutorStoppedParams>,
    ) -> Result<Response<ExecutorStoppedResult>, Status> {
        self.executor_call(&request)?;
        SchedulerGrpc::executor_stopped(&self.inner, request).await
    }

    async fn cancel_job(
        &self,
        request: Request<CancelJobParams>,
    ) -> Result<Response<CancelJobResult>, Status> {
        SchedulerGrpc::cancel_job(&self.inner, request).await
    }

    async fn clean_job_data(
        &self,
        request: Request<CleanJobDataParams>,
    ) -> Result<Response<CleanJobDataResult>, Status> {
        SchedulerGrpc::clean_job_data(&self.inner, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::CsvReadOptions;

    async fn refusal(ctx: &SessionContext, sql: &str, readable: &Readable) -> Option<String> {
        let plan = ctx.state().create_logical_plan(sql).await.unwrap();
        check_plan(&plan, readable).err()
    }

    #[tokio::test]
    async fn plans_that_write_or_read_outside_the_stores_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        std::fs::write(store.join("in.csv"), "a\n1\n").unwrap();
        std::fs::write(dir.path().join("out.csv"), "a\n2\n").unwrap();
        let readable = Readable::stores(&[store.display().to_string()]).unwrap();
        let ctx = SessionContext::new();
        ctx.register_csv(
            "inside",
            &store.join("in.csv").display().to_string(),
            CsvReadOptions::new(),
        )
        .await
        .unwrap();
        ctx.register_csv(
            "outside",
            &dir.path().join("out.csv").display().to_string(),
            CsvReadOptions::new(),
        )
        .await
        .unwrap();
        // A sibling whose name starts like the store's is outside it too.
        let sibling = dir.path().join("store-evil");
        std::fs::create_dir(&sibling).unwrap();
        std::fs::write(sibling.join("x.csv"), "a\n3\n").unwrap();
        ctx.register_csv(
            "sibling",
            &sibling.join("x.csv").display().to_string(),
            CsvReadOptions::new(),
        )
        .await
        .unwrap();
        assert_eq!(refusal(&ctx, "SELECT a FROM inside", &readable).await, None);
        assert_eq!(refusal(&ctx, "SELECT 1 + 1", &readable).await, None);
        for sql in [
            "SELECT a FROM outside",
            "SELECT a FROM sibling",
            "SELECT a FROM inside WHERE a IN (SELECT a FROM outside)",
            "SELECT * FROM inside UNION ALL SELECT * FROM outside",
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/hostname'",
            "CREATE VIEW v AS SELECT 1",
            "CREATE TABLE t2 AS SELECT 1",
            "DROP TABLE inside",
            "INSERT INTO inside VALUES (5)",
            "COPY (SELECT 1) TO '/tmp/keyrank-never.csv' STORED AS CSV",
            "SET datafusion.execution.batch_size = 1",
        ] {
            let why = refusal(&ctx, sql, &readable).await;
            assert!(
                why.as_deref().is_some_and(|w| w.contains("read-only")),
                "{sql}: {why:?}"
            );
        }
        // `..` in a location is resolved before the check.
        let sneaky = format!("{}/../out.csv", store.display());
        ctx.register_csv("sneaky", &sneaky, CsvReadOptions::new())
            .await
            .unwrap();
        assert!(
            refusal(&ctx, "SELECT a FROM sneaky", &readable)
                .await
                .is_some()
        );
    }
}
