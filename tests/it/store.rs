//! The store as a transaction: a failed write at any step leaves it as it was, readers
//! never see half a write, one writer at a time, history and restore, days only from
//! real input, and the upgrade of a store written by an earlier keyrank.

use crate::common::{files_under, generated, ingest, query, test_entry};
use keyrank::generate::{GOAL, LOG_FILE, SITE};
use keyrank::store::Store;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn keyrank(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyrank"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("keyrank runs")
}

/// Two generated logs over the same days (seeds differ), in `dir/a` and `dir/b`.
fn two_logs(dir: &Path) -> (PathBuf, PathBuf) {
    let a = dir.join("a");
    let b = dir.join("b");
    generated(&a, 250, 1);
    generated(&b, 250, 2);
    (a.join(LOG_FILE), b.join(LOG_FILE))
}

/// What the data tables hold, per day.
fn state(store: &Path) -> Vec<Vec<String>> {
    query(
        store,
        "SELECT CAST(day AS VARCHAR) AS d, SUM(visits), SUM(conversions_last), COUNT(*) \
         FROM keyword_daily GROUP BY d ORDER BY d",
    )
}

fn runs(store: &Path) -> usize {
    let s = Store::open(store).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(s.history()).unwrap().1.len()
}

fn ingest_args<'a>(store: &'a str, log: &'a str) -> Vec<&'a str> {
    vec![
        "ingest",
        "--store",
        store,
        "--site",
        SITE,
        "--goal",
        GOAL,
        "--min-visitors",
        "1",
        "-q",
        log,
    ]
}

/// Data files outside the Delta logs: after a failed write, none but the live ones.
fn data_files(store: &Path) -> usize {
    files_under(store)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .filter(|p| !p.components().any(|c| c.as_os_str() == "_delta_log"))
        .count()
}

type Rows = Vec<Vec<String>>;

/// Everything a store holds, table by table, and its history's length.
fn everything(store: &Path) -> (Rows, Rows, Rows, usize) {
    (
        query(
            store,
            "SELECT CAST(day AS VARCHAR) AS d, estimated, SUM(visits), SUM(conversions_last), \
             COUNT(*) FROM keyword_daily GROUP BY d, estimated ORDER BY d, estimated",
        ),
        query(
            store,
            "SELECT CAST(day AS VARCHAR) AS d, engine, SUM(cost), COUNT(*) FROM ad_costs \
             GROUP BY d, engine ORDER BY d, engine",
        ),
        query(
            store,
            "SELECT CAST(day AS VARCHAR) AS d, engine, SUM(clicks), COUNT(*) FROM search_queries \
             GROUP BY d, engine ORDER BY d, engine",
        ),
        runs(store),
    )
}

/// Runs `args` (with `{store}` for the store) against copies of `base`, failing its
/// first, second, … write until it succeeds: each failure exits 1 naming a path and
/// leaves the copy exactly as `base`, with none of its files; the success equals the
/// same command run without faults. Returns how many writes were failed.
fn fail_every_write(dir: &Path, base: &Path, args: &[&str]) -> u64 {
    let copy = |to: &Path| {
        let _ = std::fs::remove_dir_all(to);
        for f in files_under(base) {
            let dest = to.join(f.strip_prefix(base).unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&f, &dest).unwrap();
        }
    };
    let with = |store: &Path| -> Vec<String> {
        let s = store.to_str().unwrap().to_string();
        args.iter().map(|a| a.replace("{store}", &s)).collect()
    };
    let expected_store = dir.join("expected");
    copy(&expected_store);
    let argv = with(&expected_store);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = keyrank(&argv, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = everything(&expected_store);
    let before = everything(base);
    assert_ne!(expected, before, "{args:?} changes the store");
    let files_before = data_files(base);
    let trial = dir.join("trial");
    let mut failed = 0;
    for n in 1.. {
        copy(&trial);
        let argv = with(&trial);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = keyrank(&argv, &[("KEYRANK_FAIL_WRITE", &n.to_string())]);
        if out.status.success() {
            break;
        }
        failed += 1;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "write {n}: {err}");
        assert!(
            err.contains(trial.to_str().unwrap()) && err.contains("injected fault"),
            "write {n}: the message names the path: {err}"
        );
        assert_eq!(
            everything(&trial),
            before,
            "{args:?}, write {n} failed: store unchanged"
        );
        assert_eq!(
            data_files(&trial),
            files_before,
            "write {n}: its files are gone"
        );
        assert!(n < 300, "a write that keeps failing");
    }
    assert_eq!(everything(&trial), expected);
    failed
}

