//! Route selection for one stage of an HTTP API (docs/aws-rules.md §HTTP-2.3–§HTTP-2.7).
//!
//! Precedence, most specific first:
//! 1. full matches (every segment literal or `{var}`), literal beating `{var}` at the first
//!    segment where two candidates differ, left to right;
//! 2. greedy matches (`{proxy+}` last), the longest literal prefix first;
//! 3. the `$default` route.
//!
//! Within the same path shape an exact method beats `ANY`. Between an exact-method route and an
//! `ANY` route of a more specific path, the more specific path wins (unconfirmed by AWS; listed
//! in docs/aws-fidelity.md). Matching walks the route table without allocating.

use airlock_pool::uri::percent_decode_lossy;
use http::Method;
use std::collections::HashMap;

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text (case-sensitive).
    Literal(String),
    /// `{name}`: exactly one non-empty segment.
    Var(String),
    /// `{name+}`: one or more remaining segments; always last.
    Greedy(String),
}

/// A parsed route key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    /// The `$default` catch-all route.
    Default,
    /// `<METHOD> <path>`; `method` is `None` for `ANY`.
    Path {
        /// The method, or `None` for `ANY`.
        method: Option<Method>,
        /// The path's segments (empty for `/`).
        segments: Vec<Segment>,
    },
}

impl RouteKey {
    /// The key as AWS writes it, e.g. `GET /pets/{petId}`.
    pub fn display(&self) -> String {
        match self {
            RouteKey::Default => "$default".to_owned(),
            RouteKey::Path { method, segments } => {
                let m = method.as_ref().map_or("ANY", Method::as_str);
                let mut path = String::new();
                for s in segments {
                    path.push('/');
                    match s {
                        Segment::Literal(l) => path.push_str(l),
                        Segment::Var(v) => {
                            path.push('{');
                            path.push_str(v);
                            path.push('}');
                        }
                        Segment::Greedy(v) => {
                            path.push('{');
                            path.push_str(v);
                            path.push_str("+}");
                        }
                    }
                }
                if path.is_empty() {
                    path.push('/');
                }
                format!("{m} {path}")
            }
        }
    }
}

/// Why a text is not a route key (see [`RouteKey`]'s `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteKeyError {
    /// Neither `$default` nor `<METHOD> <path>`.
    #[error("route key {0:?} is not `$default` or `<METHOD> <path>`")]
    Shape(String),
    /// The method is not `ANY` or an HTTP method token.
    #[error("route key method {0:?} is not `ANY` or an HTTP method")]
    Method(String),
    /// The path does not start with `/`.
    #[error("route key path {0:?} does not start with `/`")]
    Path(String),
    /// A `{name+}` segment is not the last one.
    #[error("route key path {0:?} has a greedy variable before its end")]
    GreedyNotLast(String),
}

/// Parses a route key as AWS writes it (docs/aws-rules.md §HTTP-2.3): `$default`, or
/// `<METHOD|ANY> /literal/{var}/{greedy+}`; the inverse of [`RouteKey::display`]. Empty
/// segments are skipped, so `GET /` has no segments. The stack builds its keys from the
/// validated config instead; this is for tests, benches and tools that write keys as text.
impl std::str::FromStr for RouteKey {
    type Err = RouteKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "$default" {
            return Ok(RouteKey::Default);
        }
        let (m, p) = s
            .split_once(' ')
            .ok_or_else(|| RouteKeyError::Shape(s.to_owned()))?;
        let method = if m == "ANY" {
            None
        } else {
            Some(
                Method::from_bytes(m.as_bytes())
                    .map_err(|_| RouteKeyError::Method(m.to_owned()))?,
            )
        };
        if !p.starts_with('/') {
            return Err(RouteKeyError::Path(p.to_owned()));
        }
        let segments: Vec<Segment> = p
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if let Some(v) = s.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                    Segment::Greedy(v.into())
                } else if let Some(v) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Segment::Var(v.into())
                } else {
                    Segment::Literal(s.into())
                }
            })
            .collect();
        if let Some((_, before_last)) = segments.split_last()
            && before_last.iter().any(|s| matches!(s, Segment::Greedy(_)))
        {
            return Err(RouteKeyError::GreedyNotLast(p.to_owned()));
        }
        Ok(RouteKey::Path { method, segments })
    }
}

