//! Architecture invariants checked against the workspace itself, not only stated in
//! comments.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// The two engines that each vendor their own ggml: a binary linking both fails to link
/// (duplicate symbols) or, forced, aborts in a ggml assertion.
const EXCLUSIVE: [&str; 2] = ["whisper-rs", "llama-cpp-2"];

/// `cargo metadata` of this workspace, resolved with every member's default features.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--manifest-path", manifest])
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

/// For every workspace package with a binary target: the names of every package it
/// links (its normal dependencies, transitively; dev- and build-dependencies link
/// nothing into the binary).
pub(crate) fn linked_by_binaries(meta: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let normal_deps: BTreeMap<&str, Vec<&str>> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
                .map(|d| d["pkg"].as_str().unwrap())
                .collect();
            (n["id"].as_str().unwrap(), deps)
        })
        .collect();
    let members: BTreeSet<&str> =
        meta["workspace_members"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    let mut out = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        let has_bin =
            p["targets"].as_array().unwrap().iter().any(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"));
        if !members.contains(id) || !has_bin {
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![id];
        while let Some(x) = stack.pop() {
            if seen.insert(x) {
                stack.extend(normal_deps.get(x).into_iter().flatten().copied());
            }
        }
        out.insert(p["name"].as_str().unwrap().to_owned(), seen.into_iter().map(|x| name_of[x].to_owned()).collect());
    }
    out
}

#[test]
fn tidy_no_binary_links_both_whisper_and_llama() {
    let linked = linked_by_binaries(&metadata());
    // The check must see the binaries that do link an engine, or it proves nothing.
    assert!(linked["audio-worker"].contains(EXCLUSIVE[0]), "audio-worker should link whisper-rs: {linked:?}");
    assert!(linked["summary-worker"].contains(EXCLUSIVE[1]), "summary-worker should link llama-cpp-2");
    let both: Vec<&String> =
        linked.iter().filter(|(_, deps)| EXCLUSIVE.iter().all(|e| deps.contains(*e))).map(|(bin, _)| bin).collect();
    assert!(
        both.is_empty(),
        "{both:?} link both whisper-rs and llama-cpp-2; each vendors ggml, so no binary may link both \
         (see ARCHITECTURE.md, 'Architecture invariants')"
    );
    // The engine-free binaries stay engine-free.
    for bin in ["foreman", "ingest"] {
        assert!(!EXCLUSIVE.iter().any(|e| linked[bin].contains(*e)), "{bin} links an inference engine");
    }
    assert!(!linked["ingest"].contains("debrief-runtime"), "ingest does not need the worker runtime");
}
