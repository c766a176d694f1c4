//! The rule of the house (ARCHITECTURE.md): each top-level module may use only the
//! modules below it, and no two source files import each other, however indirectly.
//! Read from the code's own `crate::` paths (comments and unit tests left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom first. A module may use those before it in this list, never those after.
const LAYERS: &[&str] = &[
    "error", "model", "parse", "classify", "privacy", "store", "query", "cluster", "import",
    "ingest", "rank", "report", "generate", "serve", "cli",
];

/// Each source file of the library as its module path (`ingest::pipeline`) and code.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = crate::common::root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        if parts == ["lib"] || parts == ["main"] {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code: String = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        out.insert(parts.join("::"), code);
    }
    out
}

/// The files each file imports: every `crate::a::b::…` path, resolved to the longest
/// module it names.
fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let path = regex::Regex::new(r"crate::((?:[a-z_0-9]+::)*[a-z_0-9]+)").unwrap();
    let mut out = BTreeMap::new();
    for (m, code) in modules {
        let mut to = BTreeSet::new();
        for c in path.captures_iter(code) {
            let segs: Vec<&str> = c[1].split("::").collect();
            let target = (1..=segs.len())
                .rev()
                .map(|i| segs[..i].join("::"))
                .find(|t| modules.contains_key(t));
            if let Some(t) = target
                && t != *m
            {
                to.insert(t);
            }
        }
        out.insert(m.clone(), to);
    }
    out
}

fn layer(module: &str) -> usize {
    let top = module.split("::").next().unwrap();
    LAYERS
        .iter()
        .position(|l| *l == top)
        .unwrap_or_else(|| panic!("{top} is in no layer: add it to LAYERS and ARCHITECTURE.md"))
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let modules = modules();
    let mut upward = Vec::new();
    for (m, to) in imports(&modules) {
        for t in to {
            if layer(&t) > layer(&m) {
                upward.push(format!("{m} uses {t}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports pointing up a layer: {upward:#?}"
    );
}

#[test]
fn no_two_files_import_each_other() {
    let graph = imports(&modules());
    // Depth-first search; a file met again while still on the path closes a cycle.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if !done.insert(m.to_string()) {
            return None;
        }
        path.push(m.to_string());
        for t in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(t, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        let cycle = visit(m, &graph, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap().join(" → ")
        );
    }
}

#[test]
fn the_layer_rule_sees_an_upward_import() {
    // The check itself: a made-up store file that uses ingest is caught.
    let mut modules = modules();
    modules.insert("store::bad".into(), "use crate::ingest::RunSummary;".into());
    let up: Vec<_> = imports(&modules)["store::bad"]
        .iter()
        .filter(|t| layer(t) > layer("store::bad"))
        .cloned()
        .collect();
    assert_eq!(up, ["ingest"]);
}
