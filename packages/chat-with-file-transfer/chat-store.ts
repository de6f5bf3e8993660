/**
 * Chat history in SQLite (better-sqlite3), one file `chat.db` in the package's state folder.
 *
 * Why a database and not the append log it replaces: a node must answer `history` and `search`
 * without reading every message it ever exchanged, and must start in the same time and memory
 * whatever its history holds. SQLite gives that with an index on (peer, time) and full-text
 * search (FTS5), and its WAL with `synchronous=FULL` makes a commit durable before it returns
 * and recovers a torn write after a crash by itself: we handle no partial records.
 *
 * Why the package imports better-sqlite3 itself rather than through `hwd/package`: the history
 * is this package's own state in its own folder, better-sqlite3 is already a dependency of hwd
 * (so it resolves from here as the other npm dependencies do), and a database API in
 * `hwd/package` would make every package's contract carry one library's types.
 *
 * Writes are committed in groups: an append waits for the next turn of the event loop, and all
 * the appends and marks queued by then share one transaction, so one WAL sync serves a batch.
 * A commit blocks the event loop for that sync (better-sqlite3 is synchronous); see
 * docs/performance.md#chat for what that costs.
 */
import Database from 'better-sqlite3'
import { HwdError } from 'hwd/package'

export interface ChatEntry {
  /** the other side's peer id */
  peer: string
  /** 'in': they wrote it; 'out': we did */
  dir: 'in' | 'out'
  /** the author's name as known when it was stored */
  from: string
  text: string
  /** ms since the epoch, by our clock: when we stored it ('in') or sent it ('out') */
  at: number
  /** set on an 'out' message whose acknowledgement never came: why */
  unconfirmed?: string
}

/** A page of one conversation, oldest first. */
export interface Page {
  entries: ChatEntry[]
  /** the `before` that shows the page before this one, if there are older messages */
  older?: number
}

/** The fewest characters a search takes: the trigram index finds nothing shorter. */
export const MIN_SEARCH_LENGTH = 3

// `from` is a keyword in SQL: the column is `author`. The FTS table holds no copy of the text
// (content=messages); the triggers keep its index in step with the table.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY,
  peer TEXT NOT NULL,
  dir TEXT NOT NULL CHECK (dir IN ('in', 'out')),
  author TEXT NOT NULL,
  text TEXT NOT NULL,
  at INTEGER NOT NULL,
  unconfirmed TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_peer_time ON messages (peer, at);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_text USING fts5 (text, content = 'messages', content_rowid = 'id', tokenize = 'trigram');
