//! Test fixture for memory limits: input `{"mib": N}` allocates N MiB, writes to every page
//! so that the memory is really committed, and returns `{"allocated_mib": N}`.

use serde::{Deserialize, Serialize};

const MIB: usize = 1024 * 1024;
const PAGE: usize = 64 * 1024;

#[derive(Deserialize)]
struct Input {
    mib: usize,
}

#[derive(Serialize)]
struct Output {
    allocated_mib: usize,
}

fn run(input: Input) -> Result<Output, String> {
    let len = input.mib.checked_mul(MIB).ok_or("mib is too large")?;
    let mut buffer = vec![0u8; len];
    for i in (0..len).step_by(PAGE) {
        buffer[i] = 1;
    }
    // Without this the optimiser could drop the writes and the allocation with them.
    std::hint::black_box(&mut buffer);
    Ok(Output {
        allocated_mib: input.mib,
    })
}

switchboard_sdk::export_function!(run);
