// Storage module: berth's on-disk image store.
//
// - ``ContentStore``: content-addressed blobs with atomic, verified ingest.
// - ``SnapshotStore``: unpacked layers keyed by chain ID, in overlayfs form.
// - ``LayerExtraction``: streaming layer unpacking (ISA-L/zstd inflate → libarchive), one thread per layer.
// - ``ImageStore``: image records, references, leases, recovery and garbage collection.
