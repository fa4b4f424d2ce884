//! The source tree's shape, checked from the text of `src/`: no import cycle between source files, none
//! between top-level modules, and no source file over [`MAX_LINES`] lines.
//!
//! An edge `a.rs -> b.rs` is any path in `a.rs` that names an item of `b.rs`: `use crate::..`, `use
//! super::..`, `use self::..`, a `use` or inline path through a child module declared with `mod`, and inline
//! `crate::x::y` / `super::x` paths in code (they carry dependencies a `use` list does not show). A path is
//! resolved to the deepest module of the tree that has a file, so `crate::regmix::fit::gbdt::Gbdt` is an
//! edge to `src/regmix/fit/gbdt.rs` and `crate::regmix::fit::Fitted` one to `src/regmix/fit/mod.rs`.
//! Comments and string literals are not read. Inside an inline `mod tests { .. }`, `super` is the file
//! itself. Std only, so the check builds in seconds and fails the build's test run, not a separate tool.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A file longer than this is two files with one job each (the project's style rule).
const MAX_LINES: usize = 500;

/// The top-level folders in pipeline order (`src/lib.rs` draws it): each may use only those before it.
const LAYERS: [&str; 11] = [
    "core", "data", "proxy", "regmix", "doremi", "manifest", "reuse", "validate", "report",
    "pipeline", "cli",
];

/// One module file: its module path from the crate root (`[]` for `lib.rs`) and its text.
struct Module {
    file: String,
    path: Vec<String>,
    text: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The library's modules; `main.rs` is a separate crate (it reaches the library as `remix::`).
fn modules(src: &Path) -> Vec<Module> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files
        .into_iter()
        .filter(|file| file != &src.join("main.rs"))
        .map(|file| {
            let relative = file.strip_prefix(src).expect("a file under src/");
            let mut path: Vec<String> = relative
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            let last = path.pop().expect("a file name");
            let stem = last.trim_end_matches(".rs");
            if stem != "mod" && stem != "lib" {
                path.push(stem.to_string());
            }
            let text = fs::read_to_string(&file)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
            Module {
                file: format!("src/{}", relative.display()),
                path,
                text,
            }
        })
        .collect()
}

/// The text with comments and string/char literals blanked out (lines kept, so counts stay right).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !prev_is_ident(&chars, i)
        {
            // Raw string r"..", r#".."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some('\n') => out.push('\n'),
                    _ => {}
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                } else if chars[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            out.push_str("' '");
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// `'x'` or `'\n'` is a char literal; `'a` (a lifetime) is not.
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// Every path a `use` tree names, braces expanded: `a::{b, c::d}` gives `a::b` and `a::c::d`.
fn expand_use(tree: &str) -> Vec<String> {
    // Drop each `as name` rename, keeping the punctuation after the name.
    let mut kept = String::new();
    let mut words = tree.split_whitespace();
    while let Some(word) = words.next() {
        if word == "as" {
            let renamed = words.next().unwrap_or("");
            kept.extend(
                renamed
                    .chars()
                    .filter(|c| !(c.is_alphanumeric() || *c == '_')),
            );
        } else {
            kept.push_str(word);
        }
    }
    let tree = kept;
    let mut out = Vec::new();
    expand_into("", &tree, &mut out);
    out
}

fn expand_into(prefix: &str, tree: &str, out: &mut Vec<String>) {
    for part in split_top(tree) {
        if let Some(open) = part.find('{') {
            let head = part[..open].trim_end_matches("::");
            let inner = &part[open + 1..part.len() - 1];
            expand_into(&join(prefix, head), inner, out);
        } else {
            out.push(join(prefix, part));
        }
    }
}

fn join(prefix: &str, part: &str) -> String {
    match (prefix.is_empty(), part.is_empty()) {
        (true, _) => part.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}::{part}"),
    }
}

/// Splits `a, b::{c, d}, e` at its top-level commas.
fn split_top(tree: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..]);
    parts.into_iter().filter(|part| !part.is_empty()).collect()
}

