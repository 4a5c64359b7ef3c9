//! End-to-end tests: real OS processes on a real database file. One test binary, one
//! module per area; tests are named after the issue they pin.

mod asr;
mod browser;
mod chaos;
mod common;
mod fixtures;
mod lost;
mod pipeline;
mod queue;
mod queue_pg;
mod record;
mod report;
mod slides;
mod speakers;
mod summary;
mod tidy;
mod vlm;
