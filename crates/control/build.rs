//! `sqlx::migrate!` embeds `migrations/` at compile time, but stable Rust has
//! no way for a proc macro to tell cargo which files it read: without this,
//! editing a migration would not rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