/// Ordering key of a match: lower is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    /// 0 full, 1 greedy, 2 `$default`.
    tier: u8,
    /// Greedy matches: the negated literal prefix length (longest prefix first). 0 otherwise.
    prefix: i64,
    /// A bit per segment, set where the route has a variable: read as a number left to right,
    /// the route with a literal at the first differing segment ranks first.
    vars: i64,
    /// Greedy matches: the negated number of segments before the greedy one (more specific
    /// first). 0 otherwise.
    length: i64,
    /// 0 for an exact method, 1 for `ANY`.
    any: u8,
}

/// A compiled route table for one stage.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<RouteKey>,
    /// Routes whose first segment is a literal, by that literal: only they can match a path
    /// starting with it. Indexes in ascending order.
    by_first: HashMap<String, Vec<usize>>,
    /// Every other route (a variable or greedy first segment, `/`, `$default`): candidates for
    /// any path. Indexes in ascending order.
    anywhere: Vec<usize>,
}

impl Router {
    /// Builds a router over `routes`; the index of a route is what [`Router::select`] returns.
    pub fn new(routes: Vec<RouteKey>) -> Router {
        let mut by_first: HashMap<String, Vec<usize>> = HashMap::new();
        let mut anywhere = Vec::new();
        for (index, route) in routes.iter().enumerate() {
            match route {
                RouteKey::Path { segments, .. } => match segments.first() {
                    Some(Segment::Literal(first)) => {
                        by_first.entry(first.clone()).or_default().push(index)
                    }
                    _ => anywhere.push(index),
                },
                RouteKey::Default => anywhere.push(index),
            }
        }
        Router {
            routes,
            by_first,
            anywhere,
        }
    }

    /// The route keys, in the order given.
    pub fn routes(&self) -> &[RouteKey] {
        &self.routes
    }

    /// Selects the route for `method` and `path` (already without the stage segment), returning
    /// its index. A trailing slash is ignored for matching (docs/aws-rules.md §HTTP-2.5).
    pub fn select(&self, method: &Method, path: &str) -> Option<usize> {
        let trimmed = trim_slashes(path);
        // Only routes that can match this path's first segment are ranked: a table of 300
        // routes costs what the handful sharing the first segment cost.
        let first = trimmed.split('/').next().unwrap_or_default();
        let literal = self.by_first.get(first).map_or(&[][..], Vec::as_slice);
        let mut best: Option<(Rank, usize)> = None;
        for &index in literal.iter().chain(&self.anywhere) {
            // Equal ranks: the route listed first wins, as when the table was walked in order.
            if let Some(rank) = rank(&self.routes[index], method, trimmed)
                && best.is_none_or(|b| (rank, index) < b)
            {
                best = Some((rank, index));
            }
        }
        best.map(|(_, i)| i)
    }
}

impl Router {
    /// For a request no route matched: up to `n` routes that came closest, each with why it
    /// did not match (for traces of 404s; never on a request that matched). Closest means the
    /// most leading path segments matched, then the method.
    pub fn nearest(&self, method: &Method, path: &str, n: usize) -> Vec<(String, String)> {
        let trimmed = trim_slashes(path);
        let parts: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty()).collect();
        let mut scored: Vec<(usize, usize, String, String)> = Vec::new();
        for (index, route) in self.routes.iter().enumerate() {
            let RouteKey::Path {
                method: m,
                segments,
            } = route
            else {
                continue;
            };
            let (matched, path_why) = explain_path(segments, &parts);
            let method_ok = m.as_ref().is_none_or(|m| m == method);
            let why = match (path_why, method_ok) {
                (Some(why), true) => why,
                (Some(why), false) => format!(
                    "{why}; and the method {method} is not {}",
                    m.as_ref().map_or("ANY", Method::as_str)
                ),
                (None, false) => format!(
                    "the path matches, but the method {method} is not {}",
                    m.as_ref().map_or("ANY", Method::as_str)
                ),
                (None, true) => "it matches, but a more specific route was chosen".to_owned(),
            };
            let score = matched * 2 + usize::from(method_ok);
            scored.push((score, index, route.display(), why));
        }
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored
            .into_iter()
            .take(n)
            .map(|(_, _, key, why)| (key, why))
            .collect()
    }
}

