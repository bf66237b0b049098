//! The documents' relative links resolve. Every link in README.md, CHANGELOG.md,
//! ARCHITECTURE.md and docs/*.md, and every `*.md` path named in the example settings,
//! the example jobs, the packaging files and the source, must point at a file that
//! exists and, with a `#fragment` into a Markdown file, at one of its headings (GitHub's
//! anchors). Tests only: nothing here is built into checker.

use std::path::{Path, PathBuf};

/// The Markdown documents: their links are Markdown links, relative to their own folder.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "CHANGELOG.md", "ARCHITECTURE.md"]
        .iter()
        .map(|f| root.join(f))
        .filter(|p| p.is_file())
        .collect();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "md"))
                .collect()
        })
        .unwrap_or_default();
    docs.sort();
    files.extend(docs);
    files
}

/// Other files that name documents in their comments, as paths from the repository root
/// (`see docs/channels.md`, `docs/configuration.md#limits`).
fn pointing_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = [
        "settings.example.toml",
        "jobs/example.toml",
        "crontab.example",
        "packaging/settings.toml",
        "packaging/jobs/example.toml",
        "packaging/checker.toml.5",
        "packaging/checker.cron",
    ]
    .iter()
    .map(|f| root.join(f))
    .filter(|p| p.is_file())
    .collect();
    let mut sources = Vec::new();
    rust_files(&root.join("src"), &mut sources);
    // This file's own examples of broken links are not pointers.
    sources.retain(|p| !p.ends_with("src/docs_links.rs"));
    sources.sort();
    files.extend(sources);
    files
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The lines of a Markdown text outside fenced code blocks, numbered from 1.
fn outside_fences(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => out.push((i + 1, line)),
            _ => {}
        }
    }
    out
}

/// The lines outside fenced code blocks with inline code spans taken out: a `[x](y)`
/// inside code is text, not a link.
fn prose(text: &str) -> Vec<(usize, String)> {
    outside_fences(text)
        .into_iter()
        .map(|(n, line)| (n, without_code_spans(line)))
        .collect()
}

fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let delimiter = &rest[start..start + ticks];
        out.push_str(&rest[..start]);
        match rest[start + ticks..].find(delimiter) {
            Some(len) => rest = &rest[start + ticks + len + ticks..],
            None => {
                out.push_str(&rest[start..]);
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The destinations of the inline links (`[text](dest "title")`, images too) and of a
/// link reference definition (`[label]: dest`) in one line of prose.
fn link_targets(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') {
        if let Some(end) = trimmed.find("]:") {
            if let Some(dest) = trimmed[end + 2..].split_whitespace().next() {
                out.push(dest.trim_matches(|c| c == '<' || c == '>').to_string());
            }
        }
    }
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = i;
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let inside = after[..end].trim();
        let dest = match inside.strip_prefix('<') {
            Some(angled) => angled.split('>').next().unwrap_or(""),
            None => inside.split_whitespace().next().unwrap_or(""),
        };
        out.push(dest.to_string());
        rest = &after[end.min(after.len())..];
    }
    out
}

/// The `*.md` paths (with their `#fragment`) named in a text that is not Markdown.
fn named_documents(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut word = String::new();
        for c in line.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_alphanumeric() || "/._-#".contains(c) {
                word.push(c);
                continue;
            }
            let token = word.trim_end_matches('.');
            let path = token.split('#').next().unwrap_or("");
            if path.ends_with(".md") && !path.starts_with('/') && !token.contains("://") {
                out.push((i + 1, token.to_string()));
            }
            word.clear();
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown text's headings; a repeated one gets `-1`, `-2`... as on
/// GitHub.
fn anchors(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, line) in outside_fences(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim().trim_end_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while out.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        out.push(anchor);
    }
    out
}

fn is_relative(dest: &str) -> bool {
    !dest.is_empty() && !dest.contains("://") && !dest.starts_with("mailto:")
}

/// Checks one destination, relative to `base` (a folder), named by `from`.
fn check(root: &Path, from: &Path, line: usize, base: &Path, dest: &str) -> Option<String> {
    let (path, fragment) = match dest.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (dest, None),
    };
    let shown = from.strip_prefix(root).unwrap_or(from).display();
    let target = if path.is_empty() {
        from.to_path_buf()
    } else {
        base.join(path)
    };
    if !target.exists() {
        return Some(format!(
            "{shown}:{line}: links to {dest}, but {} does not exist",
            target.strip_prefix(root).unwrap_or(&target).display()
        ));
    }
    let fragment = fragment.filter(|f| !f.is_empty())?;
    if target.extension().is_none_or(|x| x != "md") {
        return None;
    }
    let text = std::fs::read_to_string(&target).unwrap_or_default();
    let found = anchors(&text);
    if found.iter().any(|a| a == fragment) {
        return None;
    }
    Some(format!(
        "{shown}:{line}: links to {dest}, but {} has no heading #{fragment} (it has: {})",
        target.strip_prefix(root).unwrap_or(&target).display(),
        found.join(", ")
    ))
}

