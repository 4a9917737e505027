//! Compiles the public gRPC contract in `proto/` into Rust (prost messages, tonic servers and
//! clients) without a system `protoc`: `protox` parses the .proto files in pure Rust.
//!
//! Also writes the encoded `FileDescriptorSet` (with comments) to
//! `$OUT_DIR/livepk_descriptor.bin`, which the server hands to tonic-reflection so that
//! `grpcurl list` / `grpcurl describe` work without local .proto files.

use std::path::{Path, PathBuf};
use std::{env, fs, io};

use prost::Message;

/// Root of the .proto tree; also the import root (`import "pk/common/v1/common.proto";`).
const PROTO_ROOT: &str = "proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A directory here makes Cargo rerun this script when any file below it changes.
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let mut files = Vec::new();
    collect_proto_files(Path::new(PROTO_ROOT), &mut files)?;
    // Sorted so that the descriptor set, and so the generated code, is reproducible.
    files.sort();

    let descriptor_set = protox::compile(&files, [PROTO_ROOT])?;

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("livepk_descriptor.bin"), descriptor_set.encode_to_vec())?;

    // Type names, so a notification can be packed as `google.protobuf.Any` by its own name, with
    // the standard domain every runtime resolves (PHP's `Any::unpack` insists on it).
    let mut prost = prost_build::Config::new();
    prost.enable_type_names().type_name_domain(["."], "type.googleapis.com");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds_with_config(descriptor_set, prost)?;
    Ok(())
}

/// Appends every `*.proto` file below `dir` to `files`.
fn collect_proto_files(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_proto_files(&path, files)?;
        } else if path.extension().is_some_and(|extension| extension == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
