//! Test fixture: `run` never returns, so only the host's deadline (epoch interruption) can
//! stop it. Input and output are ignored.

use switchboard_sdk::serde_json::Value;

fn run(_input: Value) -> Result<Value, String> {
    let mut n = 0u64;
    loop {
        // `black_box` keeps the optimiser from proving the loop useless and removing it.
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

switchboard_sdk::export_function!(run);
