#![no_main]
//! `Config::from_toml` on arbitrary text must not panic; a config it accepts must print
//! (`to_toml`) as TOML that loads back to an equal config.

use std::path::Path;

use bookstream::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: {
    // from_toml layers BOOKSTREAM__* environment overrides on top of the text; none may be set
    // here or the round trip would test the environment, not the input.
    // SAFETY: runs once, before any fuzzing, while the process is single-threaded.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().to_ascii_uppercase().starts_with("BOOKSTREAM") {
            unsafe { std::env::remove_var(&key) };
        }
    }
}, |data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(cfg) = Config::from_toml(&text, Path::new("fuzz.toml")) else {
        return;
    };
    let printed = cfg.to_toml();
    match Config::from_toml(&printed, Path::new("printed.toml")) {
        Ok(again) => assert_eq!(again, cfg, "round trip changed the config; printed:\n{printed}"),
        Err(e) => panic!("printed config does not load back: {e}\nprinted:\n{printed}"),
    }
});
