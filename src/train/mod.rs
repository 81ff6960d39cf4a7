//! Training with tch. TODO: being written.
