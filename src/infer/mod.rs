//! onnxruntime inference. The model core (sessions, metadata) is being written on the `export`
//! branch; [`pipeline`] is the streaming decode -> batch -> predict engine shared by
//! `covergenre-classify` and `covergenre-eval`.

pub mod pipeline;
