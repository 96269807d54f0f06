//! The crate's layers, held: no module uses one from a layer above its own
//! (the map in `lib.rs`). The model knows nothing of participants, the
//! participants nothing of engines, the engines nothing of the checker.

use std::path::Path;

/// Bottom first; a module may use its own layer and those below.
const LAYERS: [(&str, &[&str]); 5] = [
    ("model", &["workflow", "workload", "id", "invariant", "cancel"]),
    ("participants", &["shop", "mutant", "stats"]),
    ("engines", &["protocol", "builtin", "client", "retry", "reconcile", "truth"]),
    ("checker", &["check"]),
    ("run", &["deployment", "looks", "costs", "run", "lib"]),
];

/// What the crate root re-exports, by the module that defines it.
const REEXPORTS: [(&str, &str); 7] = [
    ("Protocol", "protocol"),
    ("ProtocolRef", "protocol"),
    ("Registry", "protocol"),
    ("deploy", "deployment"),
    ("topology", "deployment"),
    ("Deployment", "deployment"),
    ("Topology", "deployment"),
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|(_, ms)| ms.contains(&module))
        .unwrap_or_else(|| panic!("module {module} is in no layer: add it to LAYERS and to lib.rs's map"))
}

/// Every `crate::NAME` a line of code (not a comment) names.
fn uses(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let before = line[..i].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue; // `faultline_protocols::…`, `$crate::…`
            }
            let name: String =
                line[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let module = REEXPORTS.iter().find(|(n, _)| *n == name).map_or(name, |(_, m)| m.to_string());
            out.push(module);
        }
    }
    out
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn layers_no_module_reaches_up() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    files(&src, &mut paths);
    paths.sort();
    let mut wrong = Vec::new();
    for path in &paths {
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
        let module = first.trim_end_matches(".rs");
        let code = std::fs::read_to_string(path).unwrap();
        for used in uses(&code) {
            if layer(&used) > layer(module) {
                let (from, to) = (LAYERS[layer(module)].0, LAYERS[layer(&used)].0);
                wrong.push(format!("{} ({from}) uses crate::{used} ({to})", rel.display()));
            }
        }
    }
    wrong.dedup();
    assert!(wrong.is_empty(), "modules reaching up a layer:\n{}", wrong.join("\n"));
    assert!(paths.len() > 40, "read the crate's sources: {} files", paths.len());
}

#[test]
fn layers_the_test_sees_a_reach_up() {
    // The check itself can fail: a participant naming the checker is caught.
    let used =
        uses("use crate::check::GroundTruth;\n// crate::run in a comment\nlet x = faultline_protocols::run;");
    assert_eq!(used, ["check"]);
    assert!(layer("check") > layer("shop"));
    assert_eq!(uses("fn f(p: &dyn crate::Protocol) {}"), ["protocol"]);
}