/// The paths one file names, each with the line it is on and whether it sits in an inline module.
fn paths_in(code: &str) -> Vec<(String, usize, bool)> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let line_of = |pos: usize| bytes[..pos].iter().filter(|&&c| c == '\n').count() + 1;
    let inline_start = inline_module_start(code);
    let char_pos = |byte: usize| code[..byte].chars().count();
    // `use` statements, expanded.
    let mut search = 0;
    while let Some(found) = code[search..].find("use ") {
        let at = search + found;
        search = at + 4;
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            break;
        };
        let tree = &code[at + 4..at + end];
        if tree.contains('(') || tree.contains('=') {
            continue;
        }
        let line = line_of(char_pos(at));
        for path in expand_use(tree) {
            out.push((path, line, inline_start.is_some_and(|start| at > start)));
        }
        search = at + end;
    }
    // Inline paths: every `ident::ident...` chain that starts a path (not preceded by `::`).
    let chars = &bytes;
    let mut i = 0;
    while i < chars.len() {
        if (chars[i].is_alphabetic() || chars[i] == '_') && !prev_is_ident(chars, i) {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let chain: String = chars[start..i].iter().collect();
            let preceded_by_colons =
                start >= 2 && chars[start - 1] == ':' && chars[start - 2] == ':';
            if chain.contains("::") && !preceded_by_colons {
                let byte = chars[..start].iter().map(|c| c.len_utf8()).sum::<usize>();
                out.push((
                    chain.trim_end_matches(':').to_string(),
                    line_of(start),
                    inline_start.is_some_and(|s| byte > s),
                ));
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Where the file's first inline module (`mod tests {`) starts, as a byte offset.
fn inline_module_start(code: &str) -> Option<usize> {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let rest = trimmed.strip_prefix("pub ").unwrap_or(trimmed);
        if let Some(rest) = rest.strip_prefix("mod ") {
            if rest.trim_end().ends_with('{') {
                return Some(offset);
            }
        }
        offset += line.len();
    }
    None
}

/// The child modules a file declares with `mod name;`.
fn child_modules(code: &str) -> BTreeSet<String> {
    code.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub "))
                .unwrap_or(line);
            let name = line.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// The file-level import graph: `from -> to -> the paths that make the edge (with line numbers)`.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn import_graph(modules: &[Module]) -> Graph {
    let by_path: BTreeMap<&[String], &str> = modules
        .iter()
        .map(|module| (module.path.as_slice(), module.file.as_str()))
        .collect();
    let mut graph = Graph::new();
    for module in modules {
        let code = code_only(&module.text);
        let children = child_modules(&code);
        graph.entry(module.file.clone()).or_default();
        for (path, line, in_inline) in paths_in(&code) {
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let Some(absolute) = absolute(&module.path, &segments, in_inline, &children) else {
                continue;
            };
            let target = (0..=absolute.len())
                .rev()
                .find_map(|len| by_path.get(&absolute[..len]).copied())
                .expect("the crate root is a module");
            if target != module.file {
                graph
                    .entry(module.file.clone())
                    .or_default()
                    .entry(target.to_string())
                    .or_default()
                    .insert(format!("{path} (line {line})"));
            }
        }
    }
    graph
}

/// The absolute module path a path names, or `None` for a path outside the crate (std, a dependency, a
/// local variable's field).
fn absolute(
    here: &[String],
    segments: &[&str],
    in_inline: bool,
    children: &BTreeSet<String>,
) -> Option<Vec<String>> {
    let (first, rest) = segments.split_first()?;
    let mut base: Vec<String> = match *first {
        "crate" => Vec::new(),
        "self" => here.to_vec(),
        "super" if in_inline => here.to_vec(),
        "super" => here[..here.len().checked_sub(1)?].to_vec(),
        name if children.contains(name) && !in_inline => {
            let mut base = here.to_vec();
            base.push(name.to_string());
            base
        }
        _ => return None,
    };
    let mut rest = rest;
    while let Some(("super", tail)) = rest.split_first().map(|(a, b)| (*a, b)) {
        base.pop()?;
        rest = tail;
    }
    base.extend(rest.iter().map(|s| s.to_string()));
    Some(base)
}

/// Strongly connected components with more than one node (Tarjan), each sorted.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        let next = state.index.len();
        state.index.insert(node, next);
        state.low.insert(node, next);
        state.stack.push(node);
        state.on_stack.insert(node);
        let graph = state.graph;
        for target in graph.get(node).into_iter().flatten() {
            let target = target.as_str();
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[node].min(state.low[target]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.low[node].min(state.index[target]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.push(top.to_string());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.out.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.out.sort();
    state.out
}

/// Each cycle with the edges inside it and the paths that make them.
fn describe(
    cycles: &[Vec<String>],
    edges: &BTreeMap<(String, String), BTreeSet<String>>,
) -> String {
    let mut out = String::new();
    for cycle in cycles {
        out.push_str(&format!("cycle: {}\n", cycle.join(", ")));
        for ((from, to), why) in edges {
            if cycle.contains(from) && cycle.contains(to) {
                let why: Vec<&str> = why.iter().map(String::as_str).take(4).collect();
                out.push_str(&format!("  {from} -> {to}: {}\n", why.join("; ")));
            }
        }
    }
    out
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module of a file: `src/regmix/fit/gbdt.rs` is in `regmix`; `src/lib.rs` is the crate root.
fn top_level(file: &str) -> String {
    let relative = file.trim_start_matches("src/");
    relative
        .split('/')
        .next()
        .unwrap_or(relative)
        .trim_end_matches(".rs")
        .to_string()
}

#[test]
fn no_import_cycle_between_source_files() {
    let graph = import_graph(&modules(&src_dir()));
    let simple: BTreeMap<String, BTreeSet<String>> = graph
        .iter()
        .map(|(from, to)| (from.clone(), to.keys().cloned().collect()))
        .collect();
    let edges = graph
        .iter()
        .flat_map(|(from, to)| {
            to.iter()
                .map(move |(to, why)| ((from.clone(), to.clone()), why.clone()))
        })
        .collect();
    let found = cycles(&simple);
    assert!(
        found.is_empty(),
        "import cycles between source files:\n{}",
        describe(&found, &edges)
    );
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = import_graph(&modules(&src_dir()));
    let mut simple: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in &graph {
        let from_top = top_level(from);
        simple.entry(from_top.clone()).or_default();
        for (to, why) in targets {
            let to_top = top_level(to);
            if from_top != to_top && from_top != "lib" && to_top != "lib" {
                simple
                    .entry(from_top.clone())
                    .or_default()
                    .insert(to_top.clone());
                edges
                    .entry((from_top.clone(), to_top))
                    .or_default()
                    .extend(why.iter().map(|why| format!("{from}: {why}")));
            }
        }
    }
    let found = cycles(&simple);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules:\n{}",
        describe(&found, &edges)
    );
}

#[test]
fn each_top_level_folder_uses_only_the_folders_before_it() {
    let graph = import_graph(&modules(&src_dir()));
    let layer = |file: &str| {
        let top = top_level(file);
        LAYERS
            .iter()
            .position(|name| *name == top)
            .map(|i| (i, top))
    };
    let mut upward = Vec::new();
    for (from, targets) in &graph {
        for (to, why) in targets {
            if let (Some((a, _)), Some((b, _))) = (layer(from), layer(to))
                && b > a
            {
                upward.push(format!(
                    "{from} -> {to}: {}",
                    why.iter().next().map_or("", String::as_str)
                ));
            }
        }
    }
    let unknown: Vec<String> = graph
        .keys()
        .filter(|file| layer(file).is_none() && top_level(file) != "lib")
        .cloned()
        .collect();
    assert!(
        unknown.is_empty(),
        "files outside the layers {LAYERS:?} (add the folder there and to src/lib.rs's docs): {unknown:?}"
    );
    assert!(
        upward.is_empty(),
        "imports against the pipeline order {LAYERS:?}:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_source_file_over_the_line_limit() {
    let long: Vec<String> = modules(&src_dir())
        .iter()
        .filter(|module| module.text.lines().count() > MAX_LINES)
        .map(|module| format!("{} ({} lines)", module.file, module.text.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split each into files with one job each): {long:?}"
    );
}

#[test]
fn the_checker_sees_use_trees_inline_paths_and_cycles() {
    assert_eq!(
        expand_use("crate::{a::{b, c as d}, e}"),
        ["crate::a::b", "crate::a::c", "crate::e"]
    );
    let code = code_only(
        "use super::x; // crate::not::this\nlet s = \"crate::nor::this\"; crate::a::f();",
    );
    let paths: Vec<String> = paths_in(&code)
        .into_iter()
        .map(|(path, _, _)| path)
        .collect();
    assert!(
        paths.contains(&"super::x".to_string()) && paths.contains(&"crate::a::f".to_string()),
        "{paths:?}"
    );
    assert!(
        !paths
            .iter()
            .any(|path| path.contains("not") || path.contains("nor")),
        "{paths:?}"
    );
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(cycles(&graph), vec![vec!["a".to_string(), "b".to_string()]]);
}
