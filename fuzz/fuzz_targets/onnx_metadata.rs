//! Opening a model without onnxruntime: the protobuf ModelProto decode and the typed metadata
//! (genres, preprocessing, temperature) read from its metadata_props.
#![no_main]

use covergenre::export::read_metadata_props;
use covergenre::metadata::ModelMetadata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(props) = read_metadata_props(bytes) {
        if let Ok(metadata) = ModelMetadata::from_props(&props) {
            // What it reads, it writes back the same way.
            let again = ModelMetadata::from_props(&metadata.to_props());
            assert!(again.is_ok(), "metadata read back from its own props fails");
        }
    }
});
