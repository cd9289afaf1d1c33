//! A DSTL WKT field: an error, or polygons that rasterise on a grid without overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lssg_datasets::dstl::rasterize::{GridTransform, fill_polygons};
use lssg_datasets::dstl::wkt::parse_multipolygon;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(polygons) = parse_multipolygon(text) {
        let t = GridTransform::new(32, 32, 0.009, -0.009);
        let mut mask = vec![0u8; 32 * 32];
        fill_polygons(&polygons, &t, 32, 32, &mut mask, 1);
    }
});
