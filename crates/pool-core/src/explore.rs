//! Bounded exhaustive explorer. SKELETON.
