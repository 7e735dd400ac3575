//! AFL++ target: decode arbitrary bytes as sync messages and feed responses to the state machine.

use csx_protocol::FederationId;
use csx_protocol::sync::{HeadsIndex, SyncLimits, SyncRequest, SyncResponse, SyncSession};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = SyncRequest::decode(data);
        if let Ok(resp) = SyncResponse::decode(data) {
            let mut local = HeadsIndex::default();
            let (mut s, _) = SyncSession::start(FederationId([0x5e; 32]), SyncLimits::default(), &mut local);
            let _ = s.on_response(0, resp, &mut local);
        }
    });
}
