//! A run configuration's TOML: an error, or a config that validates again and round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lssg::config::RunConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = RunConfig::parse(text, "fuzz.toml", &[]) {
        config.validate("accepted").expect("an accepted config validates again");
        let again = RunConfig::parse(&config.to_toml(), "round trip", &[]).expect("the resolved config parses");
        assert_eq!(again, config);
    }
});
