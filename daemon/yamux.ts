import { yamux, type YamuxMuxerInit } from '@libp2p/yamux'
import { StreamState } from '@libp2p/yamux/stream'

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

/**
 * Yamux with two changes to its streams. Both keep to the Yamux spec and change only when
 * frames go. A muxer of another shape (another yamux version) is left as it is, and
 * test/body.test.ts fails.
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
      if (typeof newStream !== 'function' || typeof (connection as Partial<Connection>).writableNeedsDrain !== 'boolean') return muxer
      m._newStream = (...args) => {
        const stream = newStream.apply(muxer, args)
        if (hasKnownShape(stream)) {
          holdDrainsWhileFull(stream, connection as unknown as Connection)
          updateWindowAtHalf(stream)
        }
        return stream
      }
      return muxer
    }
    return muxers
  }
}

function hasKnownShape (stream: Partial<YamuxStream>): stream is YamuxStream {
  return typeof stream.handleWindowUpdate === 'function' && typeof stream.sendWindowUpdate === 'function' &&
    typeof stream.safeDispatchEvent === 'function' && typeof stream.state === 'number' &&
    typeof stream.recvWindow === 'number' && typeof stream.recvWindowCapacity === 'number'
}

/**
 * A receiver acknowledges every data frame it takes with a window update, and @libp2p/yamux 8
 * answers each update with a 'drain' on the stream whenever the stream still has bytes queued,
 * whether or not the connection can take them. That 'drain' wakes the stream's writers, and the
 * stream hands the connection another frame although the connection said it was full. A
 * sender whose network is slower than its reader thus queued as much as the reader's window
 * allows (16 MiB here) in its own memory, ahead of every other stream on the connection.
 *
 * Here, a window update that comes while the connection is full still opens the window, and
 * says nothing: the connection's own 'drain' wakes every stream once it has room, as before,
 * and each then sends what its window allows.
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
 * @libp2p/yamux 8 sends a window update for every data frame it takes (a frame carries up to
 * one chunk a sender sent, 256 KiB for a file): a 12-byte frame, sealed in a noise message of
 * its own and written with a system call of its own, which the sender in turn reads, decrypts
 * and handles, 4,096 times a GiB. Here, as in Go's yamux (hashicorp/yamux, `sendWindowUpdate`),
 * an established stream says nothing until at least half of its window is spent: 128 times a
 * GiB once the window has grown to 16 MiB. The sender may send the other half meanwhile, so it
 * never waits for an update that is not coming: each frame taken checks again. The updates
 * that carry flags (opening a stream) and those of a stream not established go as before; a
 * paused stream sends none (stock), and on resuming sends one if half is spent, while the
 * sender still has the rest of the window otherwise. The window grows by the same rule as
 * before: it doubles when an update goes out within four round trips of the last.
 * Alternating pairs of daemons, six 1 GiB downloads each: 0.86 to 1.11 times as fast (median
 * 1.02), for about the same CPU.
 */
function updateWindowAtHalf (stream: YamuxStream): void {
  const { sendWindowUpdate } = stream
  stream.sendWindowUpdate = () => {
    if (stream.state === StreamState.Established && stream.recvWindowCapacity > stream.recvWindow / 2) return
    sendWindowUpdate.call(stream)
  }
}
