/**
 * A package folder as one archive in a canonical form: the same folder always gives the same
 * bytes, so a release's BLAKE3 names exactly what it holds.
 *
 * The form is a POSIX tar (`tar tf` reads it), written and read by tar-stream: regular files
 * only, sorted by path in byte order, each with mode 0644, owner 0:0, time 0 and no user or
 * group names; folders are implied by the paths. A folder holding anything else (a symlink, a
 * device, a FIFO) is not packed.
 *
 * Unpacking takes an archive from the network: besides `storage/vfs.ts`, this is the one place
 * that turns a remote name into a path. Every path is checked segment by segment with the
 * drive's own rules before anything is written; any entry that is not a regular file, a path
 * that leaves the folder, too many files or bytes, or an archive not in the canonical form
 * (checked by packing what was unpacked and comparing) refuses the whole archive, and the
 * folder it was going into is removed.
 */
import { constants } from 'node:fs'
import { lstat, mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { Readable } from 'node:stream'
import * as tar from 'tar-stream'
import { HwdError, quoted } from '../errors.ts'
import { checkFileName } from './vfs.ts'

/** A package is code and a few assets; anything bigger is not a package we want to carry. */
export const MAX_ARCHIVE_BYTES = 32 * 1024 * 1024
export const MAX_ARCHIVE_FILES = 1000
/** A path inside a package, all its segments and slashes together. */
export const MAX_PATH_BYTES = 1024
/** Folders inside folders; deeper than this is no package anyone writes. */
const MAX_DEPTH = 16

export class ArchiveError extends HwdError {
  static name = 'ArchiveError'
  name = 'ArchiveError'
}

interface PackedFile {
  path: string
  bytes: Buffer
}

/** The canonical archive of the folder `dir`; an ArchiveError names the first thing that cannot go in. */
export async function packFolder (dir: string): Promise<Buffer> {
  const files: PackedFile[] = []
  let total = 0
  const walk = async (folder: string, depth: number): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const full = join(folder, entry.name)
      const path = relative(dir, full).split('\\').join('/')
      if (entry.isDirectory()) {
        if (depth >= MAX_DEPTH) throw new ArchiveError(`${path}: folders nest deeper than ${MAX_DEPTH}`)
        await walk(full, depth + 1)
        continue
      }
      if (!entry.isFile()) throw new ArchiveError(`${quoted(path)} is ${kindOf(entry)}; a release holds only regular files and folders`)
      checkPath(path)
      if (files.length === MAX_ARCHIVE_FILES) throw new ArchiveError(`more than ${MAX_ARCHIVE_FILES} files`)
      total += (await stat(full)).size
      if (total > MAX_ARCHIVE_BYTES) throw new ArchiveError(`more than ${MAX_ARCHIVE_BYTES / 1024 / 1024} MiB of files`)
      const bytes = await readFile(full)
      files.push({ path, bytes })
    }
  }
  await walk(dir, 0)
  return await pack(files)
}

async function pack (files: PackedFile[]): Promise<Buffer> {
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)))
  const archive = tar.pack()
  const chunks: Buffer[] = []
  const collected = (async () => { for await (const chunk of archive) chunks.push(chunk as Buffer) })()
  for (const { path, bytes } of sorted) {
    await new Promise<void>((resolve, reject) => {
      archive.entry({ name: path, size: bytes.byteLength, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '', type: 'file' }, bytes, err => { err == null ? resolve() : reject(err) })
    })
  }
  archive.finalize()
  await collected
  return Buffer.concat(chunks)
}

/**
 * Unpack `archive` into the new folder `into` (which must not exist), checking everything
 * first and writing nothing outside it. On any refusal the folder is gone again.
 */
export async function unpackArchive (archive: Uint8Array, into: string): Promise<void> {
  if (archive.byteLength > MAX_ARCHIVE_BYTES) throw new ArchiveError(`the archive is over ${MAX_ARCHIVE_BYTES / 1024 / 1024} MiB`)
  await mkdir(into, { mode: 0o700 })
  try {
    const files: PackedFile[] = []
    const extract = tar.extract()
    Readable.from([archive]).pipe(extract)
    for await (const entry of extract) {
      const { name, type } = entry.header
      if (type !== 'file') throw new ArchiveError(`${quoted(name)} is ${type === 'directory' ? 'a folder entry' : `a ${type ?? 'strange'} entry`}; a release holds only regular files`)
      checkPath(name)
      if (files.length === MAX_ARCHIVE_FILES) throw new ArchiveError(`more than ${MAX_ARCHIVE_FILES} files`)
      const chunks: Buffer[] = []
      for await (const chunk of entry) chunks.push(chunk as Buffer)
      const bytes = Buffer.concat(chunks)
      await writeNew(into, name, bytes)
      files.push({ path: name, bytes })
    }
    if (Buffer.compare(await pack(files), Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength)) !== 0) {
      throw new ArchiveError('the archive is not in canonical form (sorted regular files, mode 0644, owner 0, time 0)')
    }
  } catch (err) {
    await rm(into, { recursive: true, force: true })
    // our own disk's failures (full, no permission) are ours to tell as they are, not the archive's
    if (err instanceof ArchiveError || (err as NodeJS.ErrnoException).syscall != null) throw err
    throw new ArchiveError(`the archive cannot be read: ${(err as Error).message}`)
  }
}

/** A relative path of checked segments, or an ArchiveError saying which part is wrong. */
function checkPath (path: string): void {
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw new ArchiveError(`a path is longer than ${MAX_PATH_BYTES} bytes`)
  const segments = path.split('/')
  if (segments.length > MAX_DEPTH + 1) throw new ArchiveError(`${quoted(path)}: folders nest deeper than ${MAX_DEPTH}`)
  for (const segment of segments) {
    try {
      checkFileName(segment)
    } catch (err) {
      throw new ArchiveError(`path ${quoted(path)}: ${(err as Error).message}`)
    }
  }
}

/** Write a checked path's file under `root`, creating its folders; never follows or replaces anything. */
async function writeNew (root: string, path: string, bytes: Buffer): Promise<void> {
  const segments = path.split('/')
  let folder = root
  for (const segment of segments.slice(0, -1)) {
    folder = join(folder, segment)
    await mkdir(folder).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST' || !(await lstat(folder)).isDirectory()) throw new ArchiveError(`${quoted(path)} runs through a file`)
    })
  }
  const file = await open(join(root, path), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644)
    .catch((err: NodeJS.ErrnoException) => { throw err.code === 'EEXIST' ? new ArchiveError(`${quoted(path)} is in the archive twice`) : err })
  try {
    await file.writeFile(bytes)
    await file.sync()
  } finally {
    await file.close()
  }
}

function kindOf (entry: { isSymbolicLink(): boolean, isFIFO(): boolean, isSocket(): boolean }): string {
  if (entry.isSymbolicLink()) return 'a symlink'
  if (entry.isFIFO()) return 'a FIFO'
  if (entry.isSocket()) return 'a socket'
  return 'a device file'
}
