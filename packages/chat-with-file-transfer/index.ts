/**
 * `chat-with-file-transfer:template.os`: Hyperware's chat template, plus file transfer
 * imported through `file-transfer:template.os`'s exported API, as the recipe does.
 */
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { describeError, printable, type PackageContext, type PackageRuntime } from 'hwd/package'
import { FILE_TRANSFER, type FileTransferApi } from 'hwd/file-transfer'
import { ChatError, ChatRefusedError, ChatSender, checkMessage, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, PROTOCOL, receiveMessages } from 'hwd/protocol/chat'
import { ChatStore } from './chat-store.ts'
import type { ChatEntry } from './entry.ts'
import { historyScripts } from './history.ts'

export async function start (ctx: PackageContext): Promise<PackageRuntime> {
  const files = ctx.deps[FILE_TRANSFER] as FileTransferApi
  const store = await ChatStore.open(join(ctx.stateDir, 'chat.db'), join(ctx.stateDir, 'chat.log'), line => { ctx.print(line) })

  const sender = new ChatSender()

  await ctx.node.handle(PROTOCOL, async (stream, connection) => {
    const peer = connection.remotePeer
    const from = (): string => ctx.nameOf(peer) ?? peer.toString()
    await receiveMessages(stream, async m => {
      const refused = ctx.refusal(peer, 'chat')
      if (refused != null) throw new ChatRefusedError(refused)
      // our clock, not the sender's: its sent_at is whatever a peer says it is
      const entry: ChatEntry = { peer: peer.toString(), dir: 'in', from: from(), text: m.text, at: Date.now() }
      await store.append(entry)
      ctx.publish('message', entry)
    }, m => { ctx.print(`${from()}: ${printable(m.text)}`) })
  }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS, runOnLimitedConnection: true })

  files.serve(ctx)

  return {
    scripts: {
      ...files.scripts(ctx),
      send: async ([node, ...words], { out, signal }) => {
        const text = words.join(' ')
        checkMessage(text)
        const connection = await ctx.connect(node, { signal })
        const at = Date.now()
        const started = performance.now()
        // Our copy is committed while the message travels, not after: its sync overlaps the
        // receiver's instead of following it. Should the acknowledgement not come, it is then
        // marked unconfirmed (the receiver may or may not have it); a crash before either
        // leaves it unmarked, but never loses what the user wrote.
        const entry: ChatEntry = { peer: connection.remotePeer.toString(), dir: 'out', from: ctx.our.name, text, at }
        const stored = store.append(entry)
        stored.catch(() => {}) // awaited below on every path, after the send settles
        try {
          await sender.send(connection, { text, sentAt: BigInt(at) }, { signal })
        } catch (err) {
          const id = await stored.catch(() => undefined)
          if (id != null) await store.unconfirmed(id, describeError(err)).catch(() => {})
          throw err
        }
        const ms = performance.now() - started
        try {
          await stored
        } catch (err: any) {
          throw new ChatError(`delivered to ${node}, but not saved in our history (${err.code ?? err.message})`)
        }
        ctx.publish('message', entry)
        out.line(`delivered to ${node} (acknowledged in ${ms.toFixed(2)} ms)`)
      },
      ...historyScripts(ctx, store)
    },
    stop: async () => {
      await sender.stop()
      await ctx.node.unhandle(PROTOCOL)
      await store.close()
    }
  }
}
