//! The stack file's parser and validator: any bytes in, a `Stack` or diagnostics out, never a
//! panic, in bounded time and memory.
//!
//! Input: the stack file's text, then optionally a NUL byte and the text every task definition
//! file (`file: x.json`) reads as, so that the ECS JSON path is explored too. No file is opened.

#![no_main]

use std::io;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (stack, json) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    };
    // `airlock_config::load` refuses a file that is not UTF-8 before parsing it.
    let Ok(stack) = std::str::from_utf8(stack) else {
        return;
    };
    let json = json.map(std::str::from_utf8);
    let result =
        airlock_config::parse_with_files(stack, Path::new("fuzz/stack.yaml"), |_| match json {
            Some(Ok(text)) => Ok(text.to_owned()),
            Some(Err(_)) => Err(io::Error::from(io::ErrorKind::InvalidData)),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        });
    match result {
        Ok(_) => {}
        Err(airlock_config::ConfigError::Invalid(diagnostics)) => {
            assert!(
                !diagnostics.as_slice().is_empty(),
                "a refusal names at least one problem"
            );
            assert!(diagnostics.as_slice().len() <= airlock_config::MAX_DIAGNOSTICS);
            // Rendering is what the user sees; it must not panic either.
            let _ = diagnostics.to_string();
        }
        Err(other) => panic!("parse_with_files reads no file itself, yet said {other}"),
    }
    if let Some(Ok(text)) = json {
        let _ = airlock_config::parse_task_definition_json(text, Path::new("fuzz/td.json"));
    }
});
