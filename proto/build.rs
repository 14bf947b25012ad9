//! Compiles `pharos/v1/*.proto` with protox (pure Rust, no system `protoc`) and generates
//! prost messages plus tonic clients and servers, and the descriptor set that gRPC reflection
//! serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "pharos/v1/raft.proto",
        "pharos/v1/kv.proto",
        "pharos/v1/cluster.proto",
        "pharos/v1/broker.proto",
        "pharos/v1/topic.proto",
        "pharos/v1/dr.proto",
        "pharos/v1/member.proto",
        "pharos/v1/errors.proto",
        "pharos/v1/acl.proto",
        "pharos/v1/backup.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("pharos_descriptor.bin"), prost::Message::encode_to_vec(&descriptors))?;
    // Undecodable requests are INVALID_ARGUMENT, not tonic's INTERNAL (src/wire_codec.rs).
    tonic_prost_build::configure().codec_path("crate::wire_codec::WireCodec").compile_fds(descriptors)?;
    Ok(())
}
