/**
 * `file-transfer:template.os`: serves its drive, and exports the worker API (`api.ts`) that
 * other packages import to download into theirs.
 */
import type { Connection, Stream } from '@libp2p/interface'
import {
  asError, checkFileName, deadline, describeError, formatBytes, framed, isValidFileName, peerReason, table,
  type PackageContext, type PackageRuntime, type Script
} from 'hwd/package'
import {
  BLAKE3_NATIVE, HEADER_TIMEOUT_MS, MAX_INBOUND_STREAMS, MAX_LIST_ENTRIES, MAX_OUTBOUND_STREAMS, MAX_REQUEST_BYTES,
  MAX_RESPONSE_BYTES, MAX_UPLOADS, MAX_UPLOADS_PER_PEER, PROTOCOL, Request, Response
} from 'hwd/protocol/file-transfer'
import type { DownloadResult, FileListing, FileTransferApi, RequesterOptions, ServerOptions, Worker } from './api.ts'
import { download, DownloadError, newTransferId, notServed } from './download.ts'
import { HashCheckpoints } from './checkpoints.ts'
import { HashCache, respond, upload } from './upload.ts'

export async function start (ctx: PackageContext): Promise<PackageRuntime> {
  if (!BLAKE3_NATIVE) ctx.print(`file-transfer: no native BLAKE3 for ${process.platform}-${process.arch}; hashing files in JavaScript, at a few tens of MB/s`)
  const served = new Map<string, PackageContext>()
  const hashes = new HashCache()
  const checkpoints = new HashCheckpoints()
  const uploads = new Map<string, number>()
  /** each node's last listing of each drive, by `node drive`: what a download's FILE completes from */
  const listed = new Map<string, { drive: string, names: string[] }>()

  function startDownload (our: PackageContext, options: RequesterOptions): Worker<DownloadResult>
  function startDownload (our: PackageContext, options: ServerOptions): Worker<void>
  function startDownload (our: PackageContext, options: RequesterOptions | ServerOptions): Worker<DownloadResult | void> {
    const id = newTransferId()
    const done = options.isRequester
      ? download(our, id, options, checkpoints)
      : upload(our, id, options, hashes, checkpoints)
    return { id, done }
  }

  const api: FileTransferApi = {
    startDownload,
    listFiles: async (our, node, options = {}) => {
      const listing = await listFiles(our, node, options.signal)
      listed.set(`${node} ${our.id}`, { drive: our.id, names: listing.files.map(f => f.name) })
      return listing
    },
    serve: our => { served.set(our.id, our) },
    scripts: our => fileScripts(our, api, () => [...listed.values()].flatMap(l => l.drive === our.id ? l.names : []))
  }

  async function onRequest (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    try {
      const pb = framed(stream, MAX_REQUEST_BYTES)
      const request = await pb.read(Request, { signal: AbortSignal.timeout(HEADER_TIMEOUT_MS) })
      const raw = pb.unwrap()
      const our = served.get(request.drive)
      const refused = ctx.refusal(connection.remotePeer, request.kind === Request.Kind.LIST ? 'list-files' : 'download')
      if (refused != null) {
        await respond(raw, { status: Response.Status.REFUSED, reason: refused })
      } else if (our == null) {
        await respond(raw, { status: Response.Status.NOT_FOUND, reason: `${ctx.our.name} serves no drive ${JSON.stringify(request.drive.slice(0, 64))}` })
      } else if (request.kind === Request.Kind.LIST) {
        const files = (await our.drive.list()).slice(0, MAX_LIST_ENTRIES)
        await respond(raw, { status: Response.Status.OK, files: files.map(f => ({ name: f.name, size: f.size })) })
      } else {
        // DOWNLOAD: a kind the codec does not know fails to decode, resetting the stream
        await serveDownload(our, raw, request, connection)
      }
    } catch (err: any) {
      ctx.log('request from %s failed - %e', peer, err)
      stream.abort(asError(err))
    }
  }

  async function serveDownload (our: PackageContext, stream: Stream, request: Request, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    try {
      checkFileName(request.file)
    } catch (err: any) {
      await respond(stream, { status: Response.Status.REFUSED, reason: err.message })
      return
    }
    const mine = uploads.get(peer) ?? 0
    const total = [...uploads.values()].reduce((a, b) => a + b, 0)
    if (mine >= MAX_UPLOADS_PER_PEER || total >= MAX_UPLOADS) {
      await respond(stream, { status: Response.Status.BUSY, reason: `${ctx.our.name} is busy: ${mine >= MAX_UPLOADS_PER_PEER ? `${mine} uploads to you` : `${total} uploads`} running; try again shortly` })
      return
    }
    uploads.set(peer, mine + 1)
    try {
      await api.startDownload(our, { isRequester: false, stream, peer: connection.remotePeer, file: request.file, offset: request.offset, ifVersion: request.ifVersion, maxBytes: connection.limits?.bytes }).done
    } finally {
      const left = (uploads.get(peer) ?? 1) - 1
      if (left === 0) uploads.delete(peer)
      else uploads.set(peer, left)
    }
  }

  await ctx.node.handle(PROTOCOL, onRequest, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS, runOnLimitedConnection: true })
  api.serve(ctx)
  return {
    api,
    scripts: api.scripts(ctx),
    stop: async () => { await ctx.node.unhandle(PROTOCOL) }
  }
}

