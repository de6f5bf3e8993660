/**
 * scripts/nat.sh's topology, for the tests and the relay benchmark: two homes behind
 * masquerading routers (n1 and n2), a relay on the "public" segment, and daemons started
 * through the real CLI inside them.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { tempHome, TestNode } from './helpers.ts'

const NAT = fileURLToPath(new URL('../../scripts/nat.sh', import.meta.url))
export const RELAY = '203.0.113.1'
/** a second relay on the public segment, for nodes that know two */
export const RELAY2 = '203.0.113.4'
export const LAN = { n1: '198.51.100.2', n2: '198.51.100.130' }
export const HOSTS = { relay: RELAY, relay2: RELAY2, ...LAN }
export type Host = keyof typeof HOSTS

/** Why this machine cannot build the topology, or undefined when it can. */
export function cannotBuildNat (): string | undefined {
  return cannotUseNamespaces(['ip', 'iptables'])
}

/** Why this machine cannot make network namespaces with `tools`, or undefined when it can. */
export function cannotUseNamespaces (tools: string[]): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'making network namespaces needs root'
  for (const tool of tools) {
    const r = spawnSync(tool, ['-V'], { encoding: 'utf8' })
    if (r.error != null || r.status !== 0) return `no ${tool} command`
  }
  return undefined
}

export class NatTopology {
  constructor (readonly prefix: string) {}

  up (): void { this.nat('up') }
  down (): void { this.nat('down') }

  /** A command line that runs inside `host`'s namespace. */
  in (host: Host): string[] {
    return ['ip', 'netns', 'exec', `${this.prefix}${host}`]
  }

  /** hwd started in `host`'s namespace on port 8080; the relays with --relay, the others with --peer to the first relay. */
  async start (host: Host, name: string, options: { home?: string, extra?: string[] } = {}): Promise<TestNode> {
    const home = options.home ?? await tempHome(`${this.prefix}-${host}-`)
    const role = host === 'relay' || host === 'relay2' ? ['--relay'] : ['--peer', `${RELAY}:8080`]
    return await TestNode.start({ name, home, prefix: this.in(host), host: HOSTS[host], port: 8080, startMs: 20_000, extra: [...role, ...options.extra ?? []] })
  }

  private nat (verb: 'up' | 'down'): void {
    const r = spawnSync('bash', [NAT, verb, this.prefix], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`nat.sh ${verb} failed (${r.status}): ${r.stderr}`)
  }
}

/**
 * Whether `relay`'s own status lists a slot for each of `nodes`: a relay just (re)started holds
 * none until they reserve again, whereas their relayed addresses stay the same through a restart.
 */
export async function holdsSlots (relay: TestNode, ...nodes: TestNode[]): Promise<boolean> {
  const held = (await relay.status()).slots?.held.map(h => h.peerId) ?? []
  return nodes.every(n => held.includes(n.peerId))
}

/** Whether `node` holds a relayed address of its own (its reservation), as its status says. */
export async function reserved (node: TestNode): Promise<boolean> {
  return (await node.status()).addresses.some(a => a.startsWith(`/ip4/${RELAY}/tcp/8080/p2p/`) && a.includes('/p2p-circuit/'))
}
