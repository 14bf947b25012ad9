//! Compiles the minimal etcd client schema in `proto/etcd_rpc.proto` with protox (no system
//! `protoc`) into prost messages and tonic clients for `pharos-bench compare`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = "proto/etcd_rpc.proto";
    println!("cargo:rerun-if-changed={file}");
    let descriptors = protox::compile([file], ["proto"])?;
    tonic_prost_build::configure().build_server(false).compile_fds(descriptors)?;
    Ok(())
}
