//! End-to-end tests of poolsim live in `tests/tests/`; this library is empty on purpose.
