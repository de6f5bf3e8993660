/**
 * The chat database's schema and its writes, shared by the thread that commits new messages
 * (`store-writer.ts`) and by the move from the old log, which runs before that thread starts.
 *
 * Why SQLite (better-sqlite3) and not the append log it replaces: a node must answer `history`
 * and `search` without reading every message it ever exchanged, and start in the same time and
 * memory whatever its history holds. SQLite gives that with an index on (peer, time) and
 * full-text search (FTS5, trigram: any part of a word), and its WAL with `synchronous=FULL`
 * makes a commit durable before it returns and recovers a torn write after a crash by itself.
 *
 * Why the package imports better-sqlite3 itself rather than through `hwd/package`: the history
 * is this package's own state in its own folder, better-sqlite3 is a dependency of hwd (so it
 * resolves from here as the package's other npm imports do), and a database API in
 * `hwd/package` would make every package's contract carry one library's types.
 */
import Database from 'better-sqlite3'
import type { ChatEntry } from './entry.ts'

// `from` is a keyword in SQL: the column is `author`. The FTS table holds no copy of the text
// (content=messages); the trigger keeps its index in step (messages are never deleted, and only
// `unconfirmed` is ever updated).
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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`
const TEXT_INDEX_TRIGGER = `
CREATE TRIGGER IF NOT EXISTS messages_text_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_text (rowid, text) VALUES (new.id, new.text);
END;
`

/** A new message (with the id it must have, if any), or a mark on one of ours. */
export type Write = { entry: ChatEntry, id?: number } | { mark: number, reason: string }

/** Open (or create) the database at `path`: WAL, every commit synced. */
export function openChatDb (path: string): Database.Database {
  const db = new Database(path)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.exec(SCHEMA + TEXT_INDEX_TRIGGER)
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

/**
 * Run `fill`, a bulk copy inside the caller's transaction, with the text index built once at
 * the end instead of a row at a time (figures: docs/performance.md#chat-history).
 */
export async function withTextIndexAfter<T> (db: Database.Database, fill: () => Promise<T>): Promise<T> {
  db.exec('DROP TRIGGER messages_text_insert')
  const result = await fill()
  db.exec("INSERT INTO messages_text (messages_text) VALUES ('rebuild')")
  db.exec(TEXT_INDEX_TRIGGER)
  return result
}

/** The writes, prepared once; each runs in the caller's transaction. */
export class Writes {
  private readonly insert: Database.Statement
  private readonly mark: Database.Statement

  constructor (db: Database.Database) {
    this.insert = db.prepare('INSERT INTO messages (id, peer, dir, author, text, at, unconfirmed) VALUES (?, ?, ?, ?, ?, ?, ?)')
    // only our own messages can be marked: a mark for anything else changes nothing
    this.mark = db.prepare("UPDATE messages SET unconfirmed = ? WHERE id = ? AND dir = 'out'")
  }

  /** Returns the message's id. */
  apply (write: Write): number {
    if ('mark' in write) {
      this.mark.run(write.reason, write.mark)
      return write.mark
    }
    const e = write.entry
    return Number(this.insert.run(write.id ?? null, e.peer, e.dir, e.from, e.text, e.at, e.unconfirmed ?? null).lastInsertRowid)
  }
}
