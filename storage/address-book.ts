import { logger } from '@libp2p/logger'
import { NameLog } from './name-log.ts'

/** A name as the book keeps it: who holds it, the signed record that proved it, and how it came. */
export interface NameEntry {
  name: string
  peerId: string
  seq: bigint
  /** the encoded, signed record, kept to pass on; absent for a name the user pinned before any came */
  record?: Uint8Array
  /** when the holder signed the record, ms since the epoch (0 without a record) */
  issuedAt: number
  /**
   * the peer that passed the record on; absent when the holder itself sent it (first-hand), ''
   * when it is not known (learned before hwd kept it)
   */
  via?: string
  /** when this node first took this key for this name, ms since the epoch */
  learnedAt: number
  /** pinned by the user (`trust`): never replaced, evicted or expired */
  trusted: boolean
}

export type Offer =
  | { outcome: 'new' | 'updated' | 'unchanged' | 'stale' }
  /** a first-hand record took the name from a key learned second-hand */
  | { outcome: 'replaced', previous: NameEntry }
  | { outcome: 'conflict', pinnedTo: string }

export interface BookOptions {
  /** names kept at most; past it the least recently seen that the user did not pin leave */
  capacity: number
  /** the book as it was before names.log, migrated once, then removed */
  legacyPath?: string
}

const log = logger('hwd:address-book')

/**
 * Name → peer id, persisted in the home as an append-only log (name-log.ts): one line per change.
 * The first key seen for a name is pinned to it; another key's record for that name is refused,
 * except that a record from the key's holder itself (first-hand) takes a name learned only
 * through a peer (second-hand), and a name the user pinned (`trust`) is never taken.
 *
 * The map's order is the order names were last seen in, oldest first: eviction takes from the front.
 */
export class AddressBook {
  private readonly entries = new Map<string, NameEntry>()
  /** each peer id's names, in the order the book last saw them: `namesOf` without a scan of the book */
  private readonly byPeer = new Map<string, Set<string>>()

  private constructor (private readonly file: NameLog, private readonly options: BookOptions) {}

  static async open (path: string, options: BookOptions): Promise<AddressBook> {
    const { file, entries } = await NameLog.open(path, options.legacyPath)
    const book = new AddressBook(file, options)
    for (const entry of entries) book.place(entry)
    log('%d names from %s', book.entries.size, path)
    return book
  }

  get size (): number {
    return this.entries.size
  }

  get (name: string): NameEntry | undefined {
    return this.entries.get(name)
  }

  namesOf (peerId: string): string[] {
    return [...(this.byPeer.get(peerId) ?? [])]
  }

  all (): NameEntry[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** The `count` names seen most recently, newest first. */
  recent (count: number): NameEntry[] {
    return [...this.entries.values()].slice(-count).reverse()
  }

  /** Take a verified record if the pins allow it and it is newer than what we hold. */
  offer (entry: NameEntry): Offer {
    const held = this.entries.get(entry.name)
    if (held == null) {
      this.evictForOne()
      this.put(entry)
      return { outcome: 'new' }
    }
    if (held.peerId !== entry.peerId) {
      if (held.trusted || held.via == null || entry.via != null) return { outcome: 'conflict', pinnedTo: held.peerId }
      this.put(entry)
      return { outcome: 'replaced', previous: held }
    }
    this.place(held)
    if (held.seq > entry.seq) return { outcome: 'stale' }
    if (held.seq === entry.seq && held.record != null) return { outcome: 'unchanged' }
    // the key's provenance and pin stay as they were; first-hand once is first-hand
    this.put({ ...entry, learnedAt: held.learnedAt, trusted: held.trusted, via: held.via == null ? undefined : entry.via })
    return { outcome: 'updated' }
  }

  /** Pin `name` to `peerId` by the user's word, keeping the record if it is that key's. */
  trust (name: string, peerId: string, now: number): NameEntry | undefined {
    const held = this.entries.get(name)
    const kept = held?.peerId === peerId ? held : undefined
    this.put({ name, peerId, seq: kept?.seq ?? 0n, record: kept?.record, issuedAt: kept?.issuedAt ?? 0, learnedAt: now, trusted: true })
    return held
  }

  /** Unpin `name`; the next record for it is taken as if it were the first. */
  forget (name: string): NameEntry | undefined {
    const held = this.entries.get(name)
    if (held != null) this.remove(name)
    return held
  }

  /** Drop records signed before `before` (ms), except names the user pinned; returns how many. */
  expire (before: number): number {
    let count = 0
    for (const entry of [...this.entries.values()]) {
      if (entry.trusted || entry.issuedAt >= before) continue
      this.remove(entry.name)
      count++
    }
    return count
  }

  /** Resolves once every change made so far is on disk. */
  async flush (): Promise<void> {
    await this.file.flush()
  }

  async close (): Promise<void> {
    await this.file.close()
  }

  /** Make room for one more name: the least recently seen that the user did not pin leave. */
  private evictForOne (): void {
    for (const entry of this.entries.values()) {
      if (this.entries.size < this.options.capacity) return
      if (!entry.trusted) this.remove(entry.name)
    }
  }

  private put (entry: NameEntry): void {
    this.place(entry)
    this.file.append({ put: entry }, () => this.snapshot())
  }

  private remove (name: string): void {
    this.unplace(name)
    this.file.append({ del: name }, () => this.snapshot())
  }

  /** `entry` as the most recently seen name, in both maps. */
  private place (entry: NameEntry): void {
    this.unplace(entry.name)
    this.entries.set(entry.name, entry)
    const names = this.byPeer.get(entry.peerId) ?? new Set<string>()
    names.add(entry.name)
    this.byPeer.set(entry.peerId, names)
  }

  private unplace (name: string): void {
    const held = this.entries.get(name)
    if (held == null) return
    this.entries.delete(name)
    const names = this.byPeer.get(held.peerId)
    names?.delete(name)
    if (names?.size === 0) this.byPeer.delete(held.peerId)
  }

  private snapshot (): NameEntry[] {
    return [...this.entries.values()]
  }
}
