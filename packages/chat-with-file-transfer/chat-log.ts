import { open, type FileHandle } from 'node:fs/promises'
import { HwdError } from 'hwd/package'
import type { ChatEntry } from './entry.ts'

export type { ChatEntry }

/** A later line saying that the message on line `line` was never acknowledged. */
interface Unconfirmed {
  unconfirmed: string
  line: number
}

type Line = ChatEntry | Unconfirmed

/**
 * Chat history as an append-only log of JSON lines, flushed with fdatasync before an append
 * resolves. Why a log and not a database: history is only ever appended to and read whole per
 * conversation, Node 20 ships no embedded database, and a log has one failure mode to handle,
 * a torn last line after a crash, which nobody was told is stored and is dropped on open.
 * Appends that arrive while a flush runs share the next one (group commit), so a busy node
 * pays one fdatasync per batch, not per message.
 *
 * A line is named by its number in the file, counted from 0; lines are never rewritten, so a
 * later line can refer to an earlier one. That is how an outgoing message, written while it
 * travels, is marked when its acknowledgement does not come (see `unconfirmed`).
 */
export class ChatLog {
  private readonly byPeer = new Map<string, ChatEntry[]>()
  /** our own messages by line number: the only ones a later line may mark */
  private readonly outgoing = new Map<number, ChatEntry>()
  private queue: Array<{ text: string, line: Line, resolve: (n: number) => void, reject: (err: Error) => void }> = []
  private flushing?: Promise<void>
  /** lines in the file so far: the number the next one gets */
  private lines = 0

  private constructor (private readonly file: FileHandle, private size: number) {}

  static async open (path: string): Promise<ChatLog> {
    const file = await open(path, 'a+', 0o600)
    const text = await file.readFile('utf8')
    const kept = text.slice(0, text.lastIndexOf('\n') + 1)
    const log = new ChatLog(file, Buffer.byteLength(kept))
    try {
      if (kept.length < text.length) await file.truncate(log.size)
      for (const [n, line] of kept.split('\n').slice(0, -1).entries()) log.index(parseLine(path, n, line))
    } catch (err) {
      await file.close()
      throw err
    }
    return log
  }

  history (peer: string): ChatEntry[] {
    return [...(this.byPeer.get(peer) ?? [])]
  }

  /** Resolves with the entry's line number once it is on disk. */
  async append (entry: ChatEntry): Promise<number> {
    return await this.write(entry)
  }

  /** Mark our message on `line` as never acknowledged, with the reason; resolves once on disk. */
  async unconfirmed (line: number, reason: string): Promise<void> {
    if (!this.outgoing.has(line)) throw new Error(`line ${line} is not an outgoing message`)
    await this.write({ unconfirmed: reason, line })
  }

  async close (): Promise<void> {
    await this.flushing
    await this.file.close()
  }

  private async write (line: Line): Promise<number> {
    return await new Promise<number>((resolve, reject) => {
      this.queue.push({ text: JSON.stringify(line) + '\n', line, resolve, reject })
      this.flushing ??= this.flush().finally(() => { this.flushing = undefined })
    })
  }

  private async flush (): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue
      this.queue = []
      const data = Buffer.from(batch.map(b => b.text).join(''))
      try {
        // write(), not appendFile(): appendFile goes through writeFile's machinery, slower per
        // batch (docs/performance.md#chat); the file is opened for appending, so each write
        // lands at its end, and a short write is followed by the rest
        for (let at = 0; at < data.byteLength;) at += (await this.file.write(data, at)).bytesWritten
        await this.file.datasync()
        this.size += data.byteLength
        for (const b of batch) b.resolve(this.index(b.line))
      } catch (err: any) {
        // A failed write (a full disk) may leave part of the batch: cut it off, so the log
        // holds only whole lines, none of them unacknowledged.
        await this.file.truncate(this.size).catch(() => {})
        for (const b of batch) b.reject(err)
      }
    }
  }

  /** Take in the next line of the file; returns its number. */
  private index (line: Line): number {
    const number = this.lines++
    if ('line' in line) {
      const entry = this.outgoing.get(line.line)
      if (entry != null) entry.unconfirmed = line.unconfirmed
      return number
    }
    let list = this.byPeer.get(line.peer)
    if (list == null) this.byPeer.set(line.peer, list = [])
    list.push(line)
    if (line.dir === 'out') this.outgoing.set(number, line)
    return number
  }
}

function parseLine (path: string, n: number, line: string): Line {
  try {
    return JSON.parse(line) as Line
  } catch {
    throw new HwdError(`${path}: line ${n + 1} is not a chat entry; move the file aside to start a new history`)
  }
}
