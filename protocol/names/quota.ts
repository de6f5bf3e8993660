/** Which allowance ran out. */
export type QuotaLimit = 'peer' | 'total'

interface Bucket { tokens: number, at: number }

/** Buckets of peers kept at most; full ones (peers quiet for a window) are dropped first. */
const MAX_BUCKETS = 4_096

/**
 * Allowances of new names, per peer and in all: token buckets that refill evenly over the
 * window, so a peer that spent its allowance gets a little back each minute, not all of it at
 * the top of the hour.
 */
export class Quota {
  private readonly peers = new Map<string, Bucket>()
  private readonly total: Bucket

  constructor (readonly perPeer: number, readonly inAll: number, readonly windowMs: number, private readonly now = Date.now) {
    this.total = { tokens: inAll, at: now() }
  }

  /** Spend one of `peer`'s and of the total allowance; when either is spent, spend nothing and say which. */
  take (peer: string): QuotaLimit | undefined {
    const now = this.now()
    const mine = this.peers.get(peer) ?? { tokens: this.perPeer, at: now }
    this.refill(mine, this.perPeer, now)
    this.refill(this.total, this.inAll, now)
    if (mine.tokens < 1) return 'peer'
    if (this.total.tokens < 1) return 'total'
    mine.tokens--
    this.total.tokens--
    this.peers.set(peer, mine)
    if (this.peers.size > MAX_BUCKETS) this.prune(now)
    return undefined
  }

  private refill (bucket: Bucket, size: number, now: number): void {
    bucket.tokens = Math.min(size, bucket.tokens + (now - bucket.at) * size / this.windowMs)
    bucket.at = now
  }

  private prune (now: number): void {
    for (const [peer, bucket] of this.peers) {
      this.refill(bucket, this.perPeer, now)
      if (bucket.tokens >= this.perPeer) this.peers.delete(peer)
    }
  }
}
