//! The layer rules of docs/ARCHITECTURE.md, checked on the source text (no
//! compiler help: `src/**/*.rs` is read and its `use crate::…`, `super::…`,
//! `self::…` and child-module paths parsed, comments and strings skipped):
//!
//! - `backend` and `model` import nothing from `engine`, `steer`, `cli`,
//!   `worker` or `app` (tests included), and `dist` (the distribution
//!   maths under everything) nothing from the crate;
//! - no file's non-test part (everything before a trailing
//!   `#[cfg(test)] mod tests { … }`) exceeds 500 lines;
//! - only `src/steer/` names `Method` variants (`Method::Pdd`, …): everyone
//!   else asks the method what it needs;
//! - no import cycles between files. A path resolves to the deepest file it
//!   names; a name a `mod.rs` / `lib.rs` re-exports (`pub use child::X`)
//!   resolves to the file that defines it, so only items a `mod.rs` defines
//!   itself make its children depend on it.
//!
//! Each test prints every finding (file, line, text) so that the next person
//! can act on it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Layers `backend` and `model` must not reach up to.
const UPPER: [&str; 5] = ["engine", "steer", "cli", "worker", "app"];
/// Most lines a file's non-test part may have.
const MAX_LINES: usize = 500;

/// One source file of the library crate.
struct File {
    /// Path relative to `src/`, with `/`.
    rel: String,
    /// Module path (`backend/webgpu/mod.rs` → `["backend", "webgpu"]`).
    module: Vec<String>,
    lines: Vec<String>,
    /// First line (0-based) of the trailing `#[cfg(test)] mod tests`, or the line count.
    test_start: usize,
    /// The text with comments and string / char literals blanked (newlines kept).
    code: Vec<char>,
    /// Child modules this file declares (`mod x;`).
    children: BTreeSet<String>,
    /// Inline modules: (first, last char, name).
    inline: Vec<(usize, usize, String)>,
}

