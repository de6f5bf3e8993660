/**
 * test/flood-target.ts's process, seen from a test: a bare libp2p node that holds (or asks for)
 * a slot on a relay, what it has printed, and a way to stop it like a peer that vanishes.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { eventually, type TestNode } from './helpers.ts'

const TARGET = fileURLToPath(new URL('./flood-target.js', import.meta.url))

const holders = new Set<Holder>()

export class Holder {
  output = ''
  readonly proc: ChildProcess

  constructor (relay: TestNode) {
    this.proc = spawn(process.execPath, [TARGET, `${relay.addr}/p2p/${relay.peerId}`], { stdio: ['ignore', 'pipe', 'inherit'] })
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => { this.output += d })
    holders.add(this)
  }

  /** What follows `word` on the first line that starts with it, once printed. */
  async line (word: string, timeoutMs = 10_000): Promise<string> {
    return await eventually(`${word} from the holder`, async () => {
      const m = new RegExp(`^${word}(?: (\\S*))?$`, 'm').exec(this.output)
      return m == null ? undefined : m[1] ?? ''
    }, timeoutMs)
  }

  async peerId (): Promise<string> {
    return await this.line('peer')
  }

  async relayed (): Promise<string> {
    return await this.line('relayed', 15_000)
  }

  async kill (): Promise<void> {
    if (this.proc.exitCode == null && this.proc.signalCode == null) {
      this.proc.kill('SIGKILL')
      await once(this.proc, 'exit')
    }
    holders.delete(this)
  }
}

/** Kill every holder a test started, for its `after`. */
export async function killHolders (): Promise<void> {
  await Promise.all([...holders].map(async h => { await h.kill() }))
}