CREATE TRIGGER IF NOT EXISTS messages_text_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_text (rowid, text) VALUES (new.id, new.text);
END;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`

const COLUMNS = 'm.peer, m.dir, m.author AS "from", m.text, m.at, m.unconfirmed'

type Write = { entry: ChatEntry, id?: number } | { mark: number, reason: string }

interface Queued {
  write: Write
  resolve: (id: number) => void
  reject: (err: Error) => void
}

interface Row { peer: string, dir: 'in' | 'out', from: string, text: string, at: number, unconfirmed: string | null }

export class ChatStore {
  private queue: Queued[] = []
  private scheduled?: NodeJS.Immediate
  private readonly insert: Database.Statement
  private readonly mark: Database.Statement
  private readonly commit: (batch: Queued[]) => number[]

  private constructor (readonly db: Database.Database) {
    this.insert = db.prepare('INSERT INTO messages (id, peer, dir, author, text, at, unconfirmed) VALUES (?, ?, ?, ?, ?, ?, ?)')
    // only our own messages can be marked: a mark for anything else changes nothing
    this.mark = db.prepare("UPDATE messages SET unconfirmed = ? WHERE id = ? AND dir = 'out'")
    this.commit = db.transaction((batch: Queued[]) => batch.map(q => this.apply(q.write)))
  }

  static open (path: string): ChatStore {
    let db: Database.Database
    try {
      db = new Database(path)
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = FULL')
      db.exec(SCHEMA)
    } catch (err: any) {
      throw new HwdError(`${path}: cannot open the chat history (${err.code ?? err.message})`)
    }
    return new ChatStore(db)
  }

  /** Resolves with the message's id once it is committed. */
  async append (entry: ChatEntry): Promise<number> {
    return await this.write({ entry })
  }

  /** Mark our message `id` as never acknowledged, with the reason; resolves once committed. */
  async unconfirmed (id: number, reason: string): Promise<void> {
    await this.write({ mark: id, reason })
  }

  /** Write now, in the caller's transaction if there is one: for the migration of the old log. */
  apply (write: Write): number {
    if ('mark' in write) {
      this.mark.run(write.reason, write.mark)
      return write.mark
    }
    const e = write.entry
    return Number(this.insert.run(write.id ?? null, e.peer, e.dir, e.from, e.text, e.at, e.unconfirmed ?? null).lastInsertRowid)
  }

  /**
   * The last `last` messages with `peer` stored before `before` (ms), oldest first. Messages
   * stored in the same millisecond as the oldest of them come too, so that pages meet at a time
   * and each message is on exactly one page.
   */
  page (peer: string, last: number, before = Number.MAX_SAFE_INTEGER): Page {
    const edge = this.db.prepare('SELECT at FROM messages WHERE peer = ? AND at < ? ORDER BY at DESC LIMIT 1 OFFSET ?')
      .pluck().get(peer, before, last - 1) as number | undefined
    const from = edge ?? Number.MIN_SAFE_INTEGER
    const rows = this.db.prepare(`SELECT ${COLUMNS} FROM messages m WHERE peer = ? AND at >= ? AND at < ? ORDER BY at, id`)
      .all(peer, from, before) as Row[]
    const older = edge != null && this.db.prepare('SELECT 1 FROM messages WHERE peer = ? AND at < ? LIMIT 1').get(peer, edge) != null
    return { entries: rows.map(toEntry), ...(older ? { older: edge } : {}) }
  }

  /** Up to `limit` messages containing `text` (any case), with `peer` if given, newest first. */
  search (text: string, limit: number, peer?: string): ChatEntry[] {
    if ([...text].length < MIN_SEARCH_LENGTH) throw new HwdError(`search for at least ${MIN_SEARCH_LENGTH} characters`)
    // one FTS5 phrase: the text in double quotes, its own double quotes doubled
    const phrase = `"${text.replaceAll('"', '""')}"`
    const byPeer = peer == null ? '' : 'AND m.peer = @peer'
    const rows = this.db.prepare(`SELECT ${COLUMNS} FROM messages_text t JOIN messages m ON m.id = t.rowid
      WHERE messages_text MATCH @phrase ${byPeer} ORDER BY t.rowid DESC LIMIT @limit`).all({ phrase, peer, limit }) as Row[]
    return rows.map(toEntry)
  }

  get (key: string): string | undefined {
    return this.db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined
  }

  set (key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value)
  }

  async close (): Promise<void> {
    while (this.scheduled != null) await new Promise(resolve => setImmediate(resolve))
    this.db.close()
  }

  private async write (write: Write): Promise<number> {
    return await new Promise<number>((resolve, reject) => {
      this.queue.push({ write, resolve, reject })
      this.scheduled ??= setImmediate(() => { this.flush() })
    })
  }

  private flush (): void {
    const batch = this.queue
    this.queue = []
    this.scheduled = undefined
    let ids: number[]
    try {
      ids = this.commit(batch)
    } catch (err: any) {
      // the transaction is rolled back whole: nothing of the batch is stored
      for (const q of batch) q.reject(err)
      return
    }
    batch.forEach((q, i) => { q.resolve(ids[i]) })
  }
}

function toEntry (row: Row): ChatEntry {
  const { unconfirmed, ...entry } = row
  return unconfirmed == null ? entry : { ...entry, unconfirmed }
}