#[test]
fn a_failed_write_at_any_step_of_any_command_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_logs(dir.path());
    let base = dir.path().join("base");
    let s = base.to_str().unwrap();
    assert!(
        keyrank(&ingest_args(s, a.to_str().unwrap()), &[])
            .status
            .success()
    );
    let sc = dir
        .path()
        .join("a")
        .join(keyrank::generate::SEARCH_CONSOLE_FILE);
    let sc = sc.to_str().unwrap();
    let costs = crate::common::root().join("testdata/costs.csv");
    let costs = costs.to_str().unwrap();
    // A Search Console import: its rows and the recovery it runs, one commit.
    let n = fail_every_write(
        dir.path(),
        &base,
        &["search-console", "import", "--store", "{store}", sc],
    );
    assert!(n > 10, "only {n} writes were failed");
    let out = keyrank(&["search-console", "import", "--store", s, sc], &[]);
    assert!(out.status.success());
    // A re-ingest over a store with query data: its days and their recovered rows.
    let n = fail_every_write(
        dir.path(),
        &base,
        &ingest_args("{store}", b.to_str().unwrap()),
    );
    assert!(n > 20, "only {n} writes were failed");
    // A cost import, and a restore.
    fail_every_write(
        dir.path(),
        &base,
        &["costs", "import", "--store", "{store}", costs],
    );
    fail_every_write(
        dir.path(),
        &base,
        &["store", "restore", "--store", "{store}", "--version", "0"],
    );
}

#[test]
fn reads_during_writes_see_one_committed_state_and_writers_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_logs(dir.path());
    let store = dir.path().join("store");
    let tweak = |c: &mut keyrank::ingest::IngestConfig| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
        c.min_visitors = 1;
    };
    ingest(&store, &[&b], tweak);
    let state_b = state(&store);
    ingest(&store, &[&a], tweak);
    let state_a = state(&store);
    assert_ne!(state_a, state_b);

    // Two writers at once, again and again, while a reader reads.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut reads = 0;
    std::thread::scope(|s| {
        let writers: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|log| {
                let store = store.clone();
                s.spawn(move || {
                    for _ in 0..3 {
                        ingest(&store, &[&log], tweak);
                    }
                })
            })
            .collect();
        let reader = s.spawn(|| {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let got = state(&store);
                assert!(got == state_a || got == state_b, "a mixed read: {got:?}");
                n += 1;
            }
            n
        });
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        reads = reader.join().unwrap();
    });
    assert!(reads > 0);
    // Every run is in the history: 2 before, 6 concurrent.
    assert_eq!(runs(&store), 8);

    // A writer that cannot wait is refused with the store's name; nothing changes.
    let held = Store::open(&store).unwrap().writer(Duration::ZERO).unwrap();
    let s = store.to_str().unwrap();
    let mut args = ingest_args(s, a.to_str().unwrap());
    args.extend(["--wait", "0"]);
    let out = keyrank(&args, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(s) && err.contains("another keyrank run"),
        "{err}"
    );
    drop(held);
    assert_eq!(runs(&store), 8);
}

#[test]
fn history_restore_and_vacuum() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_logs(dir.path());
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    assert!(
        keyrank(&ingest_args(s, a.to_str().unwrap()), &[])
            .status
            .success()
    );
    let state_a = state(&store);
    assert!(
        keyrank(&ingest_args(s, b.to_str().unwrap()), &[])
            .status
            .success()
    );
    let state_b = state(&store);

    let out = keyrank(&["history", "--store", s, "--format", "json"], &[]);
    assert!(out.status.success());
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let versions = h["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    let first = &versions[0];
    assert_eq!(first["command"], "ingest");
    let names: Vec<&str> = first["run"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [LOG_FILE], "file names only, never folders");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains(dir.path().to_str().unwrap()),
        "no path in the history"
    );
    let v_a = first["version"].as_u64().unwrap().to_string();

    let out = keyrank(&["store", "restore", "--store", s, "--version", &v_a], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(state(&store), state_a);
    assert_eq!(runs(&store), 3, "a restore is a version of its own");
    // ... and can itself be undone.
    let v_b = versions[1]["version"].as_u64().unwrap().to_string();
    assert!(
        keyrank(&["store", "restore", "--store", s, "--version", &v_b], &[])
            .status
            .success()
    );
    assert_eq!(state(&store), state_b);

    // Vacuum keeping nothing removes the files only old versions need...
    let files = data_files(&store);
    let out = keyrank(&["store", "vacuum", "--store", s, "--keep", "0d"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data_files(&store) < files);
    assert_eq!(state(&store), state_b);
    // ... so their versions can no longer be restored, which is said plainly.
    let out = keyrank(&["store", "restore", "--store", s, "--version", &v_a], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("vacuum"));
    assert_eq!(state(&store), state_b);
}

#[test]
fn impossible_times_are_malformed_lines_and_never_days() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.jsonl");
    let line = |ts: &str| {
        format!(
            "{{\"ts\": {ts}, \"remote_addr\": \"203.0.113.9\", \"request\": \"GET /shoes HTTP/1.1\", \
             \"status\": 200, \"http_referer\": \"https://www.google.com/search?q=red+shoes\", \
             \"http_user_agent\": \"Mozilla/5.0\"}}\n"
        )
    };
    let text = [
        line("1709550000"),
        line("1709550000123456789"),
        line("1709550000123456"),
        line("1e300"),
        line("-5"),
        line("\"1989-12-31T23:59:59Z\""),
        line(&(chrono::Utc::now().timestamp() + 3 * 86_400).to_string()),
    ]
    .concat();
    std::fs::write(&log, text).unwrap();
    let store = dir.path().join("store");
    let summary = ingest(&store, &[&log], |c| {
        c.log_format = "json".into();
        c.json_fields = "time=ts".into();
        c.sites = vec!["shop.example".into()];
        c.min_visitors = 1;
    });
    // Nanoseconds and microseconds are the same instant as the seconds on line 1.
    assert_eq!(summary.malformed, 4, "{:?}", summary.problems);
    assert_eq!(summary.page_views, 3);
    assert!(
        summary.problems.iter().any(|p| p.contains("app.jsonl:4")),
        "{:?}",
        summary.problems
    );
    let days = query(
        &store,
        "SELECT DISTINCT CAST(day AS VARCHAR) FROM keyword_daily",
    );
    assert_eq!(days, vec![vec!["2024-03-04".to_string()]]);
}

