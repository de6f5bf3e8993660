import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { HashCheckpoints } from '../packages/file-transfer/checkpoints.ts'
import { stopAll, tempHome } from './helpers.ts'

after(stopAll)

describe('hash checkpoints', () => {
  it('give the hash of any prefix from the nearest state, however many were kept', async () => {
    const data = randomBytes(300 * 1024 + 7)
    const path = join(await tempHome('hwd-checkpoints-'), 'f.bin')
    await writeFile(path, data)
    const file = await open(path)
    const prefix = (n: number): string => createHash('sha256').update(data.subarray(0, n)).digest('hex')
    const signal = AbortSignal.timeout(10_000)
    try {
      const checkpoints = new HashCheckpoints()
      // as a server keeps them: the running hash, copied every 1 KiB
      const running = createHash('sha256')
      for (let at = 0; at + 1024 <= data.byteLength; at += 1024) {
        running.update(data.subarray(at, at + 1024))
        checkpoints.put('v1', at + 1024, running.copy())
      }
      for (const offset of [0, 1, 1023, 1024, 1025, 150_000, 300 * 1024, data.byteLength]) {
        assert.equal((await checkpoints.hashTo('v1', file, offset, signal)).digest('hex'), prefix(offset), `from ${offset}`)
      }
      // a state is copied out, never used up
      assert.equal((await checkpoints.hashTo('v1', file, 5000, signal)).digest('hex'), prefix(5000))
      assert.equal((await checkpoints.hashTo('v1', file, 5000, signal)).digest('hex'), prefix(5000))
      // a state is trusted: what follows it is hashed from it, and one past the offset is not used
      const marked = new HashCheckpoints()
      marked.put('k', 4096, createHash('sha256').update('not the file'))
      const fromMark = createHash('sha256').update('not the file').update(data.subarray(4096, 4106)).digest('hex')
      assert.equal((await marked.hashTo('k', file, 4106, signal)).digest('hex'), fromMark)
      assert.equal((await marked.hashTo('k', file, 4000, signal)).digest('hex'), prefix(4000))
      // another key has none of them, and hashes from the start
      assert.equal((await checkpoints.hashTo('v2', file, 2048, signal)).digest('hex'), prefix(2048))
    } finally {
      await file.close()
    }
  })
})
