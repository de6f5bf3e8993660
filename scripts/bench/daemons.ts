/**
 * The benchmarks' daemons are the end-to-end tests' (`TestNode`, test/helpers.ts): `hwd start`
 * child processes on 127.0.0.1 with mDNS off, each in its own home. Here is what the benchmarks
 * ask of them besides; `stopAll` (test/helpers.ts) kills whatever a failed run left.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { request } from '../../daemon/control-client.ts'
import type { Status } from '../../daemon/daemon.ts'
import { homePaths } from '../../storage/home.ts'
import { Drive } from '../../storage/vfs.ts'
import { eventually, TestNode } from '../../test/helpers.ts'
import { checkCopy, type SourceFile } from './files.ts'
import { cpuSeconds } from './stats.ts'

export const RECEIVER = 'fake.dev'
export const SENDER = 'fake2.dev'
/** The drive the transfer benchmarks download in. */
export const DRIVE = 'file-transfer:template.os'

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

/** Where `file` lives in the file-transfer drive of a home. */
export async function drivePath (home: string, file: string): Promise<string> {
  return join((await Drive.open(homePaths(home).vfs, DRIVE)).root, file)
}

/**
 * Start a receiver in `dir`, then a sender told where it is, and wait until they know each
 * other's names; from `cli`, another build's dist/daemon/cli.js, if given; both started with
 * `extra` options.
 */
export async function startPair (dir: string, cli?: string, extra: string[] = []): Promise<{ receiver: TestNode, sender: TestNode }> {
  const receiver = await TestNode.start({ name: RECEIVER, home: join(dir, 'home-1'), cli, extra })
  const sender = await TestNode.start({ name: SENDER, home: join(dir, 'home-2'), peers: [receiver.addr], cli, extra })
  await waitUntilKnows(receiver, SENDER)
  return { receiver, sender }
}

/**
 * Have the receiver download `file` from the sender's drive, timed from the control-socket
 * request to the end of the reply: the milliseconds, the processor seconds both daemons used
 * meanwhile, and the receiving daemon's last line.
 */
export async function timedDownload (receiver: TestNode, sender: TestNode, file: string): Promise<{ ms: number, cpuSeconds: number, reply: string }> {
  const pids = [receiver.pid, sender.pid]
  const cpu = await cpuSeconds(pids)
  let reply = ''
  const started = performance.now()
  await request(receiver.socket, receiver.home, { op: 'run', argv: [`download:${DRIVE}`, file, sender.name] }, {
    line: text => { reply = text }
  })
  const ms = performance.now() - started
  return { ms, cpuSeconds: await cpuSeconds(pids) - cpu, reply }
}

/** Check that the receiver's copy of `file` holds what `src` does, and delete it. */
export async function removeDownloaded (receiver: TestNode, file: string, src: SourceFile): Promise<void> {
  const received = await drivePath(receiver.home, file)
  await checkCopy(received, src)
  await rm(received)
}
