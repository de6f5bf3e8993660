import { open, type FileHandle } from 'node:fs/promises'

export interface ChatEntry {
  /** the other side's peer id */
  peer: string
  /** 'in': they wrote it; 'out': we did */
  dir: 'in' | 'out'
  /** the author's name as known when it was stored */
  from: string
  text: string
  /** ms since the epoch: the sender's clock for 'in', ours for 'out' */
  at: number
}

/**
 * Chat history as an append-only log of JSON lines, flushed with fdatasync before an append
 * resolves. Why a log and not a database: history is only ever appended to and read whole per
 * conversation, Node 20 ships no embedded database, and a log has one failure mode to handle,
 * a torn last line after a crash, which is a message nobody acknowledged and is dropped on open.
 * Appends that arrive while a flush runs share the next one (group commit), so a busy node
 * pays one fdatasync per batch, not per message.
 */
export class ChatLog {
  private readonly byPeer = new Map<string, ChatEntry[]>()
  private queue: Array<{ line: string, entry: ChatEntry, resolve: () => void, reject: (err: Error) => void }> = []
  private flushing?: Promise<void>

  private constructor (private readonly file: FileHandle, private size: number) {}

  static async open (path: string): Promise<ChatLog> {
    const file = await open(path, 'a+', 0o600)
    const text = await file.readFile('utf8')
    const kept = text.slice(0, text.lastIndexOf('\n') + 1)
    const log = new ChatLog(file, Buffer.byteLength(kept))
    if (kept.length < text.length) await file.truncate(log.size)
    for (const line of kept.split('\n')) {
      if (line !== '') log.index(JSON.parse(line) as ChatEntry)
    }
    return log
  }

  history (peer: string): ChatEntry[] {
    return [...(this.byPeer.get(peer) ?? [])]
  }

  /** Resolves once the entry is on disk. */
  async append (entry: ChatEntry): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ line: JSON.stringify(entry) + '\n', entry, resolve, reject })
      this.flushing ??= this.flush().finally(() => { this.flushing = undefined })
    })
  }

  async close (): Promise<void> {
    await this.flushing
    await this.file.close()
  }

  private async flush (): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue
      this.queue = []
      const text = batch.map(b => b.line).join('')
      try {
        await this.file.appendFile(text)
        await this.file.datasync()
        this.size += Buffer.byteLength(text)
        for (const b of batch) { this.index(b.entry); b.resolve() }
      } catch (err: any) {
        // A failed write (a full disk) may leave part of the batch: cut it off, so the log
        // holds only whole lines, none of them unacknowledged.
        await this.file.truncate(this.size).catch(() => {})
        for (const b of batch) b.reject(err)
      }
    }
  }

  private index (entry: ChatEntry): void {
    let list = this.byPeer.get(entry.peer)
    if (list == null) this.byPeer.set(entry.peer, list = [])
    list.push(entry)
  }
}
