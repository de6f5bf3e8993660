import { createInterface, type Interface } from 'node:readline'
import { describeError, printable } from '../errors.ts'
import { progressGate, splitLine, type CommandOutput, type Commands, type Progress } from './commands.ts'
import { LiveLines } from './live-lines.ts'

/** The output of one command run: what it shows of its progress leaves the terminal when it ends. */
export interface ScopedOutput extends CommandOutput {
  end(): void
}

/** Where the control socket echoes what its clients run: the node's own terminal. */
export interface Echo {
  scope(): ScopedOutput
}

/**
 * The node's own terminal: a prompt when stdin and stdout are a TTY, plain lines otherwise.
 * The end of stdin only stops reading; the daemon runs on (`hwd start </dev/null &`, containers).
 *
 * On a TTY each running job is one line above the prompt, redrawn in place (name, percent,
 * MB/s, time left), and tab completes commands, node names and file names. Elsewhere (logs,
 * pipes) a job prints Hyperware's `<file> progress: N%` lines, once per percent.
 */
export class Terminal implements CommandOutput, Echo {
  private rl?: Interface
  private readonly tty = process.stdin.isTTY === true && process.stdout.isTTY === true
  private readonly gate = progressGate()
  private readonly controller = new AbortController()
  /** the running jobs above the prompt, on a TTY once reading has started */
  private live?: LiveLines

  constructor (private readonly prompt: string) {}

  /** Start reading commands; output can be printed before this, for what happens at start. */
  start (commands: Commands, completer?: (line: string) => [string[], string]): void {
    const rl = createInterface({
      input: process.stdin,
      output: this.tty ? process.stdout : undefined,
      terminal: this.tty,
      ...(this.tty && completer != null ? { completer } : {})
    })
    this.rl = rl
    if (this.tty) this.live = new LiveLines(process.stdout, () => { rl.prompt(true) })
    rl.setPrompt(this.prompt)
    rl.on('line', line => { void this.onLine(commands, line) })
    rl.on('close', () => { this.rl = undefined; this.live?.stop(); this.live = undefined })
    // Ctrl-C at the prompt is the user asking the daemon to stop, as it is without a prompt.
    rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'))
    if (this.tty) rl.prompt()
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
    if (this.live != null) this.live.print(text)
    else process.stdout.write(printable(text) + '\n')
  }

  progress (update: Progress): void {
    if (this.live != null) {
      this.live.update(update)
    } else if (update.total != null && update.total > 0 && this.gate(update)) {
      this.line(`${update.label} progress: ${Math.floor(update.done * 100 / update.total)}%`)
    }
  }

  scope (): ScopedOutput {
    const ids = new Set<string>()
    return {
      line: text => { this.line(text) },
      progress: update => { ids.add(update.id); this.progress(update) },
      end: () => { this.live?.end(ids) }
    }
  }

  private async onLine (commands: Commands, line: string): Promise<void> {
    const argv = splitLine(line)
    if (argv.length > 0) {
      const out = this.scope()
      try {
        await commands.execute(argv, out, this.controller.signal)
      } catch (err) {
        this.line(`error: ${describeError(err)}`)
      } finally {
        out.end()
      }
    }
    if (this.tty) this.rl?.prompt()
  }
}
