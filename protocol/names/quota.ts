/** Which allowance ran out. */
export type QuotaLimit = 'peer' | 'total'

/** A count of names taken in a window that began at `start`. */
interface Window { start: number, taken: number }

/** Windows of peers kept at most; those past their end are dropped first. */
const MAX_WINDOWS = 4_096

/**
 * Allowances of new names, per peer and in all, each counted in a fixed window that begins at
 * its first use: exact to reason about (at most `perPeer` from one peer within any window of
 * its own) and cheap to keep.
 */
export class Quota {
  private readonly peers = new Map<string, Window>()
  /** peers whose own first record was taken free */
  private readonly introduced = new Set<string>()
  private total: Window

  constructor (readonly perPeer: number, readonly inAll: number, readonly windowMs: number, private readonly now = Date.now) {
    this.total = { start: now(), taken: 0 }
  }

  /**
   * Count one against `peer`'s and the total allowance; when either is spent, count nothing and
   * say which. The first record a peer sends of its own (`firstHand`) is free, so that a node
   * learns the names of the peers it meets even while a flood has spent the total.
   */
  take (peer: string, firstHand: boolean): QuotaLimit | undefined {
    if (firstHand && !this.introduced.has(peer)) {
      if (this.introduced.size >= MAX_WINDOWS) this.introduced.clear()
      this.introduced.add(peer)
      return undefined
    }
    const now = this.now()
    const mine = this.current(this.peers.get(peer), now)
    this.total = this.current(this.total, now)
    if (mine.taken >= this.perPeer) return 'peer'
    if (this.total.taken >= this.inAll) return 'total'
    mine.taken++
    this.total.taken++
    this.peers.set(peer, mine)
    if (this.peers.size > MAX_WINDOWS) this.prune(now)
    return undefined
  }

  private current (window: Window | undefined, now: number): Window {
    return window == null || now - window.start >= this.windowMs ? { start: now, taken: 0 } : window
  }

  private prune (now: number): void {
    for (const [peer, window] of this.peers) {
      if (now - window.start >= this.windowMs) this.peers.delete(peer)
    }
  }
}
