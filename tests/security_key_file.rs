//! Durable keys (issue 11, point 4): a `KeyRing` persisted to a key file wrapped under a
//! key-encryption key. A crash at every step of a rotation leaves a file that opens every
//! envelope sealed; a wrong key-encryption key is a clear error; no key byte is in the file
//! in clear; rotations racing encryptions on other threads lose no key.

#[path = "common/temp.rs"]
mod temp;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tickwatch::security::crypto::{EncryptedData, KeyFileError, KeyRing, KeyRingError, SecretKey};
use tickwatch::store::fs::{LogFile, LogFs, StdFs};

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

/// A fresh directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        Dir(temp::temp_dir(tag))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file layer that can crash: from the armed operation on, every operation fails; a power
/// loss then puts every file back to what was synced and undoes renames no directory sync
/// made durable.
#[derive(Debug, Default)]
struct CrashState {
    /// Operations left before the crash (`None`: disarmed).
    left: Option<u64>,
    ops: u64,
    synced: HashMap<PathBuf, Vec<u8>>,
    /// Renames since the last directory sync: from, to, what `to` held (synced) before.
    renames: Vec<(PathBuf, PathBuf, Option<Vec<u8>>)>,
}

#[derive(Debug, Clone, Default)]
struct CrashFs(Arc<Mutex<CrashState>>);

