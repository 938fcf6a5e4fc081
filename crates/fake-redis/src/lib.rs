//! fake-redis: a pure Redis 7 server engine. (Work in progress.)