#[test]
fn a_stray_line_never_wipes_a_stored_day() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_logs(dir.path());
    let store = dir.path().join("store");
    let tweak = |c: &mut keyrank::ingest::IngestConfig| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
        c.min_visitors = 1;
    };
    ingest(&store, &[&a], tweak);
    let before = state(&store);
    let first_day = before[0][0].clone();
    let last_day = before.last().unwrap()[0].clone();
    // A later log that holds one line dated on the first stored day, mid-file.
    let later = dir.path().join("later.log");
    let stray_date = chrono::NaiveDate::parse_from_str(&first_day, "%Y-%m-%d").unwrap();
    let next =
        chrono::NaiveDate::parse_from_str(&last_day, "%Y-%m-%d").unwrap() + chrono::Days::new(5);
    let hit = |d: chrono::NaiveDate, h: u32| {
        format!(
            "198.51.100.7 - - [{}:{h:02}:00:00 +0000] \"GET /p HTTP/1.1\" 200 5 \
             \"https://www.bing.com/search?q=boots\" \"Mozilla/5.0\"\n",
            d.format("%d/%b/%Y")
        )
    };
    std::fs::write(
        &later,
        [hit(next, 1), hit(stray_date, 2), hit(next, 3)].concat(),
    )
    .unwrap();
    let summary = ingest(&store, &[&later], tweak);
    assert_eq!(summary.days_left_alone, vec![first_day.clone()]);
    let after = state(&store);
    assert_eq!(
        after[0], before[0],
        "the stray line's day is left as stored"
    );
    assert_eq!(after.len(), before.len() + 1, "the covered day is written");
    // --replace-days forces it.
    let summary = ingest(&store, &[&later], |c| {
        tweak(c);
        c.replace_days = true;
    });
    assert!(summary.days_left_alone.is_empty());
    assert_ne!(state(&store)[0], before[0]);
}

/// Writes a store the way keyrank did before its tables were Delta tables.
fn legacy_store(from: &Path, to: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let src = Store::open(from).unwrap();
    let snap = rt.block_on(src.snapshot()).unwrap();
    for table in keyrank::store::TABLES {
        for f in &snap.table(table).files {
            let day = f.path.split('/').next().unwrap();
            let dir = to.join(table).join(day);
            std::fs::create_dir_all(&dir).unwrap();
            // The old files held no day column: the folder named it.
            let file = std::fs::File::open(from.join(table).join(&f.path)).unwrap();
            let reader =
                datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    file,
                )
                .unwrap()
                .build()
                .unwrap();
            let batches: Vec<_> = reader
                .map(|b| {
                    let mut b = b.unwrap();
                    b.remove_column(b.num_columns() - 1);
                    b
                })
                .collect();
            let out = std::fs::File::create(dir.join("part-0.parquet")).unwrap();
            let mut w =
                datafusion::parquet::arrow::ArrowWriter::try_new(out, batches[0].schema(), None)
                    .unwrap();
            for b in &batches {
                w.write(b).unwrap();
            }
            w.close().unwrap();
        }
    }
    let entry = serde_json::to_string(&test_entry("ingest")).unwrap();
    std::fs::write(to.join("ledger.jsonl"), format!("{entry}\n{entry}\n")).unwrap();
}

