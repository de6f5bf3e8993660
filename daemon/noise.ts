import { Socket } from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { Uint8ArrayList } from 'uint8arraylist'
import { notApplied } from './unpatched.ts'

type NoiseFactory = ReturnType<typeof noise>

/** Noise messages carry at most this many bytes, the 16-byte tag included (Noise spec §3). */
const NOISE_MESSAGE_BYTES = 65535
const TAG_BYTES = 16
/** Below this, noise decrypts with its own cipher, which does write into `dst` (crypto/index.ts). */
const NODE_CIPHER_MIN_BYTES = 1200

/** The part of @chainsafe/libp2p-noise 17's secured connection that `decrypt` uses. */
interface Decrypting {
  decrypt: (chunk: Uint8Array | Uint8ArrayList) => Uint8ArrayList
  handshake: { decrypt: (ciphertext: Uint8Array | Uint8ArrayList, dst?: Uint8Array) => Uint8Array | Uint8ArrayList }
  metrics?: { decryptedPackets: { increment: () => void }, decryptErrors: { increment: () => void } }
}

/** The part of @libp2p/tcp 11's connection that `sendData` uses. */
interface TcpConnection {
  socket: Socket
  sendData: (data: Uint8ArrayList) => { sentBytes: number, canSendMore: boolean }
}

/** The two patches, as they name themselves when they do not apply. */
const NO_DECRYPT_COPY = 'daemon/noise.ts, decrypt without a copy'
const BATCHED_WRITES = 'daemon/noise.ts, batched socket writes'

/**
 * Noise, with two costs of bulk data removed: a copy of every byte received, and most socket
 * writes (about three per message sent before, at most one now). The bytes on the wire are the
 * same. A connection of another shape (another noise or tcp version) is left as it is, and
 * says so once (unpatched.ts); test/patches.test.ts and test/body.test.ts fail.
 *
 * Receiving: @chainsafe/libp2p-noise 17 hands each message's decryption a contiguous `dst`,
 * made with `subarray`, which copies a message that spans two socket reads (almost every
 * 64 KiB one). Node's ChaCha20-Poly1305, which noise uses from NODE_CIPHER_MIN_BYTES up,
 * ignores `dst` and returns new memory, so the copy is only garbage. Such messages get no `dst`
 * here (`decryptWithoutCopy`). See docs/performance.md#noise-decrypt-without-a-copy.
 *
 * Sending: noise hands the connection each message as three or four buffers, and @libp2p/tcp 11
 * writes each with its own socket write: on an idle socket a system call and a TCP segment per
 * buffer. Here one send's buffers go corked, as one writev (`writeInBatches`).
 * See docs/performance.md#noise-batched-socket-writes.
 */
export function leanNoise (): NoiseFactory {
  const factory = noise()
  return components => {
    const encrypter = factory(components)
    const lean = <Secure extends typeof encrypter.secureInbound>(secure: Secure): Secure => (async (connection, ...rest) => {
      writeInBatches(connection)
      const secured = await secure.call(encrypter, connection, ...rest)
      decryptWithoutCopy(secured.connection)
      return secured
    }) as Secure
    encrypter.secureInbound = lean(encrypter.secureInbound)
    encrypter.secureOutbound = lean(encrypter.secureOutbound)
    return encrypter
  }
}

/**
 * Give a TCP connection, if it has the known shape, a `sendData` that writes all it is given as
 * one batch. It takes every byte, as Node's socket does; `canSendMore` false (the socket holds
 * more than its high-water mark) makes the caller wait for 'drain' before it sends again, as
 * before, so what waits is held by the socket instead of the caller's queue, not more of it.
 */
function writeInBatches (connection: unknown): void {
  const c = connection as Partial<TcpConnection>
  if (typeof c.sendData !== 'function' || !(c.socket instanceof Socket)) {
    notApplied(BATCHED_WRITES, 'the connection under noise is not a @libp2p/tcp 11 connection with sendData and a socket')
    return
  }
  const socket = c.socket
  c.sendData = data => {
    let canSendMore = true
    socket.cork()
    try {
      for (const buf of data) canSendMore = socket.write(buf)
    } finally {
      socket.uncork()
    }
    return { sentBytes: data.byteLength, canSendMore }
  }
}

/** Give a secured connection, if it has the known shape, its own decrypt that makes no `dst`. */
function decryptWithoutCopy (connection: unknown): void {
  const c = connection as Partial<Decrypting>
  if (typeof c.decrypt !== 'function' || typeof c.handshake?.decrypt !== 'function') {
    notApplied(NO_DECRYPT_COPY, 'the secured connection has no decrypt and handshake.decrypt')
    return
  }
  c.decrypt = decrypt
}

/** @chainsafe/libp2p-noise 17's own decrypt (src/utils.ts), without the `dst` that Node's cipher ignores. */
function decrypt (this: Decrypting, chunk: Uint8Array | Uint8ArrayList): Uint8ArrayList {
  const output = new Uint8ArrayList()
  for (let i = 0; i < chunk.byteLength; i += NOISE_MESSAGE_BYTES) {
    const end = Math.min(i + NOISE_MESSAGE_BYTES, chunk.byteLength)
    if (end - TAG_BYTES < i) throw new Error('Invalid chunk')
    const encrypted = chunk instanceof Uint8Array ? chunk.subarray(i, end) : chunk.sublist(i, end)
    const dst = end - i < NODE_CIPHER_MIN_BYTES ? chunk.subarray(i, end - TAG_BYTES) : undefined
    try {
      output.append(this.handshake.decrypt(encrypted, dst))
      this.metrics?.decryptedPackets.increment()
    } catch (err) {
      this.metrics?.decryptErrors.increment()
      throw err
    }
  }
  return output
}
