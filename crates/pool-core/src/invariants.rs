//! Invariants of the pool. SKELETON.
