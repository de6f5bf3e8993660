/**
 * The virtual file system: `<home>/vfs/<package>:<publisher>/files/`, one drive per package.
 *
 * This is the only module that turns a file name from the network or the terminal into a
 * path (croc's lesson): everything else holds a `Drive` and passes it names. A name is one
 * path segment; a symlink inside a drive is followed only while it stays inside the drive.
 */
import { constants, type Stats } from 'node:fs'
import { lstat, mkdir, open, readdir, readFile, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { createHash } from 'node:crypto'
import { HwdError, quoted } from '../errors.ts'
import { fsyncDir, writeFileAtomic } from './atomic.ts'

/** ext4 and most file systems stop a name at 255 bytes. */
export const MAX_FILE_NAME_BYTES = 255
/**
 * C0 and C1 control characters (Unicode's Cc: U+0000-U+001F, U+007F-U+009F), NUL among them:
 * a name holding one could move a terminal's cursor, forge a line of output, or hide what a
 * file is really called.
 */
const CONTROL = /\p{Cc}/u
/** Partial downloads live beside their final name under this prefix; users cannot name files so. */
const PARTIAL_PREFIX = '.hwd-partial-'
/**
 * How a file is opened to be served. O_NONBLOCK: opening a FIFO for reading otherwise waits in
 * `open()` for a writer, holding one of libuv's four threads, and four such requests stall every
 * file access of the daemon. Its kind is checked before opening (a device is never opened) and
 * again on the open handle (it may have been swapped meanwhile); on a regular file the flag
 * changes nothing.
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK

export class InvalidFileNameError extends HwdError {
  static name = 'InvalidFileNameError'
  name = 'InvalidFileNameError'
}

export class FileNotFoundError extends HwdError {
  static name = 'FileNotFoundError'
  name = 'FileNotFoundError'
}

/** A name a drive accepts, or an error saying why not. */
export function checkFileName (name: string): string {
  const why = whyRefused(name)
  if (why != null) throw new InvalidFileNameError(`invalid file name ${quoted(name.slice(0, 64))}: ${why}`)
  return name
}

/** Why a drive refuses `name`, or undefined when it accepts it. */
function whyRefused (name: string): string | undefined {
  if (name === '') return 'it is empty'
  if (Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) return `it is longer than ${MAX_FILE_NAME_BYTES} bytes`
  if (name === '.' || name === '..') return 'it names a directory'
  if (/[/\\]/.test(name)) return 'it contains a path separator'
  if (CONTROL.test(name)) return 'it contains a control character'
  if (name.startsWith(PARTIAL_PREFIX)) return 'that prefix is reserved for partial downloads'
  return undefined
}

/** Whether a drive accepts `name`, for names to filter rather than refuse. */
export function isValidFileName (name: string): boolean {
  try {
    checkFileName(name)
    return true
  } catch {
    return false
  }
}

export interface DriveFile {
  name: string
  size: number
}

/** What a partial download came from, kept beside it so a later download can resume it. */
export interface PartialRecord {
  file: string
  /** the source's name and peer id */
  source: string
  peer: string
  /** the whole file's size and version as the source announced them */
  size: number
  version: string
}

export interface PartialDownload {
  record: PartialRecord
  /** bytes already on disk */
  have: number
}

export interface OpenFile {
  handle: FileHandle
  size: number
  /**
   * identifies this version of the file's contents: 32 hex digits that change when it does, on
   * a file system whose times are finer than the writes (see `changedMs`)
   */
  version: string
  /**
   * when the file last changed, in ms since the epoch: a write within a file system's time
   * granule of this may leave `version` as it was
   */
  changedMs: number
}

/** The version of an open file's contents: from its identity, size and times, not its bytes. */
export async function fileVersion (handle: FileHandle): Promise<{ size: number, version: string, changedMs: number, isFile: boolean }> {
  const st = await handle.stat({ bigint: true })
  const version = createHash('sha256').update(`${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`).digest('hex').slice(0, 32)
  const changedMs = Number((st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs) / 1_000_000n)
  return { size: Number(st.size), version, changedMs, isFile: st.isFile() }
}

export class Drive {
  private constructor (readonly id: string, readonly root: string, private readonly realRoot: string) {}

  /** The files drive of package `id` (`file-transfer:template.os`), made if missing. */
  static async open (vfsRoot: string, id: string): Promise<Drive> {
    const root = join(vfsRoot, id, 'files')
    await mkdir(root, { recursive: true })
    return new Drive(id, root, await realpath(root))
  }

  /**
   * The files a peer may fetch: regular files, and symlinks to regular files inside the drive;
   * never directories, FIFOs, sockets or devices, nor partial downloads.
   */
  async list (): Promise<DriveFile[]> {
    const files: DriveFile[] = []
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (entry.name.startsWith(PARTIAL_PREFIX)) continue
      if (!entry.isFile() && !entry.isSymbolicLink()) continue
      try {
        const file = await this.openForRead(entry.name)
        files.push({ name: entry.name, size: file.size })
        await file.handle.close()
      } catch {
        // dangling or escaping symlinks, files that vanished: not offered
      }
    }
    return files.sort((a, b) => a.name.localeCompare(b.name))
  }

  /**
   * A regular file of the drive, or a symlink inside the drive to one, opened to be served.
   * Anything else (FIFO, socket, device, directory) is not a file a drive offers: NOT_FOUND.
   */
  async openForRead (name: string): Promise<OpenFile> {
    const path = join(this.root, checkFileName(name))
    let kind: Stats
    try {
      kind = await lstat(path)
    } catch (err: any) {
      if (err.code === 'ENOENT') throw new FileNotFoundError(`no file ${name} in ${this.id}`)
      throw err
    }
    const target = kind.isSymbolicLink() ? await this.symlinkTarget(name, path) : path
    if (target !== path) kind = await stat(target)
    if (!kind.isFile()) throw this.notRegular(name)
    let handle: FileHandle
    try {
      handle = await open(target, READ_FLAGS)
    } catch (err: any) {
      // swapped for a symlink, a socket, or removed since it was looked at
      if (err.code === 'ENOENT') throw new FileNotFoundError(`no file ${name} in ${this.id}`)
      if (err.code === 'ELOOP' || err.code === 'ENXIO') throw this.notRegular(name)
      throw err
    }
    const { size, version, changedMs, isFile } = await fileVersion(handle)
    if (!isFile) {
      await handle.close()
      throw this.notRegular(name)
    }
    return { handle, size, version, changedMs }
  }

  private notRegular (name: string): FileNotFoundError {
    return new FileNotFoundError(`${name} in ${this.id} is not a regular file`)
  }

  /** Where a symlink of the drive leads, if that stays inside the drive. */
  private async symlinkTarget (name: string, path: string): Promise<string> {
    let target: string
    try {
      target = await realpath(path)
    } catch {
      throw new FileNotFoundError(`${name} in ${this.id} is a dangling symlink`)
    }
    if (!target.startsWith(this.realRoot + sep)) throw new InvalidFileNameError(`refused: ${name} in ${this.id} is a symlink that leads out of the drive`)
    return target
  }

  /** Where a download of `name` is written until it is complete and checked. */
  partialPath (name: string): string {
    const digest = createHash('sha256').update(checkFileName(name)).digest('hex').slice(0, 32)
    return join(this.root, PARTIAL_PREFIX + digest)
  }

  /** The partial download of `name` and what it came from, if there is one to resume. */
  async partial (name: string): Promise<PartialDownload | undefined> {
    const found = await readPartial(this.partialPath(name))
    return found?.record.file === name ? found : undefined
  }

  /** Every interrupted download in this drive, for `transfers` after a restart. */
  async partials (): Promise<PartialDownload[]> {
    let entries: string[]
    try {
      entries = await readdir(this.root)
    } catch (err: any) {
      if (err.code === 'ENOENT') return [] // the drive's folder was removed under us
      throw err
    }
    const found: PartialDownload[] = []
    for (const entry of entries) {
      if (!entry.startsWith(PARTIAL_PREFIX) || !entry.endsWith(RECORD_SUFFIX)) continue
      const path = join(this.root, entry.slice(0, -RECORD_SUFFIX.length))
      const partial = await readPartial(path)
      // the record must name the file this partial is kept for
      if (partial != null && isValidFileName(partial.record.file) && this.partialPath(partial.record.file) === path) found.push(partial)
    }
    return found
  }

  /** The partial file of `name`: kept as it is to resume it, or emptied to start over. */
  async openPartial (name: string, keep: boolean): Promise<FileHandle> {
    return await open(this.partialPath(name), keep ? 'r+' : 'w', 0o644)
  }

  async recordPartial (record: PartialRecord): Promise<void> {
    await writeFileAtomic(recordPath(this.partialPath(record.file)), JSON.stringify(record), 0o644)
  }

  /** Give a checked partial download its final name, in one step, durably. */
  async commit (name: string): Promise<void> {
    const partial = this.partialPath(name)
    await rename(partial, join(this.root, checkFileName(name)))
    await fsyncDir(this.root)
    await rm(recordPath(partial), { force: true })
  }

  async discardPartial (name: string): Promise<void> {
    const partial = this.partialPath(name)
    await rm(partial, { force: true })
    await rm(recordPath(partial), { force: true })
  }
}

const RECORD_SUFFIX = '.json'

function recordPath (partial: string): string {
  return partial + RECORD_SUFFIX
}

/** A partial file and its record; undefined when either is missing or unreadable, or they disagree. */
async function readPartial (path: string): Promise<PartialDownload | undefined> {
  try {
    const record = JSON.parse(await readFile(recordPath(path), 'utf8')) as PartialRecord
    if (typeof record.version !== 'string' || !/^[0-9a-f]{32}$/.test(record.version)) return undefined
    const { size } = await stat(path)
    return size <= record.size ? { record, have: size } : undefined
  } catch {
    return undefined
  }
}
