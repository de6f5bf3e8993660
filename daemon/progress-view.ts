import { MultiBar, Presets, type SingleBar } from 'cli-progress'
import { printable } from '../errors.ts'
import type { Progress } from './commands.ts'
import { formatBytes } from './format.ts'

/**
 * How `hwd run` shows a long command: bars on a terminal, and on a pipe or in a log one
 * `<label> progress: N%` line per ten percent, so logs stay short.
 */
export class ProgressView {
  private readonly tty = process.stderr.isTTY === true
  private readonly multi = this.tty
    ? new MultiBar({ format: ' {bar} {percentage}% | {label} | {doneText} / {totalText}', hideCursor: true, clearOnComplete: false, stream: process.stderr }, Presets.shades_classic)
    : undefined
  private readonly bars = new Map<string, SingleBar>()
  private readonly printed = new Map<string, number>()

  /** Lines and labels carry what peers said: control characters are shown escaped, never obeyed. */
  line (text: string): void {
    text = printable(text)
    if (this.multi != null) this.multi.log(text + '\n')
    else console.log(text)
  }

  progress (update: Progress): void {
    const total = update.total ?? 0
    const label = printable(update.label)
    const payload = { label, doneText: formatBytes(update.done), totalText: formatBytes(total) }
    if (this.multi != null) {
      let bar = this.bars.get(update.id)
      if (bar == null) {
        bar = this.multi.create(total, update.done, payload)
        this.bars.set(update.id, bar)
      }
      bar.setTotal(total)
      bar.update(update.done, payload)
      return
    }
    if (total === 0) return
    const step = Math.floor(update.done * 10 / total) * 10
    if ((this.printed.get(update.id) ?? -1) >= step) return
    this.printed.set(update.id, step)
    console.log(`${label} progress: ${step}%`)
  }

  stop (): void {
    this.multi?.stop()
  }
}