impl CrashFs {
    fn arm(&self, after: u64) {
        let mut s = self.0.lock().unwrap();
        s.left = Some(after);
        s.ops = 0;
    }
    fn disarm(&self) -> u64 {
        let mut s = self.0.lock().unwrap();
        s.left = None;
        s.ops
    }
    fn step(&self) -> io::Result<()> {
        let mut s = self.0.lock().unwrap();
        s.ops += 1;
        match &mut s.left {
            Some(0) => Err(io::Error::other("crashed")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
    fn lose_power(&self) {
        let mut s = self.0.lock().unwrap();
        while let Some((from, to, before)) = s.renames.pop() {
            let moved = s.synced.remove(&to).unwrap_or_default();
            std::fs::write(&from, &moved).unwrap();
            s.synced.insert(from, moved);
            match before {
                Some(b) => {
                    std::fs::write(&to, &b).unwrap();
                    s.synced.insert(to, b);
                }
                None => {
                    let _ = std::fs::remove_file(&to);
                }
            }
        }
        for (path, bytes) in &s.synced {
            if path.exists() {
                std::fs::write(path, bytes).unwrap();
            }
        }
    }
}

#[derive(Debug)]
struct CrashFile {
    fs: CrashFs,
    path: PathBuf,
    inner: Box<dyn LogFile>,
}

impl LogFile for CrashFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.fs.step()?;
        self.inner.append(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.fs.step()?;
        self.inner.sync()?;
        let now = std::fs::read(&self.path)?;
        self.fs
            .0
            .lock()
            .unwrap()
            .synced
            .insert(self.path.clone(), now);
        Ok(())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.fs.step()?;
        self.inner.set_len(len)
    }
}

impl LogFs for CrashFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        self.step()?;
        let inner = StdFs.create(path)?;
        self.0
            .lock()
            .unwrap()
            .synced
            .insert(path.to_owned(), Vec::new());
        Ok(Box::new(CrashFile {
            fs: self.clone(),
            path: path.to_owned(),
            inner,
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        self.step()?;
        Ok(Box::new(CrashFile {
            fs: self.clone(),
            path: path.to_owned(),
            inner: StdFs.open_append(path)?,
        }))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.step()?;
        std::fs::remove_file(path)?;
        self.0.lock().unwrap().synced.remove(path);
        Ok(())
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.step()?;
        StdFs.sync_dir(dir)?;
        self.0.lock().unwrap().renames.clear();
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.step()?;
        std::fs::rename(from, to)?;
        let mut s = self.0.lock().unwrap();
        let before = s.synced.remove(to);
        let moved = s.synced.remove(from).unwrap_or_default();
        s.synced.insert(to.to_owned(), moved);
        s.renames.push((from.to_owned(), to.to_owned(), before));
        Ok(())
    }
}

fn open(path: &Path, kek: &SecretKey) -> Result<KeyRing, KeyRingError> {
    KeyRing::builder().persist(path, kek.clone()).build()
}

#[test]
fn a_crash_at_every_step_of_a_rotation_leaves_a_file_that_opens_everything() {
    let kek = key(0x4b);
    let mut crash_at = 0;
    let steps = loop {
        let dir = Dir::new("keyfile-crash");
        let path = dir.path().join("keys.tw");
        let fs = CrashFs::default();
        let ring = KeyRing::builder()
            .key("a", key(1))
            .persist_with(&path, kek.clone(), Arc::new(fs.clone()))
            .build()
            .unwrap();
        let under_a = ring.encrypt_data(b"sealed under a").unwrap();

        fs.arm(crash_at);
        let rotated = ring.rotate_to("b", key(2));
        let ops = fs.disarm();
        let under_b = match &rotated {
            Ok(()) => Some(ring.encrypt_data(b"sealed under b").unwrap()),
            Err(e) => {
                assert!(matches!(e, KeyRingError::KeyFile { .. }), "{e}");
                // A failed write leaves the ring as it was: the new key is never used.
                assert_eq!(ring.active_key_id().as_deref(), Some("a"));
                assert_eq!(ring.encrypt_data(b"x").unwrap().key_id(), "a");
                None
            }
        };
        fs.lose_power();
        drop(ring);

        let again = open(&path, &kek)
            .unwrap_or_else(|e| panic!("crash at step {crash_at}: the file does not open: {e}"));
        assert_eq!(
            &again.decrypt_data(&under_a).unwrap()[..],
            b"sealed under a"
        );
        if let Some(b) = &under_b {
            assert_eq!(&again.decrypt_data(b).unwrap()[..], b"sealed under b");
            assert_eq!(again.active_key_id().as_deref(), Some("b"));
        }
        if rotated.is_ok() {
            // The steps of a whole rotation: remove the stale temporary file, create, write,
            // sync, rename, sync the directory.
            break ops;
        }
        crash_at += 1;
        assert!(crash_at < 20, "the rotation never completed");
    };
    assert_eq!(steps, 6, "every step had its crash");
    assert_eq!(crash_at, 6);
}

#[test]
fn a_wrong_key_encryption_key_is_a_clear_error() {
    let dir = Dir::new("keyfile-kek");
    let path = dir.path().join("keys.tw");
    drop(
        KeyRing::builder()
            .generated_key("a")
            .persist(&path, key(7))
            .build()
            .unwrap(),
    );
    let e = open(&path, &key(8)).expect_err("a wrong kek must not open the file");
    match &e {
        KeyRingError::KeyFile {
            source: KeyFileError::WrongKekOrDamaged,
            path: p,
        } => assert_eq!(p, &path),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("key-encryption key"), "{e}");
    // Damage is the same opaque error; a file of something else says so.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.insert(25, 'A');
    std::fs::write(&path, &text).unwrap();
    assert!(matches!(
        open(&path, &key(7)),
        Err(KeyRingError::KeyFile {
            source: KeyFileError::WrongKekOrDamaged,
            ..
        })
    ));
    std::fs::write(&path, "a=0000\n").unwrap();
    assert!(matches!(
        open(&path, &key(7)),
        Err(KeyRingError::KeyFile {
            source: KeyFileError::NotAKeyFile,
            ..
        })
    ));
}

#[test]
fn no_key_byte_is_written_in_clear_and_every_change_persists() {
    let dir = Dir::new("keyfile-clear");
    let path = dir.path().join("keys.tw");
    let kek = key(9);
    let ring = KeyRing::builder()
        .key("a", key(0xa1))
        .persist(&path, kek.clone())
        .build()
        .unwrap();
    ring.rotate_to("b", key(0xb2)).unwrap();
    ring.add_key("c", key(0xc3)).unwrap();
    ring.activate("a").unwrap();
    ring.retire("b").unwrap();
    let file = std::fs::read(&path).unwrap();
    for b in [0xa1u8, 0xb2, 0xc3, 9] {
        let raw = [b; 32];
        let forms: [Vec<u8>; 3] = [
            raw.to_vec(),
            STANDARD.encode(raw).into_bytes(),
            raw.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<String>()
                .into_bytes(),
        ];
        for form in forms {
            assert!(
                !file.windows(form.len()).any(|w| w == form.as_slice()),
                "key {b:#x} is in the file in clear"
            );
        }
    }
    drop(ring);
    let again = open(&path, &kek).unwrap();
    assert_eq!(again.key_ids(), ["a", "c"]);
    assert_eq!(again.active_key_id().as_deref(), Some("a"));
    // The builder's keys are for the first start: a key the file has is not added again.
    let with_builder_key = KeyRing::builder()
        .key("a", key(0xee))
        .persist(&path, kek)
        .build()
        .unwrap();
    let sealed = again.encrypt_data(b"fill").unwrap();
    assert_eq!(
        &with_builder_key.decrypt_data(&sealed).unwrap()[..],
        b"fill"
    );
}

#[test]
fn rotations_racing_encryptions_lose_no_key() {
    let dir = Dir::new("keyfile-race");
    let path = dir.path().join("keys.tw");
    let kek = key(3);
    let ring = Arc::new(
        KeyRing::builder()
            .generated_key("k0")
            .persist(&path, kek.clone())
            .build()
            .unwrap(),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sealers: Vec<_> = (0..3)
        .map(|t| {
            let (ring, stop) = (ring.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut out: Vec<(EncryptedData, Vec<u8>)> = Vec::new();
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || out.len() < 10 {
                    let msg = format!("thread {t} message {i}").into_bytes();
                    out.push((ring.encrypt_data(&msg).unwrap(), msg));
                    i += 1;
                }
                out
            })
        })
        .collect();
    for _ in 0..20 {
        ring.rotate().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sealed: Vec<_> = sealers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    drop(ring);
    let again = open(&path, &kek).unwrap();
    assert_eq!(again.key_ids().len(), 21);
    for (env, msg) in &sealed {
        assert_eq!(&again.decrypt_data(env).unwrap()[..], &msg[..]);
    }
}
