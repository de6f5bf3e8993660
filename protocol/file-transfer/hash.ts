import { createRequire } from 'node:module'
import type { FileHandle } from 'node:fs/promises'
import { blake3 } from '@noble/hashes/blake3.js'
import { BodyError } from './body.ts'

/**
 * The hash of a whole file that follows every body (TRAILER_BYTES): BLAKE3, 256 bits.
 *
 * BLAKE3 rather than SHA-256 because both ends hash every byte of a download on the thread
 * that also moves it, and on two shared cores processor time is what bounds a download: BLAKE3's
 * native build costs a fraction of Node's SHA-256. See docs/performance.md#blake3-instead-of-sha-256.
 *
 * The native build (@napi-rs/blake-hash) comes as one optional package per platform. Where
 * none loads, the same hash runs in JavaScript (@noble/hashes): the same digests, far slower,
 * and BLAKE3_NATIVE is false for the daemon to say so.
 */
export interface Hasher {
  update(data: Uint8Array): unknown
  digestBuffer(): Uint8Array
}

type NativeHasher = new () => Hasher

function loadNative (): NativeHasher | undefined {
  try {
    return (createRequire(import.meta.url)('@napi-rs/blake-hash') as typeof import('@napi-rs/blake-hash')).Blake3Hasher
  } catch {
    return undefined
  }
}

const Native = loadNative()

export const BLAKE3_NATIVE = Native != null

/** BLAKE3 in JavaScript, for platforms without the native build. */
export function javascriptBlake3 (): Hasher {
  const hash = blake3.create()
  return { update: data => hash.update(data), digestBuffer: () => hash.digest() }
}

export const newBlake3: () => Hasher = Native != null ? () => new Native() : javascriptBlake3

/** Reads for catching a hash up with a file are this large. */
const CATCH_UP_READ_BYTES = 4 * 1024 * 1024

/**
 * The BLAKE3 of bytes [0, position) of a file, fed the bytes after them in order. A body may
 * repeat bytes it has hashed (a server resuming a send at an offset below where its hash
 * got to): `feed` skips them.
 */
export class RunningHash {
  private readonly hasher = newBlake3()
  private hashed = 0

  /** How many bytes from the start of the file it has hashed. */
  get position (): number {
    return this.hashed
  }

  /** Feed `chunk`, the file's bytes from `at`: those past `position`. A gap before `at` is an error. */
  feed (chunk: Uint8Array, at: number): void {
    if (at > this.hashed) throw new Error(`bytes ${this.hashed} to ${at} were never hashed`)
    const skip = this.hashed - at
    if (skip >= chunk.byteLength) return
    this.hasher.update(skip > 0 ? chunk.subarray(skip) : chunk)
    this.hashed = at + chunk.byteLength
  }

  /** Feed bytes [position, to) from `file`, if any; a file that no longer holds them is an error. */
  async catchUp (file: FileHandle, to: number, signal: AbortSignal): Promise<void> {
    if (this.hashed >= to) return
    const buffer = Buffer.allocUnsafe(Math.min(CATCH_UP_READ_BYTES, to - this.hashed))
    while (this.hashed < to) {
      signal.throwIfAborted()
      const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.byteLength, to - this.hashed), this.hashed)
      if (bytesRead === 0) throw new BodyError('the file shrank while it was being hashed')
      this.feed(buffer.subarray(0, bytesRead), this.hashed)
    }
  }

  digest (): Uint8Array {
    return this.hasher.digestBuffer()
  }
}
