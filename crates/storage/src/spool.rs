//! The spool: objects on local disk, waiting for their upload to a remote
//! store. Blocking I/O; callers run it on the blocking pool.
//!
//! One file per accepted put, `{id:020}.obj`, where `id` is the put's
//! number (increasing across restarts). A file is written as `{id}.tmp`,
//! fsynced, renamed, and the directory fsynced, so after [`Spool::write`]
//! returns the object survives a crash, and a `.obj` file is always whole.
//! Its header names the store it is bound for, its lane and its key:
//!
//! ```text
//! "AXSPOOL1"  url_len:u32le url  lane_len:u32le lane  key_len:u32le key  data_len:u64le
//! data (data_len bytes)
//! ```
//!
//! On start, [`Spool::scan`] returns the files to upload in `id` order, which
//! is the order in which their puts were accepted: within a lane, a segment
//! put before the playlist listing it is uploaded before it again. Of several
//! files for one key only the newest is kept. Files bound for another store
//! URL (the configuration changed) are left alone; damaged ones are renamed
//! `.bad` for inspection.
//!
//! A lock file (`flock`) keeps two servers from sharing a spool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use bytes::Bytes;

const MAGIC: &[u8; 8] = b"AXSPOOL1";
const OBJ: &str = "obj";
const TMP: &str = "tmp";
const LOCK_FILE: &str = "spool.lock";
/// Longest store URL, lane or key a header may carry.
const MAX_FIELD_BYTES: usize = 4096;

/// A spool directory, locked for this process.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    /// The store URL files are bound for.
    store_url: String,
    /// Holds the `flock` while open.
    _lock: File,
}

/// One spooled object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpoolFile {
    pub id: u64,
    pub lane: String,
    pub key: String,
    pub path: PathBuf,
    /// Offset of the data in the file.
    pub data_offset: u64,
    pub data_len: u64,
}

impl SpoolFile {
    /// Size of the whole file on disk.
    pub fn file_len(&self) -> u64 {
        self.data_offset + self.data_len
    }
}

/// What [`Spool::scan`] found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Files to upload, in `id` order, one per key.
    pub files: Vec<SpoolFile>,
    /// Older files of keys that have a newer one; deleted by `scan`.
    pub superseded: usize,
    /// Files bound for another store, left in place.
    pub foreign: usize,
    /// Damaged files, renamed `.bad`.
    pub damaged: usize,
    /// Leftover temporary files of puts that never completed; deleted.
    pub partial: usize,
    /// Highest id seen in any file name (0 if none).
    pub max_id: u64,
}

impl Spool {
    /// Opens (creating) a spool directory for objects bound for `store_url`.
    /// Fails if another process (or another open `Spool` in this one) holds
    /// the directory.
    pub fn open(dir: &Path, store_url: &str) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(if e.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the spool directory is in use by another aethex process",
                )
            } else {
                e
            });
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            store_url: store_url.to_string(),
            _lock: lock,
        })
    }

    fn path(&self, id: u64, extension: &str) -> PathBuf {
        self.dir.join(format!("{id:020}.{extension}"))
    }

    /// Writes an object durably (see the module doc).
    pub fn write(&self, id: u64, lane: &str, key: &str, parts: &[Bytes]) -> io::Result<SpoolFile> {
        for field in [lane, key, self.store_url.as_str()] {
            if field.len() > MAX_FIELD_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "lane, key or store URL too long for the spool",
                ));
            }
        }
        let data_len: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let mut header = Vec::with_capacity(32 + self.store_url.len() + lane.len() + key.len());
        header.extend_from_slice(MAGIC);
        for field in [self.store_url.as_str(), lane, key] {
            header.extend_from_slice(&(field.len() as u32).to_le_bytes());
            header.extend_from_slice(field.as_bytes());
        }
        header.extend_from_slice(&data_len.to_le_bytes());
        let tmp = self.path(id, TMP);
        let path = self.path(id, OBJ);
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(&header)?;
            for part in parts {
                file.write_all(part)?;
            }
            file.sync_data()?;
            drop(file);
            fs::rename(&tmp, &path)?;
            sync_dir(&self.dir)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(SpoolFile {
            id,
            lane: lane.to_string(),
            key: key.to_string(),
            path,
            data_offset: header.len() as u64,
            data_len,
        })
    }

    /// Lists what a previous run left (see the module doc).
    pub fn scan(&self) -> io::Result<Scan> {
        let mut scan = Scan::default();
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let (Some(stem), Some(extension)) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            let Ok(id) = stem.parse::<u64>() else {
                continue;
            };
            scan.max_id = scan.max_id.max(id);
            match extension {
                TMP => {
                    let _ = fs::remove_file(&path);
                    scan.partial += 1;
                }
                OBJ => match read_header(&path) {
                    Ok((url, file)) if url == self.store_url => {
                        files.push(SpoolFile { id, ..file })
                    }
                    Ok(_) => scan.foreign += 1,
                    Err(_) => {
                        let _ = fs::rename(&path, path.with_extension("bad"));
                        scan.damaged += 1;
                    }
                },
                _ => {}
            }
        }
        files.sort_by_key(|f| f.id);
        // Keep the newest file of each key, in id order.
        let mut newest = std::collections::HashMap::new();
        for (i, f) in files.iter().enumerate() {
            newest.insert(f.key.clone(), i);
        }
        for (i, f) in files.into_iter().enumerate() {
            if newest.get(&f.key) == Some(&i) {
                scan.files.push(f);
            } else {
                let _ = fs::remove_file(&f.path);
                scan.superseded += 1;
            }
        }
        if scan.partial + scan.superseded > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(scan)
    }
}

