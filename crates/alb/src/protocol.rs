//! The protocol of a listener or a health check (docs/aws-rules.md §ALB-1.3): a leaf both share.

/// A listener's protocol (docs/aws-rules.md §ALB-1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Plain HTTP/1.x.
    Http,
    /// TLS, with HTTP/2 or HTTP/1.1 chosen by ALPN.
    Https,
}

impl Protocol {
    /// `http` or `https`, as `X-Forwarded-Proto` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }
}
