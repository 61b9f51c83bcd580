//! Configuration: built-in defaults ← TOML file ← `AETHEX_*` environment.
//!
//! `config/aethex.toml` documents every option with its default value; a test
//! keeps it equal to [`Config::default`]. Unknown keys are errors that name
//! the key.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The whole configuration of `aethex`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Directory for the embedded database and local media (env `AETHEX_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Database URL (env `AETHEX_DATABASE_URL`): `sqlite://PATH` or
    /// `postgres://USER:PASS@HOST/DB`. Empty: `sqlite://{data_dir}/aethex.db`.
    pub database_url: String,
    pub http: api::HttpConfig,
    pub rtmp: ingest::IngestConfig,
    pub hls: live::LiveConfig,
    pub transcode: transcode::TranscodeConfig,
    pub storage: storage::StorageConfig,
    pub api: api::ApiConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            http: api::HttpConfig::default(),
            rtmp: ingest::IngestConfig::default(),
            hls: live::LiveConfig::default(),
            transcode: transcode::TranscodeConfig::default(),
            storage: storage::StorageConfig::default(),
            api: api::ApiConfig::default(),
        }
    }
}

/// Settings derived from [`Config`] once the data directory exists.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub config: Config,
    pub database_url: String,
    pub storage_url: String,
    /// Where uploads to a remote store wait until it confirms them.
    pub spool_dir: PathBuf,
}

impl Config {
    /// Loads the file (if any), then applies environment overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                Self::parse(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    pub fn parse(text: &str) -> anyhow::Result<Config> {
        Ok(toml::from_str(text)?)
    }

    /// Applies `AETHEX_*` overrides; `get` reads a variable (injected for tests).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let nonempty = |name: &str| get(name).filter(|v| !v.is_empty());
        if let Some(v) = nonempty("AETHEX_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = nonempty("AETHEX_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = nonempty("AETHEX_STORAGE_URL") {
            self.storage.url = v;
        }
        if let Some(v) = nonempty("AETHEX_HTTP_ADDR") {
            self.http.listen = v.parse().with_context(|| {
                format!("AETHEX_HTTP_ADDR={v:?} is not an address like 0.0.0.0:8080")
            })?;
        }
        if let Some(v) = nonempty("AETHEX_RTMP_ADDR") {
            self.rtmp.listen = v.parse().with_context(|| {
                format!("AETHEX_RTMP_ADDR={v:?} is not an address like 0.0.0.0:1935")
            })?;
        }
        if let Some(v) = nonempty("AETHEX_METRICS_ADDR") {
            v.parse::<std::net::SocketAddr>().map_err(|_| {
                anyhow::anyhow!("AETHEX_METRICS_ADDR={v:?} is not an address like 127.0.0.1:9090")
            })?;
            self.http.metrics_listen = v;
        }
        if let Some(v) = nonempty("AETHEX_HTTP_PUBLIC_URL") {
            self.http.public_url = v;
        }
        if let Some(v) = nonempty("AETHEX_RTMP_PUBLIC_URL") {
            self.rtmp.public_url = v;
        }
        Ok(())
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if let Err(e) = self.hls.validate() {
            bail!("{e}");
        }
        if let Err(e) = self.rtmp.validate() {
            bail!("{e}");
        }
        if let Err(e) = self.transcode.validate() {
            bail!("transcode: {e}");
        }
        if let Err(e) = self.storage.validate() {
            bail!("{e}");
        }
        if !self.http.metrics_listen.is_empty()
            && self
                .http
                .metrics_listen
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            bail!(
                "http.metrics_listen = {:?} is not an address like 127.0.0.1:9090",
                self.http.metrics_listen
            );
        }
        Ok(())
    }

    /// Creates the data directory and fills in the derived URLs.
    pub fn resolve(self) -> anyhow::Result<Resolved> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data directory {}", self.data_dir.display()))?;
        let data_dir = std::fs::canonicalize(&self.data_dir)
            .with_context(|| format!("cannot resolve {}", self.data_dir.display()))?;
        let database_url = if self.database_url.is_empty() {
            format!("sqlite://{}", data_dir.join("aethex.db").display())
        } else {
            self.database_url.clone()
        };
        let storage_url = if self.storage.url.is_empty() {
            url::Url::from_directory_path(data_dir.join("media"))
                .map_err(|()| {
                    anyhow::anyhow!("data directory {} is not absolute", data_dir.display())
                })?
                .to_string()
        } else {
            self.storage.url.clone()
        };
        let spool_dir = if self.storage.spool_dir.is_empty() {
            data_dir.join("spool")
        } else {
            PathBuf::from(&self.storage.spool_dir)
        };
        Ok(Resolved {
            config: self,
            database_url,
            storage_url,
            spool_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_defaults_match_the_code() {
        let text = include_str!("../../../config/aethex.toml");
        assert_eq!(Config::parse(text).unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::parse("[hls]\nsegment_duration = 2\n").unwrap_err();
        assert!(format!("{err:#}").contains("segment_duration"), "{err:#}");
        let err = Config::parse("colour = 1\n").unwrap_err();
        assert!(format!("{err:#}").contains("colour"), "{err:#}");
    }

    #[test]
    fn env_overrides_file() {
        let mut c = Config::parse("[http]\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        c.apply_env(|name| match name {
            "AETHEX_RTMP_ADDR" => Some("127.0.0.1:19350".into()),
            "AETHEX_DATA_DIR" => Some("/tmp/x".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.http.listen.port(), 9000);
        assert_eq!(c.rtmp.listen.port(), 19350);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        let err = c
            .apply_env(|name| (name == "AETHEX_HTTP_ADDR").then(|| "nope".into()))
            .unwrap_err();
        assert!(err.to_string().contains("AETHEX_HTTP_ADDR"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        let c = Config::parse("[hls]\nsegment_duration_s = 0.1\n").unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("segment_duration_s")
        );
        let c = Config::parse("[rtmp]\nidle_timeout_s = 0\n").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("idle_timeout_s"), "{err}");
    }
}
