//! Makes sure `web/dist` exists so the embedded web UI compiles before the
//! UI was built (`npm run build` in `web/`): a missing build gets a one-page
//! placeholder saying how to build it.

use std::path::PathBuf;

const PLACEHOLDER: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>AeThex LIVE</title></head><body style=\"font-family:sans-serif;margin:3rem\">\
<h1>AeThex LIVE</h1><p>The web UI is not built: run <code>npm ci &amp;&amp; npm run build</code> \
in <code>web/</code> (scripts/run and scripts/test do it) and rebuild <code>aethex</code>.</p>\
<p>The API is at <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p></body></html>\n";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dist = manifest.join("../../web/dist");
    let index = dist.join("index.html");
    // Rebuild (and so re-embed) when the UI is rebuilt.
    println!("cargo::rerun-if-changed={}", dist.display());
    println!("cargo::rerun-if-changed={}", index.display());
    if !index.exists() {
        std::fs::create_dir_all(&dist).expect("create web/dist");
        std::fs::write(&index, PLACEHOLDER).expect("write web/dist/index.html");
    }
}
