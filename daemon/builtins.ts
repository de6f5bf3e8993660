import type { Daemon } from './daemon.ts'
import { usage } from './commands.ts'
import { PeerOfflineError, UsageError } from '../errors.ts'
import { deadline } from '../protocol/deadline.ts'
import { formatProgress, table } from './format.ts'
import type { TransferInfo } from './transfers.ts'
import { registerNameCommands } from './name-commands.ts'

const PING_TIMEOUT_MS = 10_000

/** The terminal's own commands, beside those the packages bring. */
export function registerBuiltins (daemon: Daemon): void {
  const { commands, names, node } = daemon

  commands.register({
    name: 'help',
    args: '',
    summary: 'list every command with its usage',
    minArgs: 0,
    maxArgs: 0,
    async run (_args, out) {
      const list = commands.list()
      for (const row of table([['command', 'what it does'], ...list.map(c => [usage(c), c.summary])])) out.line(row)
    }
  })

  commands.register({
    name: 'peers',
    args: '',
    summary: 'the nodes connected now',
    minArgs: 0,
    maxArgs: 0,
    async run (_args, out) {
      const peers = (await daemon.status()).peers
      if (peers.length === 0) { out.line('no peers connected'); return }
      for (const row of table([['name', 'peer id', 'route', 'address'], ...peers.map(p => [p.name ?? '?', p.peerId, p.route, p.addresses.join(' ')])])) out.line(row)
    }
  })

  registerNameCommands(daemon)

  commands.register({
    name: 'transfers',
    args: '',
    summary: 'the file transfers running, with progress, and those cut off that a download resumes',
    minArgs: 0,
    maxArgs: 0,
    async run (_args, out) {
      const list = daemon.transfers.list()
      const interrupted = await daemon.interrupted()
      if (list.length === 0 && interrupted.length === 0) { out.line('no transfers'); return }
      const rows = [
        ...list.map(t => [t.id, t.direction, t.label, t.peer, formatProgress(t.done, t.total)]),
        ...interrupted.map(i => ['-', 'cut off', i.file, i.source, formatProgress(i.have, i.size)])
      ]
      for (const row of table([['id', 'state', 'file', 'peer', 'progress'], ...rows])) out.line(row)
    }
  })

  commands.register({
    name: 'cancel',
    args: 'ID|FILE',
    summary: 'stop a running transfer; a cancelled download removes what it wrote',
    minArgs: 1,
    maxArgs: 1,
    async run ([target], out) {
      const found = daemon.transfers.find(target)
      if (found.length === 0) throw new UsageError(`no running transfer has the id or file ${JSON.stringify(target)}; see transfers`)
      // a file served to two peers, or fetched into two drives: stopping all of them is never what was meant
      if (found.length > 1) throw new UsageError(`${target} is in ${found.length} running transfers (${found.map(describeTransfer).join(', ')}); cancel one by its id`)
      const [t] = found
      daemon.transfers.cancel(t.id)
      out.line(`cancelled ${t.direction} ${t.id} of ${t.label}`)
    }
  })

  commands.register({
    name: 'ping',
    args: 'NODE',
    summary: 'round-trip time to a node, dialing it by name',
    minArgs: 1,
    maxArgs: 1,
    async run ([name], out, signal) {
      const connection = await names.connect(name, { signal })
      const limit = deadline(PING_TIMEOUT_MS, signal)
      let rtt: number
      try {
        rtt = await node.services.ping.ping(connection.remotePeer, { signal: limit })
      } catch (err: any) {
        throw new PeerOfflineError(`${name} did not answer a ping${limit.aborted && !signal.aborted ? ` within ${PING_TIMEOUT_MS / 1000}s` : ` (${err.message})`}`)
      }
      out.line(`${name} (${connection.remotePeer.toString()}): ${rtt} ms`)
    }
  })
}

/** `3f9a0c1e: upload to fake3.dev from chat-with-file-transfer:template.os` */
function describeTransfer (t: TransferInfo): string {
  return `${t.id}: ${t.direction} ${t.direction === 'download' ? `from ${t.peer} into` : `to ${t.peer} from`} ${t.drive}`
}
