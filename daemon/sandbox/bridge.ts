/**
 * `file-transfer:template.os`'s worker API for a sandboxed package. The package calls
 * `startDownload`, `listFiles`, `serve` and the `download`/`list-files` scripts on a proxy;
 * the daemon runs the real worker on its behalf, with the package's own context (its drive,
 * its id), so file bytes go from the network to its drive and never cross the channel: only
 * the call, progress, and the result do.
 */
import type { CommandOutput, PackageContext } from '../package-api.ts'
import type { DownloadResult, FileListing, FileTransferApi, RequesterOptions } from '../../packages/file-transfer/api.ts'
import type { Channel } from './channel.ts'
import { AccessError, outputAsNotices } from './channel.ts'

const SCRIPTS = ['download', 'list-files'] as const

/** The daemon's side: answer one package's calls with the real API and the package's context. */
export function serveFileTransfer (channel: Channel, our: PackageContext, api: FileTransferApi): void {
  const scripts = api.scripts(our)
  channel.handle('ft.startDownload', async ({ source, file }, { signal, notify }) => await api.startDownload(our, {
    isRequester: true,
    source: text(source),
    file: text(file),
    signal,
    onProgress: update => { notify({ update }) },
    onResume: offset => { notify({ offset }) }
  }).done)
  channel.handle('ft.listFiles', async ({ node }, { signal }) => await api.listFiles(our, text(node), { signal }))
  channel.handle('ft.serve', () => { api.serve(our) })
  channel.handle('ft.script', async ({ name, args }, { signal, notify }) => {
    const script = SCRIPTS.includes(name) ? scripts[name as typeof SCRIPTS[number]] : undefined
    if (script == null || !Array.isArray(args) || !args.every(a => typeof a === 'string')) throw new AccessError(`no such script: ${String(name).slice(0, 64)}`)
    await script(args, { out: outputAsNotices(notify), signal })
  })
}

function text (v: unknown): string {
  if (typeof v !== 'string' || v.length > 1024) throw new AccessError('expected a string of at most 1024 characters')
  return v
}

/** Who hears a call's notices on the package's side: a download's progress and resumption, a script's output. */
interface Listener { onProgress?: RequesterOptions['onProgress'], onResume?: RequesterOptions['onResume'], out?: CommandOutput }

/** The package's side: the API as `ctx.deps['file-transfer:template.os']`. */
export function fileTransferProxy (channel: Channel): FileTransferApi {
  const request = async <T>(op: string, args: Record<string, unknown>, signal: AbortSignal | undefined, listener: Listener = {}): Promise<T> =>
    await channel.request<T>(op, args, {
      signal,
      onNotice: ({ update, offset, line, progress }) => {
        if (update != null) listener.onProgress?.(update)
        else if (offset != null) listener.onResume?.(offset)
        else if (line != null) listener.out?.line(line)
        else listener.out?.progress(progress)
      }
    })
  const startDownload = (_our: PackageContext, options: RequesterOptions): { id: string, done: Promise<DownloadResult> } => {
    if (options.isRequester !== true) throw new AccessError('a sandboxed package serves its drive with serve(ctx), not with a stream of its own')
    const done = request<DownloadResult>('ft.startDownload', { source: options.source, file: options.file }, options.signal, options)
    return { id: `${options.source}/${options.file}`, done }
  }
  const script = (name: typeof SCRIPTS[number]) => async (args: string[], io: { out: CommandOutput, signal: AbortSignal }): Promise<void> => {
    await request('ft.script', { name, args }, io.signal, { out: io.out })
  }
  return {
    startDownload: startDownload as FileTransferApi['startDownload'],
    listFiles: async (_our, node, options = {}) => await request<FileListing>('ft.listFiles', { node }, options.signal),
    serve: () => { channel.request('ft.serve').catch(() => {}) },
    scripts: () => ({ download: script('download'), 'list-files': script('list-files') })
  }
}
