import { peerIdFromString } from '@libp2p/peer-id'
import type { Daemon } from './daemon.ts'
import { formatMinute, table } from './format.ts'
import { fingerprint } from '../protocol/names/index.ts'
import type { NameEntry } from '../storage/address-book.ts'

/** The address book's commands: what is pinned, and how, as SSH's known hosts shows it. */
export function registerNameCommands (daemon: Daemon): void {
  const { commands, names, node } = daemon

  commands.register({
    name: 'names',
    args: '',
    summary: 'every name this node knows: the key pinned to it, how and when it was learned',
    minArgs: 0,
    maxArgs: 0,
    async run (_args, out) {
      const connected = new Set(node.getPeers().map(p => p.toString()))
      const ours = [names.name, node.peerId.toString(), fingerprint(node.peerId), 'this node', '', '']
      const rows = names.entries().filter(e => e.name !== names.name).map(e => [
        e.name, e.peerId, fingerprint(peerIdFromString(e.peerId)), provenance(e, via => names.nameOrId(via)),
        e.learnedAt > 0 ? formatMinute(new Date(e.learnedAt)) : '', connected.has(e.peerId) ? 'connected' : ''
      ])
      for (const row of table([['name', 'peer id', 'key', 'learned', 'when (UTC)', ''], ours, ...rows])) out.line(row.trimEnd())
    }
  })

  commands.register({
    name: 'trust',
    args: 'NAME PEERID',
    summary: 'pin NAME to PEERID, as its holder told you out of band; no record from another key takes it',
    minArgs: 2,
    maxArgs: 2,
    async run ([name, peerId], out) {
      out.line(names.trust(name, peerId))
    }
  })

  commands.register({
    name: 'forget',
    args: 'NAME',
    summary: 'unpin NAME: the next record for it is taken as the first',
    minArgs: 1,
    maxArgs: 1,
    async run ([name], out) {
      out.line(names.forget(name))
    }
  })
}

/** How an entry's key came: from the user, from its holder, or through which peer. */
function provenance (entry: NameEntry, nameOf: (peerId: string) => string): string {
  if (entry.trusted) return 'trusted by you'
  if (entry.via == null) return 'first-hand'
  if (entry.via === '') return 'via a peer (before hwd noted which)'
  return `via ${nameOf(entry.via)}`
}
