//! Stickiness cookies (docs/aws-rules.md §ALB-3.8 target stickiness, docs/aws-rules.md §ALB-1.6 group stickiness).
//!
//! AWS encrypts the cookie values; airlock uses an opaque base64 token naming the group, the
//! target (or the chosen group) and the time it was issued, which the stickiness duration is
//! checked against (docs/aws-rules.md §ALB-3.8 allows an opaque token).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use http::header::COOKIE;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// `lb_cookie` target stickiness.
pub(crate) const AWSALB: &str = "AWSALB";
/// Its CORS twin (`SameSite=None; Secure`).
pub(crate) const AWSALBCORS: &str = "AWSALBCORS";
/// `app_cookie` target stickiness (the first shard; values never need more here).
pub(crate) const AWSALBAPP: &str = "AWSALBAPP-0";
/// Group stickiness of weighted forwards.
pub(crate) const AWSALBTG: &str = "AWSALBTG";
/// Its CORS twin.
pub(crate) const AWSALBTGCORS: &str = "AWSALBTGCORS";

/// The fixed lifetime of the cookies themselves; the stickiness duration lives in the value.
const COOKIE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The value of a stickiness cookie binding `scope` (a group name) to `choice`.
pub(crate) fn encode(scope: &str, choice: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{scope}|{choice}", now_secs()))
}

/// The choice a cookie value names, if it was issued for `scope` less than `duration` ago.
pub(crate) fn decode(value: &str, scope: &str, duration: Duration) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(value.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.splitn(3, '|');
    let issued: u64 = parts.next()?.parse().ok()?;
    if parts.next()? != scope {
        return None;
    }
    let choice = parts.next()?;
    (now_secs().saturating_sub(issued) < duration.as_secs()).then(|| choice.to_owned())
}

/// A target named in a cookie, if valid for `group`.
pub(crate) fn target(value: &str, group: &str, duration: Duration) -> Option<SocketAddr> {
    decode(value, group, duration)?.parse().ok()
}

/// The first value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn request_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether any `Set-Cookie` of a response sets `name`.
pub(crate) fn response_sets(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split_once('='))
        .any(|(k, _)| k.trim() == name)
}

/// `Set-Cookie` values: `name=value; Expires=<7 days>; Path=/` and, when `cors` names the
/// twin, the same with `SameSite=None; Secure` (docs/aws-rules.md §ALB-3.8: `Expires`, never `Max-Age`).
pub(crate) fn set_cookies(name: &str, cors: Option<&str>, value: &str) -> Vec<String> {
    let expires = http_date(SystemTime::now() + COOKIE_LIFETIME);
    let mut out = vec![format!("{name}={value}; Expires={expires}; Path=/")];
    if let Some(cors) = cors {
        out.push(format!(
            "{cors}={value}; Expires={expires}; Path=/; SameSite=None; Secure"
        ));
    }
    out
}

/// An IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(t: SystemTime) -> String {
    const IMF_FIXDATE: &[BorrowedFormatItem<'_>] = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from(t)
        .format(IMF_FIXDATE)
        .expect("a date with a time has every field the format names")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn cookie_values_round_trip_within_their_scope_and_duration() {
        let v = encode("tg-a", "10.0.1.5:8080");
        let day = Duration::from_secs(86_400);
        assert_eq!(
            target(&v, "tg-a", day),
            Some("10.0.1.5:8080".parse().unwrap())
        );
        assert_eq!(target(&v, "tg-b", day), None, "another group's cookie");
        assert_eq!(target(&v, "tg-a", Duration::ZERO), None, "expired");
        assert_eq!(target("garbage!", "tg-a", day), None);
        let mut h = HeaderMap::new();
        h.insert(COOKIE, "a=1; AWSALB=xyz; b=2".parse().unwrap());
        assert_eq!(request_cookie(&h, AWSALB), Some("xyz"));
        assert_eq!(request_cookie(&h, AWSALBCORS), None);
    }
}
