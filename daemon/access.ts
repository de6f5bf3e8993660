import type { PeerId } from '@libp2p/interface'
import { quoted, UsageError } from '../errors.ts'
import { isValidName } from '../protocol/names/index.ts'
import type { AccessList } from '../storage/access-list.ts'
import type { AddressBook } from '../storage/address-book.ts'
import type { Commands } from './commands.ts'
import { RefusalLines } from './refusal-lines.ts'

/**
 * The node's access list put to work: whether a peer may use what the packages serve, told
 * to the peer as a reason each time and to our terminal as one line (then counted, so that a
 * peer that retries in a loop cannot flood it: refusal-lines.ts), and the `allow`, `deny` and
 * `access` commands that change and show it.
 */
export class Access {
  private readonly lines: RefusalLines

  constructor (
    private readonly list: AccessList,
    private readonly book: AddressBook,
    private readonly ourName: string,
    print: (text: string) => void
  ) {
    this.lines = new RefusalLines(print)
  }

  /** undefined when `peer` may do `what` (`download`, `chat`); else the reason to send it, told on our terminal too. */
  refusal (peer: PeerId, what: string): string | undefined {
    const names = this.book.namesOf(peer.toString())
    if (this.list.allows(names)) return undefined
    const who = names[0] ?? peer.toString()
    this.lines.tell(peer.toString(), who, what, 'not on the access list')
    return `${this.ourName} does not serve ${who}: not on its access list`
  }

  /** Tell the refusals counted but not yet told; once the node no longer takes requests. */
  stop (): void {
    this.lines.stop()
  }

  register (commands: Commands): void {
    const changes = [
      { name: 'allow', summary: 'let NODE use this node; once any node is allowed, only allowed nodes may', change: async (n: string) => { await this.list.allow(n) }, told: 'may use this node' },
      { name: 'deny', summary: 'refuse NODE: it may not list, download from or chat with this node', change: async (n: string) => { await this.list.deny(n) }, told: 'is refused' }
    ]
    for (const { name, summary, change, told } of changes) {
      commands.register({
        name,
        args: 'NODE',
        summary,
        minArgs: 1,
        maxArgs: 1,
        run: async ([node], out) => {
          await change(checkName(node))
          out.line(`${node} ${told}`)
          this.show(out)
        }
      })
    }
    commands.register({
      name: 'access',
      args: '',
      summary: 'which nodes may use this one',
      minArgs: 0,
      maxArgs: 0,
      run: async (_args, out) => { this.show(out) }
    })
  }

  private show (out: { line(text: string): void }): void {
    const { allow, deny } = this.list.list()
    out.line(allow.length === 0 ? 'allowed: any node' : `allowed: ${allow.join(', ')}`)
    if (deny.length > 0) out.line(`refused: ${deny.join(', ')}`)
  }
}

export function checkName (name: string): string {
  if (!isValidName(name)) throw new UsageError(`${quoted(name)} is not a node name (lower-case DNS labels, such as fake2.dev)`)
  return name
}
