//! openraft's own storage conformance suite, run against the fjall stores.

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use pharos_replication::{LogStore, StateMachineStore, Storage, TypeConfig};

struct FjallBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for FjallBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("create temp dir");
        let storage = Storage::open(dir.path()).expect("open storage");
        let state_machine = StateMachineStore::open(storage.clone()).expect("open state machine");
        Ok((dir, LogStore::new(storage), state_machine))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fjall_store_passes_the_openraft_suite() -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(FjallBuilder).await?;
    Ok(())
}
