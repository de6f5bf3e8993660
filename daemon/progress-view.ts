import { printable } from '../errors.ts'
import type { Progress } from './commands.ts'
import { LiveLines } from './live-lines.ts'

/**
 * How `hwd run` shows a long command: on a terminal, a line per running job that updates in
 * place (bar, percent, MB/s, time left), with the command's lines printed above and after it;
 * on a pipe or in a log, one `<label> progress: N%` line per ten percent, so logs stay short.
 */
export class ProgressView {
  // lines go to stdout, for a pipe to take; live jobs only when that is the terminal too
  private readonly live = process.stdout.isTTY === true && process.stderr.isTTY === true ? new LiveLines(process.stdout) : undefined
  private readonly printed = new Map<string, number>()

  /** Lines carry what peers said: control characters are shown escaped, never obeyed. */
  line (text: string): void {
    if (this.live != null) this.live.print(text)
    else console.log(printable(text))
  }

  progress (update: Progress): void {
    if (this.live != null) {
      this.live.update(update)
      return
    }
    const total = update.total ?? 0
    if (total === 0) return
    const step = Math.floor(update.done * 10 / total) * 10
    if ((this.printed.get(update.id) ?? -1) >= step) return
    this.printed.set(update.id, step)
    console.log(`${printable(update.label)} progress: ${step}%`)
  }

  stop (): void {
    this.live?.stop()
  }
}
