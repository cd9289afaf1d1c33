//! GDAL input and output (docs/predict.md §5, §6): the label GeoTIFF keeps the input's
//! geotransform, CRS and no-data and carries the palette and class names; a VRT wrapping the
//! GeoTIFF gives the same map; a coarser raster is resampled to the first modality's grid; and
//! every input or output error names its file, leaving no partial output.

mod common;

use std::path::{Path, PathBuf};

use common::ConvModel;
use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::{Dataset, DriverManager, Metadata};
use lssg_datasets::Error as DataError;
use lssg_datasets::palette::default_palette;
use lssg_predict::{
    Error, Footprint, GdalScene, ModalityInput, Normalization, OutputSpec, PredictOptions, SceneGrid, SceneJob,
    predict_files,
};
use lssg_scenario::Scenario;

const H: usize = 90;
const W: usize = 75;
const GT: [f64; 6] = [500_000.0, 0.5, 0.0, 5_800_000.0, 0.0, -0.5];

fn utm33() -> String {
    gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap().to_wkt().unwrap()
}

/// Writes a float32 GeoTIFF of `bands` bands, `w × h`, on the footprint of `GT` at `scale`× the
/// pixel size, with a value pattern per band.
fn write_tiff(path: &Path, bands: usize, (w, h): (usize, usize), scale: f64, georef: Option<&str>) {
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds =
        driver.create_with_band_type_with_options::<f32, _>(path, w, h, bands, &RasterCreationOptions::new()).unwrap();
    if let Some(wkt) = georef {
        let gt = [GT[0], GT[1] * scale, 0.0, GT[3], 0.0, GT[5] * scale];
        ds.set_geo_transform(&gt).unwrap();
        ds.set_projection(wkt).unwrap();
    }
    for b in 1..=bands {
        let data: Vec<f32> =
            (0..w * h).map(|i| ((i % w) as f32 * 0.07 + (i / w) as f32 * 0.05 + b as f32).sin() * 3.0).collect();
        let mut band = ds.rasterband(b).unwrap();
        band.set_no_data_value(Some(-9999.0)).unwrap();
        band.write((0, 0), (w, h), &mut Buffer::new((w, h), data)).unwrap();
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    rgb: PathBuf,
    dsm: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let (rgb, dsm) = (root.join("rgb.tif"), root.join("dsm.tif"));
    write_tiff(&rgb, 3, (W, H), 1.0, Some(&utm33()));
    write_tiff(&dsm, 1, (W, H), 1.0, Some(&utm33()));
    Fixture { _dir: dir, root, rgb, dsm }
}

fn job(inputs: Vec<Option<ModalityInput>>, labels: PathBuf, scenario: Scenario) -> SceneJob {
    SceneJob {
        names: vec!["rgb".into(), "dsm".into()],
        channels: vec![3, 1],
        inputs,
        grid: SceneGrid::default(),
        scenario,
        norm: Normalization::identity(&[3, 1]),
        options: PredictOptions { tile: 32, overlap: 8, batch: 4, ..Default::default() },
        output: OutputSpec {
            labels,
            probs: None,
            cog: false,
            class_names: vec!["water".into(), "road".into(), "building".into(), "tree".into()],
            palette: default_palette(4),
            nodata: Some(255),
        },
        preview: None,
    }
}

fn inputs(f: &Fixture) -> Vec<Option<ModalityInput>> {
    vec![Some(ModalityInput::new(&f.rgb)), Some(ModalityInput::new(&f.dsm))]
}

fn read_labels(path: &Path) -> Vec<u8> {
    let ds = Dataset::open(path).unwrap();
    let band = ds.rasterband(1).unwrap();
    band.read_as::<u8>((0, 0), ds.raster_size(), ds.raster_size(), None).unwrap().into_shape_and_vec().1
}

fn model() -> ConvModel {
    ConvModel::new(vec![3, 1], 4, 3)
}

#[test]
fn labels_keep_the_grid_palette_and_class_names() {
    let f = fixture();
    let mut j = job(inputs(&f), f.root.join("labels.tif"), Scenario::full(2));
    j.output.probs = Some(f.root.join("probs.tif"));
    j.preview = Some(f.root.join("preview.png"));
    let summary = predict_files(&model(), &j, &mut |_, _| {}).unwrap();
    assert_eq!((summary.height, summary.width, summary.classes), (H, W, 4));
    let ds = Dataset::open(f.root.join("labels.tif")).unwrap();
    assert_eq!(ds.raster_size(), (W, H));
    assert_eq!(ds.geo_transform().unwrap(), GT);
    let srs = gdal::spatial_ref::SpatialRef::from_wkt(&ds.projection()).unwrap();
    assert_eq!(srs.auth_code().unwrap(), 32633);
    let band = ds.rasterband(1).unwrap();
    assert_eq!(band.band_type(), gdal::raster::GdalDataType::UInt8);
    assert_eq!(band.no_data_value(), Some(255.0));
    let table = band.color_table().unwrap();
    let c = table.entry_as_rgb(2).unwrap();
    let want = default_palette(4)[2];
    assert_eq!((c.r, c.g, c.b), (want[0].into(), want[1].into(), want[2].into()));
    // SAFETY: the band is valid while `ds` lives; GDAL owns the returned list.
    let names = unsafe { gdal_sys::GDALGetRasterCategoryNames(band.c_rasterband()) };
    assert!(!names.is_null());
    let third = unsafe { std::ffi::CStr::from_ptr(*names.add(2)) }.to_string_lossy().into_owned();
    assert_eq!(third, "building");
    let md = ds.metadata_item("COMPRESSION", "IMAGE_STRUCTURE");
    assert_eq!(md.as_deref(), Some("DEFLATE"));
    assert_eq!(band.block_size(), (256, 256), "tiled");
    let labels = read_labels(&f.root.join("labels.tif"));
    assert!(labels.iter().all(|&l| l < 4));
    let probs = Dataset::open(f.root.join("probs.tif")).unwrap();
    assert_eq!((probs.raster_count(), probs.geo_transform().unwrap()), (4, GT));
    let p0 = probs.rasterband(1).unwrap().read_as::<f32>((0, 0), (W, H), (W, H), None).unwrap();
    assert!(p0.data().iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(std::fs::metadata(f.root.join("preview.png")).unwrap().len() > 100);
    let leftovers: Vec<_> = std::fs::read_dir(&f.root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn vrt_input_and_a_coarser_raster_give_the_expected_maps() {
    let f = fixture();
    predict_files(&model(), &job(inputs(&f), f.root.join("a.tif"), Scenario::full(2)), &mut |_, _| {}).unwrap();
    let vrt = f.root.join("rgb.vrt");
    let driver = DriverManager::get_driver_by_name("VRT").unwrap();
    Dataset::open(&f.rgb).unwrap().create_copy(&driver, &vrt, &RasterCreationOptions::new()).unwrap();
    let via_vrt = vec![Some(ModalityInput::new(&vrt)), Some(ModalityInput::new(&f.dsm))];
    predict_files(&model(), &job(via_vrt, f.root.join("b.tif"), Scenario::full(2)), &mut |_, _| {}).unwrap();
    assert_eq!(read_labels(&f.root.join("a.tif")), read_labels(&f.root.join("b.tif")));
    // The DSM at a third of the resolution on the same footprint is resampled to the RGB grid.
    let coarse = f.root.join("dsm-coarse.tif");
    write_tiff(&coarse, 1, (W / 3, H / 3), 3.0, Some(&utm33()));
    let mixed = vec![Some(ModalityInput::new(&f.rgb)), Some(ModalityInput::new(&coarse))];
    let s = predict_files(&model(), &job(mixed, f.root.join("c.tif"), Scenario::full(2)), &mut |_, _| {}).unwrap();
    assert_eq!((s.height, s.width), (H, W));
    // A band subset: the first band of the RGB file as a 1-channel DSM.
    let subset = ModalityInput::bands(f.rgb.clone(), vec![1]);
    let sub = vec![Some(ModalityInput::new(&f.rgb)), Some(subset)];
    predict_files(&model(), &job(sub, f.root.join("d.tif"), Scenario::full(2)), &mut |_, _| {}).unwrap();
}

fn assert_no_output(root: &Path, name: &str) {
    let names: Vec<String> =
        std::fs::read_dir(root).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains(name)), "{names:?}");
}

#[test]
fn input_errors_name_the_file_and_leave_no_output() {
    let f = fixture();
    let full = Scenario::full(2);
    let run = |inputs: Vec<Option<ModalityInput>>, scenario: Scenario| {
        predict_files(&model(), &job(inputs, f.root.join("out.tif"), scenario), &mut |_, _| {}).unwrap_err()
    };
    // Band count: a 3-band file for the 1-channel DSM.
    let err = run(vec![Some(ModalityInput::new(&f.rgb)), Some(ModalityInput::new(&f.rgb))], full);
    assert!(matches!(&err, Error::Raster(DataError::Bands { expected: 1, got: 3, .. })), "{err}");
    assert!(err.to_string().contains("rgb.tif"), "{err}");
    // CRS.
    let other = f.root.join("dsm-4326.tif");
    write_tiff(
        &other,
        1,
        (W, H),
        1.0,
        Some(&gdal::spatial_ref::SpatialRef::from_epsg(32632).unwrap().to_wkt().unwrap()),
    );
    let err = run(vec![Some(ModalityInput::new(&f.rgb)), Some(ModalityInput::new(&other))], full);
    assert!(matches!(&err, Error::Raster(DataError::Footprint { what, .. }) if what.starts_with("CRS")), "{err}");
    // Footprint: the same size at twice the pixel size.
    let wide = f.root.join("dsm-wide.tif");
    write_tiff(&wide, 1, (W, H), 2.0, Some(&utm33()));
    let err = run(vec![Some(ModalityInput::new(&f.rgb)), Some(ModalityInput::new(&wide))], full);
    assert!(matches!(&err, Error::Raster(DataError::Footprint { what, .. }) if what.starts_with("footprint")), "{err}");
    assert!(err.to_string().contains("dsm-wide.tif"), "{err}");
    // Without georeferencing: sizes.
    let (a, b) = (f.root.join("plain-a.tif"), f.root.join("plain-b.tif"));
    write_tiff(&a, 3, (W, H), 1.0, None);
    write_tiff(&b, 1, (W, H - 1), 1.0, None);
    let err = run(vec![Some(ModalityInput::new(&a)), Some(ModalityInput::new(&b))], full);
    assert!(matches!(&err, Error::Raster(DataError::Footprint { what, .. }) if what.starts_with("size")), "{err}");
    // Unreadable and truncated files.
    let junk = f.root.join("junk.tif");
    std::fs::write(&junk, b"not a tiff").unwrap();
    let err = run(vec![Some(ModalityInput::new(&f.rgb)), Some(ModalityInput::new(&junk))], full);
    assert!(matches!(&err, Error::Raster(DataError::Gdal { path, .. }) if path == &junk), "{err}");
    // GDAL's own message follows in the chain.
    let cause = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    assert!(cause.contains("not recognized as a supported file format"), "{cause}");
    let cut = f.root.join("cut.tif");
    let bytes = std::fs::read(&f.dsm).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = run(vec![Some(ModalityInput::new(&f.rgb)), Some(ModalityInput::new(&cut))], full);
    assert!(matches!(&err, Error::Raster(DataError::Gdal { path, .. }) if path == &cut), "{err}");
    // An available modality without a file; an unavailable one without a file is fine.
    let err = run(vec![Some(ModalityInput::new(&f.rgb)), None], full);
    assert!(matches!(&err, Error::MissingInput(m) if m == "dsm"), "{err}");
    let only_rgb = Scenario::from_mask(1, 2).unwrap();
    let ok = predict_files(
        &model(),
        &job(vec![Some(ModalityInput::new(&f.rgb)), None], f.root.join("rgb-only.tif"), only_rgb),
        &mut |_, _| {},
    );
    assert!(ok.is_ok(), "{ok:?}");
    assert_no_output(&f.root, "out.tif");
}

#[test]
fn an_unwritable_output_is_an_error_naming_it() {
    let f = fixture();
    let target = f.root.join("rgb.tif").join("labels.tif");
    let err = predict_files(&model(), &job(inputs(&f), target.clone(), Scenario::full(2)), &mut |_, _| {}).unwrap_err();
    assert!(matches!(&err, Error::Write { path, .. } if path == &target), "{err}");
}

#[test]
fn cog_output_is_readable_with_the_same_labels() {
    let f = fixture();
    predict_files(&model(), &job(inputs(&f), f.root.join("a.tif"), Scenario::full(2)), &mut |_, _| {}).unwrap();
    let mut j = job(inputs(&f), f.root.join("cog.tif"), Scenario::full(2));
    j.output.cog = true;
    predict_files(&model(), &j, &mut |_, _| {}).unwrap();
    assert_eq!(read_labels(&f.root.join("a.tif")), read_labels(&f.root.join("cog.tif")));
    let ds = Dataset::open(f.root.join("cog.tif")).unwrap();
    assert_eq!(ds.geo_transform().unwrap(), GT);
    assert_no_output(&f.root, ".tmp-");
}

#[test]
fn jpeg2000_input_gives_the_same_map_as_geotiff() {
    let f = fixture();
    // A 16-bit RGB GeoTIFF and its lossless JPEG 2000 copy.
    let tif = f.root.join("rgb16.tif");
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds =
        driver.create_with_band_type_with_options::<u16, _>(&tif, W, H, 3, &RasterCreationOptions::new()).unwrap();
    ds.set_geo_transform(&GT).unwrap();
    ds.set_projection(&utm33()).unwrap();
    for b in 1..=3 {
        let data: Vec<u16> = (0..W * H).map(|i| ((i % W) * 13 + (i / W) * 7 + b * 100) as u16 % 2048).collect();
        ds.rasterband(b).unwrap().write((0, 0), (W, H), &mut Buffer::new((W, H), data)).unwrap();
    }
    drop(ds);
    let jp2 = f.root.join("rgb16.jp2");
    let jp2_driver = DriverManager::get_driver_by_name("JP2OpenJPEG").expect("GDAL has the OpenJPEG driver");
    let options: RasterCreationOptions = ["REVERSIBLE=YES", "QUALITY=100"].into_iter().collect();
    Dataset::open(&tif).unwrap().create_copy(&jp2_driver, &jp2, &options).unwrap();
    let run = |rgb: &Path, out: &str| {
        let inputs = vec![Some(ModalityInput::new(rgb)), Some(ModalityInput::new(&f.dsm))];
        predict_files(&model(), &job(inputs, f.root.join(out), Scenario::full(2)), &mut |_, _| {}).unwrap();
        read_labels(&f.root.join(out))
    };
    assert_eq!(run(&tif, "from-tif.tif"), run(&jp2, "from-jp2.tif"));
    let back = Dataset::open(f.root.join("from-jp2.tif")).unwrap();
    assert_eq!(back.geo_transform().unwrap(), GT);
}

#[test]
fn pixels_without_any_input_data_are_written_as_nodata() {
    let f = fixture();
    // Rows 0..10 of both rasters are no-data; in rows 10..20 only the DSM is.
    let blank = |path: &Path, bands: usize, rows: usize| {
        let ds = Dataset::open_ex(
            path,
            gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE, ..Default::default() },
        )
        .unwrap();
        for b in 1..=bands {
            let mut band = ds.rasterband(b).unwrap();
            band.write((0, 0), (W, rows), &mut Buffer::new((W, rows), vec![-9999.0f32; W * rows])).unwrap();
        }
    };
    blank(&f.rgb, 3, 10);
    blank(&f.dsm, 1, 20);
    predict_files(&model(), &job(inputs(&f), f.root.join("nd.tif"), Scenario::full(2)), &mut |_, _| {}).unwrap();
    let labels = read_labels(&f.root.join("nd.tif"));
    assert!(labels[..10 * W].iter().all(|&l| l == 255));
    assert!(labels[10 * W..].iter().all(|&l| l < 4));
}

#[test]
fn a_modality_from_several_files_and_an_assumed_footprint() {
    let f = fixture();
    predict_files(&model(), &job(inputs(&f), f.root.join("one.tif"), Scenario::full(2)), &mut |_, _| {}).unwrap();
    // RGB bands 1–2 from one file and band 3 from a second (the same file, named differently):
    // the bands concatenate in order, so the map is the same.
    let twin = f.root.join("rgb-twin.tif");
    std::fs::copy(&f.rgb, &twin).unwrap();
    let mut split = ModalityInput::bands(f.rgb.clone(), vec![1, 2]);
    split.then.push(ModalityInput::bands(twin, vec![3]));
    let parts = vec![Some(split.clone()), Some(ModalityInput::new(&f.dsm))];
    predict_files(&model(), &job(parts, f.root.join("two.tif"), Scenario::full(2)), &mut |_, _| {}).unwrap();
    assert_eq!(read_labels(&f.root.join("one.tif")), read_labels(&f.root.join("two.tif")));
    // Too few bands over all the files is a band-count error naming the modality.
    let mut short = ModalityInput::bands(f.rgb.clone(), vec![1]);
    short.then.push(ModalityInput::bands(f.rgb.clone(), vec![3]));
    let err = GdalScene::open(&["rgb".into()], &[3], &[Some(short)]).unwrap_err().to_string();
    assert!(err.contains("`rgb` has 2 band(s)"), "{err}");
    // Without georeferencing, a DSM of another size is refused when checked and resampled onto
    // the reference grid when the layout guarantees the footprint.
    let (plain, small) = (f.root.join("plain.tif"), f.root.join("small.tif"));
    write_tiff(&plain, 3, (W, H), 1.0, None);
    write_tiff(&small, 1, (W / 4, H / 4), 1.0, None);
    let names = ["rgb".to_string(), "dsm".to_string()];
    let dsm_only = [None, Some(ModalityInput::new(&small))];
    let both = [Some(ModalityInput::new(&plain)), Some(ModalityInput::new(&small))];
    let err = GdalScene::open(&names, &[3, 1], &both).unwrap_err().to_string();
    assert!(err.contains("sizes must be equal"), "{err}");
    let assumed = SceneGrid { footprint: Footprint::Assumed, reference: Some(plain.clone()) };
    let scene = GdalScene::open_with(&names, &[3, 1], &dsm_only, &assumed).unwrap();
    assert_eq!((scene.geo().width, scene.geo().height), (W, H));
}
