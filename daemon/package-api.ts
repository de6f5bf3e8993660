/**
 * What a package sees of the node: the types a package entry is written against
 * (`import type { PackageContext } from 'hwd/package'`), and the few helpers every package
 * needs to treat a peer's words with care: one-line errors, escaping, names that are one path
 * segment, deadlines, length-prefixed frames. The built-in packages import nothing else of
 * the daemon's: only this, `hwd/file-transfer` and the protocols under `hwd/protocol/`.
 *
 * A package is a folder holding `metadata.json` and an ES module entry. The daemon reads the
 * metadata, starts the packages it depends on first, then calls the entry's `start(ctx)`.
 * `start` returns the package's scripts (terminal commands `script:package:publisher`) and,
 * if the package exports an API, the object its dependents receive in `ctx.deps`.
 */
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import type { Logger } from '@libp2p/logger'
import type { Drive } from '../storage/vfs.ts'
import type { CommandOutput, Progress } from './commands.ts'
import type { TransferTable } from './transfers.ts'
import type { Capability } from './sandbox/capabilities.ts'

export type { CommandOutput, Progress, Drive, TransferTable }
export type { DriveFile, OpenFile } from '../storage/vfs.ts'
export { asError, describeError, HwdError, peerReason, printable, quoted } from '../errors.ts'
export { formatBytes, table } from './format.ts'
export { checkFileName, fileVersion, isValidFileName } from '../storage/vfs.ts'
export { deadline } from '../protocol/deadline.ts'
export { framed } from '../protocol/framing.ts'

/** `metadata.json`, in the spirit of Hyperware's. */
export interface PackageMetadata {
  package_name: string
  publisher: string
  version: string
  description?: string
  /** the ES module to start, relative to the package folder */
  entry: string
  /** packages whose APIs this one imports: `file-transfer:template.os` */
  dependencies: string[]
  /**
   * what a package that is not built in may do beyond its drive, state folder and its
   * dependencies' APIs: `net` (dial nodes, handle its own protocols `/<package>:<publisher>/...`),
   * `terminal` (print to the node's terminal); anything else is refused at load
   */
  capabilities: Capability[]
  /** the terminal scripts offered, by script name: `download` becomes `download:package:publisher` */
  scripts: Record<string, ScriptMetadata>
}

export interface ScriptMetadata {
  /** the arguments, as `help` shows them: `FILE NODE` */
  args: string
  summary: string
  minArgs: number
  maxArgs?: number
}

export interface PackageContext {
  /** `package:publisher` */
  readonly id: string
  readonly metadata: PackageMetadata
  /** this node */
  readonly our: { readonly name: string, readonly peerId: PeerId }
  readonly node: Libp2p
  /** this package's files drive, `<home>/vfs/<id>/files/` */
  readonly drive: Drive
  /** a directory of this package's own, for state that is not files to share */
  readonly stateDir: string
  /** the APIs of the packages named in `dependencies`, by id */
  readonly deps: Readonly<Record<string, unknown>>
  /** the node's running transfers, shown by `transfers` and `hwd status` */
  readonly transfers: TransferTable
  readonly log: Logger
  /** aborted when the daemon stops */
  readonly signal: AbortSignal
  /** a line on the node's terminal */
  print(text: string): void
  /** tell the node's web page that something happened (`message`: a chat entry), to show it at once */
  publish(topic: string, detail: unknown): void
  /** a connection to the node called `name`, or a one-line error (unknown, offline) */
  connect(name: string, options?: { signal?: AbortSignal }): Promise<Connection>
  /** the peer id a name is pinned to, without dialing, or a one-line error listing the names known */
  resolve(name: string): PeerId
  /** the name a peer goes by, if known */
  nameOf(peer: PeerId): string | undefined
  /**
   * undefined when `peer` may do `what` (`download of x.bin`) by the node's access list; else
   * the reason to send it back with REFUSED, which is also told on the node's terminal
   */
  refusal(peer: PeerId, what: string): string | undefined
  /** the relay a connection goes through, by name (else peer id); undefined for a direct connection */
  relayOf(connection: Connection): string | undefined
}

export interface ScriptIO {
  out: CommandOutput
  signal: AbortSignal
}

export type Script = ((args: string[], io: ScriptIO) => Promise<void>) & {
  /** the words that may come after `args` on the terminal, for tab completion (file names, say) */
  complete?: (args: string[]) => string[]
}

export interface PackageRuntime {
  scripts?: Record<string, Script>
  /** what dependents get in `ctx.deps[id]` */
  api?: unknown
  stop?(): Promise<void>
}

/** The shape of a package's entry module. */
export interface PackageEntry {
  start(ctx: PackageContext): Promise<PackageRuntime> | PackageRuntime
}
