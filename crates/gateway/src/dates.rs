//! Dates as API Gateway writes them in access logs and authorizer events.

use std::time::SystemTime;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// `dd/MMM/yyyy:HH:mm:ss +0000`, the CLF time API Gateway logs (UTC).
pub fn clf_time(t: SystemTime) -> String {
    const CLF: &[BorrowedFormatItem<'_>] =
        format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
    OffsetDateTime::from(t)
        .format(CLF)
        .expect("a date with a time has every field the format names")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// docs/aws-rules.md §HTTP-9: `requestTime` is `dd/MMM/yyyy:HH:mm:ss +hhmm`.
    #[test]
    fn clf_time_format() {
        assert_eq!(
            clf_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "14/Nov/2023:22:13:20 +0000"
        );
        assert_eq!(
            clf_time(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "29/Feb/2000:00:00:00 +0000"
        );
    }
}
