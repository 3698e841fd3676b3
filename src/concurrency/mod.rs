//! A shared, resizable concurrency cap.
