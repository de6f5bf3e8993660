import '../../daemon/polyfill.ts'
import { createHash, randomFillSync } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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

function describe (name: string, r: CopyResult): string {
  return `${name.padEnd(7)} ${r.bytes} bytes in ${r.ms.toFixed(0)} ms = ${r.mbps.toFixed(1)} MB/s`
}

const dir = await mkdtemp(join(tmpdir(), 'hwd-baseline-'))
try {
  const src = join(dir, 'src.bin')
  await makeRandomFile(src)
  const expected = await sha256(src)

  const copies: Array<[string, (src: string, dst: string) => Promise<CopyResult>]> = [['tcp', tcpCopy], ['libp2p', libp2pCopy]]
  const results = new Map<string, CopyResult>()
  for (const [name, copy] of copies) {
    const dst = join(dir, `${name}.bin`)
    const result = await copy(src, dst)
    if (await sha256(dst) !== expected) throw new Error(`${name} copy differs from the source`)
    await rm(dst)
    results.set(name, result)
    console.log(describe(name, result))
  }
  const ratio = results.get('libp2p')!.mbps / results.get('tcp')!.mbps
  console.log(`libp2p/tcp ${ratio.toFixed(2)}`)
} catch (err) {
  console.error(err)
  process.exitCode = 1
} finally {
  await rm(dir, { recursive: true, force: true })
}
// libp2p leaves timers behind after stop()
process.exit(process.exitCode ?? 0)
