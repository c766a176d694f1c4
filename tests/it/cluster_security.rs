//! A cluster no stranger can use: a scheduler and two executors with TLS and a token on
//! loopback. The right credentials work and give the embedded answers; a wrong or
//! missing token and a plaintext client are refused; writes and reads outside the
//! store are refused at the scheduler, also from a plain Ballista client; the work
//! folders are empty after the jobs.

use crate::common::{files_under, generated_store, query_at};
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use keyrank::cluster::{LocalCluster, LocalOptions, Readable, Security, TlsFiles};
use keyrank::store::Store;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "test-cluster-token-0123456789abcdef";

/// A CA and one certificate for every node (localhost, 127.0.0.1), as PEM files.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    ca_pem: String,
}

fn pki(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "keyrank test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let node_key = KeyPair::generate().unwrap();
    let node_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let node_cert = node_params.signed_by(&node_key, &issuer).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("node.pem", node_cert.pem()),
        key: write("node.key", node_key.serialize_pem()),
        ca_pem: ca_cert.pem(),
    }
}

fn client(pki: &Pki, token: Option<&str>, tls: bool) -> Security {
    let files = TlsFiles {
        ca: tls.then(|| pki.ca.clone()),
        ..TlsFiles::default()
    };
    Security::load(&files, token).unwrap()
}

/// Runs `sql` on the cluster at `url` with `security`; the error as text.
fn try_query(store: &Path, url: &str, security: &Security, sql: &str) -> Result<usize, String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(store).map_err(|e| e.to_string())?;
        let ctx = keyrank::cluster::connect_with(url, &store, security)
            .await
            .map_err(|e| e.to_string())?;
        let query = async {
            let (_, batches) = keyrank::query::run(&ctx, sql)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(batches.iter().map(|b| b.num_rows()).sum())
        };
        tokio::time::timeout(Duration::from_secs(60), query)
            .await
            .map_err(|_| "timed out".to_string())?
    })
}

/// A plain Ballista client: TLS with the cluster's CA and the token as a Bearer, and
/// none of keyrank's own checks.
fn raw_client_sql(url: &str, ca_pem: &str, statements: &[&str]) -> Result<usize, String> {
    let ca = tonic::transport::Certificate::from_pem(ca_pem.as_bytes());
    let tls: ballista_core::extension::EndpointOverrideFn = Arc::new(move |e| {
        let mut parts = e.uri().clone().into_parts();
        parts.scheme = Some(tonic::codegen::http::uri::Scheme::HTTPS);
        let uri = tonic::codegen::http::Uri::from_parts(parts)?;
        Ok(tonic::transport::Endpoint::from(uri)
            .tls_config(tonic::transport::ClientTlsConfig::new().ca_certificate(ca.clone()))?)
    });
    let config = SessionConfig::new_with_ballista()
        .with_ballista_grpc_metadata(HashMap::from([(
            "authorization".to_string(),
            format!("Bearer {TOKEN}"),
        )]))
        .with_ballista_override_create_grpc_client_endpoint(tls);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .build();
        let ctx = SessionContext::remote_with_state(url, state)
            .await
            .map_err(|e| e.to_string())?;
        let run = async {
            let mut rows = 0;
            for sql in statements {
                let df = ctx.sql(sql).await.map_err(|e| e.to_string())?;
                let batches = df.collect().await.map_err(|e| e.to_string())?;
                rows = batches.iter().map(|b| b.num_rows()).sum();
            }
            Ok::<_, String>(rows)
        };
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .map_err(|_| "timed out".to_string())?
    })
}