#[test]
fn a_store_of_an_earlier_keyrank_is_refused_then_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_logs(dir.path());
    let store = dir.path().join("store");
    ingest(&store, &[&a], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
    });
    let expected = state(&store);
    let old = dir.path().join("old");
    legacy_store(&store, &old);
    let o = old.to_str().unwrap();
    let out = keyrank(&["sql", "--store", o, "SELECT 1"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keyrank store upgrade --store"), "{err}");
    let out = keyrank(&["store", "upgrade", "--store", o], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(state(&old), expected);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (earlier, versions) = rt.block_on(Store::open(&old).unwrap().history()).unwrap();
    assert_eq!((earlier.len(), versions.len()), (2, 1));
    assert_eq!(
        query(&old, "SELECT COUNT(*) FROM ingest_runs"),
        vec![vec!["2".to_string()]],
        "the old ledger's runs"
    );
    assert_eq!(
        query(&old, "SELECT version, command FROM store_history"),
        vec![vec!["0".to_string(), "store upgrade".to_string()]]
    );
    assert!(!old.join("ledger.jsonl").exists());
    // A second upgrade has nothing to do.
    let out = keyrank(&["store", "upgrade", "--store", o], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// Each day file of `keyword_daily` is clustered by keyword, with the keyword column
/// written so that one of its pages can be read without the rest of the column: no
/// dictionary (which spans the whole column chunk), prefix-compressed strings, and each
/// page's min and max in the page index. The other string columns keep dictionaries.
#[test]
fn day_files_are_clustered_by_keyword_and_its_pages_read_alone() {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader;
    use datafusion::parquet::basic::Encoding;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = crate::common::generated_store(dir.path(), 400, 3);
    let files: Vec<PathBuf> = files_under(&store.join("keyword_daily"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert!(files.len() >= 5, "{files:?}");
    let mut keywords_seen = 0;
    for f in &files {
        let reader = SerializedFileReader::new(std::fs::File::open(f).unwrap()).unwrap();
        let meta = reader.metadata();
        let schema = meta.file_metadata().schema_descr();
        let at = |name: &str| {
            (0..schema.num_columns())
                .find(|&i| schema.column(i).name() == name)
                .unwrap_or_else(|| panic!("{}: no {name} column", f.display()))
        };
        let (kw, landing) = (at("keyword"), at("landing"));
        for rg in meta.row_groups() {
            let c = rg.column(kw);
            assert!(c.dictionary_page_offset().is_none(), "{}", f.display());
            assert!(
                c.encodings().any(|e| e == Encoding::DELTA_BYTE_ARRAY),
                "{}: {:?}",
                f.display(),
                c.encodings().collect::<Vec<_>>()
            );
            assert!(c.column_index_offset().is_some(), "no page index");
            assert!(rg.column(landing).dictionary_page_offset().is_some());
        }
        // Sorted by keyword (NULL, the visits without one, first).
        let mut keywords: Vec<Option<String>> = Vec::new();
        for b in ParquetRecordBatchReader::try_new(std::fs::File::open(f).unwrap(), 8192).unwrap() {
            let b = b.unwrap();
            let k = datafusion::arrow::compute::cast(
                b.column_by_name("keyword").unwrap(),
                &DataType::Utf8,
            )
            .unwrap();
            let k = k.as_string::<i32>();
            keywords.extend((0..k.len()).map(|i| (!k.is_null(i)).then(|| k.value(i).to_string())));
        }
        assert!(keywords.is_sorted(), "{}", f.display());
        keywords_seen += keywords.iter().flatten().count();
    }
    assert!(keywords_seen > 0);
}

#[test]
fn the_latest_version_is_found_from_any_version_seen_before() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let st = Store::create(&root).unwrap();
    let empty = rt.block_on(st.snapshot()).unwrap().version;
    assert_eq!(rt.block_on(st.latest_version(None)).unwrap(), empty);
    let mut seen = Vec::new();
    for run in 0..4 {
        let mut w = st.writer(Duration::from_secs(5)).unwrap();
        keyrank::import::costs::store(&mut w, &[]).unwrap();
        w.commit(test_entry(&format!("costs import {run}")))
            .unwrap();
        let now = rt.block_on(st.snapshot()).unwrap().version;
        assert!(now.is_some() && now > empty, "{now:?}");
        seen.push(now);
        // From nothing, from every version seen before, and from the latest itself.
        for known in std::iter::once(None).chain(seen.iter().copied()) {
            assert_eq!(
                rt.block_on(st.latest_version(known)).unwrap(),
                now,
                "from {known:?}"
            );
        }
    }
    // The history up to a version is that version's own.
    let (_, all) = rt.block_on(st.history()).unwrap();
    let (_, upto) = rt.block_on(st.history_to(seen[1])).unwrap();
    assert_eq!(all.len(), upto.len() + 2);
    assert_eq!(upto.last().map(|h| Some(h.version)), Some(seen[1]));
}
