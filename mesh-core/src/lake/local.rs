//! The local filesystem as the lake's object store, with commit-log listings that cost what
//! they return.
//!
//! Delta finds a table's newest version by listing its `_delta_log/` from the version it
//! knows, several times per commit. On S3, GCS or Azure that listing starts after a key,
//! server side. `object_store`'s `LocalFileSystem` walks the whole directory instead and
//! converts every entry's path before it filters, so on a local lake each commit would cost a
//! little more than the one before, without bound. [`LocalLake`] reads the directory's names,
//! keeps those past the offset by comparing names, and looks only those files up; everything
//! else is `LocalFileSystem`'s. Whole listings read the names and look each file up only when
//! the listing reaches it: Delta asks "is this a table?" with a listing it stops at the first
//! log file, once per write. `benches/producer.rs` prints the p50 of each sixth of many
//! appends, which stays flat with this store.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use deltalake::logstore::object_store::local::LocalFileSystem;
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use futures::StreamExt;
use futures::stream::{self, BoxStream};

/// The local filesystem as an object store, with listings after an offset that cost what
/// they return rather than what the directory holds: [`crate::lake`] says why.
#[derive(Debug, Default)]
pub struct LocalLake {
    inner: LocalFileSystem,
}

impl fmt::Display for LocalLake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalLake({})", self.inner)
    }
}

/// A name `object_store` writes into a path as it is (no percent-encoding), so comparing
/// names compares the paths.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `LocalFileSystem` hides its in-progress uploads (`name#123`); so do we.
fn upload_in_progress(name: &str) -> bool {
    name.split_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What reading one directory found: files to look up when the listing reaches them, and
/// subdirectories for `LocalFileSystem` to list.
#[derive(Default)]
struct Entries {
    files: Vec<(std::path::PathBuf, Path)>,
    directories: Vec<Path>,
}

fn meta(location: Path, metadata: &std::fs::Metadata) -> ObjectMeta {
    let modified = metadata.modified().unwrap_or(std::time::UNIX_EPOCH);
    let micros = modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(metadata);
    #[cfg(not(unix))]
    let inode = 0u64;
    ObjectMeta {
        location,
        last_modified: modified.into(),
        size: metadata.len(),
        // LocalFileSystem's scheme, so tags agree whichever call produced them.
        e_tag: Some(format!("{inode:x}-{micros:x}-{:x}", metadata.len())),
        version: None,
    }
}

/// Reads the names in `dir` (the directory of `prefix`), keeping the files `keep` accepts.
/// Nothing is looked up but links: that is left to the listing, one file at a time.
fn read_names(
    dir: &std::path::Path,
    prefix: &Path,
    keep: impl Fn(&str) -> bool,
) -> std::io::Result<Entries> {
    let mut entries = Entries::default();
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        // A directory that is not there lists nothing, as with LocalFileSystem.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
        Err(e) => return Err(e),
    };
    for entry in read {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let file_type = entry.file_type()?;
        // Links are followed, as LocalFileSystem does.
        let is_dir = file_type.is_dir()
            || (file_type.is_symlink()
                && std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()));
        if is_dir {
            entries.directories.push(prefix.clone().join(name.as_str()));
        } else if keep(&name) && !upload_in_progress(&name) {
            entries
                .files
                .push((entry.path(), prefix.clone().join(name.as_str())));
        }
    }
    Ok(entries)
}

fn failed(error: std::io::Error) -> deltalake::logstore::object_store::Error {
    deltalake::logstore::object_store::Error::Generic {
        store: "LocalLake",
        source: Box::new(error),
    }
}

/// The files of `entries` as object metadata, each looked up when the stream reaches it (a
/// caller that stops early, as Delta's "is this a table?" does, pays for what it read), then
/// what `below` lists in each subdirectory.
fn listing(
    entries: Entries,
    below: impl Fn(&Path) -> BoxStream<'static, Result<ObjectMeta>>,
) -> BoxStream<'static, Result<ObjectMeta>> {
    let files = stream::iter(entries.files).filter_map(|(path, location)| async move {
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Some(Ok(meta(location, &m))),
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(Err(failed(e))),
        }
    });
    let nested: Vec<_> = entries.directories.iter().map(below).collect();
    files.chain(stream::iter(nested).flatten()).boxed()
}

