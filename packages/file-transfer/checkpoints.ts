import type { FileHandle } from 'node:fs/promises'
import { logger } from '@libp2p/logger'
import { RunningHash } from 'hwd/protocol/file-transfer'

const log = logger('hwd:file-transfer:checkpoints')

/** Hashes kept at once; each holds a few kilobytes outside the heap. */
const CHECKPOINT_KEYS = 256

/**
 * The running hashes of transfers that were cut off, so that the transfer that resumes one
 * hashes only what was not hashed before: the server keeps its hash of the file it was sending
 * (keyed by the file's version), the requester its hash of the partial file (keyed by that
 * file's own version, so a partial file changed since is hashed again). A BLAKE3 state cannot
 * be copied, so a hash is handed on: `put` by the transfer that was cut, which feeds it no
 * more, and `take`n by the next one of the same key. Held in memory: after a restart, a
 * resume hashes from the start.
 */
export class HashCheckpoints {
  private readonly byKey = new Map<string, RunningHash>()

  /** Keep `hash`, which no one feeds any more, for the next `take` of `key`: the furthest of two stays. */
  put (key: string, hash: RunningHash): void {
    const kept = this.byKey.get(key)
    if (kept != null && kept.position >= hash.position) return
    this.byKey.delete(key)
    this.byKey.set(key, hash)
    if (this.byKey.size > CHECKPOINT_KEYS) this.byKey.delete(this.byKey.keys().next().value!)
  }

  /**
   * A running hash of `file` up to `offset` or past it: the one kept for `key`, which no one
   * else gets, or a new one; fed from the file up to `offset` where it stops short.
   */
  async take (key: string, file: FileHandle, offset: number, signal: AbortSignal): Promise<RunningHash> {
    const kept = this.byKey.get(key)
    this.byKey.delete(key)
    const hash = kept ?? new RunningHash()
    log('%s hash at byte %d, for a body from byte %d', kept != null ? 'a kept' : 'a new', hash.position, offset)
    try {
      await hash.catchUp(file, offset, signal)
    } catch (err) {
      // what it holds is still right: the next try starts from it
      this.put(key, hash)
      throw err
    }
    return hash
  }
}
