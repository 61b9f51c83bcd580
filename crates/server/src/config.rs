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
    /// A web UI build directory served instead of the one embedded in the
    /// binary (env `AETHEX_WEB_DIR`), for UI development: `web/dist` after
    /// `npm run build`. Empty: the embedded build.
    pub web_dir: String,
    pub http: api::HttpConfig,
    pub rtmp: ingest::IngestConfig,
    pub hls: live::LiveConfig,
    pub transcode: transcode::TranscodeConfig,
    pub storage: storage::StorageConfig,
    pub api: api::ApiConfig,
    pub password: control::PasswordConfig,
    pub webhooks: control::WebhookConfig,
    pub outbound: outbound::OutboundConfig,
    pub metrics: MetricsConfig,
}

/// Where Prometheus `/metrics` is served (the `[metrics]` section).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// An address of its own for `/metrics` (env `AETHEX_METRICS_ADDR`),
    /// e.g. `127.0.0.1:9090`; then the main port has none. Empty: on the
    /// main HTTP port, for loopback clients and admin API tokens only
    /// (unless `public`).
    pub listen: String,
    /// Serve `/metrics` on the main HTTP port to anyone (env
    /// `AETHEX_METRICS_PUBLIC`). Default false: stream names, viewer
    /// counts and traffic are an operator's business.
    pub public: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            web_dir: String::new(),
            http: api::HttpConfig::default(),
            rtmp: ingest::IngestConfig::default(),
            hls: live::LiveConfig::default(),
            transcode: transcode::TranscodeConfig::default(),
            storage: storage::StorageConfig::default(),
            api: api::ApiConfig::default(),
            password: control::PasswordConfig::default(),
            webhooks: control::WebhookConfig::default(),
            outbound: outbound::OutboundConfig::default(),
            metrics: MetricsConfig::default(),
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
            self.metrics.listen = v;
        }
        if let Some(v) = nonempty("AETHEX_HTTP_PUBLIC_URL") {
            self.http.public_url = v;
        }
        if let Some(v) = nonempty("AETHEX_RTMP_PUBLIC_URL") {
            self.rtmp.public_url = v;
        }
        self.apply_generic_env(&get)
    }

    /// Every other option: `AETHEX_{SECTION}_{KEY}` (upper case), e.g.
    /// `AETHEX_HLS_SEGMENT_DURATION_S=4` or `AETHEX_STORAGE_S3_ENDPOINT=...`;
    /// top-level keys are `AETHEX_{KEY}`. The value is parsed as the
    /// option's type; a bad one is an error naming the variable. Lists of
    /// strings are comma-separated (`AETHEX_OUTBOUND_ALLOWED_HOSTS=a,b`).
    /// Tables (ladder presets) are file-only.
    fn apply_generic_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let mut tree = toml::Value::try_from(&*self).context("config as TOML")?;
        let Some(table) = tree.as_table_mut() else {
            bail!("config is not a TOML table");
        };
        let mut changed = false;
        for (section, value) in table.iter_mut() {
            match value {
                toml::Value::Table(table) => {
                    for (key, value) in table.iter_mut() {
                        let var = env_name(&[section, key]);
                        changed |= override_leaf(value, &var, get)?;
                    }
                }
                value => {
                    let var = env_name(&[section]);
                    changed |= override_leaf(value, &var, get)?;
                }
            }
        }
        if changed {
            *self = tree
                .try_into()
                .context("configuration from the environment")?;
        }
        Ok(())
    }

    /// The effective configuration as TOML with secrets replaced by
    /// `"(redacted)"` (for `aethex config check`), the security-relevant
    /// sections explained in comments.
    pub fn to_redacted_toml(&self) -> anyhow::Result<String> {
        let mut c = self.clone();
        c.database_url = crate::commands::redact(&c.database_url);
        if !c.storage.s3_secret_access_key.is_empty() {
            c.storage.s3_secret_access_key = "(redacted)".into();
        }
        let text = toml::to_string_pretty(&c)?;
        Ok(text.replacen("[outbound]\n", OUTBOUND_NOTE, 1))
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
        if let Err(e) = self.webhooks.validate() {
            bail!("{e}");
        }
        if let Err(e) = outbound::OutboundPolicy::new(&self.outbound) {
            bail!("{e}");
        }
        if let Err(e) = self.password.validate() {
            bail!("{e}");
        }
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            bail!(
                "metrics.listen = {:?} is not an address like 127.0.0.1:9090",
                self.metrics.listen
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

/// What `config check` says above `[outbound]`.
const OUTBOUND_NOTE: &str = "\
# Connections the server opens on users' behalf (webhook deliveries;
# simulcast targets and pulls later) may only go to public unicast
# addresses, checked after DNS resolution on the address connected to:
# loopback, private (RFC 1918), CGNAT (100.64/10), link-local (cloud
# metadata), unique-local IPv6, IPv4-mapped IPv6, multicast, documentation
# and reserved ranges are refused.
#   allow_private_networks (env AETHEX_OUTBOUND_ALLOW_PRIVATE_NETWORKS):
#     also allow loopback, private, CGNAT and unique-local addresses
#     (link-local stays refused).
#   allowed_hosts (env AETHEX_OUTBOUND_ALLOWED_HOSTS, comma-separated):
#     host names, addresses or CIDR ranges allowed whatever they are,
#     e.g. [\"hooks.lan\", \"10.0.5.0/24\"].
[outbound]
";

/// `AETHEX_A_B` for the path `a.b`.
fn env_name(path: &[&String]) -> String {
    let mut name = String::from("AETHEX");
    for p in path {
        name.push('_');
        name.push_str(&p.to_ascii_uppercase());
    }
    name
}

/// Replaces a scalar option with the environment's value, parsed as the
/// option's type. True if it did.
fn override_leaf(
    value: &mut toml::Value,
    var: &str,
    get: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<bool> {
    let Some(raw) = get(var) else {
        return Ok(false);
    };
    let bad = |what: &str| anyhow::anyhow!("{var}={raw:?} is not {what}");
    *value = match value {
        toml::Value::String(_) => toml::Value::String(raw.clone()),
        toml::Value::Integer(_) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?)
        }
        toml::Value::Float(_) => {
            toml::Value::Float(raw.trim().parse().map_err(|_| bad("a number"))?)
        }
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(bad("true or false")),
        }),
        // Lists of strings: comma-separated, blanks dropped.
        toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        // Tables (ladder presets) come from the file only.
        _ => return Ok(false),
    };
    Ok(true)
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
    fn every_option_has_an_env_override() {
        let mut c = Config::default();
        c.apply_env(|name| match name {
            "AETHEX_HLS_SEGMENT_DURATION_S" => Some("4".into()),
            "AETHEX_STORAGE_S3_ENDPOINT" => Some("http://127.0.0.1:9000".into()),
            "AETHEX_STORAGE_S3_PATH_STYLE" => Some("false".into()),
            "AETHEX_TRANSCODE_MAX_LADDERS" => Some("3".into()),
            "AETHEX_API_ALLOW_SIGNUP" => Some("no".into()),
            "AETHEX_OUTBOUND_ALLOW_PRIVATE_NETWORKS" => Some("true".into()),
            "AETHEX_OUTBOUND_ALLOWED_HOSTS" => Some(" hooks.lan, 10.0.5.0/24 ,".into()),
            "AETHEX_WEBHOOKS_MAX_ENDPOINTS_PER_USER" => Some("3".into()),
            _ => None,
        })
        .unwrap();
        assert!(c.outbound.allow_private_networks);
        assert_eq!(c.outbound.allowed_hosts, ["hooks.lan", "10.0.5.0/24"]);
        assert_eq!(c.webhooks.max_endpoints_per_user, 3);
        assert_eq!(c.hls.segment_duration_s, 4.0);
        assert_eq!(c.storage.s3_endpoint, "http://127.0.0.1:9000");
        assert!(!c.storage.s3_path_style);
        assert_eq!(c.transcode.max_ladders, 3);
        assert!(!c.api.allow_signup);
        let err = Config::default()
            .apply_env(|name| (name == "AETHEX_HLS_PART_DURATION_S").then(|| "fast".into()))
            .unwrap_err();
        assert!(
            err.to_string().contains("AETHEX_HLS_PART_DURATION_S"),
            "{err}"
        );
    }

    #[test]
    fn redacted_config_hides_secrets() {
        let mut c = Config {
            database_url: "postgres://aethex:hunter2@db/aethex".into(),
            ..Config::default()
        };
        c.storage.s3_secret_access_key = "s3cr3t".into();
        let text = c.to_redacted_toml().unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("s3cr3t"),
            "{text}"
        );
        assert!(text.contains("(redacted)"), "{text}");
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
