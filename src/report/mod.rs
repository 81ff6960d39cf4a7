//! Reports. TODO: being written.

pub mod classify;
