import { open, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Replace a file's contents so that a crash at any moment leaves either the old or the new
 * version: write a temporary file beside it, fsync it, rename it over, fsync the directory.
 */
export async function writeFileAtomic (path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  const file = await open(tmp, 'w', mode)
  try {
    await file.writeFile(data)
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(tmp, path)
  await fsyncDir(dirname(path))
}

export async function fsyncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
