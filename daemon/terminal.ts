import { createInterface, type Interface } from 'node:readline'
import { describeError, printable } from '../errors.ts'
import { progressGate, splitLine, type CommandOutput, type Commands, type Progress } from './commands.ts'

/**
 * The node's own terminal: a prompt when stdin is a TTY, plain lines otherwise. The end of
 * stdin only stops reading; the daemon runs on (`hwd start </dev/null &`, containers).
 */
export class Terminal implements CommandOutput {
  private rl?: Interface
  private readonly gate = progressGate()
  private readonly controller = new AbortController()

  constructor (private readonly prompt: string) {}

  /** Start reading commands; output can be printed before this, for what happens at start. */
  start (commands: Commands): void {
    const tty = process.stdin.isTTY === true
    const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty })
    this.rl = rl
    rl.setPrompt(this.prompt)
    rl.on('line', line => { void this.onLine(commands, line) })
    rl.on('close', () => { this.rl = undefined })
    // Ctrl-C at the prompt is the user asking the daemon to stop, as it is without a prompt.
    rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'))
    if (tty) rl.prompt()
  }

  stop (): void {
    this.controller.abort()
    this.rl?.close()
  }

  /**
   * Print a line without tearing the prompt the user may be typing at. Lines carry what peers
   * said (names of files, chat, reasons): control characters are shown escaped, never obeyed.
   */
  line (text: string): void {
    text = printable(text)
    const rl = this.rl
    if (rl == null || process.stdin.isTTY !== true) {
      process.stdout.write(text + '\n')
      return
    }
    process.stdout.write('\r\x1b[K' + text + '\n')
    rl.prompt(true)
  }

  /** Hyperware's `<file> progress: N%`, once per percent. */
  progress (update: Progress): void {
    if (update.total == null || update.total === 0 || !this.gate(update)) return
    this.line(`${update.label} progress: ${Math.floor(update.done * 100 / update.total)}%`)
  }

  private async onLine (commands: Commands, line: string): Promise<void> {
    const argv = splitLine(line)
    if (argv.length > 0) {
      try {
        await commands.execute(argv, this, this.controller.signal)
      } catch (err) {
        this.line(`error: ${describeError(err)}`)
      }
    }
    if (process.stdin.isTTY === true) this.rl?.prompt()
  }
}
