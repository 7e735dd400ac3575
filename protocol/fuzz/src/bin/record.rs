//! AFL++ target: decode and verify arbitrary bytes as a record.

use csx_protocol::{FederationId, Record, VerifyContext};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let ctx = VerifyContext::new(FederationId([0x5e; 32]), 1_750_000_000_000);
        let _ = Record::decode(data.to_vec()).map(|r| r.verify(&ctx));
    });
}
