//! The files a command writes, checked before any work: each can be written where it is named,
//! and none of them is one of the command's inputs or another of its outputs (through a link,
//! `..` or another spelling), so that `train --csv d.csv --save d.csv` is refused instead of
//! replacing the data with a model.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use backprop_nn::atomic_file::NAME_MAX;

use crate::error::{CliError, Result};

/// A path a command reads or writes, with the flag that named it (`--csv`, `--save`, ...).
pub type Named<'a> = (&'static str, Option<&'a Path>);

/// The files of `--idx DIR` that exist (its MNIST train and t10k files), named `--idx`.
pub fn idx_files(dir: Option<&Path>) -> Vec<PathBuf> {
    let Some(dir) = dir else { return Vec::new() };
    [backprop_data::MnistSet::Train, backprop_data::MnistSet::Test]
        .into_iter()
        .filter_map(|set| set.paths(dir).ok())
        .flat_map(|(images, labels)| [images, labels])
        .collect()
}

/// Which file a path is: the device and inode of one that exists (links and `..` resolved by
/// the system), else its canonical directory and its name.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    Inode(u64, u64),
    Name(PathBuf),
}

fn identity(path: &Path) -> Option<Identity> {
    if let Ok(m) = fs::metadata(path) {
        return Some(Identity::Inode(m.dev(), m.ino()));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(Identity::Name(fs::canonicalize(dir).ok()?.join(path.file_name()?)))
}

/// Whether writing to `path` shares nothing with anyone: a character device (`/dev/null`,
/// `/dev/stdout`) may take several outputs and be an input's name without harm.
fn is_device(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device())
}

/// Checks the outputs of a command against its inputs and each other, and that each output can
/// be written ([`check_parent`]).
///
/// # Errors
/// A usage error naming both flags when an output is an input or another output; a file error
/// when an output cannot be written where it is named.
pub fn check_outputs(inputs: &[Named<'_>], outputs: &[Named<'_>]) -> Result<()> {
    let outputs: Vec<(&str, &Path)> = outputs.iter().filter_map(|&(f, p)| p.map(|p| (f, p))).collect();
    for &(_, path) in &outputs {
        check_parent(path)?;
    }
    let inputs: Vec<(&str, &Path)> = inputs.iter().filter_map(|&(f, p)| p.map(|p| (f, p))).collect();
    for (i, &(flag, path)) in outputs.iter().enumerate() {
        if is_device(path) {
            continue;
        }
        let Some(id) = identity(path) else { continue };
        let earlier = outputs[..i].iter().map(|&(f, p)| (f, p, "also writes"));
        let read = inputs.iter().map(|&(f, p)| (f, p, "reads"));
        for (other_flag, other, verb) in read.chain(earlier) {
            if identity(other).as_ref() == Some(&id) {
                let same = if other == path {
                    String::new()
                } else {
                    format!(" ({} is {})", path.display(), other.display())
                };
                return Err(CliError::usage(format!(
                    "{flag} {} is the file {other_flag} {verb}{same}; writing it would destroy that file: name another file",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// Checks, before a long run, that a file can be written at `path`: its directory exists, is a
/// directory and can be written, its name fits in [`NAME_MAX`] bytes, and `path` itself is not
/// a directory (the final rename would fail after all the work).
///
/// # Errors
/// When one of these does not hold, naming it.
pub fn check_parent(path: &Path) -> Result<()> {
    let refuse = |problem: String| Err(CliError::file(path, format!("cannot write the file: {problem}")));
    if path.is_dir() {
        return refuse("it is a directory; name a file in it".into());
    }
    if let Some(name) = path.file_name()
        && name.len() > NAME_MAX
    {
        return refuse(format!(
            "its name is {} bytes long, more than the {NAME_MAX} a file name may have",
            name.len()
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return refuse(if dir.exists() {
            format!("{} is not a directory", dir.display())
        } else {
            format!("the directory {} does not exist", dir.display())
        });
    }
    // An existing device or FIFO is written through, never created: its directory's
    // permissions do not matter.
    let special = fs::metadata(path).is_ok_and(|m| !m.is_file());
    if !special && !writable(dir) {
        return refuse(format!("the directory {} cannot be written (permission denied)", dir.display()));
    }
    Ok(())
}

/// Whether this process may create files in `dir` (the system's own answer, `access(W_OK)`).
fn writable(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return true };
    // SAFETY: a NUL-terminated path and a flag; access only reads them.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("backprop-outputs-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub")).unwrap();
        dir
    }

    #[test]
    fn an_output_that_is_an_input_by_any_spelling_is_refused() {
        let dir = scratch("same");
        let data = dir.join("d.csv");
        fs::write(&data, "a,b\n1,2\n").unwrap();
        let link = dir.join("link.csv");
        std::os::unix::fs::symlink(&data, &link).unwrap();
        let dotted = dir.join("sub/../d.csv");
        for out in [&data, &link, &dotted] {
            let err = check_outputs(&[("--csv", Some(&data))], &[("--save", Some(out))]).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("--save {} is the file --csv reads", out.display())),
                "{message}"
            );
        }
        // Two outputs onto one new name, one of them spelt with `..`.
        let (a, b) = (dir.join("m.safetensors"), dir.join("sub/../m.safetensors"));
        let err = check_outputs(&[], &[("--save", Some(&a)), ("--checkpoint", Some(&b))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "--checkpoint {} is the file --save also writes ({} is {}); writing it would destroy that file: name another file",
                b.display(),
                b.display(),
                a.display()
            )
        );
        // Devices take any number of outputs; distinct files are fine.
        let null = Path::new("/dev/null");
        check_outputs(&[("--csv", Some(&data))], &[("--out", Some(null)), ("--plot", Some(null))]).unwrap();
        check_outputs(&[("--csv", Some(&data))], &[("--save", Some(&a))]).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn output_locations_are_checked() {
        let dir = scratch("where");
        let long = dir.join("x".repeat(256));
        assert_eq!(
            check_parent(&long).unwrap_err().to_string(),
            format!(
                "{}: cannot write the file: its name is 256 bytes long, more than the 255 a file name may have",
                long.display()
            )
        );
        check_parent(&dir.join("x".repeat(250))).unwrap();
        fs::write(dir.join("f"), "").unwrap();
        let under = dir.join("f/m.safetensors");
        assert!(check_parent(&under).unwrap_err().to_string().ends_with("f is not a directory"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn output_paths_are_checked_before_the_work() {
        let dir = crate::data_source::test_dir("parent");
        let file = dir.join("data.csv");
        std::fs::write(&file, "a\n1\n").unwrap();
        let message = |p: &Path| check_parent(p).unwrap_err().to_string();
        assert_eq!(
            message(&dir),
            format!("{}: cannot write the file: it is a directory; name a file in it", dir.display())
        );
        let under_file = file.join("m.safetensors");
        assert_eq!(
            message(&under_file),
            format!("{}: cannot write the file: {} is not a directory", under_file.display(), file.display())
        );
        let missing = dir.join("no").join("m.safetensors");
        assert_eq!(
            message(&missing),
            format!(
                "{}: cannot write the file: the directory {} does not exist",
                missing.display(),
                dir.join("no").display()
            )
        );
        check_parent(&dir.join("m.safetensors")).unwrap();
        check_parent(Path::new("m.safetensors")).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
