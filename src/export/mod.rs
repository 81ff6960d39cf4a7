//! ONNX export. TODO: being written.
