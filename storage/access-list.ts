import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from './atomic.ts'

interface Stored { allow: string[], deny: string[] }

/**
 * Which nodes may use this one (list its drives, download, chat), by name, kept in the home.
 * A denied name is refused; while any name is allowed, only allowed names are served; with
 * nothing allowed, any node not denied is, as a fresh node does. Names are pinned to keys
 * (address-book.ts), so a name here stands for one key.
 */
export class AccessList {
  private constructor (private readonly path: string, private readonly allowed: Set<string>, private readonly denied: Set<string>) {}

  static async open (path: string): Promise<AccessList> {
    let stored: Stored = { allow: [], deny: [] }
    try {
      stored = JSON.parse(await readFile(path, 'utf8')) as Stored
    } catch (err: any) {
      if (err.code !== 'ENOENT') throw new Error(`cannot read the access list ${path}: ${err.message}`)
    }
    return new AccessList(path, new Set(stored.allow), new Set(stored.deny))
  }

  /** Whether a peer known by `names` (none if it never named itself) may use this node. */
  allows (names: string[]): boolean {
    if (names.some(n => this.denied.has(n))) return false
    return this.allowed.size === 0 || names.some(n => this.allowed.has(n))
  }

  async allow (name: string): Promise<void> {
    if (this.allowed.has(name)) return
    this.denied.delete(name)
    this.allowed.add(name)
    await this.save()
  }

  async deny (name: string): Promise<void> {
    this.allowed.delete(name)
    this.denied.add(name)
    await this.save()
  }

  list (): Stored {
    return { allow: [...this.allowed].sort(), deny: [...this.denied].sort() }
  }

  private async save (): Promise<void> {
    await writeFileAtomic(this.path, JSON.stringify(this.list(), null, 2) + '\n', 0o644)
  }
}
