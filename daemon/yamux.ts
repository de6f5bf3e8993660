import { yamux, type YamuxMuxerInit } from '@libp2p/yamux'

type YamuxFactory = ReturnType<typeof yamux>

/** The part of @libp2p/yamux 8's stream that `holdDrainsWhileFull` uses. */
interface YamuxStream {
  handleWindowUpdate: (frame: unknown) => void
  safeDispatchEvent: (type: string, ...rest: unknown[]) => boolean
}

/** The part of @libp2p/yamux 8's muxer that `yamuxWithBackpressure` uses. */
interface YamuxMuxer {
  _newStream: (...args: unknown[]) => YamuxStream
}

/** The connection under the muxer (noise's secured stream): full once a send returned false. */
interface Connection {
  writableNeedsDrain: boolean
}

/**
 * Yamux whose streams do not tell their writers to send more while the connection beneath is
 * full.
 *
 * A receiver acknowledges every data frame it takes with a window update, and @libp2p/yamux 8
 * answers each update with a 'drain' on the stream whenever the stream still has bytes queued,
 * whether or not the connection can take them. That 'drain' wakes the stream's writers, and the
 * stream hands the connection another frame although the connection said it was full. A
 * sender whose network is slower than its reader thus queued as much as the reader's window
 * allows (16 MiB here) in its own memory, ahead of every other stream on the connection.
 *
 * Here, a window update that comes while the connection is full still opens the window, and
 * says nothing: the connection's own 'drain' wakes every stream once it has room, as before,
 * and each then sends what its window allows. A muxer of another shape (another yamux
 * version) is left as it is, and test/body.test.ts fails.
 */
export function yamuxWithBackpressure (init?: YamuxMuxerInit): YamuxFactory {
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
        holdDrainsWhileFull(stream, connection as unknown as Connection)
        return stream
      }
      return muxer
    }
    return muxers
  }
}

function holdDrainsWhileFull (stream: YamuxStream, connection: Connection): void {
  const { handleWindowUpdate, safeDispatchEvent } = stream
  if (typeof handleWindowUpdate !== 'function' || typeof safeDispatchEvent !== 'function') return
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
