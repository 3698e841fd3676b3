//! Issue 17: imports follow the layering. Each top-level module of `src/`
//! has a rank; a module may import only modules of a lower rank, so no
//! arrow runs from a lower layer to a higher one, and no two modules of
//! one rank lean on each other. Reads the source: a `crate::module` path
//! outside a comment is an import.
//!
//! `cargo test --test architecture -- --nocapture` prints the graph
//! (module → modules it imports).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom to top. The flat helpers first, then the layers in the order a
/// response passes them on its way back up, then what composes them.
const RANKS: &[(&str, u32)] = &[
    ("macros", 0),
    ("error", 0),
    ("duration", 1),
    ("headers", 2),
    ("redact", 3),
    ("redis_connection", 4),
    ("classify", 5),
    ("rate", 6),
    ("concurrency", 6),
    ("feedback", 7),
    ("stats", 8),
    ("retry", 9),
    ("adaptive", 9),
    ("batch", 9),
    ("dlq", 10),
    ("policy", 11),
    ("presets", 12),
    ("pacer", 12),
    ("tonic", 13),
    ("bulk", 13),
    ("destinations", 13),
    ("reqwest", 14),
];

/// Items re-exported at the crate root, by the module that defines them.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("BoxError", "error"),
    ("ConfigError", "error"),
    ("ParseError", "error"),
    ("Pacer", "pacer"),
];

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The module names `line` imports through `crate::…`.
fn imports(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                found.push(root_item(name));
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(root_item(&name));
        }
    }
    found
}

fn root_item(name: &str) -> String {
    ROOT_ITEMS
        .iter()
        .find(|(item, _)| *item == name)
        .map_or(name, |(_, module)| module)
        .to_owned()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a name");
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" {
            continue;
        }
        let text = fs::read_to_string(&file).expect("readable source");
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let code = code.split(" //").next().unwrap_or(code);
            for target in imports(code) {
                if !target.is_empty() && target != module {
                    graph.entry(module.clone()).or_default().insert(target);
                }
            }
        }
    }
    graph
}

fn rank(module: &str) -> Option<u32> {
    RANKS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

#[test]
fn no_import_runs_against_the_layering() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (module, targets) in &graph {
        println!(
            "{module} -> {}",
            Vec::from_iter(targets.iter().cloned()).join(" ")
        );
        let Some(from) = rank(module) else {
            wrong.push(format!("{module}: no rank (add it to RANKS)"));
            continue;
        };
        for target in targets {
            match rank(target) {
                None => wrong.push(format!("{module} -> {target}: {target} has no rank")),
                Some(to) if to >= from => {
                    wrong.push(format!("{module} ({from}) -> {target} ({to})"));
                }
                Some(_) => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn the_scan_sees_imports() {
    // The graph is not empty by accident of the scan: known arrows exist.
    let graph = graph();
    assert!(graph["retry"].contains("classify"));
    assert!(graph["pacer"].contains("rate"));
    assert_eq!(imports("use crate::{BoxError, Pacer};"), ["error", "pacer"]);
    assert_eq!(imports("x: crate::rate::Limiter,"), ["rate"]);
}
