//! The function package (`strata::resources::package`) as another implementation reads it:
//! Python's zipfile and hashlib (standard library) check its entries, their order,
//! timestamps, modes and contents, and its CodeSha256. One fixture's CodeSha256 is pinned:
//! a change in the package's bytes redeploys every function, so it must be seen.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// CodeSha256 of the fixture below, as Python's hashlib computed it when it was pinned.
const PINNED: &str = "xclOhcqQDwgo+ywvddCtoTnyo78KOxjBEDTu08s5qFU=";

const FILES: &[(&str, &str, u32)] = &[
    ("index.py", "def handler(e, c):\n    return 1\n", 0o644),
    ("lib/util.py", "X = 1\n", 0o600),
    ("run.sh", "#!/bin/sh\necho hi\n", 0o755),
];

fn fixture(dir: &Path) {
    for (name, text, mode) in FILES {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    // Build debris, never packaged.
    std::fs::create_dir_all(dir.join("__pycache__")).unwrap();
    std::fs::write(dir.join("__pycache__/index.cpython-312.pyc"), "junk").unwrap();
    std::fs::write(dir.join("lib/util.pyc"), "junk").unwrap();
    std::fs::write(dir.join(".DS_Store"), "junk").unwrap();
}

const READ: &str = r#"
import base64, hashlib, json, sys, zipfile
data = open(sys.argv[1], "rb").read()
archive = zipfile.ZipFile(sys.argv[1])
print(json.dumps({
    "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
    "entries": [[i.filename, list(i.date_time), (i.external_attr >> 16) & 0o7777,
                 i.compress_type, hashlib.sha256(archive.read(i)).hexdigest()]
                for i in archive.infolist()],
}))
"#;

#[test]
fn the_package_is_the_deterministic_zip_python_reads_and_its_hash_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    fixture(&code);
    let package = strata::resources::package::package_dir(&code).unwrap();
    let zip = dir.path().join("code.zip");
    std::fs::write(&zip, &package.bytes).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", READ, zip.to_str().unwrap()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // Sorted by path, every timestamp 1980-01-01 00:00, modes 0644 (0755 for an
    // executable, whatever else the file's mode was), deflated, contents as written.
    let expected: Vec<serde_json::Value> = FILES
        .iter()
        .map(|(name, text, mode)| {
            let packaged_mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
            let digest = format!("{:x}", Sha256::digest(text.as_bytes()));
            serde_json::json!([name, [1980, 1, 1, 0, 0, 0], packaged_mode, 8, digest])
        })
        .collect();
    assert_eq!(read["entries"].as_array().unwrap(), &expected);
    assert_eq!(read["sha256"], package.sha256.as_str());
    assert_eq!(package.sha256, PINNED);
}
