//! Deterministic zip packages of a code directory: entries sorted by path, fixed
//! timestamps (1980-01-01) and modes (0644, 0755 for executables), so the same folder
//! always gives the same bytes and the same CodeSha256.

use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Files that are build debris, never code.
const SKIP: &[&str] = &["__pycache__", ".DS_Store", ".pytest_cache"];

pub struct Package {
    pub bytes: Vec<u8>,
    /// base64(sha256(zip)), as Lambda reports CodeSha256.
    pub sha256: String,
}

pub fn package_dir(dir: &Path) -> std::io::Result<Package> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    if files.is_empty() {
        return Err(std::io::Error::other(format!(
            "code directory {} has no files",
            dir.display()
        )));
    }
    files.sort();
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for relative in &files {
        let path = dir.join(relative);
        let executable = std::fs::metadata(&path)?.permissions().mode() & 0o111 != 0;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(DateTime::default())
            .unix_permissions(if executable { 0o755 } else { 0o644 });
        let name = relative.to_string_lossy().replace('\\', "/");
        zip.start_file(name, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(&std::fs::read(&path)?)?;
    }
    let bytes = zip.finish().map_err(std::io::Error::other)?.into_inner();
    let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
    Ok(Package { bytes, sha256 })
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if SKIP.contains(&name.as_ref()) || name.ends_with(".pyc") {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root).expect("below root").to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_folder_same_bytes_and_a_change_changes_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.py"),
            "def handler(e, c):\n    return 1\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/util.py"), "X = 1\n").unwrap();
        std::fs::create_dir(dir.path().join("__pycache__")).unwrap();
        std::fs::write(dir.path().join("__pycache__/index.cpython-312.pyc"), "junk").unwrap();
        let a = package_dir(dir.path()).unwrap();
        // Touching the files (new mtimes) changes nothing.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join("lib/util.py"), "X = 1\n").unwrap();
        let b = package_dir(dir.path()).unwrap();
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.sha256, b.sha256);
        let archive = zip::ZipArchive::new(Cursor::new(a.bytes)).unwrap();
        assert_eq!(archive.file_names().collect::<Vec<_>>().len(), 2);
        std::fs::write(
            dir.path().join("index.py"),
            "def handler(e, c):\n    return 2\n",
        )
        .unwrap();
        assert_ne!(package_dir(dir.path()).unwrap().sha256, a.sha256);
    }
}