async function listFiles (our: PackageContext, node: string, signal?: AbortSignal): Promise<FileListing> {
  const connection = await our.connect(node, { signal })
  const header = deadline(HEADER_TIMEOUT_MS, signal)
  let stream: Stream | undefined
  try {
    stream = await connection.newStream(PROTOCOL, { signal: header, runOnLimitedConnection: true })
    const pb = framed(stream, MAX_RESPONSE_BYTES)
    await pb.write({ kind: Request.Kind.LIST, drive: our.id, file: '', offset: 0, ifVersion: new Uint8Array(0) }, Request, { signal: header })
    const response = await pb.read(Response, { signal: header, limits: { files: MAX_LIST_ENTRIES } })
    await stream.close({ signal: header })
    if (response.status !== Response.Status.OK) throw new DownloadError(`${node}: ${peerReason(response.reason)}`)
    const files = response.files.filter(f => isValidFileName(f.name)).map(f => ({ name: f.name, size: f.size }))
    return { files, refused: response.files.length - files.length }
  } catch (err: any) {
    stream?.abort(asError(err))
    if (err instanceof DownloadError) throw err
    if (err?.name === 'UnsupportedProtocolError') throw new DownloadError(notServed(node))
    throw new DownloadError(`list-files from ${node} failed: ${describeError(err)}`)
  }
}

function fileScripts (our: PackageContext, api: FileTransferApi, namesListed: () => string[]): Record<'download' | 'list-files', Script> {
  const download: Script = async ([file, node], { out, signal }) => {
    checkFileName(file)
    const worker = api.startDownload(our, {
      isRequester: true,
      source: node,
      file,
      signal,
      onProgress: update => { out.progress(update) },
      onResume: offset => { out.line(`resuming ${file} at ${formatBytes(offset)}`) }
    })
    const r = await worker.done
    const moved = r.size - r.resumedAt
    const took = r.ms < 1000 ? `${r.ms} ms` : `${(r.ms / 1000).toFixed(1)} s`
    // a rate over a few bytes or a few milliseconds says nothing
    const rate = moved >= 1e6 ? `, ${(moved / 1e6 / (Math.max(r.ms, 1) / 1000)).toFixed(1)} MB/s` : ''
    out.line(`downloaded ${r.file} from ${r.source}: ${formatBytes(r.size)} in ${took}${rate}, blake3 ${r.blake3.slice(0, 16)}…`)
  }
  // FILE comes before NODE: offer what any node last listed in this drive
  download.complete = args => args.length === 0 ? namesListed() : []
  return {
    download,
    'list-files': async ([node], { out, signal }) => {
      const { files, refused } = await api.listFiles(our, node, { signal })
      if (files.length === 0) out.line(`${node} offers no files in ${our.id}`)
      else for (const row of table([['file', 'size'], ...files.map(f => [f.name, formatBytes(f.size)])])) out.line(row)
      if (refused > 0) out.line(`left out ${refused} ${refused === 1 ? 'name' : 'names'} that ${node} offered and no drive accepts (a path, or control characters)`)
    }
  }
}
