/**
 * Real daemons for the benchmarks: `hwd start` child processes on 127.0.0.1 with mDNS off, each
 * in its own home, and the few questions the benchmarks ask them.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { request } from '../../daemon/control-client.ts'
import type { Status } from '../../daemon/daemon.ts'
import { homePaths } from '../../storage/home.ts'

const CLI = fileURLToPath(new URL('../../daemon/cli.js', import.meta.url))
/** A first start makes the node's key and loads its packages; allow a slow machine that long. */
const START_TIMEOUT_MS = 15_000
/** Names spread when the second node connects to the first, which it retries on its own. */
const NAMES_TIMEOUT_MS = 15_000
const POLL_MS = 100

/** One `hwd start` child process. */
export class DaemonProcess {
  private output = ''
  private errors = ''
  private readonly exited: Promise<number | null>

  private constructor (readonly name: string, readonly home: string, private readonly proc: ChildProcess) {
    // Read stdout to the end, not just until start-up: a node prints every message and every
    // download's progress, and a full pipe would stall it.
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => { this.output += d })
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => { this.errors += d })
    this.exited = new Promise(resolve => proc.once('exit', code => { resolve(code) }))
  }

  static spawn (name: string, home: string, extraArgs: string[] = []): DaemonProcess {
    const args = ['start', '--name', name, '--home', home, '--host', '127.0.0.1', '--port', '0', '--no-mdns', ...extraArgs]
    return new DaemonProcess(name, home, spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }))
  }

  get pid (): number {
    return this.proc.pid!
  }

  get socket (): string {
    return homePaths(this.home).socket
  }

  /** The TCP port it listens on; known once `started` has resolved. */
  get port (): number {
    const m = /^listening\s+\/ip4\/127\.0\.0\.1\/tcp\/(\d+)/m.exec(this.output)
    if (m == null) throw new Error(`${this.name} printed no listening address:\n${this.output}`)
    return Number(m[1])
  }

  /** Resolves when the daemon has printed its `home` line, the last of its start-up lines. */
  async started (): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS
    while (!/^home\s+/m.test(this.output)) {
      if (this.proc.exitCode != null || this.proc.signalCode != null) throw this.failure('exited during start-up')
      if (Date.now() > deadline) throw this.failure(`not started within ${START_TIMEOUT_MS} ms`)
      await sleep(POLL_MS)
    }
  }

  /** Stop it as a user would, and insist that it stops cleanly. */
  async stop (): Promise<void> {
    this.proc.kill('SIGTERM')
    const code = await this.exited
    if (code !== 0) throw this.failure(`exited with ${code} after SIGTERM`)
  }

  async kill (): Promise<void> {
    if (this.proc.exitCode == null && this.proc.signalCode == null) this.proc.kill('SIGKILL')
    await this.exited
  }

  private failure (what: string): Error {
    return new Error(`${this.name}: ${what}\n${this.output}${this.errors}`)
  }
}

async function knownNames (node: DaemonProcess): Promise<string[]> {
  let status: Status | undefined
  await request(node.socket, node.home, { op: 'status' }, { status: s => { status = s as Status } })
  return status?.names.map(n => n.name) ?? []
}

/** Poll the node's status until it knows `name`: names spread once the nodes connect. */
export async function waitUntilKnows (node: DaemonProcess, name: string): Promise<void> {
  const deadline = Date.now() + NAMES_TIMEOUT_MS
  while (!(await knownNames(node)).includes(name)) {
    if (Date.now() > deadline) throw new Error(`${node.name} did not learn ${name} within ${NAMES_TIMEOUT_MS} ms`)
    await sleep(POLL_MS)
  }
}
