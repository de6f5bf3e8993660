import '../../daemon/polyfill.ts'
import { createHash, randomFillSync } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { libp2pCopy, tcpCopy, type CopyResult } from './baseline.ts'

const SIZE = 256 * 1024 * 1024
const CHUNK = 16 * 1024 * 1024

async function makeRandomFile (path: string): Promise<void> {
  const file = await open(path, 'w')
  try {
    const buf = Buffer.alloc(CHUNK)
    for (let written = 0; written < SIZE; written += CHUNK) {
      await file.write(randomFillSync(buf))
    }
    // so the first copy does not pay for flushing the source's dirty pages
    await file.sync()
  } finally {
    await file.close()
  }
}

async function sha256 (path: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash)
  return hash.digest('hex')
}

/** Copy src with one baseline, check the copy against the source's hash, and report it. */
async function run (name: string, copy: typeof tcpCopy, src: string, expected: string): Promise<CopyResult> {
  const dst = join(dirname(src), `${name}.bin`)
  const result = await copy(src, dst)
  if (await sha256(dst) !== expected) throw new Error(`${name} copy differs from the source`)
  await rm(dst)
  console.log(`${name.padEnd(7)} ${result.bytes} bytes in ${result.ms.toFixed(0)} ms = ${result.mbps.toFixed(1)} MB/s`)
  return result
}

const dir = await mkdtemp(join(tmpdir(), 'hwd-baseline-'))
try {
  const src = join(dir, 'src.bin')
  await makeRandomFile(src)
  const expected = await sha256(src)

  const tcp = await run('tcp', tcpCopy, src, expected)
  const libp2p = await run('libp2p', libp2pCopy, src, expected)
  console.log(`libp2p/tcp ${(libp2p.mbps / tcp.mbps).toFixed(2)}`)
} catch (err) {
  console.error(err)
  process.exitCode = 1
} finally {
  await rm(dir, { recursive: true, force: true })
}
// exit even if a failed copy left a socket or a libp2p timer behind
process.exit(process.exitCode ?? 0)
