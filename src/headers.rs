//! Rate-limit header parsing (Retry-After, IETF RateLimit, vendor forms).
