//! The work-directory lock: one `remix run` (or stage command) writes into a work directory at a time.
//!
//! Writes `WORK/remix.lock`, created with `O_EXCL` (`create_new`; not `flock`, which network filesystems
//! break), holding the owner's pid, host and start time ([`LockInfo`]); its modification time is a
//! heartbeat, refreshed every [`HEARTBEAT`] while the owner runs. A lock is stale when its pid is dead on
//! this host, or, from another host, when its heartbeat is older than [`STALE_AFTER`]; a stale lock is
//! taken over with a warning. The jobs the Slurm submitter launches carry its lock id in
//! [`LOCK_ENV`] and run under its lock instead of contending for it. Removed when its owner ends.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The lock file inside a work directory.
pub const LOCK_FILE: &str = "remix.lock";
/// The environment variable that hands a lock id to the jobs run under it (the Slurm executor's).
pub const LOCK_ENV: &str = "REMIX_WORK_LOCK";
/// How often the owner refreshes the heartbeat: often enough that [`STALE_AFTER`] has a wide margin.
pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// A lock from another host whose heartbeat is older than this is stale: ten missed heartbeats, a
/// margin for clock skew between hosts and a slow shared filesystem.
pub const STALE_AFTER: Duration = Duration::from_secs(300);

/// What the lock file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    /// `host:pid:start`, unique per run; what [`LOCK_ENV`] carries.
    pub id: String,
    pub pid: u32,
    pub host: String,
    /// Start time, seconds since the Unix epoch.
    pub started: u64,
}

/// A held (or, for a job under its submitter's lock, borrowed) work-directory lock; released on drop.
pub struct WorkLock {
    path: PathBuf,
    info: LockInfo,
    /// `false` for a job running under its submitter's lock: nothing to refresh or remove.
    owned: bool,
    stop: Arc<AtomicBool>,
    heartbeat: Option<JoinHandle<()>>,
}

impl WorkLock {
    /// Takes the lock of `work` (created if absent). Errors: the lock is held by a live run (naming
    /// its pid, host and start), or the lock file cannot be read or written.
    pub fn acquire(work: &Path) -> Result<WorkLock> {
        fs::create_dir_all(work)
            .with_context(|| format!("cannot create the work directory {}", work.display()))?;
        let path = work.join(LOCK_FILE);
        let inherited = std::env::var(LOCK_ENV).ok();
        for _ in 0..3 {
            if let Some(held) = read(&path)? {
                if inherited.as_deref() == Some(held.id.as_str()) {
                    return Ok(WorkLock {
                        path,
                        info: held,
                        owned: false,
                        stop: Arc::default(),
                        heartbeat: None,
                    });
                }
                match staleness(&path, &held)? {
                    None => bail!(
                        "the work directory {} is in use by another remix (pid {} on host {}, started {} s ago; \
                         {}): wait for it to end, or stop it; if no remix runs there, remove the lock file",
                        work.display(),
                        held.pid,
                        held.host,
                        now().saturating_sub(held.started),
                        path.display()
                    ),
                    Some(why) => {
                        tracing::warn!(
                            "taking over the lock of {} from pid {} on host {}: {why}",
                            work.display(),
                            held.pid,
                            held.host
                        );
                        take_away(&path, &held)?;
                    }
                }
            }
            let info = LockInfo::new();
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(&serde_json::to_vec_pretty(&info)?)
                        .and_then(|()| file.sync_all())
                        .with_context(|| format!("cannot write the lock {}", path.display()))?;
                    let stop = Arc::new(AtomicBool::new(false));
                    let heartbeat = Some(beat(path.clone(), stop.clone()));
                    return Ok(WorkLock {
                        path,
                        info,
                        owned: true,
                        stop,
                        heartbeat,
                    });
                }
                // Another run took it between our read and our create: look again.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot create the lock {}", path.display()));
                }
            }
        }
        bail!(
            "cannot take the lock {}: other remix runs keep taking it",
            path.display()
        )
    }

    /// The id jobs run under this lock carry in [`LOCK_ENV`].
    pub fn id(&self) -> &str {
        &self.info.id
    }
}

impl Drop for WorkLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(heartbeat) = self.heartbeat.take() {
            let _ = heartbeat.join();
        }
        if self.owned {
            match read(&self.path) {
                Ok(Some(held)) if held.id == self.info.id => {
                    if let Err(e) = fs::remove_file(&self.path) {
                        tracing::warn!("cannot remove the lock {}: {e}", self.path.display());
                    }
                }
                Ok(_) => tracing::warn!(
                    "the lock {} was taken over while this run held it",
                    self.path.display()
                ),
                Err(e) => tracing::warn!("{e:#}"),
            }
        }
    }
}

