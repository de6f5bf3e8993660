import type { FileHandle } from 'node:fs/promises'
import { logger } from '@libp2p/logger'

const log = logger('hwd:file-transfer:flush')

/** A download asks the disk to take what it wrote once this much more has been written. */
export const FLUSH_BEHIND_BYTES = 32 * 1024 * 1024

/** Flushes under way in this process, one at most (see `FlushBehind`). */
let flushing = false

/**
 * Flushes a file being written to disk behind its writer, so that the flush that makes it
 * durable at the end has little left to do. Left alone, the kernel keeps up to a tenth of
 * memory dirty before it writes any back, so a download of 1 GiB held it all, and its final
 * flush wrote the whole of it while the user waited at 100%. Here, once FLUSH_BEHIND_BYTES
 * more are written, an fdatasync starts in the background and the writer goes on; the disk
 * writes while the network delivers. Only one runs at a time in the whole daemon (another
 * download's turn comes at its next write), so flushes never hold more than one of libuv's
 * threads, which every file read and write shares. A flush that fails fails the next write.
 * See docs/performance.md#flush-behind.
 */
export class FlushBehind {
  private unflushed = 0
  private running: Promise<void> | undefined
  private error: Error | undefined

  constructor (private readonly handle: FileHandle) {}

  /** Note `bytes` more written; throws what a flush behind them met. */
  wrote (bytes: number): void {
    if (this.error != null) throw this.error
    this.unflushed += bytes
    if (this.unflushed < FLUSH_BEHIND_BYTES || flushing) return
    log.trace('flushing %d bytes behind the writer', this.unflushed)
    flushing = true
    this.unflushed = 0
    this.running = this.handle.datasync().catch((err: Error) => { this.error = err }).finally(() => {
      flushing = false
      this.running = undefined
    })
  }

  /** Wait for the flush under way, if any; throws what it met. */
  async settle (): Promise<void> {
    await this.running
    if (this.error != null) throw this.error
  }
}
