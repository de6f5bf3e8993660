/**
 * The one-time move of a history kept by earlier versions, `chat.log` (JSON lines, appended
 * only), into the database. The log is read as a stream, so a long one costs no more memory
 * than a short one, and copied in one transaction: a crash before its commit leaves the
 * database as it was and the log in place, and the next start does it all again. The commit
 * also records that the copy is done, so a crash between it and the rename only renames.
 *
 * Each message keeps its line number as its id (plus one: ids start at 1); that is how a later
 * line marking a message unconfirmed, which names it by line, finds it again.
 */
import { createReadStream } from 'node:fs'
import { access, rename, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { createInterface } from 'node:readline'
import type Database from 'better-sqlite3'
import { HwdError, printable } from 'hwd/package'
import { withTextIndexAfter, Writes } from './chat-db.ts'
import type { ChatEntry } from './entry.ts'

/** The meta key the commit writes: the number of messages copied. */
const DONE = 'legacy-log-migrated'
/** A long log gets a line every this many of its lines (a long one's move: docs/performance.md#chat-history). */
export const PROGRESS_LINES = 100_000

type Line = ChatEntry | { unconfirmed: string, line: number }

/** Copy `log` into `db` unless it is missing or already copied, telling `said` how far a long one has got and when it is done. */
export async function migrateLegacyLog (db: Database.Database, log: string, said: (line: string) => void): Promise<void> {
  if (!await exists(log)) return
  const done = db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(DONE) as string | undefined
  let count = Number(done)
  if (done == null) {
    if (db.prepare('SELECT 1 FROM messages LIMIT 1').get() != null) {
      throw new HwdError(`${log}: the chat history already holds messages; move the old log aside to start, or chat.db to migrate it`)
    }
    count = await copy(db, log, said)
  }
  await rename(log, `${log}.migrated`)
  const name = basename(log)
  said(`chat history: ${count} messages moved from ${name} into the database; the old log is kept as ${name}.migrated`)
}

async function copy (db: Database.Database, log: string, said: (line: string) => void): Promise<number> {
  db.exec('BEGIN')
  try {
    const { count, last } = await withTextIndexAfter(db, async () => await fill(db, log, said))
    check(db, log, count, last)
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(DONE, String(count))
    db.exec('COMMIT')
    return count
  } catch (err) {
    // a failed COMMIT may have rolled back already
    if (db.inTransaction) db.exec('ROLLBACK')
    throw err
  }
}

/** Insert the log's messages and marks; returns how many messages, and the last. */
async function fill (db: Database.Database, log: string, said: (line: string) => void): Promise<{ count: number, last?: ChatEntry }> {
  const writes = new Writes(db)
  const size = (await stat(log)).size
  const read = { bytes: 0 }
  let count = 0
  let last: ChatEntry | undefined
  let n = 0
  for await (const line of completeLines(log, read)) {
    if (n > 0 && n % PROGRESS_LINES === 0) said(`chat history: moving ${basename(log)} into the database: ${n} lines so far, ${Math.floor(read.bytes / size * 100)}% of it read`)
    const parsed = parseLine(log, n, line)
    if ('line' in parsed) {
      writes.apply({ mark: parsed.line + 1, reason: parsed.unconfirmed })
    } else {
      writes.apply({ entry: parsed, id: n + 1 })
      count++
      last = parsed
    }
    n++
  }
  return { count, last }
}

/** The count and the last message, read back from the database, must be the log's. */
function check (db: Database.Database, log: string, count: number, last: ChatEntry | undefined): void {
  const stored = db.prepare('SELECT count(*) FROM messages').pluck().get() as number
  const newest = db.prepare('SELECT peer, dir, author AS "from", text, at FROM messages ORDER BY id DESC LIMIT 1').get() as ChatEntry | undefined
  const same = last == null
    ? newest == null
    : newest != null && (['peer', 'dir', 'from', 'text', 'at'] as const).every(k => newest[k] === last[k])
  if (stored !== count || !same) {
    throw new HwdError(`${log}: the copy into the database does not match the log (${stored} of ${count} messages); the log is left as it was`)
  }
}

/**
 * The log's lines; a last one without its newline was torn by a crash, never acknowledged, and
 * is left out. `read.bytes` follows how much of the file has been read.
 */
async function * completeLines (log: string, read: { bytes: number }): AsyncGenerator<string> {
  const input = createReadStream(log, { encoding: 'utf8' })
  let pending: string | undefined
  // readline gives a torn last line like any other: each line is yielded once the next one shows
  // that a newline ended it, and the stream's end says whether the last did
  let endsWithNewline = true
  input.on('data', (chunk: string | Buffer) => {
    read.bytes = input.bytesRead
    if (chunk.length > 0) endsWithNewline = chunk.at(-1) === '\n'
  })
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    if (pending != null) yield pending
    pending = line
  }
  if (pending != null && endsWithNewline) yield pending
}

function parseLine (log: string, n: number, line: string): Line {
  let v: any
  try {
    v = JSON.parse(line)
  } catch {}
  const mark = typeof v?.unconfirmed === 'string' && Number.isSafeInteger(v.line)
  const entry = typeof v?.peer === 'string' && (v.dir === 'in' || v.dir === 'out') && typeof v.from === 'string' &&
    typeof v.text === 'string' && Number.isSafeInteger(v.at)
  if (!mark && !entry) {
    throw new HwdError(`${log}: line ${n + 1} is not a chat entry (${printable(line.slice(0, 40))}); move the file aside to start a new history`)
  }
  return v
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}