/// A path found in a file: absolute module segments and where it is.
struct Found {
    segs: Vec<String>,
    line: usize,
    is_pub_use: bool,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every `.rs` file of the library (`src/bin/` holds separate crates).
fn files() -> Vec<File> {
    let root = src_dir();
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    paths
        .into_iter()
        .filter_map(|p| {
            let rel = p
                .strip_prefix(&root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            if rel.starts_with("bin/") {
                return None;
            }
            let text = std::fs::read_to_string(&p).expect("utf-8 source");
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            let mut module: Vec<String> = rel
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_string)
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let children = lines
                .iter()
                .filter_map(|l| declared_mod(l))
                .collect::<BTreeSet<_>>();
            let code = strip(&text);
            Some(File {
                test_start: test_start(&lines),
                inline: inline_mods(&code),
                code,
                rel,
                module,
                lines,
                children,
            })
        })
        .collect()
}

/// `mod x;` / `pub mod x;` / `pub(crate) mod x;` → `x`.
fn declared_mod(line: &str) -> Option<String> {
    let l = line.trim();
    let l = l
        .strip_prefix("pub(crate) ")
        .or_else(|| l.strip_prefix("pub "))
        .unwrap_or(l);
    let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
    Some(name.trim().to_string())
}

/// The first line of a `#[cfg(test)]` + `mod tests {` block that runs to the
/// end of the file (its closing `}` in column 0 is the last non-blank line).
fn test_start(lines: &[String]) -> usize {
    let last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .unwrap_or(0);
    for i in 0..lines.len().saturating_sub(1) {
        if lines[i].trim() == "#[cfg(test)]" && is_tests_mod(&lines[i + 1]) {
            let close = (i + 1..lines.len()).find(|&j| lines[j] == "}");
            if close == Some(last) {
                return i;
            }
        }
    }
    lines.len()
}

/// `mod tests {`, `pub(super) mod tests {`, ….
fn is_tests_mod(line: &str) -> bool {
    let l = line.trim_start();
    let l = match l.strip_prefix("pub") {
        Some(rest) if rest.starts_with('(') => rest.split_once(") ").map_or(rest, |r| r.1),
        Some(rest) => rest.trim_start(),
        None => l,
    };
    l.starts_with("mod tests {")
}

/// Inline modules (`mod name { … }`) of stripped code: (start, end, name).
fn inline_mods(s: &[char]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 < s.len() {
        let at_word = i == 0 || !is_ident(s[i - 1]);
        if at_word && s[i..].starts_with(&['m', 'o', 'd']) && s[i + 3].is_whitespace() {
            let mut j = i + 3;
            skip_ws(s, &mut j);
            if let Some(name) = ident(s, &mut j) {
                skip_ws(s, &mut j);
                if s.get(j) == Some(&'{') {
                    let mut depth = 0;
                    let mut k = j;
                    while k < s.len() {
                        match s[k] {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        k += 1;
                    }
                    out.push((j, k, name));
                }
            }
        }
        i += 1;
    }
    out
}

/// The text with comments, strings and char literals replaced by spaces.
fn strip(text: &str) -> Vec<char> {
    let c: Vec<char> = text.chars().collect();
    let mut out = c.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for ch in &mut out[from..to.min(c.len())] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            let end = (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len());
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            let mut j = i;
            while j < c.len() {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if c[i] == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !is_ident(c[i - 1]))
        {
            // Raw string r"…" / r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                i += 1;
                continue;
            }
            j += 1;
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while j < c.len() && !c[j..].starts_with(&closing) {
                j += 1;
            }
            let end = (j + closing.len()).min(c.len());
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                let end = (i + 2..c.len()).find(|&j| c[j] == '\'').unwrap_or(c.len());
                blank(&mut out, i, end + 1);
                i = end + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                blank(&mut out, i, i + 3);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

fn skip_ws(s: &[char], i: &mut usize) {
    while *i < s.len() && s[*i].is_whitespace() {
        *i += 1;
    }
}

fn ident(s: &[char], i: &mut usize) -> Option<String> {
    let start = *i;
    while *i < s.len() && is_ident(s[*i]) {
        *i += 1;
    }
    (*i > start).then(|| s[start..*i].iter().collect())
}

/// A use tree (or a plain path) from `i`: every leaf path, prefixed.
fn tree(s: &[char], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    skip_ws(s, i);
    match s.get(*i) {
        Some('{') => {
            *i += 1;
            loop {
                skip_ws(s, i);
                match s.get(*i) {
                    None => return,
                    Some('}') => {
                        *i += 1;
                        return;
                    }
                    Some(',') => *i += 1,
                    _ => {
                        let before = *i;
                        tree(s, i, prefix.clone(), out);
                        if *i == before {
                            *i += 1;
                        }
                    }
                }
            }
        }
        Some('*') => {
            *i += 1;
            out.push(prefix);
        }
        _ => {
            let Some(name) = ident(s, i) else {
                out.push(prefix);
                return;
            };
            let mut p = prefix;
            if name != "self" || p.is_empty() {
                p.push(name);
            }
            let mut j = *i;
            skip_ws(s, &mut j);
            if s.get(j) == Some(&':') && s.get(j + 1) == Some(&':') {
                let mut k = j + 2;
                skip_ws(s, &mut k);
                if matches!(s.get(k), Some(c) if is_ident(*c) || *c == '{' || *c == '*') {
                    *i = k;
                    tree(s, i, p, out);
                    return;
                }
            }
            out.push(p);
            // `x as y`: the alias names nothing new.
            let mut k = *i;
            skip_ws(s, &mut k);
            if s[k..].starts_with(&['a', 's']) && s.get(k + 2).is_some_and(|c| !is_ident(*c)) {
                *i = k + 2;
                skip_ws(s, i);
                ident(s, i);
            }
        }
    }
}

impl File {
    fn line_of(&self, pos: usize) -> usize {
        self.code[..pos].iter().filter(|&&c| c == '\n').count()
    }

    /// Every crate-internal path in the file, made absolute (`crate::` dropped).
    fn paths(&self) -> Vec<Found> {
        let s = &self.code;
        let mut found = Vec::new();
        let mut i = 0;
        while i < s.len() {
            if !is_ident(s[i]) || (i > 0 && (is_ident(s[i - 1]) || s[i - 1] == ':')) {
                i += 1;
                continue;
            }
            let start = i;
            let word = ident(s, &mut i).expect("at an identifier");
            let line = self.line_of(start);
            let in_tests = line >= self.test_start;
            if word == "use" {
                let before: String = s[start.saturating_sub(12)..start].iter().collect();
                let is_pub = before.trim_end().ends_with("pub") || before.contains("pub(");
                let mut leaves = Vec::new();
                tree(s, &mut i, Vec::new(), &mut leaves);
                for leaf in leaves {
                    if let Some(segs) = self.absolute(&leaf, start) {
                        found.push(Found {
                            segs,
                            line,
                            is_pub_use: is_pub && !in_tests,
                        });
                    }
                }
                continue;
            }
            let starts_path = matches!(word.as_str(), "crate" | "super" | "self")
                || self.children.contains(&word);
            let mut j = i;
            if starts_path && s.get(j) == Some(&':') && s.get(j + 1) == Some(&':') {
                j = start;
                let mut leaves = Vec::new();
                tree(s, &mut j, Vec::new(), &mut leaves);
                for leaf in leaves {
                    if let Some(segs) = self.absolute(&leaf, start) {
                        found.push(Found {
                            segs,
                            line,
                            is_pub_use: false,
                        });
                    }
                }
                i = j.max(i);
            }
        }
        found
    }

    /// `path` as written at `pos` (inside any inline modules there), from
    /// the crate root; `None` for other crates' paths.
    fn absolute(&self, path: &[String], pos: usize) -> Option<Vec<String>> {
        let mut here = self.module.clone();
        let inline: Vec<&String> = self
            .inline
            .iter()
            .filter(|(a, b, _)| *a <= pos && pos < *b)
            .map(|m| &m.2)
            .collect();
        let in_inline = !inline.is_empty();
        here.extend(inline.into_iter().cloned());
        let first = path.first()?;
        match first.as_str() {
            "crate" => Some(path[1..].to_vec()),
            "self" => Some([here, path[1..].to_vec()].concat()),
            "super" => {
                let ups = path.iter().take_while(|p| *p == "super").count();
                here.truncate(here.len().checked_sub(ups)?);
                Some([here, path[ups..].to_vec()].concat())
            }
            name if !in_inline && self.children.contains(name) => {
                Some([self.module.clone(), path.to_vec()].concat())
            }
            _ => None,
        }
    }
}

/// Modules, files and what each `mod.rs` / `lib.rs` re-exports.
struct Crate {
    files: Vec<File>,
    by_module: HashMap<Vec<String>, usize>,
    /// file → re-exported name → absolute path of what it names.
    reexports: HashMap<usize, HashMap<String, Vec<String>>>,
}

impl Crate {
    fn load() -> Self {
        let files = files();
        let by_module = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.module.clone(), i))
            .collect();
        let mut reexports: HashMap<usize, HashMap<String, Vec<String>>> = HashMap::new();
        for (i, f) in files.iter().enumerate() {
            for p in f.paths().into_iter().filter(|p| p.is_pub_use) {
                if let Some(name) = p.segs.last() {
                    reexports.entry(i).or_default().insert(name.clone(), p.segs);
                }
            }
        }
        Self {
            files,
            by_module,
            reexports,
        }
    }

    /// The file an absolute path names: the deepest module file, followed
    /// through the re-exports of the file it stops at.
    fn resolve(&self, segs: &[String], depth: usize) -> usize {
        let mut n = 0;
        while n < segs.len() && self.by_module.contains_key(&segs[..n + 1]) {
            n += 1;
        }
        let file = self.by_module[&segs[..n]];
        if depth < 8 {
            if let Some(next) = segs.get(n) {
                if let Some(target) = self.reexports.get(&file).and_then(|r| r.get(next)) {
                    if target.as_slice() != &segs[..=n] {
                        return self.resolve(target, depth + 1);
                    }
                }
            }
        }
        file
    }

    fn rel(&self, i: usize) -> &str {
        &self.files[i].rel
    }
}

fn report(title: &str, findings: &[String]) {
    if findings.is_empty() {
        println!("{title}: none");
        return;
    }
    println!("{title}: {} finding(s)", findings.len());
    for f in findings {
        println!("  {f}");
    }
    panic!("{title}: {} finding(s), listed above", findings.len());
}

#[test]
fn backend_and_model_import_nothing_from_the_layers_above() {
    let krate = Crate::load();
    let mut findings = Vec::new();
    for f in &krate.files {
        // The ground floor (`dist.rs`) imports nothing from the crate at all.
        let ground = f.rel == "dist.rs";
        if !(ground || f.rel.starts_with("backend/") || f.rel.starts_with("model/")) {
            continue;
        }
        let mut seen = BTreeSet::new();
        for p in f.paths() {
            let Some(top) = p.segs.first() else { continue };
            let upper = if ground {
                top != "dist"
            } else {
                UPPER.contains(&top.as_str())
            };
            if upper && seen.insert(p.line) {
                findings.push(format!(
                    "src/{}:{}: imports crate::{}: {}",
                    f.rel,
                    p.line + 1,
                    p.segs.join("::"),
                    f.lines[p.line].trim()
                ));
            }
        }
    }
    report(
        "backend/model files importing engine, steer, cli, worker or app",
        &findings,
    );
}

#[test]
fn no_file_has_more_than_500_non_test_lines() {
    let krate = Crate::load();
    let mut findings: Vec<(usize, String)> = krate
        .files
        .iter()
        .filter(|f| f.test_start > MAX_LINES)
        .map(|f| {
            (
                f.test_start,
                format!(
                    "src/{}: {} non-test lines (of {})",
                    f.rel,
                    f.test_start,
                    f.lines.len()
                ),
            )
        })
        .collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.0));
    let findings: Vec<String> = findings.into_iter().map(|f| f.1).collect();
    report(&format!("files over {MAX_LINES} non-test lines"), &findings);
}

