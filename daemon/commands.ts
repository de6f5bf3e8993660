import { UnknownCommandError, UsageError } from '../errors.ts'

/** Where a command's output goes: the terminal, or a `hwd run` client on the control socket. */
export interface CommandOutput {
  line(text: string): void
  /** a long job's progress; `total` may be unknown at first */
  progress(update: Progress): void
  /**
   * Ask whoever ran the command to agree to `question`, after which `argv` does it. A client
   * that can ask a person (`hwd install` on a terminal) does; elsewhere the command says what to
   * type instead.
   */
  ask?(question: string, argv: string[]): void
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
  /** the words that may come after `args`, for tab completion; NODE arguments complete by themselves */
  complete?(args: string[]): string[]
}

/** Names longer than this are no typo of a command, and not worth comparing. */
const MAX_SUGGESTED_LENGTH = 100

/** The terminal's command table, shared by the prompt and the control socket. */
export class Commands {
  private readonly table = new Map<string, Command>()

  register (command: Command): void {
    if (this.table.has(command.name)) throw new Error(`command ${command.name} is registered twice`)
    this.table.set(command.name, command)
  }

  /** Forget a command: a package's scripts when it is uninstalled. */
  unregister (name: string): void {
    this.table.delete(name)
  }

  get (name: string): Command | undefined {
    return this.table.get(name)
  }

  list (): Command[] {
    return [...this.table.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** The command a typo most likely meant: the nearest one, at most two edits away. */
  private nearest (typed: string): string | undefined {
    if (typed.length > MAX_SUGGESTED_LENGTH) return undefined
    let best: { name: string, edits: number } | undefined
    for (const name of this.table.keys()) {
      const edits = editDistance(typed, name)
      if (edits <= 2 && (best == null || edits < best.edits)) best = { name, edits }
    }
    return best?.name
  }

  async execute (argv: string[], out: CommandOutput, signal: AbortSignal): Promise<void> {
    const [name, ...args] = argv
    const command = name == null ? undefined : this.table.get(name)
    if (command == null) {
      const near = this.nearest(name ?? '')
      throw new UnknownCommandError(`unknown command ${JSON.stringify(name ?? '')}; ${near != null ? `did you mean ${near}? ` : ''}type help for the list`)
    }
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

/** Levenshtein distance, for names of a few dozen characters. */
function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[b.length]
}
