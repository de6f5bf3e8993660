/** One message of a conversation, as the history keeps it and the web page shows it (no imports: the page's build takes it too). */
export interface ChatEntry {
  /** the other side's peer id */
  peer: string
  /** 'in': they wrote it; 'out': we did */
  dir: 'in' | 'out'
  /** the author's name as known when it was stored */
  from: string
  text: string
  /** ms since the epoch, by our clock: when we stored it ('in') or sent it ('out') */
  at: number
  /** set on an 'out' message whose acknowledgement never came: why */
  unconfirmed?: string
}
