//! Stable, AWS-shaped identifiers derived from resource names, so that the same stack file gives
//! the same API ids and DNS names on every run (users paste them into scripts).

/// FNV-1a, 64 bits: tiny, deterministic across platforms and releases (unlike `DefaultHasher`).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// An API id: 10 characters of `[a-z0-9]`, like `a1b2c3d4e5`.
pub fn api_id(account: &str, api_name: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut h = fnv1a(&["api", account, api_name]);
    (0..10)
        .map(|_| {
            let c = ALPHABET[(h % 36) as usize] as char;
            h /= 36;
            c
        })
        .collect()
}

/// The 10-digit suffix of a load balancer's DNS name (docs/aws-rules.md §ALB-1.1).
pub fn load_balancer_number(account: &str, name: &str) -> u64 {
    1_000_000_000 + fnv1a(&["elb", account, name]) % 9_000_000_000
}

/// `internal-NAME-NNNNNNNNNN.REGION.elb.amazonaws.com`, or without `internal-` when public.
pub fn load_balancer_dns_name(account: &str, region: &str, name: &str, internal: bool) -> String {
    let prefix = if internal { "internal-" } else { "" };
    let n = load_balancer_number(account, name);
    format!("{prefix}{name}-{n}.{region}.elb.amazonaws.com")
}

/// A 16-hex-digit load balancer id for ARNs.
pub fn load_balancer_id(account: &str, name: &str) -> String {
    format!("{:016x}", fnv1a(&["elb-arn", account, name]))
}

/// A VPC link id, `vpcl-` style but in the v2 shape (`abc123`).
pub fn vpc_link_id(account: &str, name: &str) -> String {
    format!("{:06x}", fnv1a(&["vpclink", account, name]) & 0xff_ffff)
}

/// A Cognito user pool id, `REGION_` and 9 characters of `[A-Za-z0-9]`, like `us-east-1_Ab3dE6gH9`.
pub fn user_pool_id(account: &str, region: &str, pool_name: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut h = fnv1a(&["user-pool", account, region, pool_name]);
    let suffix: String = (0..9)
        .map(|_| {
            let c = ALPHABET[(h % 62) as usize] as char;
            h /= 62;
            c
        })
        .collect();
    format!("{region}_{suffix}")
}

/// A Cognito app client id: 26 characters of `[a-z0-9]`, as Cognito generates them.
pub fn user_pool_client_id(account: &str, pool_name: &str, client_name: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut h = 0;
    (0..26)
        .map(|i| {
            // 64 bits give 12 characters; each run of 9 gets a hash of its own.
            if i % 9 == 0 {
                let run = (i / 9).to_string();
                h = fnv1a(&["user-pool-client", account, pool_name, client_name, &run]);
            }
            let c = ALPHABET[(h % 36) as usize] as char;
            h /= 36;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_shaped() {
        let id = api_id("000000000000", "pets-api");
        assert_eq!(id, api_id("000000000000", "pets-api"));
        assert_eq!(id.len(), 10);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_ne!(id, api_id("000000000000", "other"));
        let dns = load_balancer_dns_name("000000000000", "us-east-1", "pets-alb", true);
        let digits = dns
            .strip_prefix("internal-pets-alb-")
            .and_then(|r| r.strip_suffix(".us-east-1.elb.amazonaws.com"))
            .unwrap_or_default();
        assert_eq!(digits.len(), 10, "{dns}");
        assert!(digits.chars().all(|c| c.is_ascii_digit()));
    }
}
