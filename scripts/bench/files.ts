/** The benchmarks' source files, and the check that a copy of one arrived whole. */
import { createHash, randomBytes } from 'node:crypto'
import { open, stat } from 'node:fs/promises'
import { sha256File } from './stats.ts'

/** The source file is written in pieces of this size, so making it never holds it all in memory. */
const WRITE_CHUNK = 8 * 1024 * 1024

export interface SourceFile {
  path: string
  size: number
  sha256: string
}

export async function makeRandomFile (path: string, size: number): Promise<SourceFile> {
  const file = await open(path, 'w')
  const hash = createHash('sha256')
  try {
    for (let written = 0; written < size; written += WRITE_CHUNK) {
      const chunk = randomBytes(Math.min(WRITE_CHUNK, size - written))
      hash.update(chunk)
      await file.write(chunk)
    }
    // so that the first copy does not pay for flushing the source's dirty pages
    await file.sync()
  } finally {
    await file.close()
  }
  return { path, size, sha256: hash.digest('hex') }
}

export async function checkSize (path: string, size: number): Promise<void> {
  const actual = (await stat(path)).size
  if (actual !== size) throw new Error(`${path} has ${actual} bytes, not ${size}`)
}

/** Throw unless `path` holds the same bytes as `src` (its size, then its SHA-256). */
export async function checkCopy (path: string, src: SourceFile): Promise<void> {
  await checkSize(path, src.size)
  if (await sha256File(path) !== src.sha256) throw new Error(`${path} differs from the source`)
}
