//! Parity between the written ONNX model and the tch network (feature `train`).
