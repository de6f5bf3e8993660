import { yamux, type YamuxMuxerInit } from '@libp2p/yamux'
import { StreamState } from '@libp2p/yamux/stream'
import { notApplied } from './unpatched.ts'

type YamuxFactory = ReturnType<typeof yamux>

/** The part of @libp2p/yamux 8's stream that `holdDrainsWhileFull` and `updateWindowAtHalf` use. */
interface YamuxStream {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
  handleWindowUpdate: (frame: unknown) => void
  sendWindowUpdate: () => void
  safeDispatchEvent: (type: string, ...rest: unknown[]) => boolean
}

/** The part of @libp2p/yamux 8's muxer that `leanYamux` uses. */
interface YamuxMuxer {
  _newStream: (...args: unknown[]) => YamuxStream
}

/** The connection under the muxer (noise's secured stream): full once a send returned false. */
interface Connection {
  writableNeedsDrain: boolean
}

/** The two patches, as they name themselves when they do not apply. */
const HOLD_DRAINS = 'daemon/yamux.ts, drains held while the connection is full'
const WINDOW_AT_HALF = 'daemon/yamux.ts, window updates at half'

/**
 * Yamux with two changes to its streams. Both keep to the Yamux spec and change only when
 * frames go. A muxer, connection or stream of another shape (another yamux version) is left as
 * it is, and says so once (unpatched.ts); test/patches.test.ts and test/body.test.ts fail.
 *
 * A sender is not told to send more while the connection beneath is full (`holdDrainsWhileFull`).
 *
 * A receiver opens the window once half of it is spent, not after every frame
 * (`updateWindowAtHalf`).
 */
export function leanYamux (init?: YamuxMuxerInit): YamuxFactory {
  const factory = yamux(init)
  return () => {
    const muxers = factory()
    const create = muxers.createStreamMuxer.bind(muxers)
    muxers.createStreamMuxer = connection => {
      const muxer = create(connection)
      const m = muxer as unknown as Partial<YamuxMuxer>
      const newStream = m._newStream
      if (typeof newStream !== 'function') {
        notApplied(HOLD_DRAINS, 'the muxer has no _newStream')
        notApplied(WINDOW_AT_HALF, 'the muxer has no _newStream')
        return muxer
      }
      const full = typeof (connection as Partial<Connection>).writableNeedsDrain === 'boolean' ? connection as unknown as Connection : undefined
      if (full == null) notApplied(HOLD_DRAINS, 'the connection under the muxer has no writableNeedsDrain')
      m._newStream = (...args) => {
        const stream = newStream.apply(muxer, args)
        const missing = unknownShape(stream)
        if (missing != null) {
          notApplied(HOLD_DRAINS, `a stream has no ${missing}`)
          notApplied(WINDOW_AT_HALF, `a stream has no ${missing}`)
          return stream
        }
        if (full != null) holdDrainsWhileFull(stream, full)
        updateWindowAtHalf(stream)
        return stream
      }
      return muxer
    }
    return muxers
  }
}

/** The first member `holdDrainsWhileFull` and `updateWindowAtHalf` need that `stream` lacks, if any. */
function unknownShape (stream: Partial<YamuxStream>): string | undefined {
  for (const method of ['handleWindowUpdate', 'sendWindowUpdate', 'safeDispatchEvent'] as const) {
    if (typeof stream[method] !== 'function') return method
  }
  for (const field of ['state', 'recvWindow', 'recvWindowCapacity'] as const) {
    if (typeof stream[field] !== 'number') return field
  }
  return undefined
}

/**
 * @libp2p/yamux 8 answers each window update with a 'drain' on the stream whenever it still has
 * bytes queued, whether or not the connection beneath can take them, so a sender whose network
 * is slower than its reader queued up to a whole window in its own memory, ahead of every other
 * stream. Here an update that comes while the connection is full opens the window silently; the
 * connection's own 'drain' wakes the streams once it has room, as before.
 * See docs/performance.md#yamux-drains-held-while-the-connection-is-full.
 */
function holdDrainsWhileFull (stream: YamuxStream, connection: Connection): void {
  const { handleWindowUpdate, safeDispatchEvent } = stream
  const silent = (type: string, ...rest: unknown[]): boolean => type === 'drain' || safeDispatchEvent.call(stream, type, ...rest)
  stream.handleWindowUpdate = frame => {
    if (!connection.writableNeedsDrain) {
      handleWindowUpdate.call(stream, frame)
      return
    }
    stream.safeDispatchEvent = silent
    try {
      handleWindowUpdate.call(stream, frame)
    } finally {
      stream.safeDispatchEvent = safeDispatchEvent
    }
  }
}

/**
 * @libp2p/yamux 8 sends a window update for every data frame it takes: a frame, a noise message
 * and a system call of its own, which the sender in turn reads, decrypts and handles. Here, as in
 * Go's yamux (hashicorp/yamux, `sendWindowUpdate`), an established stream says nothing until at
 * least half its window is spent; the sender still has the other half, so it never waits for an
 * update that is not coming. Updates that carry flags, those of a stream not established, and a
 * paused stream's silence are as before, and the window grows by the same rule.
 * See docs/performance.md#yamux-window-updates-at-half.
 */
function updateWindowAtHalf (stream: YamuxStream): void {
  const { sendWindowUpdate } = stream
  stream.sendWindowUpdate = () => {
    if (stream.state === StreamState.Established && stream.recvWindowCapacity > stream.recvWindow / 2) return
    sendWindowUpdate.call(stream)
  }
}