#[test]
fn only_steer_names_method_variants() {
    let krate = Crate::load();
    let mut findings = Vec::new();
    for f in krate.files.iter().filter(|f| !f.rel.starts_with("steer/")) {
        let code: String = f.code.iter().collect();
        for (n, line) in code.lines().enumerate() {
            let mut rest = line;
            let mut offsets = Vec::new();
            let mut at = 0;
            while let Some(k) = rest.find("Method::") {
                let abs = at + k;
                let before = line[..abs].chars().next_back();
                let variant: String = line[abs + 8..]
                    .chars()
                    .take_while(|&c| is_ident(c))
                    .collect();
                if !before.is_some_and(is_ident)
                    && variant.starts_with(|c: char| c.is_ascii_uppercase())
                    && variant != "ALL"
                {
                    offsets.push(variant);
                }
                at = abs + 8;
                rest = &line[at..];
            }
            if !offsets.is_empty() {
                findings.push(format!(
                    "src/{}:{}: Method::{}: {}",
                    f.rel,
                    n + 1,
                    offsets.join(", Method::"),
                    f.lines[n].trim()
                ));
            }
        }
    }
    report("Method variants named outside src/steer", &findings);
}

#[test]
fn no_import_cycles_between_files() {
    let krate = Crate::load();
    // file → file, with the first line that makes the edge.
    let mut edges: BTreeMap<usize, BTreeMap<usize, usize>> = BTreeMap::new();
    for (i, f) in krate.files.iter().enumerate() {
        for p in f.paths().into_iter().filter(|p| p.line < f.test_start) {
            let to = krate.resolve(&p.segs, 0);
            if to != i {
                edges.entry(i).or_default().entry(to).or_insert(p.line);
            }
        }
    }
    let cycles = strongly_connected(krate.files.len(), &edges);
    let mut findings = Vec::new();
    for scc in cycles {
        let members: BTreeSet<usize> = scc.iter().copied().collect();
        let names: Vec<&str> = scc.iter().map(|&i| krate.rel(i)).collect();
        let mut s = format!("cycle among {}:", names.join(", "));
        for &a in &scc {
            for (&b, &line) in edges.get(&a).into_iter().flatten() {
                if members.contains(&b) {
                    s.push_str(&format!(
                        "\n      src/{}:{} -> src/{}: {}",
                        krate.rel(a),
                        line + 1,
                        krate.rel(b),
                        krate.files[a].lines[line].trim()
                    ));
                }
            }
        }
        findings.push(s);
    }
    report("import cycles between files", &findings);
}

