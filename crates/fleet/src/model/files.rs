//! The simulated file store behind the agent object (`/33000/0/8` File Path selects a file,
//! `/33000/0/9` File Data reads or writes it; `lwm2m_file` commands of
//! `docs/gateway-api.md`).
//!
//! Uploaded files are kept (bounded: at most [`MAX_FILES`] files and [`MAX_STORE_BYTES`]
//! bytes per data model, the oldest go first). Names under `/sim/` are virtual files that
//! every device has without storing them: `/sim/<n>` holds `n` bytes (at most
//! [`MAX_VIRTUAL_BYTES`]) of printable text that [`virtual_file`] regenerates, so a test or a
//! scenario can download a large file block-wise and check every byte.

use std::collections::{BTreeMap, VecDeque};

/// Most files one data model keeps.
pub const MAX_FILES: usize = 16;

/// Most bytes one data model keeps in files.
pub const MAX_STORE_BYTES: usize = 8 * 1024 * 1024;

/// Largest virtual file (`/sim/<n>`).
pub const MAX_VIRTUAL_BYTES: usize = 8 * 1024 * 1024;

/// The prefix of virtual file names.
pub const VIRTUAL_PREFIX: &str = "/sim/";

/// The content of virtual file `name` (`/sim/<n>`: `n` bytes), or `None` when `name` is not
/// a virtual file. The text is 64-byte lines `"<name> line <k>"` padded with dots, cut at `n`
/// bytes, so any corruption or reordering is visible.
pub fn virtual_file(name: &str) -> Option<Vec<u8>> {
    let size: usize = name.strip_prefix(VIRTUAL_PREFIX)?.parse().ok()?;
    if size > MAX_VIRTUAL_BYTES {
        return None;
    }
    let mut out = Vec::with_capacity(size + 64);
    let mut line = 0u64;
    while out.len() < size {
        let mut text = format!("{name} line {line:08}");
        let width = 63usize.max(text.len());
        while text.len() < width {
            text.push('.');
        }
        text.push('\n');
        out.extend_from_slice(text.as_bytes());
        line += 1;
    }
    out.truncate(size);
    Some(out)
}

/// Uploaded files of one data model, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStore {
    files: BTreeMap<String, Vec<u8>>,
    order: VecDeque<String>,
    bytes: usize,
}

impl FileStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The content of `name`: an uploaded file, else a virtual one.
    pub fn read(&self, name: &str) -> Option<Vec<u8>> {
        match self.files.get(name) {
            Some(data) => Some(data.clone()),
            None => virtual_file(name),
        }
    }

    /// Whether `name` can be read.
    pub fn contains(&self, name: &str) -> bool {
        self.files.contains_key(name) || virtual_file_size(name).is_some()
    }

    /// Stores `data` under `name`, evicting the oldest files to stay within the bounds.
    /// Returns false (and stores nothing) when `data` alone exceeds [`MAX_STORE_BYTES`].
    pub fn write(&mut self, name: &str, data: Vec<u8>) -> bool {
        if data.len() > MAX_STORE_BYTES {
            return false;
        }
        self.remove(name);
        while self.files.len() >= MAX_FILES || self.bytes + data.len() > MAX_STORE_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.files.remove(&oldest) {
                self.bytes -= old.len();
            }
        }
        self.bytes += data.len();
        self.order.push_back(name.to_owned());
        self.files.insert(name.to_owned(), data);
        true
    }

    /// How many files are stored.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file is stored.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn remove(&mut self, name: &str) {
        if let Some(old) = self.files.remove(name) {
            self.bytes -= old.len();
            self.order.retain(|n| n != name);
        }
    }
}

fn virtual_file_size(name: &str) -> Option<usize> {
    let size: usize = name.strip_prefix(VIRTUAL_PREFIX)?.parse().ok()?;
    (size <= MAX_VIRTUAL_BYTES).then_some(size)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn virtual_files_have_the_asked_size_and_numbered_lines() {
        let file = virtual_file("/sim/1000").unwrap();
        assert_eq!(file.len(), 1000);
        let text = String::from_utf8(file).unwrap();
        assert!(text.starts_with("/sim/1000 line 00000000....."), "{text}");
        assert!(text.contains("\n/sim/1000 line 00000001."));
        assert_eq!(&text[64..69], "/sim/");
        assert_eq!(virtual_file("/sim/0").unwrap(), Vec::<u8>::new());
        assert!(virtual_file("/sim/x").is_none());
        assert!(virtual_file("/tmp/1000").is_none());
        assert!(virtual_file(&format!("/sim/{}", MAX_VIRTUAL_BYTES + 1)).is_none());
    }

    #[test]
    fn store_keeps_uploads_and_evicts_the_oldest() {
        let mut store = FileStore::new();
        assert!(store.read("/a").is_none());
        assert!(store.write("/a", b"alpha".to_vec()));
        assert_eq!(store.read("/a").unwrap(), b"alpha");
        assert!(store.contains("/sim/10") && !store.contains("/b"));
        for k in 0..MAX_FILES {
            assert!(store.write(&format!("/f{k}"), vec![0; 10]));
        }
        assert_eq!(store.len(), MAX_FILES);
        assert!(store.read("/a").is_none(), "the oldest file went first");
        // Byte bound: one big file pushes everything else out.
        assert!(store.write("/big", vec![1; MAX_STORE_BYTES - 5]));
        assert!(store.write("/small", vec![2; 5]));
        assert!(store.write("/more", vec![3; 1]));
        assert!(store.read("/big").is_none());
        assert_eq!(store.read("/small").unwrap(), vec![2; 5]);
        assert!(!store.write("/huge", vec![0; MAX_STORE_BYTES + 1]));
        // Overwriting a name replaces it.
        assert!(store.write("/small", vec![9]));
        assert_eq!(store.read("/small").unwrap(), vec![9]);
    }
}
