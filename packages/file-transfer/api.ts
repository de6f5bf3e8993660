/**
 * The API `file-transfer:template.os` exports (`import type { FileTransferApi } from
 * 'hwd/file-transfer'`): a package that lists `file-transfer:template.os` in its
 * dependencies finds it in `ctx.deps['file-transfer:template.os']`.
 *
 * As in Hyperware's `file-transfer-worker` API, `startDownload(our, ...)` spawns one worker for
 * one transfer. With `isRequester: true` the worker fetches a file from another node into the
 * calling package's drive; with `isRequester: false` it serves one request on a stream.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import type { DriveFile, PackageContext, Progress, Script } from 'hwd/package'

export const FILE_TRANSFER = 'file-transfer:template.os'

export interface RequesterOptions {
  isRequester: true
  /** the node that has the file */
  source: string
  file: string
  /** the worker's reports to its parent, as it goes */
  onProgress?(update: Progress): void
  /** told once when a download picks up a partial file: `resuming FILE at 212.0 MiB` */
  onResume?(offset: number): void
  signal?: AbortSignal
}

export interface ServerOptions {
  isRequester: false
  /** the stream of a download request, already read */
  stream: Stream
  /** who asked */
  peer: PeerId
  file: string
  offset: number
  /** resume at `offset` only if the file is still this version; otherwise send it whole */
  ifVersion: Uint8Array
  /** what the connection may still carry (a relay's cap), if it is capped */
  maxBytes?: bigint
}

export interface DownloadResult {
  file: string
  source: string
  size: number
  /** the whole file's BLAKE3, hex */
  blake3: string
  /** where the body started: above 0 when a partial download was resumed */
  resumedAt: number
  ms: number
}

export interface FileListing {
  /** the files offered whose names this node accepts */
  files: DriveFile[]
  /**
   * how many names the node offered that are not one valid path segment (`..`, a separator,
   * a control character...): left out, never shown or created here
   */
  refused: number
}

export interface Worker<T> {
  /** unique on this node, as `transfers` shows it */
  readonly id: string
  /** settles when the worker exits: the result, or the one-line reason it failed */
  readonly done: Promise<T>
}

export interface FileTransferApi {
  startDownload(our: PackageContext, options: RequesterOptions): Worker<DownloadResult>
  startDownload(our: PackageContext, options: ServerOptions): Worker<void>
  /** The files `node` offers in the drive of `our` package. */
  listFiles(our: PackageContext, node: string, options?: { signal?: AbortSignal }): Promise<FileListing>
  /** Offer `our` package's drive to other nodes' download and list requests. */
  serve(our: PackageContext): void
  /** The terminal scripts `download FILE NODE` and `list-files NODE` on the drive of `our` package. */
  scripts(our: PackageContext): Record<'download' | 'list-files', Script>
}
