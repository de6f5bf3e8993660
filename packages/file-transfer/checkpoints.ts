import { createHash, type Hash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { logger } from '@libp2p/logger'
import { hashFile } from '../../protocol/file-transfer/index.ts'

const log = logger('hwd:file-transfer:checkpoints')

/** Files (by version) whose hash states are kept; each state takes under a kilobyte, outside the heap. */
const CHECKPOINT_KEYS = 256
/** States kept per file: past this, every other one is let go, so the rest still spread over it. */
const STATES_PER_KEY = 128

/**
 * SHA-256 states partway through files, so that resuming a download at an offset hashes only
 * the bytes after the last state before it, not everything before the offset: the server
 * keeps one every CHECKPOINT_BYTES of a file it sends, the requester one where a download was
 * cut off. Held in memory: after a restart, a resume hashes from the start.
 */
export class HashCheckpoints {
  private readonly byKey = new Map<string, Array<{ position: number, hash: Hash }>>()

  /** Keep `hash`, the state after bytes [0, position) of what `key` names: a copy no one else updates. */
  put (key: string, position: number, hash: Hash): void {
    let states = [...(this.byKey.get(key) ?? []).filter(s => s.position !== position), { position, hash }].sort((a, b) => a.position - b.position)
    // counted from the newest, which stays
    if (states.length > STATES_PER_KEY) states = states.filter((_, i) => (states.length - 1 - i) % 2 === 0)
    this.byKey.delete(key)
    this.byKey.set(key, states)
    if (this.byKey.size > CHECKPOINT_KEYS) this.byKey.delete(this.byKey.keys().next().value!)
  }

  /**
   * The SHA-256 state after bytes [0, offset) of `file`: a kept state at or before `offset`
   * (copied, so it stays), fed the bytes between it and `offset`.
   */
  async hashTo (key: string, file: FileHandle, offset: number, signal: AbortSignal): Promise<Hash> {
    const kept = this.byKey.get(key)?.findLast(s => s.position <= offset)
    const hash = kept?.hash.copy() ?? createHash('sha256')
    log('hashing bytes %d to %d, %s', kept?.position ?? 0, offset, kept != null ? 'after a checkpoint' : 'from the start')
    await hashFile(file, kept?.position ?? 0, offset, hash, signal)
    return hash
  }
}
