//! Writing files so that a crash, a `kill -9`, a full disk or a second process writing the same
//! file never leaves a reader with a mix of old and new bytes: every write goes to a temporary
//! file of its own (process id + counter) in the target's folder, is flushed to the disk, and is
//! renamed over the target. On any error the temporary file is removed and the old file stays.
//! Work that must not run twice at once (a sweep cell, a trunk feature file) takes a [`Lock`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name beside `path` that no other writer (thread or process) uses.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}-{n}.partial", std::process::id()))
}

/// Writes `bytes` to `path` atomically (see the module doc).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Streams into `path` atomically: `fill` writes the content; nothing is visible at `path` until
/// it returns Ok and the bytes are on the disk.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> std::io::Result<()> {
    let tmp = temporary_path(path);
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        // The rename itself must reach the disk too (best effort: not every system can open a folder).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// An exclusive lock on a file, held until dropped. It is the kernel's advisory lock (`flock`;
/// over NFS a lock with a lease), so the stale-lock rule is the kernel's: a holder that dies
/// (`kill -9`, a Slurm time limit or requeue, a node lost) releases it, and nothing is left to
/// clean up. The file's text names the holder, for a process that has to wait. The file is never
/// removed: a waiter and a newcomer would then lock two different files.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Lock {
    /// Takes the lock on `path` (created if missing), waiting for a holder to finish; `waiting`
    /// is told the holder's text once before the wait.
    pub fn acquire(path: &Path, waiting: impl FnOnce(&str)) -> std::io::Result<Lock> {
        use std::io::{Read, Seek};
        let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                waiting(holder.trim());
                file.lock().map_err(unsupported)?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(unsupported(e)),
        }
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(Self::holder().as_bytes())?;
        Ok(Lock { file })
    }

    /// Who holds `path` now, or None when it is free (the lock is not taken).
    pub fn holder_of(path: &Path) -> Option<String> {
        use std::io::Read;
        let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path).ok()?;
        match file.try_lock() {
            // An error other than "held" (a file system without locks) is not a holder.
            Ok(()) | Err(std::fs::TryLockError::Error(_)) => None,
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                Some(text.trim().to_string())
            }
        }
    }

    fn holder() -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown host".into());
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let job = std::env::var("SLURM_JOB_ID").map(|j| format!(", Slurm job {j}")).unwrap_or_default();
        format!("{} pid {}{job}, since unix {since}\n", host.trim(), std::process::id())
    }
}

/// A file system without `flock` (Lustre mounted without `-o flock`, some FUSE mounts) says so in
/// words a user can act on.
fn unsupported(e: std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        // ENOSYS, ENOLCK, EOPNOTSUPP (Linux numbers).
        Some(code) if code == 38 || code == 37 || code == 95 => std::io::Error::new(
            e.kind(),
            format!("{e}: this file system offers no file locks; the sweep's shared folder needs them (on Lustre mount it with -o flock)"),
        ),
        _ => e,
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("hybrid-ir-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.json");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |w| {
            w.write_all(b"half of the new")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("report.json")], "a temporary file was left behind");
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn concurrent_writers_use_distinct_temporaries() {
        let a = temporary_path(Path::new("/x/cache.emb"));
        let b = temporary_path(Path::new("/x/cache.emb"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/x")));
    }

    #[test]
    fn a_lock_waits_for_its_holder_and_names_it() {
        let dir = std::env::temp_dir().join(format!("hybrid-ir-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cell.lock");
        let first = Lock::acquire(&path, |_| panic!("nobody holds it yet")).unwrap();
        let holder = Lock::holder_of(&path).expect("held");
        assert!(holder.contains(&format!("pid {}", std::process::id())), "{holder}");
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            let lock = Lock::acquire(&p, |h| tx.send(h.to_string()).unwrap()).unwrap();
            drop(lock);
        });
        let told = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the waiter was told who holds the lock");
        assert_eq!(told, holder);
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!waiter.is_finished(), "the second lock was granted while the first was held");
        drop(first);
        waiter.join().unwrap();
        assert_eq!(Lock::holder_of(&path), None, "released on drop");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The stale-lock rule: a holder killed with SIGKILL leaves nothing that blocks the next one.
    #[test]
    fn a_killed_holder_releases_its_lock() {
        let dir = std::env::temp_dir().join(format!("hybrid-ir-lock-kill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cell.lock");
        // util-linux `flock` takes the same kernel lock as `Lock`, on a descriptor the shell then
        // hands to `sleep` by exec: the process we kill is the only holder.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "exec 9>>\"$1\" && flock 9 && exec sleep 60", "sh"])
            .arg(&path)
            .spawn()
            .expect("sh and flock(1) from util-linux");
        let t0 = std::time::Instant::now();
        while Lock::holder_of(&path).is_none() {
            assert!(t0.elapsed().as_secs() < 10, "flock(1) never took the lock");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let t0 = std::time::Instant::now();
        let lock = Lock::acquire(&path, |_| {}).unwrap();
        assert!(t0.elapsed().as_secs() < 5, "the dead holder's lock was not released");
        drop(lock);
        std::fs::remove_dir_all(&dir).ok();
    }
}
