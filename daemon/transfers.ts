import { HwdError } from '../errors.ts'
import type { Progress } from './commands.ts'

export interface TransferInfo extends Progress {
  peer: string
  direction: 'download' | 'upload'
  startedAt: number
}

export class CancelledError extends HwdError {
  static name = 'CancelledError'
  name = 'CancelledError'
}

/** The transfers running on this node, for `transfers`, `cancel` and `hwd status`. */
export class TransferTable {
  private readonly running = new Map<string, { info: TransferInfo, cancel: (err: CancelledError) => void }>()

  /** `cancel` stops the transfer's worker; it is called at most once, by `cancel`. */
  begin (info: TransferInfo, cancel: (err: CancelledError) => void): void {
    this.running.set(info.id, { info, cancel })
  }

  update (id: string, done: number): void {
    const entry = this.running.get(id)
    if (entry != null) entry.info.done = done
  }

  end (id: string): void {
    this.running.delete(id)
  }

  list (): TransferInfo[] {
    return [...this.running.values()].map(e => ({ ...e.info })).sort((a, b) => a.startedAt - b.startedAt)
  }

  /** Cancel the transfers with this id, or of this file; returns what was cancelled. */
  cancel (idOrFile: string): TransferInfo[] {
    const hits = [...this.running.values()].filter(e => e.info.id === idOrFile || e.info.label === idOrFile)
    for (const e of hits) {
      this.running.delete(e.info.id)
      e.cancel(new CancelledError(`${e.info.label}: cancelled`))
    }
    return hits.map(e => e.info)
  }
}
