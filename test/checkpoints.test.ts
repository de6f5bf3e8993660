import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { blake3 } from '@noble/hashes/blake3.js'
import { HashCheckpoints } from '../packages/file-transfer/checkpoints.ts'
import { BLAKE3_NATIVE, javascriptBlake3, newBlake3, RunningHash } from '../protocol/file-transfer/hash.ts'
import { stopAll, tempHome } from './helpers.ts'

after(stopAll)

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** A running hash of `bytes` as they would stand at the start of a file. */
function hashOf (bytes: Uint8Array): RunningHash {
  const hash = new RunningHash()
  hash.feed(bytes, 0)
  return hash
}

describe('file hashes', () => {
  it('are BLAKE3, from the native build here, and the same from the JavaScript one, however the bytes come split', () => {
    assert.ok(BLAKE3_NATIVE, 'the native build loads on this platform')
    // the BLAKE3 paper's value for no input
    assert.equal(hex(newBlake3().digestBuffer()), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262')
    assert.equal(hex(javascriptBlake3().digestBuffer()), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262')
    const pieces = [1, 7, 1024, 63, 65536, 4096, 1025]
    for (const size of [1, 1023, 1024, 1025, 300 * 1024 + 7]) {
      const data = randomBytes(size)
      for (const make of [newBlake3, javascriptBlake3]) {
        const hasher = make()
        for (let at = 0, i = 0; at < size; i++) {
          const n = Math.min(pieces[i % pieces.length], size - at)
          hasher.update(data.subarray(at, at + n))
          at += n
        }
        assert.equal(hex(hasher.digestBuffer()), hex(blake3(data)), `${size} bytes, ${make.name}`)
      }
    }
  })

  it('run on over bytes hashed already, and refuse a gap', () => {
    const data = randomBytes(10_000)
    const hash = hashOf(data.subarray(0, 6000))
    hash.feed(data.subarray(1000, 2000), 1000)
    hash.feed(data.subarray(4000), 4000)
    assert.equal(hash.position, 10_000)
    assert.equal(hex(hash.digest()), hex(blake3(data)))
    assert.throws(() => { hashOf(data.subarray(0, 10)).feed(data.subarray(11), 11) }, /bytes 10 to 11 were never hashed/)
  })
})

describe('hash checkpoints', () => {
  it('hand a cut transfer\'s hash to the next transfer of its key, caught up with the file', async () => {
    const data = randomBytes(300 * 1024 + 7)
    const path = join(await tempHome('hwd-checkpoints-'), 'f.bin')
    await writeFile(path, data)
    const file = await open(path)
    const prefix = (n: number): string => hex(blake3(data.subarray(0, n)))
    const signal = AbortSignal.timeout(10_000)
    try {
      const checkpoints = new HashCheckpoints()
      // none kept: a new hash, fed from the start of the file
      const fresh = await checkpoints.take('v1', file, 5000, signal)
      assert.deepEqual([fresh.position, hex(fresh.digest())], [5000, prefix(5000)])
      // a kept hash is trusted: what follows it is hashed from it (one of other bytes shows it)
      const other = Buffer.alloc(4096, 'x')
      checkpoints.put('k', hashOf(other))
      assert.equal(hex((await checkpoints.take('k', file, 4106, signal)).digest()), hex(blake3(Buffer.concat([other, data.subarray(4096, 4106)]))))
      // taken, it is no one else's: the next take of the key hashes from the start
      assert.equal(hex((await checkpoints.take('k', file, 4106, signal)).digest()), prefix(4106))
      // kept past the offset, it stays where it was, and the body from the offset runs on over it
      checkpoints.put('v2', hashOf(data.subarray(0, 200_000)))
      const ahead = await checkpoints.take('v2', file, 1000, signal)
      assert.equal(ahead.position, 200_000)
      ahead.feed(data.subarray(1000), 1000)
      assert.equal(hex(ahead.digest()), prefix(data.byteLength))
      // of two kept for one key, the furthest stays
      checkpoints.put('v3', hashOf(data.subarray(0, 10_000)))
      checkpoints.put('v3', hashOf(data.subarray(0, 5000)))
      assert.equal((await checkpoints.take('v3', file, 0, signal)).position, 10_000)
      // a take that fails leaves the hash for the next one
      checkpoints.put('v4', hashOf(other))
      await assert.rejects(checkpoints.take('v4', file, 5000, AbortSignal.abort()), { name: 'AbortError' })
      assert.equal(hex((await checkpoints.take('v4', file, 5000, signal)).digest()), hex(blake3(Buffer.concat([other, data.subarray(4096, 5000)]))))
    } finally {
      await file.close()
    }
  })
})