/// Refuses when a run other than the one named in [`LOCK_ENV`] holds `work`'s lock: a task of a split
/// stage writes only its own part, so tasks run side by side without the lock, but not beside a
/// whole run.
pub fn check_free(work: &Path) -> Result<()> {
    let path = work.join(LOCK_FILE);
    let Some(held) = read(&path)? else {
        return Ok(());
    };
    if std::env::var(LOCK_ENV).ok().as_deref() == Some(held.id.as_str())
        || staleness(&path, &held)?.is_some()
    {
        return Ok(());
    }
    bail!(
        "the work directory {} is in use by another remix (pid {} on host {}): run this task when it ends, \
         or as one of its jobs",
        work.display(),
        held.pid,
        held.host
    )
}

impl LockInfo {
    fn new() -> LockInfo {
        let (pid, host, started) = (std::process::id(), host(), now());
        LockInfo {
            id: format!("{host}:{pid}:{started}"),
            pid,
            host,
            started,
        }
    }
}

/// The lock at `path`, `None` when there is none. Errors: unreadable, or not a lock remix wrote.
fn read(path: &Path) -> Result<Option<LockInfo>> {
    crate::core::workdir::read_json_if_present(
        path,
        "is not a remix lock (empty or damaged): remove it if no remix runs in this work directory",
    )
}

/// Why the lock `held` (at `path`) is stale, or `None` while its owner may be alive.
fn staleness(path: &Path, held: &LockInfo) -> Result<Option<String>> {
    if held.host == host() && Path::new("/proc/self").exists() {
        let alive = Path::new("/proc").join(held.pid.to_string()).exists();
        return Ok((!alive).then(|| format!("its process {} has ended", held.pid)));
    }
    let modified = match fs::metadata(path).and_then(|m| m.modified()) {
        Ok(modified) => modified,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some("it is gone".into())),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read the lock {}", path.display()));
        }
    };
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    Ok((age > STALE_AFTER).then(|| format!("its heartbeat is {} s old", age.as_secs())))
}

/// Moves the stale lock `held` aside, so that of two runs taking it over only one removes it; a lock
/// that is not `held` any more (another run took it over first) is put back.
fn take_away(path: &Path, held: &LockInfo) -> Result<()> {
    let aside = path.with_extension(format!("stale-{}-{}", std::process::id(), now()));
    match fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot move the stale lock {}", path.display()));
        }
    }
    if read(&aside)?.is_some_and(|moved| moved.id != held.id) {
        // A fresh lock, not the stale one: give it back (unless yet another run holds the name now).
        let _ = fs::hard_link(&aside, path);
    }
    fs::remove_file(&aside).with_context(|| format!("cannot remove {}", aside.display()))
}

/// Refreshes the lock's modification time every [`HEARTBEAT`] until `stop`.
fn beat(path: PathBuf, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = std::time::Instant::now();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            if last.elapsed() >= HEARTBEAT {
                last = std::time::Instant::now();
                let touched = fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()));
                if let Err(e) = touched {
                    tracing::warn!("cannot refresh the lock {}: {e}", path.display());
                }
            }
        }
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// This machine's name (Linux's kernel hostname, else `HOSTNAME`); "unknown" where neither is set,
/// which makes every lock from elsewhere judged by its heartbeat alone.
fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_a_dead_owners_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lock = WorkLock::acquire(dir.path()).unwrap();
        let error = WorkLock::acquire(dir.path()).err().unwrap().to_string();
        assert!(
            error.contains(&format!("pid {}", std::process::id())) && error.contains(&host()),
            "{error}"
        );
        assert!(check_free(dir.path()).is_err());
        drop(lock);
        assert!(!dir.path().join(LOCK_FILE).exists());
        check_free(dir.path()).unwrap();

        // A lock left by a process that has ended on this host.
        let dead = LockInfo {
            id: "gone".into(),
            pid: u32::MAX - 1,
            host: host(),
            started: 0,
        };
        fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        let lock = WorkLock::acquire(dir.path()).unwrap();
        assert_ne!(lock.id(), "gone");
        drop(lock);

        // A lock from another host with a fresh heartbeat holds; a damaged one is an error.
        let elsewhere = LockInfo {
            host: "another-host".into(),
            ..dead
        };
        fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_vec(&elsewhere).unwrap(),
        )
        .unwrap();
        assert!(WorkLock::acquire(dir.path()).is_err());
        fs::write(dir.path().join(LOCK_FILE), b"").unwrap();
        let error = format!("{:#}", WorkLock::acquire(dir.path()).err().unwrap());
        assert!(error.contains("not a remix lock"), "{error}");
    }
}
