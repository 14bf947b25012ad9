//! The gRPC codec of every `pharos.v1` service: prost, except that bytes which do not decode
//! as the expected message are the sender's fault. tonic's stock codec answers them `INTERNAL`
//! (as if the receiver had failed) with no `pharos-error` reason; this one answers
//! `INVALID_ARGUMENT` with the reason, like every other malformed request.
//!
//! The same codec decodes answers on the client side, where an undecodable answer is equally
//! reported as `INVALID_ARGUMENT` ("cannot decode the received message").

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstCodec, ProstEncoder};

/// `tonic_prost::ProstCodec` with typed decode errors.
#[derive(Debug, Clone)]
pub struct WireCodec<T, U> {
    _messages: PhantomData<(T, U)>,
}

impl<T, U> Default for WireCodec<T, U> {
    fn default() -> Self {
        WireCodec { _messages: PhantomData }
    }
}

impl<T, U> Codec for WireCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = WireDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::default().encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireDecoder { _message: PhantomData }
    }
}

/// Decodes with prost (default buffer settings, as tonic's own decoder); a decode failure
/// becomes [`malformed`].
#[derive(Debug)]
pub struct WireDecoder<U> {
    _message: PhantomData<U>,
}

impl<U: Message + Default> Decoder for WireDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|error| malformed(&error))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// The status for bytes that are not the expected message (bad wire type, truncated field,
/// invalid UTF-8 in a string).
pub fn malformed(error: &prost::DecodeError) -> Status {
    let mut status = Status::new(Code::InvalidArgument, format!("cannot decode the received message: {error}"));
    status.metadata_mut().insert(
        crate::metadata::ERROR_REASON,
        tonic::metadata::MetadataValue::from_static(crate::v1::ErrorReason::InvalidArgument.code_name()),
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_bytes_are_the_senders_fault() {
        // 0x0f: field 1 with wire type 7, which does not exist.
        let error = crate::v1::PutRequest::decode(&[0x0f_u8][..]).expect_err("not a message");
        let status = malformed(&error);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.metadata().get(crate::metadata::ERROR_REASON).map(|value| value.to_str().ok()),
            Some(Some("INVALID_ARGUMENT"))
        );
        assert!(status.message().starts_with("cannot decode the received message"), "{}", status.message());
    }
}
