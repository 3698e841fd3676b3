//! `pacer-mock`: a rate-limited mock API server.
fn main() {}
