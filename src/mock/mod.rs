//! A rate-limited mock API server.