#[async_trait]
impl ObjectStore for LocalLake {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let Some(prefix) = prefix else {
            return self.inner.list(None);
        };
        let entries = self
            .inner
            .path_to_filesystem(prefix)
            .map_err(|e| e.to_string())
            .and_then(|dir| read_names(&dir, prefix, |_| true).map_err(|e| e.to_string()));
        match entries {
            Ok(entries) => listing(entries, |dir| self.inner.list(Some(dir))),
            // Whatever went wrong, LocalFileSystem reports it its own way.
            Err(_) => self.inner.list(Some(prefix)),
        }
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        // The fast way covers what Delta asks: an offset inside the listed directory.
        let fast = prefix.and_then(|prefix| {
            let mut parts: Vec<_> = offset.parts().collect();
            let name = parts.pop()?;
            let parent: Path = parts.into_iter().collect();
            (parent == *prefix && plain(name.as_ref()))
                .then(|| (prefix.clone(), name.as_ref().to_owned()))
        });
        let Some((prefix, offset_name)) = fast else {
            return self.inner.list_with_offset(prefix, offset);
        };
        let dir = match self.inner.path_to_filesystem(&prefix) {
            Ok(dir) => dir,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let after = |name: &str| {
            if plain(name) {
                name > offset_name.as_str()
            } else {
                prefix.clone().join(name) > *offset
            }
        };
        match read_names(&dir, &prefix, after) {
            // What lies below a subdirectory may sort after the offset whatever the
            // directory's name: LocalFileSystem lists it with the same offset.
            Ok(entries) => listing(entries, |dir| {
                self.inner.list_with_offset(Some(dir), offset)
            }),
            // Whatever went wrong (not a directory, no permission), LocalFileSystem reports
            // it its own way.
            Err(_) => self.inner.list_with_offset(Some(&prefix), offset),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use futures::executor::block_on;

    /// What a listing yields, sorted, as (location, size, e-tag).
    fn sorted(
        listed: BoxStream<'static, Result<ObjectMeta>>,
        what: &str,
    ) -> Vec<(String, u64, Option<String>)> {
        let mut all: Vec<_> = block_on(listed.try_collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .into_iter()
            .map(|m| (m.location.to_string(), m.size, m.e_tag))
            .collect();
        all.sort();
        all
    }

    fn listing(
        store: &dyn ObjectStore,
        prefix: &Path,
        offset: &Path,
    ) -> Vec<(String, u64, Option<String>)> {
        sorted(
            store.list_with_offset(Some(prefix), offset),
            &format!("listing {prefix} after {offset}"),
        )
    }

    #[test]
    fn lists_what_local_file_system_lists() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("_delta_log");
        std::fs::create_dir_all(log.join("_staged_commits"))?;
        for v in 0..13 {
            std::fs::write(log.join(format!("{v:020}.json")), vec![b'x'; v + 1])?;
        }
        for name in [
            "00000000000000000010.checkpoint.parquet",
            "_last_checkpoint",
            ".00000000000000000003.json.crc",
            "00000000000000000013.json#1",
            "a name with spaces.json",
            "_staged_commits/00000000000000000011.3f1c.json",
        ] {
            std::fs::write(log.join(name), name)?;
        }

        #[cfg(unix)]
        std::os::unix::fs::symlink(log.join("_staged_commits"), log.join("_linked"))?;
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            log.join("00000000000000000012.json"),
            log.join("00000000000000000014.json"),
        )?;

        let prefix = Path::from_filesystem_path(&log)?;
        let ours = LocalLake::default();
        let theirs = LocalFileSystem::new();
        for offset in [
            "00000000000000000000",
            "00000000000000000009",
            "00000000000000000012",
            "00000000000000000013.json",
            "_last_checkpoint",
            "zzz",
        ] {
            let offset = prefix.clone().join(offset);
            assert_eq!(
                listing(&ours, &prefix, &offset),
                listing(&theirs, &prefix, &offset),
                "after {offset}"
            );
        }
        // Whole listings, as Delta's "is this a table?" and log clean-up ask for.
        let whole = |store: &dyn ObjectStore| {
            sorted(store.list(Some(&prefix)), &format!("listing {prefix}"))
        };
        assert_eq!(whole(&ours), whole(&theirs));
        assert!(whole(&ours).len() > 13);
        // Offsets outside the listed directory take LocalFileSystem's own way.
        let deeper = prefix.clone().join("_staged_commits").join("0");
        assert_eq!(
            listing(&ours, &prefix, &deeper),
            listing(&theirs, &prefix, &deeper)
        );
        // A log that is not there lists nothing.
        let missing = Path::from_filesystem_path(dir.path())?.join("nothing");
        assert!(listing(&ours, &missing, &missing.clone().join("0")).is_empty());
        Ok(())
    }
}
