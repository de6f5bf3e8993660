import type { Commands } from './commands.ts'

/**
 * Tab completion for the node's terminal: the command first, then its arguments: a NODE
 * argument from the names this node knows, others from what the command offers (a download's
 * FILE from the files that nodes listed last).
 */
export function completer (commands: Commands, nodeNames: () => string[]): (line: string) => [string[], string] {
  return line => {
    const words = line.trimStart().split(/\s+/)
    const typed = words.pop() ?? ''
    let candidates: string[] = []
    if (words.length === 0) {
      candidates = commands.list().map(c => c.name)
    } else {
      const command = commands.get(words[0])
      const args = words.slice(1)
      if (command != null) {
        const kind = command.args.split(/\s+/)[args.length]?.replace(/[[\].]/g, '')
        candidates = [...(kind === 'NODE' ? nodeNames() : []), ...(command.complete?.(args) ?? [])]
      }
    }
    // a word with a space in it could not be typed as one argument
    const hits = [...new Set(candidates)].filter(c => c.startsWith(typed) && !/\s/.test(c)).sort()
    return [hits, typed]
  }
}
