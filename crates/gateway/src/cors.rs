//! API-level CORS (docs/aws-rules.md §HTTP-2.8): preflights the gateway answers itself, and the
//! headers it puts on actual responses in place of the backend's.

use http::{HeaderMap, HeaderValue, Method, header};

/// An API's `cors_configuration`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsConfig {
    /// `allow_origins`: exact origins, `*`, `https://*` or `http://*`.
    pub allow_origins: Vec<String>,
    /// `allow_credentials`.
    pub allow_credentials: bool,
    /// `expose_headers`.
    pub expose_headers: Vec<String>,
    /// `max_age` in seconds (−1…86400).
    pub max_age: Option<i32>,
    /// `allow_methods`.
    pub allow_methods: Vec<String>,
    /// `allow_headers`.
    pub allow_headers: Vec<String>,
}

impl CorsConfig {
    /// The `Access-Control-Allow-Origin` value for `origin`, or `None` when it is not allowed.
    /// A `*` entry answers `*` unless credentials are allowed, in which case the origin is echoed
    /// (unconfirmed, see docs/aws-fidelity.md).
    fn allow_origin(&self, origin: &str) -> Option<String> {
        let lower = origin.to_ascii_lowercase();
        let mut wildcard = false;
        for o in &self.allow_origins {
            match o.as_str() {
                "*" => wildcard = true,
                "https://*" if lower.starts_with("https://") => return Some(origin.to_owned()),
                "http://*" if lower.starts_with("http://") => return Some(origin.to_owned()),
                exact if exact.eq_ignore_ascii_case(origin) => return Some(origin.to_owned()),
                _ => {}
            }
        }
        wildcard.then(|| {
            if self.allow_credentials {
                origin.to_owned()
            } else {
                "*".to_owned()
            }
        })
    }

    /// Whether `req` is a preflight this API answers: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method` (rule 1).
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(header::ORIGIN)
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The headers of the gateway's own preflight answer (204): all configured
    /// `access-control-*` headers when the origin is allowed, none otherwise (rule 5, unconfirmed).
    pub fn preflight_headers(&self, origin: Option<&str>) -> HeaderMap {
        let mut out = HeaderMap::new();
        let Some(origin) = origin.and_then(|o| self.allow_origin(o)) else {
            return out;
        };
        put(&mut out, header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
        if self.allow_credentials {
            put(&mut out, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
        if !self.allow_methods.is_empty() {
            put(
                &mut out,
                header::ACCESS_CONTROL_ALLOW_METHODS,
                &self.allow_methods.join(","),
            );
        }
        if !self.allow_headers.is_empty() {
            put(
                &mut out,
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                &self.allow_headers.join(","),
            );
        }
        if !self.expose_headers.is_empty() {
            put(
                &mut out,
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                &self.expose_headers.join(","),
            );
        }
        if let Some(age) = self.max_age {
            put(&mut out, header::ACCESS_CONTROL_MAX_AGE, &age.to_string());
        }
        out
    }

    /// Replaces the backend's CORS headers with the configured ones (rules 3 and 4).
    pub fn apply_to_response(&self, origin: Option<&str>, response: &mut HeaderMap) {
        let backend: Vec<http::HeaderName> = response
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for k in backend {
            response.remove(k);
        }
        let Some(origin) = origin.and_then(|o| self.allow_origin(o)) else {
            return;
        };
        put(response, header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
        if self.allow_credentials {
            put(response, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
        if !self.expose_headers.is_empty() {
            put(
                response,
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                &self.expose_headers.join(","),
            );
        }
    }
}

fn put(h: &mut HeaderMap, name: http::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// docs/aws-rules.md §HTTP-2.8 field table and rule 6 (origin echo choices).
    #[test]
    fn origins() {
        let mut c = CorsConfig {
            allow_origins: vec!["https://app.example.com".into(), "http://*".into()],
            ..CorsConfig::default()
        };
        for (origin, want) in [
            ("https://app.example.com", Some("https://app.example.com")),
            ("https://evil.example.com", None),
            ("http://anything.test", Some("http://anything.test")),
        ] {
            assert_eq!(c.allow_origin(origin).as_deref(), want, "{origin}");
        }
        c.allow_origins = vec!["*".into()];
        assert_eq!(c.allow_origin("https://x.test").as_deref(), Some("*"));
        c.allow_credentials = true;
        assert_eq!(
            c.allow_origin("https://x.test").as_deref(),
            Some("https://x.test")
        );
    }

    /// Rule 4: backend CORS headers are replaced; rule 1: nothing without `Origin`.
    #[test]
    fn backend_headers_are_replaced() {
        let c = CorsConfig {
            allow_origins: vec!["https://a.test".into()],
            expose_headers: vec!["x-total".into()],
            ..CorsConfig::default()
        };
        let mut resp = HeaderMap::new();
        resp.insert("access-control-allow-origin", "*".parse().unwrap());
        resp.insert("access-control-max-age", "5".parse().unwrap());
        c.apply_to_response(Some("https://a.test"), &mut resp);
        assert_eq!(resp["access-control-allow-origin"], "https://a.test");
        assert_eq!(resp["access-control-expose-headers"], "x-total");
        assert!(!resp.contains_key("access-control-max-age"));
        let mut resp = HeaderMap::new();
        resp.insert("access-control-allow-origin", "*".parse().unwrap());
        c.apply_to_response(None, &mut resp);
        assert!(resp.is_empty());
    }
}
