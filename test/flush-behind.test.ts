import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { FLUSH_BEHIND_BYTES, FlushBehind } from '../packages/file-transfer/flush-behind.ts'
import { stopAll, tempHome } from './helpers.ts'

after(stopAll)

const PIECE = randomBytes(1024 * 1024)

/** A real file open for writing, and how many fdatasyncs were asked of it; each waits for `gate` first. */
async function target (dir: string, name: string, gate?: Promise<void>): Promise<{ handle: FileHandle, flushes: () => number }> {
  const handle = await open(join(dir, name), 'w')
  const datasync = handle.datasync.bind(handle)
  let flushes = 0
  handle.datasync = async () => {
    flushes++
    await gate
    await datasync()
  }
  return { handle, flushes: () => flushes }
}

/** Write `bytes` (whole pieces) to the file and tell `flush`, as a download does. */
async function write (handle: FileHandle, flush: FlushBehind, bytes: number): Promise<void> {
  for (let done = 0; done < bytes; done += PIECE.byteLength) {
    const { bytesWritten } = await handle.write(PIECE, 0, Math.min(PIECE.byteLength, bytes - done))
    flush.wrote(bytesWritten)
  }
}

describe('flushing a download behind its writer', () => {
  it('starts an fdatasync once FLUSH_BEHIND_BYTES more are written, one at a time in the process', async () => {
    const dir = await tempHome('hwd-flush-')
    // a's flush stays under way until the test lets it go
    const release = Promise.withResolvers<void>()
    const a = await target(dir, 'a.bin', release.promise)
    const b = await target(dir, 'b.bin')
    try {
      const flushA = new FlushBehind(a.handle)
      const flushB = new FlushBehind(b.handle)
      await write(a.handle, flushA, FLUSH_BEHIND_BYTES - 1)
      assert.equal(a.flushes(), 0, 'nothing flushed below the mark')
      // the write that passes the mark starts the flush; the writer does not wait for it
      await a.handle.write(PIECE, 0, 1)
      flushA.wrote(1)
      assert.equal(a.flushes(), 1, 'one flush once the mark is passed')
      // another download past the mark while that one runs waits for its next write
      await write(b.handle, flushB, FLUSH_BEHIND_BYTES)
      assert.equal(b.flushes(), 0, 'no second flush while one runs')
      release.resolve()
      await flushA.settle()
      await write(b.handle, flushB, PIECE.byteLength)
      assert.equal(b.flushes(), 1, 'the other download flushes at its next write after')
      await flushB.settle()
    } finally {
      release.resolve()
      await Promise.all([a.handle.close(), b.handle.close()])
    }
  })

  it('fails the next write, and the settling, with what a flush met', async () => {
    const dir = await tempHome('hwd-flush-')
    const { handle } = await target(dir, 'c.bin')
    const flush = new FlushBehind(handle)
    await write(handle, flush, PIECE.byteLength)
    // a file closed under it: its fdatasync fails with EBADF
    await handle.close()
    flush.wrote(FLUSH_BEHIND_BYTES)
    await assert.rejects(flush.settle(), { code: 'EBADF' })
    assert.throws(() => { flush.wrote(1) }, { code: 'EBADF' })
  })
})
