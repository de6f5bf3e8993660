/**
 * Chat history in SQLite, one file `chat.db` in the package's state folder (chat-db.ts says why
 * SQLite). Reads run here, a page at a time; new messages are committed by a thread of their
 * own (store-writer.ts), because better-sqlite3 is synchronous: a commit in this thread would
 * stop the node's network traffic for every sync, where the log it replaces synced in the
 * background. WAL lets this thread read while that one writes.
 */
import { Worker } from 'node:worker_threads'
import type Database from 'better-sqlite3'
import { HwdError } from 'hwd/package'
import { openChatDb } from './chat-db.ts'
import { migrateLegacyLog } from './legacy-log.ts'
import type { ChatEntry } from './entry.ts'
import type { WriteReply, WriteRequest } from './store-writer.ts'

/** A page of one conversation, oldest first. */
export interface Page {
  entries: ChatEntry[]
  /** the `before` that shows the page before this one, if there are older messages */
  older?: number
}

/** The fewest characters a search takes: the trigram index finds nothing shorter. */
export const MIN_SEARCH_LENGTH = 3

const COLUMNS = 'm.peer, m.dir, m.author AS "from", m.text, m.at, m.unconfirmed'

interface Row { peer: string, dir: 'in' | 'out', from: string, text: string, at: number, unconfirmed: string | null }

export class ChatStore {
  private readonly pending = new Map<number, { resolve: (id: number) => void, reject: (err: Error) => void }>()
  private next = 0
  /** why writes fail from now on, once the writer thread is gone */
  private broken?: Error
  private readonly pageEdge: Database.Statement
  private readonly pageRows: Database.Statement
  private readonly anyBefore: Database.Statement
  /** a search among all messages, and among one peer's */
  private readonly searchAll: Database.Statement
  private readonly searchPeer: Database.Statement

  private constructor (private readonly db: Database.Database, private readonly writer: Worker) {
    this.pageEdge = db.prepare('SELECT at FROM messages WHERE peer = ? AND at < ? ORDER BY at DESC LIMIT 1 OFFSET ?').pluck()
    this.pageRows = db.prepare(`SELECT ${COLUMNS} FROM messages m WHERE peer = ? AND at >= ? AND at < ? ORDER BY at, id`)
    this.anyBefore = db.prepare('SELECT 1 FROM messages WHERE peer = ? AND at < ? LIMIT 1')
    const search = (byPeer: string): Database.Statement => db.prepare(`SELECT ${COLUMNS} FROM messages_text t JOIN messages m ON m.id = t.rowid
      WHERE messages_text MATCH @phrase ${byPeer} ORDER BY t.rowid DESC LIMIT @limit`)
    this.searchAll = search('')
    this.searchPeer = search('AND m.peer = @peer')
    writer.on('message', (replies: WriteReply[]) => { for (const r of replies) this.settle(r) })
    writer.on('error', err => { this.fail(err) })
    writer.on('exit', () => { this.fail(new Error('the chat history\'s writer thread has ended')) })
  }

  /**
   * Open the history at `path`, first moving a legacy log at `log` into it (`said` gets the
   * lines that tell how far it has got and that it is done), then start the writer thread.
   */
  static async open (path: string, log: string, said: (line: string) => void): Promise<ChatStore> {
    let db: Database.Database
    try {
      db = openChatDb(path)
    } catch (err: any) {
      throw new HwdError(`${path}: cannot open the chat history (${err.code ?? err.message})`)
    }
    try {
      await migrateLegacyLog(db, log, said)
    } catch (err) {
      db.close()
      throw err
    }
    const writer = new Worker(new URL('./store-writer.js', import.meta.url), { workerData: { path } })
    return new ChatStore(db, writer)
  }

  /** Resolves with the message's id once it is committed. */
  async append (entry: ChatEntry): Promise<number> {
    return await this.write({ entry })
  }

  /** Mark our message `id` as never acknowledged, with the reason; resolves once committed. */
  async unconfirmed (id: number, reason: string): Promise<void> {
    await this.write({ mark: id, reason })
  }

  /**
   * The last `last` messages with `peer` stored before `before` (ms), oldest first. Messages
   * stored in the same millisecond as the oldest of them come too, so that pages meet at a time
   * and each message is on exactly one page.
   */
  page (peer: string, last: number, before = Number.MAX_SAFE_INTEGER): Page {
    const edge = this.pageEdge.get(peer, before, last - 1) as number | undefined
    const rows = this.pageRows.all(peer, edge ?? Number.MIN_SAFE_INTEGER, before) as Row[]
    const older = edge != null && this.anyBefore.get(peer, edge) != null
    return { entries: rows.map(toEntry), ...(older ? { older: edge } : {}) }
  }

  /** Up to `limit` messages containing `text` (any case), with `peer` if given, newest first. */
  search (text: string, limit: number, peer?: string): ChatEntry[] {
    if ([...text].length < MIN_SEARCH_LENGTH) throw new HwdError(`search for at least ${MIN_SEARCH_LENGTH} characters`)
    // one FTS5 phrase: the text in double quotes, its own double quotes doubled
    const phrase = `"${text.replaceAll('"', '""')}"`
    const rows = (peer == null ? this.searchAll.all({ phrase, limit }) : this.searchPeer.all({ phrase, peer, limit })) as Row[]
    return rows.map(toEntry)
  }

  /** Once every write sent is answered. */
  async close (): Promise<void> {
    if (this.broken == null) {
      const ended = new Promise(resolve => this.writer.once('exit', resolve))
      this.writer.postMessage('close')
      await ended
    }
    this.db.close()
  }

  private async write (write: WriteRequest['write']): Promise<number> {
    if (this.broken != null) throw this.broken
    const n = this.next++
    return await new Promise<number>((resolve, reject) => {
      this.pending.set(n, { resolve, reject })
      this.writer.postMessage({ n, write } satisfies WriteRequest)
    })
  }

  private settle (reply: WriteReply): void {
    const p = this.pending.get(reply.n)
    this.pending.delete(reply.n)
    if ('id' in reply) p?.resolve(reply.id)
    else p?.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }))
  }

  private fail (err: Error): void {
    this.broken ??= err
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }
}

function toEntry (row: Row): ChatEntry {
  const { unconfirmed, ...entry } = row
  return unconfirmed == null ? entry : { ...entry, unconfirmed }
}
