//! Rate limiting: the limiter core and the `RateLimit` layer.