/// How many leading segments of `parts` the route's `segments` match, and why the path does
/// not match (`None` when it does).
fn explain_path(segments: &[Segment], parts: &[&str]) -> (usize, Option<String>) {
    for (i, seg) in segments.iter().enumerate() {
        match (seg, parts.get(i)) {
            (Segment::Greedy(_), Some(_)) => return (i + 1, None),
            (Segment::Greedy(v), None) => {
                return (
                    i,
                    Some(format!(
                        "{{{v}+}} needs at least one segment after segment {i}"
                    )),
                );
            }
            (Segment::Literal(l), Some(p)) if p == l => {}
            (Segment::Literal(l), Some(p)) => {
                return (
                    i,
                    Some(format!("segment {} is {p:?}, the route needs {l:?}", i + 1)),
                );
            }
            (Segment::Var(_), Some(_)) => {}
            (_, None) => {
                return (
                    i,
                    Some(format!(
                        "the path has {} segment(s), the route needs {}",
                        parts.len(),
                        segments.len()
                    )),
                );
            }
        }
    }
    if parts.len() > segments.len() {
        return (
            segments.len(),
            Some(format!(
                "the path has {} segment(s), the route matches exactly {} (no greedy {{proxy+}})",
                parts.len(),
                segments.len()
            )),
        );
    }
    (segments.len(), None)
}

/// The request path without its leading and trailing slash (a trailing slash is ignored for
/// matching, docs/aws-rules.md §HTTP-2.5).
fn trim_slashes(path: &str) -> &str {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    trimmed.strip_suffix('/').unwrap_or(trimmed)
}

/// How well `route` matches `method` and the trimmed request path; `None` when it does not.
fn rank(route: &RouteKey, method: &Method, trimmed: &str) -> Option<Rank> {
    match route {
        RouteKey::Default => Some(Rank {
            tier: 2,
            prefix: 0,
            vars: 0,
            length: 0,
            any: 0,
        }),
        RouteKey::Path {
            method: m,
            segments,
        } => {
            let any = match m {
                None => 1,
                Some(m) if m == method => 0,
                Some(_) => return None,
            };
            match_path(segments, trimmed).map(|mut rank| {
                rank.any = any;
                rank
            })
        }
    }
}

/// Matches a route path against a request path without its leading and trailing slash.
/// Returns the match's rank (method not yet set).
fn match_path(segments: &[Segment], path: &str) -> Option<Rank> {
    // `/` has no segments, but `"".split('/')` would yield one empty segment: skip it.
    let mut parts = path.split('/').skip(usize::from(path.is_empty()));
    let mut var_bits: i64 = 0;
    let mut literal_prefix: i64 = 0;
    let mut prefix_open = true;
    let mut rest_offset = 0usize;
    for (i, seg) in segments.iter().enumerate() {
        match seg {
            Segment::Greedy(_) => {
                // One or more remaining segments, none of them empty at the start.
                return match path.get(rest_offset..) {
                    Some(rest) if !rest.is_empty() => Some(Rank {
                        tier: 1,
                        prefix: -literal_prefix,
                        vars: var_bits,
                        length: -(i as i64),
                        any: 0,
                    }),
                    _ => None,
                };
            }
            Segment::Literal(l) => {
                let part = parts.next()?;
                if part != l {
                    return None;
                }
                rest_offset += part.len() + 1;
                if prefix_open {
                    literal_prefix += 1;
                }
            }
            Segment::Var(_) => {
                let part = parts.next()?;
                if part.is_empty() {
                    return None;
                }
                rest_offset += part.len() + 1;
                prefix_open = false;
                // Earlier segments weigh more: a variable at segment 0 ranks below one at 1.
                var_bits |= 1 << (62 - i.min(62));
            }
        }
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Rank {
        tier: 0,
        prefix: 0,
        vars: var_bits,
        length: 0,
        any: 0,
    })
}

