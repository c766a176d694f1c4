//! Stores on object storage: `--store s3://BUCKET/PREFIX` for the commands that read a
//! store (`sql`, `query`, `rank`, `budget`, `report`), embedded or on a cluster.
//!
//! Every context keyrank makes (embedded, the cluster client, the scheduler and each
//! executor) resolves object store URLs through [`KeyrankObjectStores`]: `file://` as
//! the local file system, and `s3://BUCKET` as Amazon S3 (or an S3-compatible
//! service) configured from the environment of the process that reads it —
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
//! `AWS_ALLOW_HTTP` and the other variables `object_store` reads. On a cluster the
//! scheduler lists the files and the executors read them, so those processes need
//! the variables too.

use datafusion::common::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use std::sync::Arc;
use url::Url;

/// Schemes a store URL may have.
pub const SCHEMES: [&str; 2] = ["s3", "file"];

/// DataFusion's registry, which also opens an `s3://` bucket on first use.
#[derive(Debug, Default)]
pub struct KeyrankObjectStores {
    inner: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for KeyrankObjectStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match self.inner.get_store(url) {
            Ok(store) => Ok(store),
            Err(e) if url.scheme() != "s3" => Err(e),
            Err(_) => {
                let bucket = url.host_str().unwrap_or_default();
                let s3: Arc<dyn ObjectStore> = Arc::new(
                    AmazonS3Builder::from_env()
                        .with_bucket_name(bucket)
                        .build()?,
                );
                let base = Url::parse(&format!("s3://{bucket}"))
                    .map_err(|e| datafusion::common::DataFusionError::External(e.into()))?;
                self.inner.register_store(&base, s3.clone());
                Ok(s3)
            }
        }
    }
}

/// The runtime of every keyrank context: DataFusion's defaults with the process's one
/// [`KeyrankObjectStores`], so a bucket opened once (an executor runs many tasks) is
/// reused rather than opened again by every context.
pub fn runtime_env() -> Result<Arc<RuntimeEnv>> {
    static STORES: std::sync::OnceLock<Arc<KeyrankObjectStores>> = std::sync::OnceLock::new();
    let stores = STORES.get_or_init(Default::default).clone();
    RuntimeEnvBuilder::new()
        .with_object_store_registry(stores)
        .build_arc()
}

/// The settings every keyrank context has, embedded or on a cluster: the
/// information schema on, and keyrank's own catalog and schema.
pub fn keyrank_settings(config: SessionConfig) -> SessionConfig {
    config
        .with_information_schema(true)
        .with_default_catalog_and_schema("keyrank", "public")
}

/// The one builder of an embedded DataFusion context, with no tables: keyrank's
/// settings (`DATAFUSION_*` environment variables still apply) on the shared
/// [`runtime_env`]. The query layer registers a store's tables on it; the purchase
/// join and the upgrade's reader of old stores register their own. Ballista
/// contexts start from the same [`keyrank_settings`].
pub fn session_context() -> Result<SessionContext> {
    session_context_on(runtime_env()?)
}

/// [`session_context`] on a given runtime, whose caches (Parquet footers and page
/// indexes, file listings) outlive the context: a long-running server (the
/// dashboard) keeps one and so opens a store's files once, not on every request.
pub fn session_context_on(env: Arc<RuntimeEnv>) -> Result<SessionContext> {
    let state = SessionStateBuilder::new()
        .with_config(keyrank_settings(SessionConfig::from_env()?))
        .with_runtime_env(env)
        .with_default_features()
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// `text` as a store URL (`s3://bucket/prefix`, `file:///path`), ending in `/`;
/// `None` when it is a plain path.
pub fn store_url(text: &str) -> Option<std::result::Result<Url, String>> {
    let (scheme, _) = text.split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    if !SCHEMES.contains(&scheme) {
        return Some(Err(format!(
            "{text}: stores can be local paths, s3:// or file:// URLs, not {scheme}://"
        )));
    }
    let with_slash = if text.ends_with('/') {
        text.to_string()
    } else {
        format!("{text}/")
    };
    Some(Url::parse(&with_slash).map_err(|e| format!("{text}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert!(store_url("/var/lib/keyrank").is_none());
        assert!(store_url("store").is_none());
        let u = store_url("s3://shop-logs/keyrank").unwrap().unwrap();
        assert_eq!(u.as_str(), "s3://shop-logs/keyrank/");
        assert_eq!(u.host_str(), Some("shop-logs"));
        let err = store_url("ftp://x/y").unwrap().unwrap_err();
        assert!(err.contains("ftp://"), "{err}");
    }

    #[test]
    fn s3_buckets_open_on_first_use_and_files_resolve() {
        let stores = KeyrankObjectStores::default();
        assert!(
            stores
                .get_store(&Url::parse("file:///tmp").unwrap())
                .is_ok()
        );
        // Building the client needs no network: the bucket opens, then is reused.
        let url = Url::parse("s3://some-bucket/store/").unwrap();
        let a = stores
            .get_store(&url)
            .expect("an S3 store from the environment");
        let b = stores.get_store(&url).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(stores.get_store(&Url::parse("gs://b/x").unwrap()).is_err());
    }
}
