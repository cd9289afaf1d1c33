//! A raster through GDAL: an error, or a raster whose buffer matches its size. libFuzzer
//! reports a crash inside GDAL with the input that caused it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.tif");
    std::fs::write(&path, data).unwrap();
    if let Ok(r) = lssg_datasets::raster::read_raster(&path) {
        assert_eq!(r.data.len(), r.width * r.height * r.bands);
    }
});
