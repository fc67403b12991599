//! Opening the files a user names as input, bounded: only regular files (a FIFO without a
//! writer would block forever, `/dev/zero` never ends), and at most [`max_input_bytes`] of
//! them, checked from the file's size before a byte is read.

use std::fs::File;
use std::io;
use std::path::Path;

/// The environment variable that sets the input size limit, in bytes.
pub const MAX_INPUT_BYTES_ENV: &str = "BACKPROP_MAX_INPUT_BYTES";

/// The default input size limit: 4 GiB, several times the largest data sets this CPU trainer
/// is for (MNIST's files are 55 MB), and below what a typical machine can hold as the parsed
/// copy beside the bytes.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 4 << 30;

/// The input size limit: [`MAX_INPUT_BYTES_ENV`] when it holds a whole number, else
/// [`DEFAULT_MAX_INPUT_BYTES`].
pub fn max_input_bytes() -> u64 {
    std::env::var(MAX_INPUT_BYTES_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_INPUT_BYTES)
}

/// Opens `path` for reading, with its size, after checking (without opening it, which would
/// block on a FIFO) that it is a regular file within [`max_input_bytes`].
///
/// # Errors
/// The system's error, or an `InvalidInput` error saying what the file is or how large.
pub fn open_input(path: &Path) -> io::Result<(File, u64)> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        let what =
            if meta.is_dir() { "a directory" } else { "not a regular file (a FIFO, a device or a socket)" };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("it is {what}; name a data file")));
    }
    let limit = max_input_bytes();
    if meta.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "it is {} bytes, more than the input limit of {limit} bytes (set {MAX_INPUT_BYTES_ENV} to raise it)",
                meta.len()
            ),
        ));
    }
    Ok((File::open(path)?, meta.len()))
}

/// [`open_input`] as a reader that stops at [`max_input_bytes`]: a file that grows while it is
/// read stops at the limit all the same.
///
/// # Errors
/// As [`open_input`].
pub fn open_input_bounded(path: &Path) -> io::Result<io::Take<File>> {
    use std::io::Read;
    Ok(open_input(path)?.0.take(max_input_bytes()))
}

/// Reads the whole of `path`, as [`open_input`] bounds it.
///
/// # Errors
/// As [`open_input`], or a read error.
pub fn read_input(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let (file, len) = open_input(path)?;
    let mut bytes = Vec::with_capacity(len as usize);
    // `take`: a file that grows while it is read stops at the limit all the same.
    file.take(max_input_bytes()).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_directories_are_refused_before_opening() {
        let err = read_input(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is not a regular file (a FIFO, a device or a socket); name a data file"
        );
        let err = read_input(Path::new("/")).unwrap_err();
        assert_eq!(err.to_string(), "it is a directory; name a data file");
        let dir = std::env::temp_dir().join(format!("backprop-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Returns at once: a FIFO without a writer is never opened.
        assert!(read_input(&fifo).unwrap_err().to_string().contains("not a regular file"));
        let file = dir.join("f");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(read_input(&file).unwrap(), b"abc");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
