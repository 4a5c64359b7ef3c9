//! Integration tests for debrief-media: one test binary, one module per area.

mod bad_inputs;
mod chunker;
mod decode;
mod support;
mod wav;
