//! Bounded exhaustive explorer (being written).
