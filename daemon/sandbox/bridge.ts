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
import { AccessError } from './channel.ts'

const SCRIPTS = ['download', 'list-files'] as const

/** The daemon's side: answer one package's calls with the real API and the package's context. */
export function serveFileTransfer (channel: Channel, our: PackageContext, api: FileTransferApi): void {
  const running = new Map<number, AbortController>()
  const scripts = api.scripts(our)
  const tracked = async <T>(call: unknown, fn: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    if (!Number.isSafeInteger(call) || running.has(call as number)) throw new AccessError('a call needs a fresh number')
    const cancel = new AbortController()
    running.set(call as number, cancel)
    try {
      return await fn(cancel.signal)
    } finally {
      running.delete(call as number)
    }
  }
  channel.on('ft.cancel', ({ call }) => { running.get(call)?.abort() })
  channel.handle('ft.startDownload', async ({ call, source, file }) => await tracked(call, async signal => {
    return await api.startDownload(our, {
      isRequester: true,
      source: text(source),
      file: text(file),
      signal,
      onProgress: update => { channel.notify('ft.progress', { call, update }) },
      onResume: offset => { channel.notify('ft.resume', { call, offset }) }
    }).done
  }))
  channel.handle('ft.listFiles', async ({ call, node }) => await tracked(call, async signal => await api.listFiles(our, text(node), { signal })))
  channel.handle('ft.serve', () => { api.serve(our) })
  channel.handle('ft.script', async ({ call, name, args }) => await tracked(call, async signal => {
    const script = SCRIPTS.includes(name) ? scripts[name as typeof SCRIPTS[number]] : undefined
    if (script == null || !Array.isArray(args) || !args.every(a => typeof a === 'string')) throw new AccessError(`no such script: ${String(name).slice(0, 64)}`)
    const out: CommandOutput = {
      line: line => { channel.notify('ft.out', { call, line }) },
      progress: progress => { channel.notify('ft.out', { call, progress }) }
    }
    await script(args, { out, signal })
  }))
}

function text (v: unknown): string {
  if (typeof v !== 'string' || v.length > 1024) throw new AccessError('expected a string of at most 1024 characters')
  return v
}

/** The package's side: the API as `ctx.deps['file-transfer:template.os']`. */
export function fileTransferProxy (channel: Channel): FileTransferApi {
  let nextCall = 1
  const listeners = new Map<number, { onProgress?: RequesterOptions['onProgress'], onResume?: RequesterOptions['onResume'], out?: CommandOutput }>()
  channel.on('ft.progress', ({ call, update }) => { listeners.get(call)?.onProgress?.(update) })
  channel.on('ft.resume', ({ call, offset }) => { listeners.get(call)?.onResume?.(offset) })
  channel.on('ft.out', ({ call, line, progress }) => {
    const out = listeners.get(call)?.out
    if (line != null) out?.line(line)
    else out?.progress(progress)
  })
  const request = async <T>(op: string, args: Record<string, unknown>, signal: AbortSignal | undefined, listener = {}): Promise<T> => {
    signal?.throwIfAborted()
    const call = nextCall++
    const onAbort = (): void => { channel.notify('ft.cancel', { call }) }
    signal?.addEventListener('abort', onAbort, { once: true })
    listeners.set(call, listener)
    try {
      return await channel.request<T>(op, { ...args, call })
    } finally {
      listeners.delete(call)
      signal?.removeEventListener('abort', onAbort)
    }
  }
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