/// Every relative link under `root` that does not resolve, one line each.
fn problems(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for file in markdown_files(root) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let base = file.parent().unwrap_or(root);
        for (line, prose_line) in prose(&text) {
            for dest in link_targets(&prose_line) {
                if is_relative(&dest) {
                    out.extend(check(root, &file, line, base, &dest));
                }
            }
        }
    }
    for file in pointing_files(root) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (line, dest) in named_documents(&text) {
            out.extend(check(root, &file, line, root, &dest));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn every_relative_link_in_the_documents_points_at_a_file_and_heading_that_exist() {
        let problems = problems(repository());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn every_docs_page_is_linked_from_the_readme() {
        let root = repository();
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let linked: Vec<String> = prose(&readme)
            .iter()
            .flat_map(|(_, l)| link_targets(l))
            .map(|d| d.split('#').next().unwrap_or("").to_string())
            .collect();
        let pages: Vec<PathBuf> = markdown_files(root)
            .into_iter()
            .filter(|p| p.parent() == Some(&root.join("docs")))
            .collect();
        assert!(pages.len() >= 9, "docs/ holds the reference: {pages:?}");
        for page in pages {
            let name = page.strip_prefix(root).unwrap().display().to_string();
            assert!(linked.contains(&name), "README.md does not link {name}");
        }
    }

    #[test]
    fn the_example_settings_point_at_the_pages_that_explain_them() {
        let text = std::fs::read_to_string(repository().join("settings.example.toml")).unwrap();
        let named: Vec<String> = named_documents(&text).into_iter().map(|(_, d)| d).collect();
        for page in [
            "docs/channels.md",
            "docs/peers.md",
            "docs/configuration.md#limits",
        ] {
            assert!(named.iter().any(|n| n == page), "{page} not in {named:?}");
        }
    }

    #[test]
    fn a_link_to_a_missing_file_or_heading_is_a_problem_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("docs")).unwrap();
        std::fs::write(
            root.join("README.md"),
            "# Top\n\nSee [a](docs/a.md#the-part), [gone](docs/gone.md) and [b](docs/a.md#nope).\n",
        )
        .unwrap();
        std::fs::write(
            root.join("docs/a.md"),
            "# A\n\n## The part\n\n[back](../README.md#top) [self](#a) [bad](#b) [far](../nothing.md)\n",
        )
        .unwrap();
        std::fs::write(
            root.join("settings.example.toml"),
            "# see docs/a.md, docs/a.md#the-part and docs/missing.md.\n# /usr/share/doc/x/README.md is absolute\n",
        )
        .unwrap();
        let found = problems(root);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(
            found[0].starts_with("README.md:3: links to docs/gone.md"),
            "{found:#?}"
        );
        assert!(found[1].starts_with("README.md:3: links to docs/a.md#nope, but docs/a.md has no heading #nope (it has: a, the-part)"), "{found:#?}");
        assert!(
            found[2].starts_with("docs/a.md:5: links to #b"),
            "{found:#?}"
        );
        assert!(
            found[3].starts_with("docs/a.md:5: links to ../nothing.md"),
            "{found:#?}"
        );
        assert!(
            found[4].starts_with("settings.example.toml:1: links to docs/missing.md"),
            "{found:#?}"
        );
    }

    #[test]
    fn links_inside_code_are_text() {
        let text = "```toml\n[x](fenced.md)\n```\nthe `[y](span.md)` and ``[z](double.md)`` and [w](real.md)\n";
        let targets: Vec<String> = prose(text)
            .iter()
            .flat_map(|(_, l)| link_targets(l))
            .collect();
        assert_eq!(targets, ["real.md"]);
    }

    #[test]
    fn link_destinations_take_titles_angles_parentheses_and_references() {
        assert_eq!(
            link_targets("[a](x.md \"title\") ![i](img.png)"),
            ["x.md", "img.png"]
        );
        assert_eq!(link_targets("[a](<with space.md>)"), ["with space.md"]);
        assert_eq!(link_targets("[a](f(1).md)"), ["f(1).md"]);
        assert_eq!(link_targets("[ref]: docs/x.md#y"), ["docs/x.md#y"]);
        assert!(link_targets("[web1] FAILED: shop (expected 200)").is_empty());
    }

    #[test]
    fn anchors_are_githubs() {
        let text = "# Peers: watching the watcher\n## `checker wrap`: one line in the crontab\n\
                    ### Settings (`settings.toml`)\n## Limits\n## Limits\n```\n# not a heading\n```\n#no\n";
        assert_eq!(
            anchors(text),
            [
                "peers-watching-the-watcher",
                "checker-wrap-one-line-in-the-crontab",
                "settings-settingstoml",
                "limits",
                "limits-1"
            ]
        );
    }
}
