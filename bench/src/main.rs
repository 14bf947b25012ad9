//! `pharos-bench`: measures a real loopback cluster (placeholder until the harness lands).

fn main() {
    println!("pharos-bench: see docs/benchmarks.md");
}
