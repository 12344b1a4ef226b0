//! The source tree's dependencies run one way: no folder under `src/` uses a folder that uses
//! it back, and no module uses a module that uses it back (except a folder's `mod.rs`, which
//! declares and wires its children, and those children).
//!
//! A small reader over `crate::` and `super::` paths (in `use` lines and inline), not a
//! compiler: good enough for this crate's style, and it fails loudly on a path it cannot
//! resolve rather than passing by ignoring it. Test code (`#[cfg(test)]` to the end of a file,
//! `tests.rs`, `tests/` folders) is left out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module: its path from the crate root (`["api", "rentals", "flow"]`).
type Module = Vec<String>;

struct Source {
    module: Module,
    /// The folder the file is in, relative to `src/` (`["api", "rentals"]`; empty for `src/`).
    folder: Vec<String>,
    file: String,
    code: String,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(&src).unwrap();
            let parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let name = parts.last().unwrap().clone();
            if name == "main.rs" && parts.len() == 1 {
                return None; // the binary: its own crate
            }
            if name == "tests.rs" || parts[..parts.len() - 1].iter().any(|p| p == "tests") {
                return None;
            }
            let folder = parts[..parts.len() - 1].to_vec();
            let mut module = folder.clone();
            match name.as_str() {
                "lib.rs" | "mod.rs" => {}
                other => module.push(other.trim_end_matches(".rs").to_string()),
            }
            let text = std::fs::read_to_string(&path).unwrap();
            Some(Source {
                module,
                folder,
                file: format!("src/{}", parts.join("/")),
                code: strip(&text),
            })
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code without test modules, comments and string literals.
fn strip(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i + 1 < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' && !(i > 0 && b[i - 1] == b'\'') {
            // Raw strings (r"..", r#".."#) are skipped as plain ones: none holds a quote here.
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every path starting with `crate::` or `super::`, `use` groups expanded.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    // `use` statements, braces expanded.
    let mut rest = code;
    while let Some(i) = find_word(rest, "use") {
        let stmt = &rest[i + 3..];
        let end = stmt.find(';').unwrap_or(stmt.len());
        expand("", stmt[..end].trim(), &mut out);
        rest = &stmt[end..];
    }
    // Inline paths (`crate::dispatch::check_radius(..)`).
    let mut rest = code;
    while let Some(i) = find_any(rest, &["crate::", "super::"]) {
        let tail = &rest[i..];
        let len = tail
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        out.push(tail[..len].trim_end_matches(':').to_string());
        rest = &tail[len..];
    }
    out.retain(|p| p.starts_with("crate::") || p.starts_with("super::"));
    out.sort();
    out.dedup();
    out
}

fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(word) {
        let at = from + i;
        let before = s[..at].chars().next_back();
        let after = s[at + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !ident(before) && !ident(after) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

fn find_any(s: &str, needles: &[&str]) -> Option<usize> {
    needles
        .iter()
        .filter_map(|n| {
            let mut from = 0;
            while let Some(i) = s[from..].find(n) {
                let at = from + i;
                let before = s[..at].chars().next_back();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    return Some(at);
                }
                from = at + n.len();
            }
            None
        })
        .min()
}

/// `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e` (prefixed by `prefix`).
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree: String = tree.split_whitespace().collect();
    let tree = tree.as_str();
    match tree.find('{') {
        None => out.push(format!("{prefix}{tree}")),
        Some(open) => {
            let close = tree.rfind('}').expect("balanced use braces");
            let head = format!("{prefix}{}", &tree[..open]);
            let mut depth = 0;
            let mut start = open + 1;
            for (i, c) in tree.char_indices().take(close).skip(open + 1) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&head, &tree[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if start < close {
                expand(&head, &tree[start..close], out);
            }
        }
    }
}

/// The deepest module `path` names, seen from `from`.
fn resolve(path: &str, from: &Module, modules: &BTreeSet<Module>) -> Module {
    let mut segments = path.split("::").filter(|s| !s.is_empty());
    let mut at: Module = match segments.next() {
        Some("crate") => Vec::new(),
        Some("super") => from[..from.len() - 1].to_vec(),
        other => panic!("not a crate path: {other:?}"),
    };
    for seg in segments {
        if seg == "super" {
            at.pop();
            continue;
        }
        if seg == "self" || seg == "*" {
            break;
        }
        let mut next = at.clone();
        next.push(seg.to_string());
        if !modules.contains(&next) {
            break;
        }
        at = next;
    }
    at
}

fn within(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Each edge of a cycle in `edges` (strongly connected components of more than one node).
fn cycles<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Vec<(N, N)> {
    let reach = |from: &N| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let mut out = Vec::new();
    for (a, targets) in edges {
        for b in targets {
            if reach(b).contains(a) {
                out.push((a.clone(), b.clone()));
            }
        }
    }
    out
}

#[test]
fn dependencies_between_folders_and_modules_run_one_way() {
    let sources = sources();
    let modules: BTreeSet<Module> = sources.iter().map(|s| s.module.clone()).collect();
    let by_module: BTreeMap<&Module, &Source> = sources.iter().map(|s| (&s.module, s)).collect();
    let mut folders: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut files: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    let mut why: BTreeMap<(Vec<String>, Vec<String>), String> = BTreeMap::new();
    for s in &sources {
        for path in paths(&s.code) {
            let target = resolve(&path, &s.module, &modules);
            if within(&s.module, &target) {
                continue; // itself, a parent or a child
            }
            files
                .entry(s.module.clone())
                .or_default()
                .insert(target.clone());
            let to = &by_module[&target].folder;
            if !within(&s.folder, to) {
                folders
                    .entry(s.folder.clone())
                    .or_default()
                    .insert(to.clone());
                why.entry((s.folder.clone(), to.clone()))
                    .or_insert_with(|| format!("{} uses {path}", s.file));
            }
        }
    }
    assert!(
        files.len() > 20,
        "the reader found too few dependencies to be reading this crate"
    );
    let folder_cycles: Vec<String> = cycles(&folders)
        .into_iter()
        .map(|(a, b)| {
            format!(
                "src/{}/ -> src/{}/ ({})",
                a.join("/"),
                b.join("/"),
                why[&(a.clone(), b.clone())]
            )
        })
        .collect();
    let file_cycles: Vec<String> = cycles(&files)
        .into_iter()
        .map(|(a, b)| format!("{} -> {}", by_module[&a].file, by_module[&b].file))
        .collect();
    assert!(
        folder_cycles.is_empty() && file_cycles.is_empty(),
        "dependency cycles:\nbetween folders:\n  {}\nbetween modules:\n  {}",
        folder_cycles.join("\n  "),
        file_cycles.join("\n  ")
    );
}

#[test]
fn the_reader_expands_use_groups_and_resolves_super() {
    let mut out = Vec::new();
    expand(
        "",
        "crate::api::{error::ApiError, routes::{RouteDoc, Routes}}",
        &mut out,
    );
    assert_eq!(
        out,
        [
            "crate::api::error::ApiError",
            "crate::api::routes::RouteDoc",
            "crate::api::routes::Routes"
        ]
    );
    let m = |s: &str| -> Module { s.split('/').map(String::from).collect() };
    let modules: BTreeSet<Module> = [m("api"), m("api/rentals"), m("api/rentals/flow")]
        .into_iter()
        .collect();
    let from = m("api/rentals/booking");
    assert_eq!(
        resolve("super::flow::Thing", &from, &modules),
        m("api/rentals/flow")
    );
    assert_eq!(resolve("super::super::Thing", &from, &modules), m("api"));
    let code = strip("use crate::a::b; // crate::c::d\nfn f() { crate::e::f(\"crate::g\"); }");
    assert_eq!(paths(&code), ["crate::a::b", "crate::e::f"]);
}
