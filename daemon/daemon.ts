import { dirname } from 'node:path'
import { logger } from '@libp2p/logger'
import { CODE_P2P } from '@multiformats/multiaddr'
import type { PeerId, PeerInfo } from '@libp2p/interface'
import { NameService, type Learned } from '../protocol/names/index.ts'
import { BOOK_CAPACITY } from '../protocol/names/constants.ts'
import { AccessList } from '../storage/access-list.ts'
import { AddressBook } from '../storage/address-book.ts'
import { ensureHome, homePaths, type HomePaths } from '../storage/home.ts'
import type { Drive } from '../storage/vfs.ts'
import { loadOrCreateIdentity } from '../storage/identity.ts'
import { HomeLock } from '../storage/lock.ts'
import { Access } from './access.ts'
import { registerBuiltins } from './builtins.ts'
import { Commands } from './commands.ts'
import { ControlServer } from './control.ts'
import { createNode, listenAddrs, type HwdLibp2p } from './node.ts'
import { BUILTIN_PACKAGES, PackageHost, packageDirsIn, type LoadedPackage } from './packages.ts'
import { describeGrant } from './sandbox/capabilities.ts'
import { PeerKeeper, type PeerTarget } from './peer-keeper.ts'
import { isRelayed, relayOf } from './addresses.ts'
import { Reachability } from './reachability.ts'
import type { RelayLimits } from './relay.ts'
import { publishCommand, Releases } from './releases.ts'
import { installCommand, Installer, uninstallCommand } from './install.ts'
import type { Echo } from './terminal.ts'
import { TransferTable, type TransferInfo } from './transfers.ts'
import { loadOrCreateWebSecret } from '../storage/web-secret.ts'
import { WebServer } from './web/server.ts'
import { pageState } from './web/state.ts'

const log = logger('hwd:daemon')

/** The terminal a daemon prints to and echoes its control clients' commands on. */
export type Terminal = Echo & { line(text: string): void }

export interface DaemonOptions {
  name: string
  port: number
  home: string
  host: string
  peers: PeerTarget[]
  announce: string[]
  mdns: boolean
  /** package folders to load besides the built-in ones and those in `<home>/packages/` */
  packages: string[]
  /** serve as a relay for NAT'd nodes, with these limits */
  relay?: RelayLimits
  /** names added to the access list at start (--allow) */
  allow: string[]
  /** serve the releases installed here, as well as those published here */
  mirror: boolean
  /** where the web page listens (port 0: any free one); none without */
  http?: { host: string, port: number }
}

export interface Status {
  name: string
  peerId: string
  pid: number
  home: string
  listen: string[]
  addresses: string[]
  peers: Array<{ peerId: string, name?: string, addresses: string[], route: string, relay?: string }>
  /** `relay`: serving NAT'd nodes; `relayed`: behind a NAT, reached through a relay; `unreachable`: behind a NAT, and no relay holds a slot for it; else `direct` */
  reachability: 'direct' | 'relayed' | 'unreachable' | 'relay'
  /** the relays holding a slot for this node, by name where known, else peer id */
  relays: string[]
  /** a relay's (`--relay`) slots: how many NAT'd nodes may hold one, and who does, soonest to expire first */
  slots?: { limit: number, held: Array<{ peerId: string, name?: string, expires: string }> }
  names: Array<{ name: string, peerId: string }>
  /** `holds`: what a sandboxed package was granted; absent for a built-in one */
  packages: Array<{ id: string, version: string, dir: string, holds?: string }>
  transfers: TransferInfo[]
  /** the web page's address, key included */
  web?: string
  /** downloads cut off that the next download of the same file resumes */
  interrupted: Interrupted[]
}

export interface Interrupted {
  package: string
  file: string
  source: string
  have: number
  size: number
}

/**
 * One running node: its home (locked), key, libp2p node, names, commands, the terminal's
 * output and the control socket. `start` brings them up in order and `stop` takes them down
 * in reverse, so nothing is left behind: no socket, no lock, no open connection.
 */
export class Daemon {
  readonly transfers = new TransferTable()
  private readonly packages: PackageHost
  private readonly reachability: Reachability
  private web?: WebServer

