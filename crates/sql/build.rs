//! `sqlx::migrate!` embeds `migrations/` at compile time, but a proc macro cannot tell cargo to
//! watch a directory on stable Rust. Without this, adding a migration file would not rebuild the
//! crate and the new migration would silently be missing from the binary.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
