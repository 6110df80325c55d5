//! Test fixture: reads `/etc/passwd`, so the component imports `wasi:filesystem`, which the
//! host must reject at upload. Input is ignored; output would be the file's length.

use switchboard_sdk::serde_json::Value;

fn run(_input: Value) -> Result<usize, String> {
    std::fs::read_to_string("/etc/passwd")
        .map(|text| text.len())
        .map_err(|e| e.to_string())
}

switchboard_sdk::export_function!(run);
