/** Lines about one peer shown per window; past them one line says the rest are not shown. */
const MAX_LINES = 16
/** Peers whose lines are remembered at most; those whose window has ended are dropped first. */
const MAX_PEERS = 1_024

interface Window { start: number, lines: Set<string> }

/**
 * What a peer's records make this node tell its user (a refused claim, a quota reached): each
 * line once per window, and a few lines per peer per window, so that no flood floods the terminal.
 */
export class Reports {
  private readonly peers = new Map<string, Window>()

  constructor (private readonly report: (text: string) => void, private readonly windowMs: number, private readonly now = Date.now) {}

  tell (peer: string, text: string): void {
    const now = this.now()
    let window = this.peers.get(peer)
    if (window == null || now - window.start >= this.windowMs) {
      window = { start: now, lines: new Set() }
      this.peers.set(peer, window)
      if (this.peers.size > MAX_PEERS) this.prune(now)
    }
    if (window.lines.has(text) || window.lines.size > MAX_LINES) return
    window.lines.add(text)
    this.report(window.lines.size > MAX_LINES ? `further refusals of what ${peer} sends are not shown for ${this.windowMs / 60_000} min` : text)
  }

  private prune (now: number): void {
    for (const [peer, window] of this.peers) {
      if (now - window.start >= this.windowMs) this.peers.delete(peer)
    }
  }
}
