//! gRPC messages as bytes, both ways: the server hands request bytes to the
//! dispatch (which decodes them, as for every other protocol) and sends the
//! bytes responses encode to; the gateway passes bytes between a client and
//! its upstream without decoding them.

use bytes::Bytes;

/// Messages as bytes both ways; tonic does the framing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawCodec;

pub(crate) struct Raw;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
