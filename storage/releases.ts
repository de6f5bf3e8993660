/**
 * The releases a node serves: `<home>/releases/<blake3>.tar`, the archive, and beside it
 * `<blake3>.release`, its signed record, as the network carries it. What the records say is
 * the caller's business; this module keeps the pairs whole. The archive is written (and
 * synced) before its record, so a record on disk always has its archive; an archive without a
 * record, left by a crash, is removed at open.
 */
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from './atomic.ts'

const HASH = /^[0-9a-f]{64}$/
const STORED = /^([0-9a-f]{64})\.(tar|release)$/

export interface StoredRelease {
  /** the archive's BLAKE3, hex */
  hash: string
  record: Uint8Array
}

export class ReleaseStore {
  private constructor (private readonly dir: string) {}

  /** The store at `dir`, created if missing, with every stored record read and strays removed. */
  static async open (dir: string): Promise<{ store: ReleaseStore, stored: StoredRelease[] }> {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const names = await readdir(dir)
    const stored: StoredRelease[] = []
    for (const name of names) {
      const [, hash, ext] = STORED.exec(name) ?? []
      const twin = ext === 'tar' ? 'release' : 'tar'
      if (hash == null || !names.includes(`${hash}.${twin}`)) {
        await rm(join(dir, name), { force: true, recursive: true })
        continue
      }
      if (ext === 'release') stored.push({ hash, record: await readFile(join(dir, name)) })
    }
    return { store: new ReleaseStore(dir), stored }
  }

  archivePath (hash: string): string {
    if (!HASH.test(hash)) throw new Error(`not a BLAKE3 in hex: ${hash}`)
    return join(this.dir, `${hash}.tar`)
  }

  async archiveSize (hash: string): Promise<number> {
    return (await stat(this.archivePath(hash))).size
  }

  /** The record first, so a crash in between leaves an archive alone, which `open` removes. */
  async remove (hash: string): Promise<void> {
    await rm(join(this.dir, `${hash}.release`), { force: true })
    await rm(this.archivePath(hash), { force: true })
  }

  async add (hash: string, record: Uint8Array, archive: Uint8Array): Promise<void> {
    await writeFileAtomic(this.archivePath(hash), archive, 0o644)
    await writeFileAtomic(join(this.dir, `${hash}.release`), record, 0o644)
  }
}
