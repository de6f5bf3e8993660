import { pbStream, type ProtobufStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { decode } from 'uint8-varint'
import type { Uint8ArrayList } from 'uint8arraylist'

/** A length prefix is a varint; ours never need more bytes than this (a 4 MiB frame takes 4). */
const MAX_LENGTH_BYTES = 5

export class FrameLengthError extends Error {
  static name = 'FrameLengthError'
  name = 'FrameLengthError'
}

/**
 * Length-prefixed protobuf frames of at most `maxDataLength` bytes on a stream. The library's
 * own prefix reader keeps reading a prefix that never ends (0xff 0xff ...), byte by byte and
 * in microtasks only, so no deadline can stop it: a peer could stall the daemon. Here a prefix
 * longer than MAX_LENGTH_BYTES is refused at once.
 */
export function framed (stream: Stream, maxDataLength: number): ProtobufStream<Stream> {
  return pbStream(stream, {
    maxDataLength,
    maxLengthLength: MAX_LENGTH_BYTES,
    lengthDecoder: (data: Uint8ArrayList): number => {
      if (data.byteLength > MAX_LENGTH_BYTES) throw new FrameLengthError(`a length prefix longer than ${MAX_LENGTH_BYTES} bytes`)
      return decode(data)
    }
  })
}
