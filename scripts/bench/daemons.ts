/**
 * The benchmarks' daemons are the end-to-end tests' (`TestNode`, test/helpers.ts): `hwd start`
 * child processes on 127.0.0.1 with mDNS off, each in its own home. Here is what the benchmarks
 * ask of them besides; `stopAll` (test/helpers.ts) kills whatever a failed run left.
 */
import { request } from '../../daemon/control-client.ts'
import type { Status } from '../../daemon/daemon.ts'
import { eventually, type TestNode } from '../../test/helpers.ts'

/** Names spread when the second node connects to the first, which it retries on its own. */
const NAMES_TIMEOUT_MS = 15_000

/** Stop it as a user would, and insist that it stops cleanly. */
export async function stopCleanly (node: TestNode): Promise<void> {
  const code = await node.stop()
  if (code !== 0) throw new Error(`${node.name}: exited with ${code} after SIGTERM\n${node.output}${node.errors}`)
}

async function knownNames (node: TestNode): Promise<string[]> {
  let status: Status | undefined
  await request(node.socket, node.home, { op: 'status' }, { status: s => { status = s as Status } })
  return status?.names.map(n => n.name) ?? []
}

/** Poll the node's status until it knows `name`: names spread once the nodes connect. */
export async function waitUntilKnows (node: TestNode, name: string): Promise<void> {
  await eventually(`${node.name} to learn ${name}`, async () => (await knownNames(node)).includes(name), NAMES_TIMEOUT_MS)
}
