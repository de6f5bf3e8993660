import { readFile } from 'node:fs/promises'
import { logger } from '@libp2p/logger'
import { fromString, toString } from 'uint8arrays'
import { writeFileAtomic } from './atomic.ts'

/** A name as the book keeps it: who holds it, and the signed record that proved it. */
export interface NameEntry {
  name: string
  peerId: string
  seq: bigint
  /** the encoded, signed record, kept so it can be passed on after a restart */
  record: Uint8Array
}

export type Offer =
  | { outcome: 'new' | 'updated' }
  | { outcome: 'unchanged' | 'stale' }
  | { outcome: 'conflict', pinnedTo: string }

const log = logger('hwd:address-book')

interface StoredEntry { name: string, peerId: string, seq: string, record: string }

/**
 * Name → peer id, persisted in the home. The first key seen for a name is pinned to it: a
 * record from another key for that name is refused, however new it claims to be.
 */
export class AddressBook {
  private readonly entries = new Map<string, NameEntry>()
  private saving: Promise<void> = Promise.resolve()

  private constructor (private readonly path: string) {}

  static async open (path: string): Promise<AddressBook> {
    const book = new AddressBook(path)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err: any) {
      if (err.code === 'ENOENT') return book
      throw err
    }
    const stored = JSON.parse(text) as { names: StoredEntry[] }
    for (const e of stored.names) {
      book.entries.set(e.name, { name: e.name, peerId: e.peerId, seq: BigInt(e.seq), record: fromString(e.record, 'base64') })
    }
    return book
  }

  get (name: string): NameEntry | undefined {
    return this.entries.get(name)
  }

  namesOf (peerId: string): string[] {
    return [...this.entries.values()].filter(e => e.peerId === peerId).map(e => e.name)
  }

  all (): NameEntry[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Take a verified record if the pin allows it and it is newer than what we hold. */
  offer (entry: NameEntry): Offer {
    const held = this.entries.get(entry.name)
    if (held != null && held.peerId !== entry.peerId) return { outcome: 'conflict', pinnedTo: held.peerId }
    if (held != null && held.seq > entry.seq) return { outcome: 'stale' }
    if (held != null && held.seq === entry.seq) return { outcome: 'unchanged' }
    this.entries.set(entry.name, entry)
    this.save()
    return { outcome: held == null ? 'new' : 'updated' }
  }

  /** Resolves once every change made so far is on disk. */
  async flush (): Promise<void> {
    await this.saving
  }

  private save (): void {
    const names: StoredEntry[] = this.all().map(e => ({
      name: e.name, peerId: e.peerId, seq: e.seq.toString(), record: toString(e.record, 'base64')
    }))
    const text = JSON.stringify({ names }, null, 2) + '\n'
    this.saving = this.saving
      .then(async () => { await writeFileAtomic(this.path, text, 0o644) })
      .catch(err => { log.error('could not save %s - %e', this.path, err) })
  }
}
