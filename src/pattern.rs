//! Job names or shell-style globs (`web-*`, `db?`, `[ab]-api`), as `checker silence
//! --match` and a maintenance window's `jobs` take them. A text without `*`, `?` or `[`
//! is a name and matches only itself.

use std::fmt;

/// A job name, or a glob over job names.
#[derive(Debug, Clone)]
pub struct NamePattern {
    text: String,
    glob: Option<glob::Pattern>,
}

impl NamePattern {
    /// Reads `text`: a glob when it holds `*`, `?` or `[`, else a plain name. A glob that
    /// cannot be read (`[a-`) is an error saying why.
    pub fn new(text: &str) -> Result<NamePattern, String> {
        let glob = if text.contains(['*', '?', '[']) {
            Some(glob::Pattern::new(text).map_err(|e| {
                format!(
                    "{text:?} is not a valid glob: {} (at character {})",
                    e.msg,
                    e.pos + 1
                )
            })?)
        } else {
            None
        };
        Ok(NamePattern {
            text: text.to_string(),
            glob,
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        match &self.glob {
            Some(g) => g.matches(name),
            None => self.text == name,
        }
    }

    pub fn is_glob(&self) -> bool {
        self.glob.is_some()
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_name_matches_only_itself_and_a_glob_matches_its_family() {
        let name = NamePattern::new("shop front page").expect("a name");
        assert!(!name.is_glob());
        assert!(name.matches("shop front page"));
        assert!(!name.matches("shop front page 2"));
        let glob = NamePattern::new("web-*").expect("a glob");
        assert!(glob.is_glob());
        assert!(glob.matches("web-1") && glob.matches("web-") && glob.matches("web-a/b"));
        assert!(!glob.matches("db-1"));
        let class = NamePattern::new("[ab]-api").expect("a glob");
        assert!(class.matches("a-api") && !class.matches("c-api"));
    }

    #[test]
    fn a_broken_glob_is_an_error_that_says_where() {
        let e = NamePattern::new("web-[a").expect_err("unclosed class");
        assert!(e.starts_with("\"web-[a\" is not a valid glob"), "{e}");
    }
}
