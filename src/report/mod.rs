//! Reports. TODO: being written.