/// Tarjan's strongly connected components with more than one file.
fn strongly_connected(
    n: usize,
    edges: &BTreeMap<usize, BTreeMap<usize, usize>>,
) -> Vec<Vec<usize>> {
    struct T<'a> {
        edges: &'a BTreeMap<usize, BTreeMap<usize, usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        let succ: Vec<usize> = t
            .edges
            .get(&v)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        for w in succ {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut scc = Vec::new();
            loop {
                let w = t.stack.pop().expect("on the stack");
                t.on[w] = false;
                scc.push(w);
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

/// The parser itself, on small inputs.
#[test]
fn the_path_parser_reads_use_trees_and_skips_comments_and_strings() {
    let code =
        strip("use a::{b, c::{d, self}, e as f}; // crate::x\nlet s = \"crate::y\"; let c = '\"';");
    let mut i = 4;
    let mut leaves = Vec::new();
    tree(&code, &mut i, Vec::new(), &mut leaves);
    let leaves: Vec<String> = leaves.iter().map(|l| l.join("::")).collect();
    assert_eq!(leaves, ["a::b", "a::c::d", "a::c", "a::e"]);
    let text: String = code.iter().collect();
    assert!(
        !text.contains("crate::x") && !text.contains("crate::y"),
        "{text}"
    );
    let lines: Vec<String> = [
        "fn a() {}",
        "",
        "#[cfg(test)]",
        "mod tests {",
        "    fn b() {}",
        "}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(test_start(&lines), 2);
    assert!(is_tests_mod("pub(super) mod tests {") && !is_tests_mod("mod testsuite {"));
    let inner = strip("mod a {\n  mod b { fn f() {} }\n}\n");
    let names: Vec<String> = inline_mods(&inner).into_iter().map(|m| m.2).collect();
    assert_eq!(names, ["a", "b"]);
}
