//! [`Store`]: put/get/delete/list of whole objects over `object_store`.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::{Error, Result};

/// A handle to the configured object store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// The URL it was opened from, for logs (never contains credentials).
    url: String,
}

impl Store {
    /// Opens a store from a URL: `file:///absolute/dir` (created if missing).
    pub fn open(url: &str) -> Result<Store> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|_| invalid("not an absolute file path"))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| invalid(&format!("cannot create {}: {e}", dir.display())))?;
                let fs = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| invalid(&e.to_string()))?
                    .with_fsync(true)
                    .with_automatic_cleanup(true);
                Ok(Store {
                    inner: Arc::new(fs),
                    url: url.to_string(),
                })
            }
            other => Err(invalid(&format!(
                "unsupported scheme {other:?} (supported: file://)"
            ))),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(key: &str) -> Result<Path> {
        Path::parse(key).map_err(|_| Error::InvalidKey(key.to_string()))
    }

    /// Writes an object from its parts (no concatenation). Returns once the
    /// object is durable.
    pub async fn put(&self, key: &str, parts: impl IntoIterator<Item = Bytes>) -> Result<()> {
        let payload: PutPayload = parts.into_iter().collect();
        self.inner
            .put(&Self::path(key)?, payload)
            .await
            .map(|_| ())
            .map_err(|source| Error::Backend {
                key: key.to_string(),
                source,
            })
    }

    /// Reads a whole object; `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let backend = |source| Error::Backend {
            key: key.to_string(),
            source,
        };
        match self.inner.get(&Self::path(key)?).await {
            Ok(r) => r.bytes().await.map(Some).map_err(backend),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.delete(&Self::path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(Error::Backend {
                key: key.to_string(),
                source,
            }),
        }
    }

    /// Keys of every object under `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self
            .inner
            .list(Some(&Self::path(prefix)?))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .map_err(|source| Error::Backend {
                key: prefix.to_string(),
                source,
            })?;
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path().join("media")).unwrap();
        let store = Store::open(url.as_str()).unwrap();
        let key = "live/ls1/source/0.ts";
        assert_eq!(store.get(key).await.unwrap(), None);
        store
            .put(key, [Bytes::from_static(b"ab"), Bytes::from_static(b"cd")])
            .await
            .unwrap();
        assert_eq!(store.get(key).await.unwrap().as_deref(), Some(&b"abcd"[..]));
        assert!(dir.path().join("media/live/ls1/source/0.ts").is_file());
        assert_eq!(store.list("live/ls1").await.unwrap(), vec![key.to_string()]);
        store.delete(key).await.unwrap();
        store.delete(key).await.unwrap();
        assert_eq!(store.get(key).await.unwrap(), None);
    }

    #[test]
    fn rejects_unknown_schemes() {
        let err = Store::open("ftp://example.com/x").unwrap_err();
        assert!(err.to_string().contains("unsupported scheme"), "{err}");
        assert!(Store::open("not a url").is_err());
    }
}
