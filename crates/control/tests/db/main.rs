//! Database tests of the `control` crate. Every test runs on a fresh SQLite
//! file and a fresh PostgreSQL database (see `control::testutil`).
//!
//! One test binary with a module per resource: each test binary links all
//! of sqlx, so fewer binaries build faster.

mod api_tokens;
mod channels;
mod clips;
mod common;
mod live_streams;
mod mux;
mod segments;
mod sessions;
mod signing_keys;
mod social;
mod users;
mod vods;
mod webhooks;
