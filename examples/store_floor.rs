//! The store's floor: how fast sled itself takes writes of the size the
//! import makes, with nothing of subinvite around it. The import's own
//! figures (scripts/bench-import) can be read against this.
//!
//! `cargo run --release --example store_floor -- [WRITES] [insert|batch] [VALUE_BYTES]`

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let mode = args.next().unwrap_or_else(|| "batch".into());
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(64 << 20)
        .open()
        .expect("open sled");
    let tree = db.open_tree("data").expect("tree");
    let value = vec![7u8; size];
    let start = std::time::Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(4_000) {
        let mut batch = sled::Batch::default();
        for j in chunk {
            let key = format!("cdemo\0estimating.{j}@sub{}.example.test", j % 997);
            if mode == "insert" {
                tree.insert(key.as_bytes(), value.clone()).expect("insert");
            } else {
                batch.insert(key.as_bytes(), value.clone());
            }
        }
        if mode != "insert" {
            tree.apply_batch(batch).expect("apply");
        }
    }
    let took = start.elapsed();
    println!(
        "{n} writes of {size} bytes ({mode}): {took:?}, {:.1} us/write",
        took.as_secs_f64() * 1e6 / n as f64
    );
}