  private constructor (
    readonly options: DaemonOptions,
    readonly paths: HomePaths,
    readonly node: HwdLibp2p,
    readonly names: NameService,
    readonly commands: Commands,
    private readonly lock: HomeLock,
    private readonly terminal: Terminal,
    private readonly keeper: PeerKeeper,
    private readonly control: ControlServer,
    readonly access: Access,
    readonly releases: Releases
  ) {
    this.reachability = new Reachability(node, options.announce.length > 0, {
      slot: (relay, holds) => {
        const name = names.nameOrId(relay)
        terminal.line(holds ? `reachable through relay ${name}` : `relay ${name} no longer holds a slot for this node`)
      },
      none: () => { terminal.line('no relay holds a slot for this node, which is behind a NAT: nodes outside cannot reach it') }
    })
    this.packages = new PackageHost({ node, names, paths, transfers: this.transfers, commands, print: text => { terminal.line(text) }, access, origin: pkg => this.origin(pkg), publish: (pkg, topic, detail) => { this.web?.publish(pkg, topic, detail) }, changed: () => { this.web?.packagesChanged() } })
  }

  static async start (options: DaemonOptions, terminal: Terminal): Promise<Daemon> {
    const paths = homePaths(options.home)
    await ensureHome(paths)
    const lock = await HomeLock.acquire(paths)
    try {
      const privateKey = await loadOrCreateIdentity(paths.identityKey)
      const book = await AddressBook.open(paths.addressBook, { capacity: BOOK_CAPACITY, legacyPath: paths.legacyAddressBook })
      const list = await AccessList.open(paths.accessList)
      for (const name of options.allow) await list.allow(name)
      const node = await createNode({ privateKey, host: options.host, port: options.port, announce: options.announce, mdns: options.mdns, relay: options.relay != null ? { ...options.relay, print: text => { terminal.line(text) } } : undefined })
      try {
        const names = new NameService({ node, privateKey, name: options.name, book, report: text => { terminal.line(text) } })
        const commands = new Commands()
        const control = new ControlServer(paths.socket, commands, terminal)
        const releases = await Releases.open({ node, privateKey, name: options.name, dir: paths.releases, mirror: options.mirror })
        const daemon = new Daemon(options, paths, node, names, commands, lock, terminal, new PeerKeeper(node, options.peers), control, new Access(list, book, options.name, text => { terminal.line(text) }), releases)
        await daemon.bringUp()
        return daemon
      } catch (err) {
        await node.stop()
        throw err
      }
    } catch (err) {
      await lock.release()
      throw err
    }
  }

  private async bringUp (): Promise<void> {
    registerBuiltins(this)
    this.access.register(this.commands)
    await this.names.start()
    this.commands.register(publishCommand(this.releases))
    await this.releases.start(peer => this.access.refusal(peer, 'packages'))
    const installer = new Installer({ node: this.node, names: this.names, releases: this.releases, dir: this.paths.packages, packages: this.packages })
    await installer.clean()
    this.commands.register(installCommand(installer))
    this.commands.register(uninstallCommand(installer))
    this.packages.fetchWith(async (id, signal) => { await installer.fetchDependency(id, signal, text => { this.terminal.line(text) }) })
    await this.packages.load([...BUILTIN_PACKAGES, ...await packageDirsIn(this.paths.packages), ...this.options.packages])
    if (this.options.http != null) await this.startWeb(this.options.http)
    await this.control.start(async () => await this.status())
    this.node.services.mdns?.addEventListener('peer', this.onDiscovery)
    this.node.addEventListener('peer:connect', this.onConnect)
    this.node.addEventListener('peer:disconnect', this.onDisconnect)
    this.names.addEventListener('learned', this.onLearned)
    this.reachability.start()
    this.keeper.start()
    // after the keeper: a dependency is fetched from the peers it connects to
    void this.packages.fetchMissing()
  }

  private async startWeb ({ host, port }: { host: string, port: number }): Promise<void> {
    const drives = (): Drive[] => this.packages.list().map(p => p.drive)
    this.web = new WebServer({
      secret: await loadOrCreateWebSecret(this.paths.webSecret),
      commands: this.commands,
      echo: this.terminal,
      state: async () => await pageState(this.summary(), drives(), this.commands),
      transfers: () => ({ running: this.transfers.list(), ended: this.transfers.recent() }),
      drives
    })
    await this.web.start(host, port)
  }

  /** `direct`, or `relayed via r.dev` for a peer reached only through a relay. */
  private route (peer: PeerId): { route: string, relay?: string } {
    const connections = this.node.getConnections(peer)
    if (connections.length === 0 || connections.some(c => !isRelayed(c.remoteAddr))) return { route: 'direct' }
    const relay = relayOf(connections[0].remoteAddr)
    if (relay == null) return { route: 'relayed' }
    return { route: `relayed via ${this.names.nameOrId(relay)}`, relay }
  }

  /** Peers whose connection the terminal was told of, so that it hears of each leaving once. */
  private readonly told = new Set<string>()

