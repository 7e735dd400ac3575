//! The request-response codec of the sync protocol: each message is `len u32 ‖ bytes`, with a
//! hard limit on `len`, decoded with csx-protocol's sync messages.

use std::io;

use csx_protocol::sync::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, SyncRequest, SyncResponse};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// The sync protocol's name on the wire.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/csx/sync/2");

#[derive(Debug, Clone, Default)]
pub struct SyncCodec;

pub(crate) async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize, what: &str) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            CodecError::Oversized(format!("{what} of {len} bytes exceeds the limit of {max}")),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

pub(crate) async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

pub(crate) fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, CodecError::Malformed(format!("malformed {what}: {e}")))
}

/// Why a sync message could not be read, so the two can be counted apart.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{0}")]
    Oversized(String),
    #[error("{0}")]
    Malformed(String),
}

/// `oversized` or `malformed` for an I/O error from this codec; `None` for other I/O errors.
pub fn classify(e: &io::Error) -> Option<&'static str> {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<CodecError>()) {
        Some(CodecError::Oversized(_)) => Some("oversized"),
        Some(CodecError::Malformed(_)) => Some("malformed"),
        None => None,
    }
}

/// A request that arrived but could not be read. It is handed to the event loop like a good
/// one (request-response reports no failure to read a request), so the sender can be counted,
/// penalised and answered.
#[derive(Debug, Clone)]
pub struct BadRequest {
    /// `oversized` or `malformed`.
    pub kind: &'static str,
    pub detail: String,
}

/// A request as read from the wire.
pub type InboundRequest = Result<SyncRequest, BadRequest>;

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = InboundRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<InboundRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = match read_frame(io, MAX_REQUEST_BYTES, "sync request").await {
            Ok(b) => b,
            Err(e) => match classify(&e) {
                Some(kind) => return Ok(Err(BadRequest { kind, detail: e.to_string() })),
                None => return Err(e),
            },
        };
        Ok(SyncRequest::decode(&bytes).map_err(|e| BadRequest { kind: "malformed", detail: e.to_string() }))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_frame(io, MAX_RESPONSE_BYTES, "sync response").await?;
        SyncResponse::decode(&bytes).map_err(|e| invalid("sync response", e))
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: InboundRequest) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match req {
            Ok(r) => write_frame(io, &r.encode()).await,
            Err(bad) => Err(io::Error::new(io::ErrorKind::InvalidInput, bad.detail)),
        }
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: SyncResponse) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res.encode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::request_response::Codec;

    fn frame(declared: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = declared.to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn unreadable_requests_become_bad_requests() {
        futures::executor::block_on(async {
            let mut codec = SyncCodec;
            let mut big = futures::io::Cursor::new(frame(100_000, &[1; 100_000]));
            let r = codec.read_request(&SYNC_PROTOCOL, &mut big).await.expect("read");
            assert!(matches!(r, Err(BadRequest { kind: "oversized", .. })), "{r:?}");
            let mut junk = futures::io::Cursor::new(frame(3, b"\x09xx"));
            let r = codec.read_request(&SYNC_PROTOCOL, &mut junk).await.expect("read");
            assert!(matches!(r, Err(BadRequest { kind: "malformed", .. })), "{r:?}");
            let mut cut = futures::io::Cursor::new(vec![0, 0]);
            assert!(codec.read_request(&SYNC_PROTOCOL, &mut cut).await.is_err(), "a cut-off frame is an I/O error");
        });
    }
}
