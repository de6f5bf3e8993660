import type { Daemon } from './daemon.ts'
import { usage } from './commands.ts'
import { formatBytes, table } from './format.ts'

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
      const peers = daemon.status().peers
      if (peers.length === 0) { out.line('no peers connected'); return }
      for (const row of table([['name', 'peer id', 'address'], ...peers.map(p => [p.name ?? '?', p.peerId, p.addresses.join(' ')])])) out.line(row)
    }
  })

  commands.register({
    name: 'names',
    args: '',
    summary: 'every name this node knows, and the peer id pinned to it',
    minArgs: 0,
    maxArgs: 0,
    async run (_args, out) {
      const connected = new Set(node.getPeers().map(p => p.toString()))
      const rows = names.names().map(n => [
        n.name, n.peerId,
        n.peerId === node.peerId.toString() ? 'this node' : connected.has(n.peerId) ? 'connected' : ''
      ])
      for (const row of table([['name', 'peer id', ''], ...rows])) out.line(row.trimEnd())
    }
  })

  commands.register({
    name: 'transfers',
    args: '',
    summary: 'the file transfers running, with progress',
    minArgs: 0,
    maxArgs: 0,
    async run (_args, out) {
      const list = daemon.transfers.list()
      if (list.length === 0) { out.line('no transfers running'); return }
      const rows = list.map(t => [
        t.id, t.direction, t.label, t.peer,
        t.total == null ? formatBytes(t.done) : `${formatBytes(t.done)} / ${formatBytes(t.total)} (${Math.floor(t.done * 100 / Math.max(t.total, 1))}%)`
      ])
      for (const row of table([['id', 'direction', 'file', 'peer', 'progress'], ...rows])) out.line(row)
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
      const rtt = await node.services.ping.ping(connection.remotePeer, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) })
      out.line(`${name} (${connection.remotePeer.toString()}): ${rtt} ms`)
    }
  })
}
