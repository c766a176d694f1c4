//! Link options for the release binary only; nothing here is compiled into keyrank.
//!
//! - `--icf=all`: the linker folds sections whose bytes are identical: functions (the
//!   same generic drop glue, sort and iterator code instantiated in many crates) and
//!   read-only data. Rust makes no promise that two functions, or two vtables, have
//!   different addresses, and keyrank compares neither (Rust's own release builds link
//!   the compiler the same way).
//! - `-z pack-relative-relocs`: the position-independent binary's relative relocations
//!   are stored packed (RELR) instead of one 24-byte entry each. The binary then needs
//!   glibc 2.36 or later where it runs (Debian 12, Ubuntu 22.10, RHEL 10).
//!
//! Together about 18 MB off a 144 MB binary, for a few seconds of linking; no crate is
//! rebuilt for them (they are link arguments of the binaries, not compiler flags).
//! Only on x86_64 Linux with Rust's own LLD, its default linker there: a configured
//! linker (`RUSTC_LINKER`, `-C linker…`, `-fuse-ld=…` in the flags) gets neither, and
//! `KEYRANK_PLAIN_LINK=1` turns both off (for a binary that runs on an older glibc).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=KEYRANK_PLAIN_LINK");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let release = var("PROFILE") == "release";
    let target = var("TARGET") == "x86_64-unknown-linux-gnu";
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    let own_linker = std::env::var_os("RUSTC_LINKER").is_some()
        || ["linker", "fuse-ld"].iter().any(|f| flags.contains(f));
    let plain = !var("KEYRANK_PLAIN_LINK").is_empty();
    if release && target && !own_linker && !plain {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
