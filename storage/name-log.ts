import { open, readFile, rm, type FileHandle } from 'node:fs/promises'
import { logger } from '@libp2p/logger'
import { fromString, toString } from 'uint8arrays'
import { writeFileAtomic } from './atomic.ts'
import type { NameEntry } from './address-book.ts'

type Change = { put: NameEntry } | { del: string }

interface StoredEntry {
  name: string
  peerId: string
  seq: string
  record?: string
  issuedAt: number
  via?: string
  learnedAt: number
  trusted: boolean
}

/**
 * The log is rewritten as a snapshot once it holds this many lines per live name, plus a
 * constant: rewrites cost O(n) once per O(n) changes, so each change costs O(1) on disk.
 */
const COMPACT_FACTOR = 2
const COMPACT_SLACK = 1_000

const log = logger('hwd:address-book')

/**
 * The address book on disk: one JSON line per change (`{"put": entry}`, `{"del": name}`),
 * appended in batches and synced once per batch. At open the lines are replayed; a torn last
 * line (a crash mid-write) or one that does not parse is skipped, and the file is then rewritten
 * as a snapshot before anything is appended to it. A rewrite is atomic (atomic.ts).
 */
export class NameLog {
  private pending: string[] = []
  private writing: Promise<void> = Promise.resolve()
  private scheduled = false

  private constructor (private readonly path: string, private handle: FileHandle, private lines: number) {}

  static async open (path: string, legacyPath?: string): Promise<{ file: NameLog, entries: NameEntry[] }> {
    const text = await readText(path)
    const { entries, lines, damaged } = text != null
      ? replay(text)
      : { entries: await readLegacy(legacyPath), lines: 0, damaged: true }
    const rewrite = damaged || lines > threshold(entries.length)
    if (rewrite) await writeSnapshot(path, entries)
    if (text == null && legacyPath != null) await rm(legacyPath, { force: true })
    const file = new NameLog(path, await open(path, 'a', 0o644), rewrite ? entries.length : lines)
    return { file, entries }
  }

  /** Write `change` soon; `snapshot` gives the whole book, should the log be due for a rewrite. */
  append (change: Change, snapshot: () => NameEntry[]): void {
    this.pending.push(JSON.stringify(encodeChange(change)) + '\n')
    this.lines++
    if (this.scheduled) return
    this.scheduled = true
    this.writing = this.writing
      .then(async () => { await this.write(snapshot) })
      .catch(err => { log.error('could not save %s - %e', this.path, err) })
  }

  async flush (): Promise<void> {
    await this.writing
  }

  async close (): Promise<void> {
    await this.flush()
    await this.handle.close()
  }

  private async write (snapshot: () => NameEntry[]): Promise<void> {
    this.scheduled = false
    const text = this.pending.join('')
    this.pending = []
    const entries = snapshot()
    if (this.lines <= threshold(entries.length)) {
      await this.handle.write(text)
      await this.handle.datasync()
      return
    }
    // the snapshot holds every change `text` did, and more lines than it would have cost
    await writeSnapshot(this.path, entries)
    await this.handle.close()
    this.handle = await open(this.path, 'a', 0o644)
    this.lines = entries.length + this.pending.length
  }
}

function threshold (live: number): number {
  return COMPACT_FACTOR * live + COMPACT_SLACK
}

async function readText (path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err: any) {
    if (err.code === 'ENOENT') return undefined
    throw err
  }
}

function replay (text: string): { entries: NameEntry[], lines: number, damaged: boolean } {
  const entries = new Map<string, NameEntry>()
  const lines = text.split('\n')
  // a file that does not end in a newline ends in a line cut short
  let damaged = lines.pop() !== ''
  for (const line of lines) {
    let change: Change
    try {
      change = decodeChange(JSON.parse(line))
    } catch (err: any) {
      log('skipped a line of the names log - %s', err.message)
      damaged = true
      continue
    }
    if ('del' in change) {
      entries.delete(change.del)
    } else {
      entries.delete(change.put.name)
      entries.set(change.put.name, change.put)
    }
  }
  return { entries: [...entries.values()], lines: lines.length, damaged }
}

/** The book as names.json held it, its names' provenance unknown. */
async function readLegacy (path: string | undefined): Promise<NameEntry[]> {
  const text = path != null ? await readText(path) : undefined
  if (text == null) return []
  const stored = JSON.parse(text) as { names: Array<{ name: string, peerId: string, seq: string, record: string }> }
  return stored.names.map(e => decodeEntry({ ...e, issuedAt: Date.now(), via: '', learnedAt: 0, trusted: false }))
}

async function writeSnapshot (path: string, entries: NameEntry[]): Promise<void> {
  await writeFileAtomic(path, entries.map(e => JSON.stringify({ put: encodeEntry(e) }) + '\n').join(''), 0o644)
}

function encodeChange (change: Change): unknown {
  return 'del' in change ? change : { put: encodeEntry(change.put) }
}

function decodeChange (json: any): Change {
  if (typeof json?.del === 'string') return { del: json.del }
  if (json?.put != null) return { put: decodeEntry(json.put) }
  throw new Error('neither put nor del')
}

function encodeEntry (e: NameEntry): StoredEntry {
  return {
    name: e.name,
    peerId: e.peerId,
    seq: e.seq.toString(),
    record: e.record != null ? toString(e.record, 'base64') : undefined,
    issuedAt: e.issuedAt,
    via: e.via,
    learnedAt: e.learnedAt,
    trusted: e.trusted
  }
}

function decodeEntry (s: StoredEntry): NameEntry {
  if (typeof s.name !== 'string' || typeof s.peerId !== 'string') throw new Error('an entry without name or peer id')
  return {
    name: s.name,
    peerId: s.peerId,
    seq: BigInt(s.seq),
    record: typeof s.record === 'string' ? fromString(s.record, 'base64') : undefined,
    issuedAt: Number(s.issuedAt) || 0,
    via: typeof s.via === 'string' ? s.via : undefined,
    learnedAt: Number(s.learnedAt) || 0,
    trusted: s.trusted === true
  }
}
