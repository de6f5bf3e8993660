import type { Drive } from '../../storage/vfs.ts'
import type { PageState } from '../../web/api.ts'
import type { Commands } from '../commands.ts'
import type { Status } from '../daemon.ts'

/** What the page shows of the node: its status (as `hwd status` has it), every drive's files, the commands. */
export async function pageState (status: Omit<Status, 'interrupted'>, drives: Drive[], commands: Commands): Promise<PageState> {
  const { name, peerId, listen, addresses, reachability, peers, names } = status
  return {
    name,
    peerId,
    listen,
    addresses,
    reachability,
    peers,
    names,
    packages: status.packages.map(({ id, version }) => ({ id, version })),
    drives: await Promise.all(drives.map(async d => ({ package: d.id, files: await d.list() }))),
    commands: commands.list().map(c => c.name)
  }
}
