//! The one way this workspace writes an output file: atomically for regular files, through
//! for devices and FIFOs, and never leaving a temporary file behind.
//!
//! A regular file (or a new name) is written into a temporary file in the same directory,
//! synced, then renamed over the target, so that a reader never sees half a file and a failed
//! write leaves the old file untouched. The other things a user may name as an output are not
//! replaced by a regular file: a symbolic link is followed (its target is replaced, the link
//! stays), a FIFO or a character device (`/dev/null`, `/dev/stdout`) is opened and written as it
//! is, and a FIFO without a reader is refused at once instead of blocking.
//!
//! The temporary file's name is `.NAME.tmp-PID-N`, with `NAME` shortened so that the whole stays
//! within the 255 bytes a file name may have (a valid 250-byte name still works). While it
//! exists it is registered; [`install_interrupt_handler`] makes SIGINT and SIGTERM remove the
//! registered files before the process ends, so a temporary file never outlives the process
//! (a SIGKILL cannot be caught: that one case leaves it, as `.NAME.tmp-*`).

use std::cell::UnsafeCell;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use crate::error::{ModelFileError, ModelFileErrorKind as Kind};

/// The longest file name most file systems take (Linux's `NAME_MAX`).
pub const NAME_MAX: usize = 255;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path`: atomically through a synced temporary file and a rename when
/// `path` is a regular file or does not exist; through the link when it is a symbolic link;
/// directly when it is a FIFO or a character device.
///
/// # Errors
/// Naming the step the file system refused, or why the path cannot be written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelFileError> {
    write_atomic_with(path, |out| {
        out.write_all(bytes).map_err(|e| ModelFileError::new(path, Kind::Io { action: "write", source: e }))
    })
}

/// [`write_atomic`] of what `fill` writes into the stream it is given, a part at a time (the
/// rows of a chunk, then the next chunk's), so that the whole never has to be in memory. When
/// `fill` fails, its error is returned and a regular file is left as it was, with no temporary
/// file behind (a FIFO or a device has had what was written); a write that failed inside `fill`
/// is reported as [`write_atomic`] reports it, whatever `fill` made of the `io::Error`.
///
/// # Errors
/// As [`write_atomic`], or `fill`'s error.
pub fn write_atomic_with<E: From<ModelFileError>>(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E> {
    let io = |action: &'static str| move |source| ModelFileError::new(path, Kind::Io { action, source });
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            // Replace what the link points to, keeping the link (a user's dotfile links, say).
            let target = fs::canonicalize(path).map_err(io("follow the symbolic link"))?;
            return write_atomic_with(&target, fill);
        }
        Ok(m) if m.file_type().is_fifo() || m.file_type().is_char_device() => {
            return write_through(path, fill, m.file_type().is_fifo());
        }
        Ok(m) if m.is_dir() => {
            return Err(ModelFileError::new(
                path,
                Kind::Unwritable { reason: "it is a directory; name a file in it".into() },
            )
            .into());
        }
        Ok(m) if !m.is_file() => {
            return Err(ModelFileError::new(
                path,
                Kind::Unwritable {
                    reason: "it is neither a regular file, a FIFO nor a character device".into(),
                },
            )
            .into());
        }
        _ => {}
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = dir.join(temp_name(path));
    let guard = TempGuard::register(&temp);
    let result = (|| {
        let file = fs::File::create(&temp).map_err(io("create a temporary file for"))?;
        let file = fill_and_flush(path, file, fill)?;
        file.sync_all().map_err(io("sync"))?;
        drop(file);
        fs::rename(&temp, path).map_err(io("rename the temporary file onto"))?;
        // Persist the rename itself; not every platform can open a directory, so best effort.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    drop(guard);
    result
}

/// Runs `fill` on `file` (buffered), flushes it and gives it back; a failed write is reported
/// as the write error of `path`, whatever `fill` returned for it.
fn fill_and_flush<E: From<ModelFileError>>(
    path: &Path,
    file: fs::File,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<fs::File, E> {
    let write_error = |source| ModelFileError::new(path, Kind::Io { action: "write", source });
    let mut out = std::io::BufWriter::with_capacity(1 << 16, Recording { inner: file, error: None });
    let filled = fill(&mut out);
    let flushed = out.flush();
    let recording = out.into_inner().map_err(|e| write_error(e.into_error()))?;
    if let Some(e) = recording.error {
        return Err(write_error(e).into());
    }
    filled?;
    flushed.map_err(write_error)?;
    Ok(recording.inner)
}

/// A writer that keeps the first error of its inner writer (the caller sees a copy).
struct Recording<W> {
    inner: W,
    error: Option<std::io::Error>,
}

impl<W: Write> Recording<W> {
    fn keep<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        result.map_err(|e| {
            let copy = std::io::Error::new(e.kind(), e.to_string());
            self.error.get_or_insert(e);
            copy
        })
    }
}

impl<W: Write> Write for Recording<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.keep(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.keep(result)
    }
}

/// Writes into a FIFO or a device as it is. A FIFO is opened without blocking, so that one
/// nobody reads is an error now rather than a hang.
fn write_through<E: From<ModelFileError>>(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), E>,
    fifo: bool,
) -> Result<(), E> {
    let io = |action: &'static str| move |source| ModelFileError::new(path, Kind::Io { action, source });
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if fifo {
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| {
        if fifo && e.raw_os_error() == Some(libc::ENXIO) {
            ModelFileError::new(
                path,
                Kind::Unwritable { reason: "it is a FIFO that no process reads".into() },
            )
        } else {
            io("open")(e)
        }
    })?;
    if fifo {
        use std::os::fd::AsRawFd;
        // Blocking writes from here on: the reader takes the data at its own pace.
        // SAFETY: fcntl on a descriptor this function owns, with integer arguments only.
        let fd = file.as_raw_fd();
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
            return Err(io("configure")(std::io::Error::last_os_error()).into());
        }
    }
    fill_and_flush(path, file, fill).map(drop)
}

/// `.NAME.tmp-PID-N` for `path`'s name, with `NAME` cut (at a character boundary when it is
/// UTF-8) so that the whole fits in [`NAME_MAX`] bytes.
pub fn temp_name(path: &Path) -> OsString {
    let name = path.file_name().map_or(&b"output"[..], |n| n.as_bytes());
    let suffix = format!(".tmp-{}-{}", std::process::id(), TEMP_COUNTER.fetch_add(1, Ordering::Relaxed));
    let room = NAME_MAX - 1 - suffix.len();
    let mut cut = name.len().min(room);
    if let Ok(text) = std::str::from_utf8(name) {
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
    }
    let mut out = Vec::with_capacity(1 + cut + suffix.len());
    out.push(b'.');
    out.extend_from_slice(&name[..cut]);
    out.extend_from_slice(suffix.as_bytes());
    OsString::from_vec(out)
}

// ---------------------------------------------------------------------------------------------
// Temporary files removed on SIGINT and SIGTERM.
//
// The signal handler may only do async-signal-safe work: no locks, no allocation. So the
// registry is a fixed table of path buffers whose slots move FREE -> FILLING -> ARMED (by the
// writer), ARMED -> FREE (when the file is gone) or ARMED -> CLAIMED (by the handler, which
// then unlinks it and ends the process).

/// Paths longer than this (absolute paths deep in a tree) are not registered.
const SLOT_BYTES: usize = 4096;
/// Writes in flight at once that can be registered (the commands have at most one).
const SLOTS: usize = 8;

const FREE: u8 = 0;
const FILLING: u8 = 1;
const ARMED: u8 = 2;
const CLAIMED: u8 = 3;

struct Slot {
    state: AtomicU8,
    path: UnsafeCell<[u8; SLOT_BYTES]>,
}

// SAFETY: `path` is written only by the thread that moved `state` to FILLING, and read only by
// the handler after it moved `state` from ARMED to CLAIMED; the state's acquire/release
// orderings order the two.
unsafe impl Sync for Slot {}

static TEMPS: [Slot; SLOTS] =
    [const { Slot { state: AtomicU8::new(FREE), path: UnsafeCell::new([0; SLOT_BYTES]) } }; SLOTS];

/// Whether the first SIGINT/SIGTERM only asks to stop ([`interrupted`]) instead of ending the
/// process.
static GRACEFUL: AtomicBool = AtomicBool::new(false);
/// Whether a SIGINT or SIGTERM arrived.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Where a rank of a data-parallel run is ([`note_rank_progress`]), for the message of a signal
/// that ends it: its rank + 1 (0: not a rank, or no step begun), the epoch and the step.
static RANK_PLUS_ONE: AtomicU64 = AtomicU64::new(0);
static EPOCH: AtomicU64 = AtomicU64::new(0);
static STEP: AtomicU64 = AtomicU64::new(0);

/// Notes that this process, rank `rank` of a data-parallel run, begins step `step` of epoch
/// `epoch`. When one rank fails, MPI launchers end the others with SIGTERM; the line the
/// handler of [`install_interrupt_handler`] then prints says where training was:
/// `error: rank 0 terminated (SIGTERM) during step 57 of epoch 3; ...`.
pub fn note_rank_progress(rank: usize, epoch: u64, step: u64) {
    EPOCH.store(epoch, Ordering::Relaxed);
    STEP.store(step, Ordering::Relaxed);
    RANK_PLUS_ONE.store(rank as u64 + 1, Ordering::Release);
}

/// A line built without allocating (in a signal handler): text and decimal numbers.
struct Line {
    bytes: [u8; 256],
    len: usize,
}

impl Line {
    fn text(&mut self, text: &[u8]) -> &mut Self {
        let n = text.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&text[..n]);
        self.len += n;
        self
    }

    fn number(&mut self, mut value: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.text(&digits[at..])
    }
}

/// The line a signal that ends the process prints.
fn termination_line(signal: libc::c_int) -> Line {
    let mut line = Line { bytes: [0; 256], len: 0 };
    let what: &[u8] = if signal == libc::SIGINT { b"interrupted (SIGINT)" } else { b"terminated (SIGTERM)" };
    line.text(b"error: ");
    let rank = RANK_PLUS_ONE.load(Ordering::Acquire);
    if rank > 0 {
        line.text(b"rank ").number(rank - 1).text(b" ").text(what);
        line.text(b" during step ").number(STEP.load(Ordering::Relaxed));
        line.text(b" of epoch ").number(EPOCH.load(Ordering::Relaxed));
    } else {
        line.text(what);
    }
    line.text(b"; no output file was left half-written\n");
    line
}

/// A registered temporary file; dropping it unregisters the path (the file is gone by then).
struct TempGuard(Option<usize>);

impl TempGuard {
    fn register(path: &Path) -> TempGuard {
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() >= SLOT_BYTES {
            return TempGuard(None);
        }
        for (i, slot) in TEMPS.iter().enumerate() {
            if slot.state.compare_exchange(FREE, FILLING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                // SAFETY: this thread owns the slot while it is FILLING (see `Slot`).
                let buf = unsafe { &mut *slot.path.get() };
                buf[..bytes.len()].copy_from_slice(bytes);
                buf[bytes.len()] = 0;
                slot.state.store(ARMED, Ordering::Release);
                return TempGuard(Some(i));
            }
        }
        TempGuard(None)
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            // CLAIMED means the handler is removing it and ending the process: leave it.
            let _ = TEMPS[i].state.compare_exchange(ARMED, FREE, Ordering::AcqRel, Ordering::Relaxed);
        }
    }
}

extern "C" fn on_signal(signal: libc::c_int) {
    // Only Ctrl-C asks politely: SIGTERM (`timeout`, `kill`) must end even a stuck process.
    if signal == libc::SIGINT && GRACEFUL.load(Ordering::Relaxed) && !INTERRUPTED.swap(true, Ordering::SeqCst)
    {
        return;
    }
    INTERRUPTED.store(true, Ordering::SeqCst);
    for slot in &TEMPS {
        if slot.state.compare_exchange(ARMED, CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            // SAFETY: unlink is async-signal-safe; the buffer is NUL-terminated and ours now.
            unsafe { libc::unlink(slot.path.get().cast::<libc::c_char>()) };
        }
    }
    let line = termination_line(signal);
    let message = &line.bytes[..line.len];
    // SAFETY: write and _exit are async-signal-safe.
    unsafe {
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::_exit(128 + signal);
    }
}

/// Makes SIGINT and SIGTERM remove the temporary files of writes in progress and end the
/// process with status 128 + the signal's number, after one line on stderr. With `graceful`,
/// the first SIGINT (Ctrl-C) only sets [`interrupted`] (a training loop polls it and stops
/// after its step, its outputs written whole); a second one, or SIGTERM, ends the process as
/// above.
///
/// # Errors
/// When the handler cannot be installed (the system's message).
pub fn install_interrupt_handler(graceful: bool) -> std::io::Result<()> {
    GRACEFUL.store(graceful, Ordering::Relaxed);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a handler of the right signature and an empty mask.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESTART;
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Whether SIGINT arrived since [`install_interrupt_handler`] (graceful mode).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("backprop-atomic-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_rank_says_where_training_was_when_a_signal_ends_it() {
        let text = |signal| {
            let line = termination_line(signal);
            String::from_utf8(line.bytes[..line.len].to_vec()).unwrap()
        };
        // (One test: the progress is the process's.)
        assert_eq!(
            text(libc::SIGTERM),
            "error: terminated (SIGTERM); no output file was left half-written\n"
        );
        note_rank_progress(1, 3, 57);
        assert_eq!(
            text(libc::SIGTERM),
            "error: rank 1 terminated (SIGTERM) during step 57 of epoch 3; no output file was left half-written\n"
        );
        note_rank_progress(0, 12, u64::MAX);
        assert!(text(libc::SIGINT).starts_with(&format!(
            "error: rank 0 interrupted (SIGINT) during step {} of epoch 12;",
            u64::MAX
        )));
        RANK_PLUS_ONE.store(0, Ordering::Release);
    }

    #[test]
    fn temporary_names_fit_in_name_max() {
        let long = "a".repeat(250);
        let name = temp_name(Path::new(&long));
        assert!(name.len() <= NAME_MAX, "{} bytes", name.len());
        assert!(name.as_bytes().starts_with(b".aaa"));
        assert!(name.to_string_lossy().contains(".tmp-"));
        // A multi-byte character is never cut in half.
        let name = temp_name(Path::new(&"é".repeat(127)));
        assert!(name.len() <= NAME_MAX && std::str::from_utf8(name.as_bytes()).is_ok());
        let dir = scratch("long");
        let path = dir.join(&long);
        write_atomic(&path, b"x").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"x");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_in_parts_that_fails_leaves_the_old_file_and_no_temporary() {
        let dir = scratch("parts");
        let path = dir.join("out.csv");
        write_atomic_with(&path, |out| {
            for part in ["a,b\n", "1,2\n", "3,4\n"] {
                out.write_all(part.as_bytes())
                    .map_err(|e| ModelFileError::new(&path, Kind::Io { action: "write", source: e }))?;
            }
            Ok::<(), ModelFileError>(())
        })
        .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a,b\n1,2\n3,4\n");
        // The caller's error after some parts: the old file stays, nothing else is left.
        let err = write_atomic_with(&path, |out| {
            out.write_all(b"x,y\n").unwrap();
            Err(ModelFileError::new(&path, Kind::Unwritable { reason: "a bad row".into() }))
        })
        .unwrap_err();
        assert!(err.to_string().ends_with("a bad row"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "a,b\n1,2\n3,4\n");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary file");
        // A failed write is reported as the file's write error, whatever the caller made of it.
        let full = Path::new("/dev/full");
        let err = write_atomic_with(full, |out| {
            out.write_all(&[b'x'; 1 << 17])
                .map_err(|_| ModelFileError::new(full, Kind::Unwritable { reason: "lost".into() }))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "/dev/full: cannot write: No space left on device (os error 28)");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn links_and_devices_are_written_through_not_replaced() {
        let dir = scratch("links");
        let real = dir.join("real.txt");
        fs::write(&real, b"old").unwrap();
        let link = dir.join("link.txt");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
        assert_eq!(fs::read(&real).unwrap(), b"new");
        write_atomic(Path::new("/dev/null"), b"gone").unwrap();
        assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device());
        let mut names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["link.txt", "real.txt"], "no temporary file is left");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_fifo_without_a_reader_is_refused_at_once() {
        let dir = scratch("fifo");
        let fifo = dir.join("pipe");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = write_atomic(&fifo, b"data").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: cannot write: it is a FIFO that no process reads", fifo.display())
        );
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo(), "still a FIFO");
        fs::remove_dir_all(&dir).unwrap();
    }
}
