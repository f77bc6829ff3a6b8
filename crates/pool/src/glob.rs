//! Anchored wildcard patterns: `*` any run of bytes, `?` exactly one, everything else literal.
//!
//! The ALB's rule conditions (host, path, header and query globs) and IAM's policy resources
//! (the gateway's authorizers) use the same two wildcards; they differ only in options: the ALB
//! folds case for hosts, headers and queries and lets query globs escape a wildcard with `\`.

/// A compiled pattern, for a pattern matched many times (a rule's condition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    toks: Vec<Tok>,
    fold: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    One,
    Star,
}

impl Glob {
    /// Compiles `pattern`. With `fold`, ASCII case is ignored; with `escapes`, `\` makes the
    /// byte after it literal (a trailing `\` is itself literal).
    pub fn new(pattern: &str, fold: bool, escapes: bool) -> Glob {
        let mut toks = Vec::with_capacity(pattern.len());
        let mut bytes = pattern.bytes();
        while let Some(b) = bytes.next() {
            let tok = match b {
                b'\\' if escapes => match bytes.next() {
                    Some(n) => Tok::Lit(n),
                    None => Tok::Lit(b'\\'),
                },
                b'*' => Tok::Star,
                b'?' => Tok::One,
                b if fold => Tok::Lit(b.to_ascii_lowercase()),
                b => Tok::Lit(b),
            };
            // Consecutive stars match the same as one and would only slow backtracking.
            if tok == Tok::Star && toks.last() == Some(&Tok::Star) {
                continue;
            }
            toks.push(tok);
        }
        Glob { toks, fold }
    }

    /// How many wildcards the pattern has (ALB counts them against a rule's limit).
    pub fn wildcards(&self) -> usize {
        self.toks
            .iter()
            .filter(|t| matches!(t, Tok::Star | Tok::One))
            .count()
    }

    /// The literal bytes before the first wildcard (lower-cased when the glob folds case): a
    /// text that does not start with them cannot match.
    pub fn literal_prefix(&self) -> impl Iterator<Item = u8> + '_ {
        self.toks.iter().map_while(|t| match t {
            Tok::Lit(b) => Some(*b),
            _ => None,
        })
    }

    /// Whether the whole of `s` matches.
    pub fn matches(&self, s: &[u8]) -> bool {
        matches(|p| self.toks.get(p).copied(), self.fold, s)
    }
}

/// Whether the whole of `text` matches `pattern`, case-sensitively and without escapes, with
/// no compiled form (a pattern that arrives with the request, like an authorizer's policy).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let tok = |i: usize| {
        p.get(i).map(|&b| match b {
            b'*' => Tok::Star,
            b'?' => Tok::One,
            b => Tok::Lit(b),
        })
    };
    matches(tok, false, text.as_bytes())
}

/// Linear-time backtracking over the last star, the classic wildcard match; `tok(p)` is the
/// pattern's `p`th token.
fn matches(tok: impl Fn(usize) -> Option<Tok>, fold: bool, s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        let c = if fold {
            s[i].to_ascii_lowercase()
        } else {
            s[i]
        };
        match tok(p) {
            Some(Tok::Star) => {
                star = Some((p, i));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                i += 1;
            }
            Some(Tok::Lit(l)) if l == c => {
                p += 1;
                i += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    (p..).map_while(&tok).all(|t| t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_globs_honour_their_options() {
        let g = Glob::new("*.example.com", true, false);
        assert!(g.matches(b"API.Example.com"));
        assert!(!g.matches(b"example.com"));
        let p = Glob::new("/img/*/pic.jp?", false, false);
        assert!(p.matches(b"/img/cats/pic.jpg"));
        assert!(!p.matches(b"/IMG/cats/pic.jpg"));
        let e = Glob::new(r"a\*b", true, true);
        assert!(e.matches(b"A*b"));
        assert!(!e.matches(b"aXb"));
        assert_eq!(Glob::new("**a?", false, false).wildcards(), 2);
        assert!(
            Glob::new("/Img/*", true, false)
                .literal_prefix()
                .eq(*b"/img/")
        );
        assert!(Glob::new("*", false, false).matches(b""));
        assert!(!Glob::new("?", false, false).matches(b""));
    }

    #[test]
    fn iam_wildcards_match_resources() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc/$default/GET/pets";
        assert!(wildcard_match("*", arn));
        assert!(wildcard_match("arn:aws:execute-api:*:*:abc/*/GET/*", arn));
        assert!(!wildcard_match("arn:aws:execute-api:*:abc/*/GET/pet", arn));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("A?C", "abc"));
        // A `*` in the text is text like any other: the pattern's star still spans it.
        assert!(wildcard_match("*", "**x"));
        assert!(wildcard_match("*/x", "a*/x"));
    }
}
