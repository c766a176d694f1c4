//! Link options for the release binary only; nothing here is compiled into keyrank.
//!
//! - `--icf=all`: the linker folds functions whose machine code is identical (the same
//!   generic drop glue, sort and iterator code instantiated in many crates). Rust makes
//!   no promise that two functions have different addresses, so folding them is sound.
//! - `-z pack-relative-relocs`: the position-independent binary's relative relocations
//!   are stored packed (RELR, glibc 2.36 and later) instead of one 24-byte entry each.
//!
//! Together about 18 MB off a 144 MB binary, for a few seconds of linking; no crate is
//! rebuilt for them (they are link arguments of the binaries, not compiler flags).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    // Rust links this target with its own LLD by default, which takes both options;
    // other targets may link with a linker that does not.
    let lld = std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    if release && lld {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
