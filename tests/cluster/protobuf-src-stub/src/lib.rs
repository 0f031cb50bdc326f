//! The system's `protoc` (on `PATH`) in place of the protobuf C++ sources the real
//! `protobuf-src` compiles. rmqtt-protobuf-build already prefers a system `protoc` (>= 3.1) and
//! falls back to `protobuf_src::protoc()` only without one; but as a plain dependency the real
//! crate's build script compiles protobuf's C++ either way.
use std::path::PathBuf;

/// The `protoc` on `PATH` (Debian: `protobuf-compiler`).
pub fn protoc() -> PathBuf {
    PathBuf::from("protoc")
}

/// The real crate's API; rmqtt-protobuf-build does not call it (it bundles its own includes).
pub fn include() -> PathBuf {
    PathBuf::from("/usr/include")
}
