//! Time and peak heap of validating each hostile mesh shape (`fmesh_crds::shapes`): from the
//! request's bytes to the report, as admission, the operator and `fmesh validate` do it.
//! Run: `cargo run --release -p fmesh-crds --features shapes --example mesh_limits`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use fmesh_crds::{Parsed, Resource, shapes};

/// The system allocator, counting live and peak bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn measure(name: &str, doc: serde_json::Value) {
    let body = serde_json::to_vec(&doc).expect("a shape serializes");
    drop(doc);
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let start = Instant::now();
    let value: serde_json::Value = serde_json::from_slice(&body).expect("a shape parses");
    let parsed = Resource::parse(&value);
    let decoded = start.elapsed();
    let r = match parsed {
        Parsed::Resource(res, _) => res.validate(),
        // Refused before decoding (over the member limit).
        Parsed::Invalid(r) => r,
        Parsed::Other { .. } => panic!("{name}: not a mesh"),
    };
    let (errors, warnings) = (r.errors().count(), r.warnings().count());
    drop(value);
    let elapsed = start.elapsed();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "{name:<28} {:>9.1} KiB {:>10.1} ms ({:>6.1} decoding) {:>9.1} MiB peak  {errors} errors, {warnings} warnings",
        body.len() as f64 / 1024.0,
        elapsed.as_secs_f64() * 1e3,
        decoded.as_secs_f64() * 1e3,
        peak as f64 / (1024.0 * 1024.0),
    );
}

fn main() {
    // The first parse builds the CRD schemas the unknown-field check walks (once per process).
    measure("warm-up (chain 2)", shapes::chain(2));
    println!(
        "{:<28} {:>13} {:>13} {:>14}",
        "shape", "body", "time", "heap"
    );
    measure("largest chain", shapes::largest_chain());
    measure("largest bipartite", shapes::largest_bipartite());
    measure("largest patterns", shapes::largest_patterns());
    measure(
        "largest hostile patterns",
        shapes::largest_hostile_patterns(),
    );
    // The sizes of issue #27's attacks: refused by the limits.
    measure("chain 6000", shapes::chain(6000));
    measure("chain 20000", shapes::chain(20000));
    measure("bipartite 4000", shapes::bipartite(4000));
    measure("patterns 2000 x 2000", shapes::patterns(2000, 2000, 0));
}
