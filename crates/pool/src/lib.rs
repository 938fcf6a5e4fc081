//! pool: the async pool driver over pool-core. (Work in progress.)
