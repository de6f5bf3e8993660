import { UnknownCommandError, UsageError } from '../errors.ts'

/** Where a command's output goes: the terminal, or a `hwd run` client on the control socket. */
export interface CommandOutput {
  line(text: string): void
  /** a long job's progress; `total` may be unknown at first */
  progress(update: Progress): void
}

export interface Progress {
  id: string
  label: string
  done: number
  total?: number
}

export interface Command {
  /** what the user types: `help`, or `script:package:publisher` */
  name: string
  /** the arguments, for `help` and usage errors: `FILE NODE` */
  args: string
  summary: string
  /** checked before `run`; anything outside the range is a usage error */
  minArgs: number
  maxArgs?: number
  run(args: string[], out: CommandOutput, signal: AbortSignal): Promise<void>
}

/** The terminal's command table, shared by the prompt and the control socket. */
export class Commands {
  private readonly table = new Map<string, Command>()

  register (command: Command): void {
    if (this.table.has(command.name)) throw new Error(`command ${command.name} is registered twice`)
    this.table.set(command.name, command)
  }

  list (): Command[] {
    return [...this.table.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  async execute (argv: string[], out: CommandOutput, signal: AbortSignal): Promise<void> {
    const [name, ...args] = argv
    const command = name == null ? undefined : this.table.get(name)
    if (command == null) throw new UnknownCommandError(`unknown command ${JSON.stringify(name ?? '')}; type help for the list`)
    if (args.length < command.minArgs || (command.maxArgs != null && args.length > command.maxArgs)) {
      throw new UsageError(`usage: ${usage(command)}`)
    }
    await command.run(args, out, signal)
  }
}

export function usage (command: Command): string {
  return command.args === '' ? command.name : `${command.name} ${command.args}`
}

/** Split a terminal line into words; runs of spaces separate them. */
export function splitLine (line: string): string[] {
  return line.trim().split(/\s+/).filter(w => w !== '')
}

/** A job of unknown size has its progress passed on at most this often. */
const UNSIZED_PROGRESS_MS = 100

/**
 * A filter for one viewer of progress: a job's update passes when its whole percent changes
 * (or, for a job of unknown size, once per UNSIZED_PROGRESS_MS), so a download that reports
 * every batch it writes, thousands a second, is shown about a hundred times, 100% among them.
 */
export function progressGate (): (update: Progress) => boolean {
  const shown = new Map<string, number>()
  return update => {
    const sized = update.total != null && update.total > 0
    const step = sized ? Math.floor(update.done * 100 / update.total!) : -Math.floor(performance.now() / UNSIZED_PROGRESS_MS) // negative: never a percent
    if (shown.get(update.id) === step) return false
    if (sized && step >= 100) shown.delete(update.id)
    else shown.set(update.id, step)
    return true
  }
}
