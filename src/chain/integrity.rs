//! Whether what S3 holds or sends is what was meant: the ETag S3 gives the object of a
//! multipart upload (to recognise a completion whose answer was lost), and S3's checksum of
//! a whole object checked against the bytes received.

use aws_smithy_checksums::ChecksumAlgorithm;
use aws_smithy_checksums::http::HttpChecksum;
use base64::Engine;
use md5::{Digest, Md5};

use super::ChainError;

/// The header a GET URL can be signed for (`checksum_mode` asked of the endpoint): S3 then
/// answers a whole-object GET with its checksum of the object. A URL signed for it is valid
/// only with it sent.
pub const CHECKSUM_MODE: (&str, &str) = ("x-amz-checksum-mode", "ENABLED");

/// An ETag as ETags compare: without its quotes, lowercase.
pub fn bare_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_ascii_lowercase()
}

/// The ETag S3 gives the object of a multipart upload (bare): the MD5 of the parts' MD5s
/// (their ETags), then `-` and the number of parts. None when a part's ETag is not an MD5
/// (objects encrypted with a KMS key have other ETags).
pub fn multipart_etag<'a>(part_etags: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut digests = Vec::new();
    let mut count = 0;
    for etag in part_etags {
        let hex = bare_etag(etag);
        if hex.len() != 32 {
            return None;
        }
        for pair in hex.as_bytes().chunks(2) {
            let pair = std::str::from_utf8(pair).ok()?;
            digests.push(u8::from_str_radix(pair, 16).ok()?);
        }
        count += 1;
    }
    let digest = Md5::digest(&digests);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("{hex}-{count}"))
}

/// Whether URL (a presigned URL) was signed for [`CHECKSUM_MODE`]: its `X-Amz-SignedHeaders`
/// lists it. An endpoint that does not know `checksum_mode` signs `host` alone.
pub fn signs_checksum_mode(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else {
        return false;
    };
    query
        .split('&')
        .filter_map(|p| p.strip_prefix("X-Amz-SignedHeaders="))
        .flat_map(|v| {
            v.split(";")
                .flat_map(|h| h.split("%3B"))
                .flat_map(|h| h.split("%3b"))
        })
        .any(|h| h.eq_ignore_ascii_case(CHECKSUM_MODE.0))
}

/// The algorithms S3 may answer a checksum of, as they appear in `x-amz-checksum-<name>`.
const ALGORITHMS: [(&str, &str); 5] = [
    ("crc64nvme", "CRC64NVME"),
    ("crc32c", "CRC32C"),
    ("crc32", "CRC32"),
    ("sha256", "SHA-256"),
    ("sha1", "SHA-1"),
];

/// S3's checksum of a whole object, from the headers of its GET answer, and the same
/// checksum computed over the bytes as they arrive.
pub struct ObjectChecksum {
    algorithm: &'static str,
    expected: String,
    computed: Box<dyn HttpChecksum>,
}

impl ObjectChecksum {
    /// The whole-object checksum among HEADERS, if S3 sent one. A composite checksum (of a
    /// multipart upload whose parts carried checksums, `<base64>-<parts>`, type
    /// `COMPOSITE`) covers the parts' checksums, not the bytes: None.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<ObjectChecksum> {
        let composite = headers
            .get("x-amz-checksum-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.eq_ignore_ascii_case("COMPOSITE"));
        if composite {
            return None;
        }
        ALGORITHMS.iter().find_map(|(name, algorithm)| {
            let value = headers
                .get(format!("x-amz-checksum-{name}"))?
                .to_str()
                .ok()?;
            if value.contains('-') {
                return None;
            }
            let computed = name.parse::<ChecksumAlgorithm>().ok()?.into_impl();
            Some(ObjectChecksum {
                algorithm,
                expected: value.trim().to_string(),
                computed,
            })
        })
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.computed.update(bytes);
    }

    /// Compares S3's checksum with the one of the bytes received.
    pub fn verify(self, key: &str) -> Result<(), ChainError> {
        let got = base64::engine::general_purpose::STANDARD.encode(self.computed.finalize());
        if got == self.expected {
            return Ok(());
        }
        Err(ChainError::ChecksumMismatch {
            key: key.to_string(),
            algorithm: self.algorithm,
            expected: self.expected,
            got,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn the_etag_of_a_multipart_object_is_the_md5_of_its_parts_md5s() {
        // The parts' MD5s are those of b"hello" and b"world"; the expected value was
        // computed apart (`openssl md5 -binary` of each, concatenated, through md5sum).
        let parts = [
            "\"5d41402abc4b2a76b9719d911017c592\"",
            "\"7D793037A0760186574B0282F2F435E7\"",
        ];
        assert_eq!(
            multipart_etag(parts).as_deref(),
            Some("065947336a2f2a95ba8899f3675c3be6-2")
        );
        assert_eq!(multipart_etag(["\"kms-key-etag\""]), None);
        assert_eq!(
            multipart_etag(["\"zz41402abc4b2a76b9719d911017c592\""]),
            None
        );
    }

    #[test]
    fn signed_headers_are_read_from_the_query() {
        let signed = "http://h/b/k?X-Amz-Expires=100&X-Amz-SignedHeaders=host%3Bx-amz-checksum-mode&X-Amz-Signature=x";
        assert!(signs_checksum_mode(signed));
        assert!(signs_checksum_mode(
            "http://h/b/k?X-Amz-SignedHeaders=host;x-amz-checksum-mode"
        ));
        assert!(!signs_checksum_mode(
            "http://h/b/k?X-Amz-SignedHeaders=host&x-amz-checksum-mode=ENABLED"
        ));
        assert!(!signs_checksum_mode("http://h/b/x-amz-checksum-mode"));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_checksum_is_verified_against_the_bytes() {
        // S3's (and the emulator's) CRC64NVME and CRC32 of b"hello world".
        for (name, value) in [
            ("x-amz-checksum-crc64nvme", "jSnVw/bqjr4="),
            ("x-amz-checksum-crc32", "DUoRhQ=="),
        ] {
            let mut checksum = ObjectChecksum::from_headers(&headers(&[
                (name, value),
                ("x-amz-checksum-type", "FULL_OBJECT"),
            ]))
            .unwrap();
            checksum.update(b"hello ");
            checksum.update(b"world");
            checksum.verify("input/k").unwrap();
        }
        let mut checksum =
            ObjectChecksum::from_headers(&headers(&[("x-amz-checksum-crc64nvme", "jSnVw/bqjr4=")]))
                .unwrap();
        // The emulator's CRC64NVME of b"hello World" is 0F2+2LeQRgQ=.
        checksum.update(b"hello World");
        let err = checksum.verify("input/k").unwrap_err();
        assert_eq!(
            err.to_string(),
            "payload `input/k` does not match S3's CRC64NVME checksum of the object (jSnVw/bqjr4=; the bytes received give 0F2+2LeQRgQ=)"
        );
    }

    #[test]
    fn composite_and_missing_checksums_are_not_checked() {
        assert!(ObjectChecksum::from_headers(&headers(&[])).is_none());
        assert!(
            ObjectChecksum::from_headers(&headers(&[
                ("x-amz-checksum-crc32", "AAAAAA==-3"),
                ("x-amz-checksum-type", "COMPOSITE"),
            ]))
            .is_none()
        );
        assert!(
            ObjectChecksum::from_headers(&headers(&[("x-amz-checksum-crc32", "AAAAAA==-3")]))
                .is_none()
        );
    }
}