/// Deletes spool files (missing ones are fine) and makes the deletions
/// durable, so a confirmed upload is not repeated after a crash. Tries every
/// file; returns the last error.
pub(crate) fn remove(dir: &Path, files: &[PathBuf]) -> io::Result<()> {
    let mut result = Ok(());
    for path in files {
        if let Err(e) = fs::remove_file(path)
            && e.kind() != io::ErrorKind::NotFound
        {
            result = Err(e);
        }
    }
    sync_dir(dir).and(result)
}

/// Reads part of a spooled object's data (`range` within the data).
pub(crate) fn read_range(file: &SpoolFile, range: Range<u64>) -> io::Result<Bytes> {
    let mut f = File::open(&file.path)?;
    let len = range.end.saturating_sub(range.start);
    if f.metadata()?.len() != file.file_len() || range.end > file.data_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "spool file changed size",
        ));
    }
    f.seek(SeekFrom::Start(file.data_offset + range.start))?;
    let mut buf = vec![0; usize::try_from(len).map_err(io::Error::other)?];
    f.read_exact(&mut buf)?;
    Ok(Bytes::from(buf))
}

/// Parses a spool file's header, checking the file's length against it.
fn read_header(path: &Path) -> io::Result<(String, SpoolFile)> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut f = File::open(path)?;
    let file_len = f.metadata()?.len();
    let mut magic = [0u8; 8];
    f.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(bad("not a spool file"));
    }
    let mut field = || -> io::Result<String> {
        let mut len = [0u8; 4];
        f.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FIELD_BYTES {
            return Err(bad("header field too long"));
        }
        let mut buf = vec![0; len];
        f.read_exact(&mut buf)?;
        String::from_utf8(buf).map_err(|_| bad("header field not UTF-8"))
    };
    let url = field()?;
    let lane = field()?;
    let key = field()?;
    let mut data_len = [0u8; 8];
    f.read_exact(&mut data_len)?;
    let data_len = u64::from_le_bytes(data_len);
    let data_offset = f.stream_position()?;
    if data_offset.checked_add(data_len) != Some(file_len) {
        return Err(bad("truncated spool file"));
    }
    Ok((
        url,
        SpoolFile {
            id: 0,
            lane,
            key,
            path: path.to_path_buf(),
            data_offset,
            data_len,
        },
    ))
}

/// Makes renames and deletions in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &'static str) -> Vec<Bytes> {
        let (a, b) = s.split_at(s.len() / 2);
        vec![
            Bytes::from_static(a.as_bytes()),
            Bytes::from_static(b.as_bytes()),
        ]
    }

    #[test]
    fn round_trip_and_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), "s3://b").unwrap();
        let f = spool
            .write(7, "lane", "a/1.ts", &parts("0123456789"))
            .unwrap();
        assert_eq!(f.path, dir.path().join("00000000000000000007.obj"));
        assert_eq!(
            read_range(&f, 0..10).unwrap(),
            Bytes::from_static(b"0123456789")
        );
        assert_eq!(read_range(&f, 3..6).unwrap(), Bytes::from_static(b"345"));
        assert!(read_range(&f, 3..11).is_err());
        let scan = spool.scan().unwrap();
        assert_eq!(scan.files, vec![f.clone()]);
        assert_eq!(scan.max_id, 7);
        remove(dir.path(), std::slice::from_ref(&f.path)).unwrap();
        remove(dir.path(), std::slice::from_ref(&f.path)).unwrap();
        assert!(read_range(&f, 0..10).is_err());
    }

    #[test]
    fn scan_orders_dedups_and_sorts_out_junk() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), "s3://b").unwrap();
        // Written out of order on purpose: ids decide.
        spool.write(12, "l", "x/index.m3u8", &parts("v2")).unwrap();
        spool.write(3, "l", "x/9.ts", &parts("nine")).unwrap();
        spool.write(5, "l", "x/index.m3u8", &parts("v1")).unwrap();
        spool.write(10, "l", "x/10.ts", &parts("ten")).unwrap();
        std::fs::write(dir.path().join("00000000000000000020.tmp"), b"half").unwrap();
        std::fs::write(dir.path().join("00000000000000000021.obj"), b"garbage").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
        drop(spool);
        let other = Spool::open(dir.path(), "s3://other").unwrap();
        other.write(30, "l", "y", &parts("other")).unwrap();
        drop(other);

        let spool = Spool::open(dir.path(), "s3://b").unwrap();
        let scan = spool.scan().unwrap();
        let keys: Vec<_> = scan.files.iter().map(|f| (f.id, f.key.as_str())).collect();
        assert_eq!(
            keys,
            vec![(3, "x/9.ts"), (10, "x/10.ts"), (12, "x/index.m3u8")]
        );
        assert_eq!(
            read_range(&scan.files[2], 0..2).unwrap(),
            Bytes::from_static(b"v2")
        );
        assert_eq!(
            (
                scan.superseded,
                scan.foreign,
                scan.damaged,
                scan.partial,
                scan.max_id
            ),
            (1, 1, 1, 1, 30)
        );
        assert!(dir.path().join("00000000000000000021.bad").exists());
        assert!(!dir.path().join("00000000000000000020.tmp").exists());
        assert!(!dir.path().join("00000000000000000005.obj").exists());
    }

    #[test]
    fn one_process_per_spool() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), "s3://b").unwrap();
        let err = Spool::open(dir.path(), "s3://b").unwrap_err();
        assert!(err.to_string().contains("in use"), "{err}");
        drop(spool);
        Spool::open(dir.path(), "s3://b").unwrap();
    }
}
