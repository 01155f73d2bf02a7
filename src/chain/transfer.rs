//! How payloads are split for parallel transfers: the AWS CLI's defaults (8 MiB threshold
//! and part size, 10 transfers at once), within S3's multipart limits.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub const MIB: u64 = 1024 * 1024;
/// S3's smallest part (every part but the last).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
pub const MAX_PARTS: u64 = 10_000;
/// S3's largest object, and its largest single PUT.
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * MIB;
pub const MAX_SINGLE_PUT: u64 = 5 * 1024 * MIB;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Payloads of at least this many bytes go in parts (ranges when receiving).
    pub threshold: u64,
    /// The part size asked for; grown to stay within S3's 10,000 parts.
    pub part_size: u64,
    /// Transfers (whole payloads, parts or ranges) in flight at once.
    pub concurrency: usize,
}

impl Default for Transfer {
    fn default() -> Transfer {
        Transfer {
            threshold: 8 * MIB,
            part_size: 8 * MIB,
            concurrency: 10,
        }
    }
}

impl Transfer {
    /// Checks the settings against S3's limits.
    pub fn check(&self) -> Result<(), String> {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return Err(format!(
                "the part size must be between 5 MiB and 5 GiB (S3's limits), got {} bytes",
                self.part_size
            ));
        }
        if !(1..=MAX_SINGLE_PUT).contains(&self.threshold) {
            return Err(format!(
                "the multipart threshold must be between 1 byte and 5 GiB (S3's largest single PUT), got {}",
                self.threshold
            ));
        }
        if self.concurrency == 0 {
            return Err("the concurrency must be at least 1".into());
        }
        Ok(())
    }

    /// `None` for a single request; else the part size and the number of parts. The part
    /// size is doubled (as the AWS CLI does) until the parts number 10,000 at most.
    pub fn parts(&self, size: u64) -> Option<(u64, u64)> {
        if size < self.threshold {
            return None;
        }
        let mut part_size = self.part_size.max(MIN_PART_SIZE);
        while size.div_ceil(part_size) > MAX_PARTS {
            part_size *= 2;
        }
        let part_size = part_size.min(MAX_PART_SIZE);
        Some((part_size, size.div_ceil(part_size).max(1)))
    }
}

/// What every transfer of one command shares: the bound on requests in flight and the
/// signal to stop (Ctrl-C).
#[derive(Clone)]
pub struct Shared {
    pub transfer: Transfer,
    pub permits: Arc<Semaphore>,
    pub cancel: CancellationToken,
}

impl Shared {
    pub fn new(transfer: Transfer) -> Shared {
        Shared {
            transfer,
            permits: Arc::new(Semaphore::new(transfer.concurrency.max(1))),
            cancel: CancellationToken::new(),
        }
    }
}

/// The byte range of part `index` (0-based).
pub fn range(index: u64, part_size: u64, size: u64) -> (u64, u64) {
    let start = index * part_size;
    (start, part_size.min(size - start))
}

/// How long a presigned URL is good for, from its `X-Amz-Expires`.
pub fn url_lifetime(url: &str) -> Option<Duration> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("X-Amz-Expires="))
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
}

/// A URL is reused while it has a quarter of its lifetime left: a request started on it
/// must reach S3 before it expires.
pub fn still_fresh(age: Duration, lifetime: Duration) -> bool {
    age < lifetime.mul_f64(0.75)
}

/// Sizes as the AWS CLI writes them: `8MB`, `8MiB`, `1GB` (binary units), or bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 8MB, 16MiB, 1GB, 1048576)"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => 1024 * MIB,
        "t" | "tb" | "tib" => 1024 * 1024 * MIB,
        _ => return Err(format!("`{text}`: unknown unit (use KB, MB, GB or TB)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_payloads_are_one_request_and_large_ones_parts() {
        let t = Transfer::default();
        assert_eq!(t.parts(0), None);
        assert_eq!(t.parts(8 * MIB - 1), None);
        assert_eq!(t.parts(8 * MIB), Some((8 * MIB, 1)));
        assert_eq!(t.parts(40 * MIB + 1), Some((8 * MIB, 6)));
    }

    #[test]
    fn the_part_size_doubles_to_stay_within_ten_thousand_parts() {
        let t = Transfer::default();
        // 10,000 parts of 8 MiB exactly: unchanged; one byte more doubles it.
        assert_eq!(t.parts(10_000 * 8 * MIB), Some((8 * MIB, 10_000)));
        assert_eq!(t.parts(10_000 * 8 * MIB + 1), Some((16 * MIB, 5_001)));
        // S3's largest object fits.
        let (part, count) = t.parts(MAX_OBJECT_SIZE).unwrap();
        assert!(
            count <= MAX_PARTS && part <= MAX_PART_SIZE,
            "{part} {count}"
        );
    }

    #[test]
    fn ranges_cover_the_payload_once() {
        let size = 40 * MIB + 1;
        let ranges: Vec<_> = (0..6).map(|i| range(i, 8 * MIB, size)).collect();
        assert_eq!(ranges[5], (40 * MIB, 1));
        assert_eq!(ranges.iter().map(|r| r.1).sum::<u64>(), size);
    }

    #[test]
    fn settings_outside_s3_limits_are_refused() {
        let ok = Transfer::default();
        assert!(ok.check().is_ok());
        assert!(
            Transfer {
                part_size: 5 * MIB - 1,
                ..ok
            }
            .check()
            .is_err()
        );
        assert!(
            Transfer {
                threshold: MAX_SINGLE_PUT + 1,
                ..ok
            }
            .check()
            .is_err()
        );
        assert!(
            Transfer {
                concurrency: 0,
                ..ok
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn sizes_parse_like_the_aws_cli() {
        assert_eq!(parse_size("8MB"), Ok(8 * MIB));
        assert_eq!(parse_size("16MiB"), Ok(16 * MIB));
        assert_eq!(parse_size("1GB"), Ok(1024 * MIB));
        assert_eq!(parse_size("1048576"), Ok(MIB));
        assert!(parse_size("8 parsecs").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn url_lifetime_comes_from_x_amz_expires() {
        let url =
            "http://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=100&X-Amz-Signature=x";
        assert_eq!(url_lifetime(url), Some(Duration::from_secs(100)));
        assert_eq!(url_lifetime("http://h/b/k"), None);
        assert!(still_fresh(
            Duration::from_secs(74),
            Duration::from_secs(100)
        ));
        assert!(!still_fresh(
            Duration::from_secs(75),
            Duration::from_secs(100)
        ));
    }
}