#[test]
fn a_tls_cluster_with_a_token_serves_only_its_own_and_cleans_up() {
    use keyrank::generate::{GOAL, LOG_FILE, SITE};
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let (_, store) = generated_store(dir.path(), 2_500, 31);
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    keyrank::cluster::add_job_functions(keyrank::ingest::distributed::functions);

    let nodes = Security::load(
        &TlsFiles {
            ca: Some(pki.ca.clone()),
            cert: Some(pki.cert.clone()),
            key: Some(pki.key.clone()),
        },
        Some(TOKEN),
    )
    .unwrap();
    let good = client(&pki, Some(TOKEN), true);
    let ingested = dir.path().join("ingested");
    std::fs::create_dir(&ingested).unwrap();
    let cluster = LocalCluster::start_with(LocalOptions {
        nodes,
        client: good.clone(),
        readable: Readable::stores(&[store.display().to_string()]).unwrap(),
        work_dir: Some(work.clone()),
        ..LocalOptions::new(2, 2)
    })
    .expect("a TLS cluster starts");
    let url = cluster.url().to_string();

    // The right token over TLS: the canned queries answer as the embedded engine.
    let mut compared = 0;
    for q in keyrank::query::queries::builtin()
        .unwrap()
        .into_iter()
        .take(4)
    {
        let sql = q.render(&BTreeMap::new()).unwrap();
        let mut embedded = query_at(&store, &sql, None);
        let mut remote = query_at(&store, &sql, Some(&url));
        embedded.sort();
        remote.sort();
        assert_eq!(remote, embedded, "query {} over TLS", q.name);
        compared += usize::from(!embedded.is_empty());
    }
    assert!(compared >= 2, "only {compared} queries returned rows");

    // A distributed ingest over TLS writes what an embedded ingest writes.
    let log = dir.path().join(LOG_FILE);
    let setup = |c: &mut keyrank::ingest::IngestConfig| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
    };
    let remote_store = ingested.join("store");
    crate::common::ingest(&remote_store, &[&log], |c| {
        setup(c);
        c.cluster = Some(url.clone());
    });
    let totals = "SELECT keyword, SUM(visits), SUM(conversions_last) FROM keyword_daily \
                  GROUP BY keyword ORDER BY keyword";
    assert_eq!(
        query_at(&remote_store, totals, None),
        query_at(&store, totals, None),
        "the distributed ingest over TLS writes the embedded store's figures"
    );

    // The jobs' shuffle files are where the cluster says (the ingest's last output is
    // kept a few seconds for its client), so the emptiness checked below is real.
    let written: usize = cluster
        .shuffle_dirs()
        .iter()
        .map(|d| files_under(d).len())
        .sum();
    assert!(
        written > 0,
        "no shuffle file was seen in the executors' folders"
    );

    // A wrong token, no token, and a plaintext client are refused.
    let sql = "SELECT COUNT(*) FROM keyword_daily";
    assert_eq!(try_query(&store, &url, &good, sql), Ok(1));
    let wrong = try_query(
        &store,
        &url,
        &client(&pki, Some("not-the-token-0123456789"), true),
        sql,
    );
    assert!(
        wrong
            .as_ref()
            .is_err_and(|e| e.contains("wrong cluster token")),
        "{wrong:?}"
    );
    let missing = try_query(&store, &url, &client(&pki, None, true), sql);
    assert!(
        missing
            .as_ref()
            .is_err_and(|e| e.contains("KEYRANK_CLUSTER_TOKEN")),
        "{missing:?}"
    );
    let plain = try_query(&store, &url, &client(&pki, Some(TOKEN), false), sql);
    assert!(plain.is_err(), "a plaintext client was served: {plain:?}");

    // Reading outside the store, and writing anywhere, are refused at the scheduler.
    let secret = dir.path().join("secret.csv");
    std::fs::write(&secret, "a\n1\n").unwrap();
    let outside = format!(
        "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true'); \
         SELECT * FROM leak",
        secret.display()
    );
    for (what, sql) in [
        ("a table outside the store", outside.clone()),
        (
            "COPY",
            format!(
                "COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
                dir.path().join("copied.csv").display()
            ),
        ),
    ] {
        let statements: Vec<&str> = sql.split("; ").collect();
        let last = raw_client_sql(&url, &pki.ca_pem, &statements);
        assert!(
            last.as_ref().is_err_and(|e| e.contains("read-only")),
            "{what} from a plain Ballista client: {last:?}"
        );
    }
    assert!(
        !dir.path().join("copied.csv").exists(),
        "COPY wrote its file"
    );
    let via_keyrank = try_query(
        &store,
        &url,
        &good,
        &format!("SELECT * FROM '{}'", secret.display()),
    );
    assert!(
        via_keyrank.is_err(),
        "a file outside the store was read: {via_keyrank:?}"
    );

    // After the jobs the executors' shuffle folders empty themselves.
    assert_eq!(cluster.shuffle_dirs().len(), 2);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left: Vec<PathBuf> = cluster
            .shuffle_dirs()
            .iter()
            .flat_map(|d| files_under(d))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "shuffle files stayed after the jobs: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for d in cluster.shuffle_dirs() {
        assert!(
            d.starts_with(&work),
            "{} is not in the work folder",
            d.display()
        );
    }
}

#[test]
fn a_scheduler_on_an_open_address_without_tls_and_a_token_exits_at_once() {
    let started = Instant::now();
    let out = std::process::Command::new(insta_cmd::get_cargo_bin("keyrank"))
        .args(["scheduler", "--bind", "0.0.0.0:0"])
        .env_remove("KEYRANK_CLUSTER_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0.0.0.0") && err.contains("--insecure"),
        "{err}"
    );
    // With a token but no TLS, the same.
    let out = std::process::Command::new(insta_cmd::get_cargo_bin("keyrank"))
        .args(["executor", "--bind-host", "0.0.0.0"])
        .env("KEYRANK_CLUSTER_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS"));
}