  /**
   * `fake2.dev connected`, as Hyperware's terminal says: at once for a name we know, or when a
   * first meeting brings the name. A peer that never names itself is not announced.
   */
  private tellConnected (peer: PeerId): void {
    const name = this.names.nameOf(peer)
    const key = peer.toString()
    if (name == null || this.told.has(key) || this.node.getConnections(peer).length === 0) return
    this.told.add(key)
    this.terminal.line(`${name} connected`)
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => { this.tellConnected(evt.detail); this.web?.changed() }
  private readonly onLearned = (evt: Event): void => { this.tellConnected((evt as CustomEvent<Learned>).detail.peerId); this.web?.changed() }
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.web?.changed()
    const peer = evt.detail
    if (this.told.delete(peer.toString())) this.terminal.line(`${this.names.nameOf(peer) ?? peer.toString()} disconnected`)
  }

  /**
   * mDNS only finds peers; dialing them is ours to do. Its own 'peer' event fires on every
   * answer, every few seconds, unlike libp2p's 'peer:discovery', which fires once per peer
   * ever seen (missing those found during start-up, and never again after a dropped link) and
   * for every peer added to the peer store, named ones included.
   */
  private readonly onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    const peer = evt.detail
    if (this.node.getConnections(peer.id).length > 0) return
    this.node.dial(peer.id, { signal: AbortSignal.timeout(5_000) })
      .catch(err => { log('could not dial discovered peer %p - %e', peer.id, err) })
  }

  /** Where a package that is not built in came from, for `hwd packages`. */
  private origin (pkg: LoadedPackage): string {
    const hash = dirname(pkg.dir) === this.paths.packages ? this.releases.hashOf(pkg.id, pkg.metadata.version) : undefined
    return hash != null ? `installed, blake3 ${hash.slice(0, 16)}…` : `from ${pkg.dir}`
  }

  /** Downloads cut off in any package's drive and not running now. */
  async interrupted (): Promise<Interrupted[]> {
    const found: Interrupted[] = []
    for (const pkg of this.packages.list()) {
      for (const p of await pkg.drive.partials()) {
        if (!this.transfers.has('download', pkg.id, p.record.file)) found.push({ package: pkg.id, file: p.record.file, source: p.record.source, have: p.have, size: p.record.size })
      }
    }
    return found
  }

  async status (): Promise<Status> {
    return { ...this.summary(), interrupted: await this.interrupted() }
  }

  /** The status without the interrupted downloads, which take a read of every drive: what the page shows. */
  private summary (): Omit<Status, 'interrupted'> {
    return {
      name: this.options.name,
      peerId: this.node.peerId.toString(),
      pid: process.pid,
      home: this.paths.root,
      listen: listenAddrs(this.node).map(a => a.toString()),
      addresses: this.node.getMultiaddrs().map(a => a.toString()),
      peers: this.node.getPeers().map(id => ({
        peerId: id.toString(),
        name: this.names.nameOf(id),
        addresses: this.node.getConnections(id).map(c => c.remoteAddr.decapsulateCode(CODE_P2P).toString()),
        ...this.route(id)
      })),
      reachability: this.node.services.relay != null ? 'relay' : this.reachability.reached,
      relays: this.reachability.relays().map(id => this.names.nameOrId(id)).sort(),
      slots: this.options.relay != null ? { limit: this.options.relay.reservations, held: this.node.services.relaySlots?.list().map(s => ({ peerId: s.peer.toString(), name: this.names.nameOf(s.peer), expires: s.expires.toISOString() })) ?? [] } : undefined,
      names: this.names.names(),
      packages: this.packages.list().map(p => ({ id: p.id, version: p.metadata.version, dir: p.dir, holds: p.sandbox != null ? describeGrant(p.sandbox.capabilities, p.metadata.dependencies) : undefined })),
      transfers: this.transfers.list(),
      web: this.web?.address
    }
  }

  async stop (): Promise<void> {
    this.node.services.mdns?.removeEventListener('peer', this.onDiscovery)
    this.node.removeEventListener('peer:connect', this.onConnect)
    this.node.removeEventListener('peer:disconnect', this.onDisconnect)
    this.names.removeEventListener('learned', this.onLearned)
    await this.web?.stop()
    this.reachability.stop()
    await this.keeper.stop()
    await this.control.stop()
    await this.packages.stop()
    await this.releases.stop()
    await this.names.stop()
    await this.node.stop()
    this.access.stop()
    this.node.services.relaySlots?.stop()
    await this.lock.release()
  }
}