/// Extracts the values of the route's path variables from the request path, percent-decoded
/// (docs/aws-rules.md §HTTP-2.5). Returns `(name, value)` pairs; the greedy variable's value keeps its slashes.
pub fn path_parameters(route: &RouteKey, path: &str) -> Vec<(String, String)> {
    raw_path_parameters(route, path)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), percent_decode_lossy(v)))
        .collect()
}

/// The route's path variables as the client wrote them (still percent-encoded).
pub fn raw_path_parameters<'r, 'p>(route: &'r RouteKey, path: &'p str) -> Vec<(&'r str, &'p str)> {
    let RouteKey::Path { segments, .. } = route else {
        return Vec::new();
    };
    let trimmed = trim_slashes(path);
    let mut out = Vec::new();
    let mut offset = 0usize;
    let mut parts = trimmed.split('/');
    for seg in segments {
        match seg {
            Segment::Literal(_) => {
                if let Some(p) = parts.next() {
                    offset += p.len() + 1;
                }
            }
            Segment::Var(name) => {
                if let Some(p) = parts.next() {
                    offset += p.len() + 1;
                    out.push((name.as_str(), p));
                }
            }
            Segment::Greedy(name) => {
                let rest = trimmed.get(offset.min(trimmed.len())..).unwrap_or("");
                out.push((name.as_str(), rest));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(s: &str) -> RouteKey {
        s.parse().unwrap()
    }

    /// A 404's nearest routes: the most leading segments matched first, each with the first
    /// reason it does not match (segment, length, or method).
    #[test]
    fn nearest_routes_say_why_they_did_not_match() {
        let router = Router::new(
            [
                "GET /pets",
                "GET /pets/{id}",
                "POST /pets/{id}/toys",
                "GET /toys/{id}",
            ]
            .map(key)
            .to_vec(),
        );
        let near = router.nearest(&Method::GET, "/pets/1/toys", 3);
        assert_eq!(near[0].0, "POST /pets/{id}/toys");
        assert_eq!(
            near[0].1,
            "the path matches, but the method GET is not POST"
        );
        assert_eq!(near[1].0, "GET /pets/{id}");
        assert!(near[1].1.contains("3 segment(s)"), "{}", near[1].1);
        assert_eq!(near[2].0, "GET /pets");
        let near = router.nearest(&Method::GET, "/toys", 1);
        assert_eq!(near[0].0, "GET /toys/{id}");
        assert_eq!(near[0].1, "the path has 1 segment(s), the route needs 2");
        let near = router.nearest(&Method::GET, "/pets/1/toys", 4);
        assert_eq!(near[3].0, "GET /toys/{id}");
        assert_eq!(near[3].1, "segment 1 is \"pets\", the route needs \"toys\"");
        assert_eq!(router.nearest(&Method::GET, "/x", 10).len(), 4);
    }

    /// The first-segment index changes which routes are ranked, never the choice: over every
    /// table of up to four routes drawn from shapes that share and differ in their first
    /// segment, and paths that hit each shape, the selection equals ranking every route in
    /// table order.
    #[test]
    fn the_index_selects_what_ranking_every_route_selects() {
        let shapes = [
            "$default",
            "GET /",
            "GET /pets",
            "ANY /pets",
            "GET /pets/{id}",
            "GET /pets/{id}/toys",
            "ANY /pets/{proxy+}",
            "GET /{kind}",
            "GET /{kind}/{id}",
            "ANY /{proxy+}",
            "POST /pets",
            "GET /toys/{id}",
        ];
        let paths = [
            "/",
            "/pets",
            "/pets/",
            "/pets/7",
            "/pets/7/toys",
            "/pets/7/x/y",
            "/toys/1",
            "/cats",
            "/cats/1",
            "/a/b/c",
            "",
        ];
        let linear = |routes: &[RouteKey], method: &Method, path: &str| {
            let mut best: Option<(Rank, usize)> = None;
            for (index, route) in routes.iter().enumerate() {
                if let Some(rank) = rank(route, method, trim_slashes(path))
                    && best.is_none_or(|(b, _)| rank < b)
                {
                    best = Some((rank, index));
                }
            }
            best.map(|(_, i)| i)
        };
        let n = shapes.len();
        let mut tables = 0;
        for a in 0..n {
            for b in 0..n {
                for c in 0..n {
                    for d in [0, 3, 7, 11] {
                        let routes: Vec<RouteKey> =
                            [a, b, c, d].iter().map(|i| key(shapes[*i])).collect();
                        let router = Router::new(routes.clone());
                        for method in [Method::GET, Method::POST] {
                            for path in paths {
                                assert_eq!(
                                    router.select(&method, path),
                                    linear(&routes, &method, path),
                                    "{method} {path:?} in {:?}",
                                    [shapes[a], shapes[b], shapes[c], shapes[d]]
                                );
                            }
                        }
                        tables += 1;
                    }
                }
            }
        }
        assert_eq!(tables, n * n * n * 4);
    }

    /// docs/aws-rules.md §HTTP-2.3: route keys parse as AWS writes them, and print back the same.
    #[test]
    fn route_keys_parse_and_display_round_trip() {
        assert_eq!(key("$default"), RouteKey::Default);
        assert_eq!(
            key("GET /pets/{id}"),
            RouteKey::Path {
                method: Some(Method::GET),
                segments: vec![Segment::Literal("pets".into()), Segment::Var("id".into())],
            }
        );
        assert_eq!(
            key("ANY /{proxy+}"),
            RouteKey::Path {
                method: None,
                segments: vec![Segment::Greedy("proxy".into())],
            }
        );
        assert_eq!(
            key("POST /"),
            RouteKey::Path {
                method: Some(Method::POST),
                segments: vec![],
            }
        );
        for k in [
            "$default",
            "GET /pets/{id}",
            "ANY /{proxy+}",
            "POST /",
            "GET /a/b/{c}/d",
        ] {
            assert_eq!(key(k).display(), k);
        }
        for (bad, want) in [
            ("GET", RouteKeyError::Shape("GET".into())),
            ("G(T /pets", RouteKeyError::Method("G(T".into())),
            ("GET pets", RouteKeyError::Path("pets".into())),
            (
                "GET /{proxy+}/x",
                RouteKeyError::GreedyNotLast("/{proxy+}/x".into()),
            ),
        ] {
            assert_eq!(bad.parse::<RouteKey>(), Err(want), "{bad}");
        }
    }

    fn pick<'a>(routes: &'a [&'a str], method: &str, path: &str) -> Option<&'a str> {
        let r = Router::new(routes.iter().map(|s| key(s)).collect());
        r.select(&Method::from_bytes(method.as_bytes()).unwrap(), path)
            .map(|i| routes[i])
    }

    /// docs/aws-rules.md §HTTP-2.4: AWS's documented worked example.
    #[test]
    fn aws_worked_example() {
        let routes = [
            "GET /pets/dog/1",
            "GET /pets/dog/{id}",
            "GET /pets/{proxy+}",
            "ANY /{proxy+}",
            "$default",
        ];
        for (m, p, want) in [
            ("GET", "/pets/dog/1", "GET /pets/dog/1"),
            ("GET", "/pets/dog/2", "GET /pets/dog/{id}"),
            ("GET", "/pets/cat/1", "GET /pets/{proxy+}"),
            ("POST", "/test/5", "ANY /{proxy+}"),
            ("GET", "/", "$default"),
        ] {
            assert_eq!(pick(&routes, m, p), Some(want), "{m} {p}");
        }
    }

    /// docs/aws-rules.md §HTTP-2.4 tie-breaks, docs/aws-rules.md §HTTP-2.5 trailing slash, docs/aws-rules.md §HTTP-2.6 HEAD, docs/aws-rules.md §HTTP-2.7 no match.
    #[test]
    fn tie_breaks_and_edges() {
        let routes = [
            "GET /pets",
            "GET /pets/{petId}",
            "ANY /pets/{petId}",
            "POST /pets",
            "GET /a/{x}/c",
            "GET /a/b/{y}",
            "ANY /api/{proxy+}",
            "GET /api/v1/{proxy+}",
            "GET /",
        ];
        assert_eq!(pick(&routes, "GET", "/pets/7"), Some("GET /pets/{petId}"));
        assert_eq!(
            pick(&routes, "DELETE", "/pets/7"),
            Some("ANY /pets/{petId}")
        );
        assert_eq!(pick(&routes, "GET", "/pets/"), Some("GET /pets"));
        assert_eq!(pick(&routes, "GET", "/a/b/c"), Some("GET /a/b/{y}"));
        assert_eq!(
            pick(&routes, "GET", "/api/v1/x/y"),
            Some("GET /api/v1/{proxy+}")
        );
        assert_eq!(
            pick(&routes, "POST", "/api/v1/x"),
            Some("ANY /api/{proxy+}")
        );
        assert_eq!(
            pick(&routes, "GET", "/api"),
            None,
            "greedy never matches its parent"
        );
        assert_eq!(pick(&routes, "GET", "/"), Some("GET /"));
        assert_eq!(
            pick(&routes, "HEAD", "/pets"),
            None,
            "GET does not serve HEAD"
        );
        assert_eq!(pick(&routes, "GET", "/Pets"), None, "case-sensitive");
        assert_eq!(pick(&routes, "GET", "/pets/7/x"), None);
        assert_eq!(
            pick(&routes, "GET", "/pets//"),
            None,
            "empty variable segment"
        );
    }

    /// docs/aws-rules.md §HTTP-2.4 greedy-vs-greedy (unconfirmed): longest literal prefix, then a literal at the first
    /// differing segment, then more segments before the greedy one; docs/aws-rules.md §HTTP-2.4 tier order: a full
    /// `ANY` match beats a method-specific greedy route.
    #[test]
    fn greedy_tie_breaks() {
        let routes = [
            "GET /a/{x}/{p+}",
            "GET /a/{x}/c/{p+}",
            "GET /a/b/{p+}",
            "GET /{p+}",
            "ANY /z/{id}",
            "GET /z/{p+}",
        ];
        for (path, want) in [
            ("/a/b/c/d", "GET /a/b/{p+}"),
            ("/a/q/c/d", "GET /a/{x}/c/{p+}"),
            ("/a/q/r/d", "GET /a/{x}/{p+}"),
            ("/q", "GET /{p+}"),
            ("/z/1", "ANY /z/{id}"),
            ("/z/1/2", "GET /z/{p+}"),
        ] {
            assert_eq!(pick(&routes, "GET", path), Some(want), "{path}");
        }
    }

    #[test]
    fn parameters_are_decoded() {
        let k = key("GET /pets/{petId}/{rest+}");
        assert_eq!(
            path_parameters(&k, "/pets/a%20b/x/y%2Fz"),
            vec![
                ("petId".to_owned(), "a b".to_owned()),
                ("rest".to_owned(), "x/y/z".to_owned())
            ]
        );
        assert_eq!(percent_decode_lossy("100%"), "100%");
        assert_eq!(key("GET /pets/{petId}").display(), "GET /pets/{petId}");
    }
}
