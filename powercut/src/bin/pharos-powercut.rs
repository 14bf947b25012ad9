//! `pharos-powercut BACKING MOUNTPOINT`: mounts a power-cut filesystem and takes commands, one
//! per line, on stdin: `cut` (drop every unsynced write), `stats`, `quit` (sync and unmount).
//! End of input is `quit`. For trying a program's fsync discipline by hand; the chaos suite
//! mounts in-process instead.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use pharos_powercut::PowerCutMount;

#[derive(Debug, Parser)]
#[command(name = "pharos-powercut", about = "A FUSE filesystem that drops unsynced writes on command")]
struct Args {
    /// Holds exactly what was synced (created if missing).
    backing: PathBuf,
    /// Where processes write (created if missing).
    mountpoint: PathBuf,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter("info").init();
    let args = Args::parse();
    let mount = PowerCutMount::mount(&args.backing, &args.mountpoint).context("mounting the power-cut filesystem")?;
    println!("mounted {} (backing {}); commands: cut, stats, quit", args.mountpoint.display(), args.backing.display());
    for line in std::io::stdin().lock().lines() {
        match line.context("reading a command")?.trim() {
            "cut" => println!("{:?}", mount.cut()),
            "stats" => println!("{:?}", mount.stats()),
            "quit" => break,
            "" => {}
            other => println!("unknown command {other:?}: cut, stats or quit"),
        }
    }
    mount.unmount().context("unmounting")?;
    println!("unmounted");
    Ok(())
}
