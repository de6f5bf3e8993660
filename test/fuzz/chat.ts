import '../../daemon/polyfill.ts'
/** Fuzz cases for chat: messages of every size and encoding, and probes whose acknowledgements are checked. */
import { concat, fromString } from 'uint8arrays'
import { Ack, ChatMessage, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, PROTOCOL as CHAT } from '../../protocol/chat/index.ts'
import { type Case, field, framingCase, lp, randomField, type Rng, splitFrame } from './harness.ts'

function chatText (rng: Rng): Uint8Array {
  switch (rng.int(9)) {
    case 0: return new Uint8Array(0)
    case 1: return fromString('a'.repeat(MAX_MESSAGE_BYTES)) // the largest allowed
    case 2: return fromString('b'.repeat(MAX_MESSAGE_BYTES + 1))
    case 3: return fromString('é'.repeat(MAX_MESSAGE_BYTES / 2 + rng.int(2))) // two-byte characters at the limit
    case 4: return rng.bytes(rng.size(2000)) // anything, valid UTF-8 or not
    case 5: return Uint8Array.of(0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80) // invalid UTF-8, a surrogate, > U+10FFFF
    default: return fromString(rng.text(1 + rng.size(200)))
  }
}

function hostileChat (rng: Rng): Uint8Array {
  const parts: Uint8Array[] = []
  if (rng.chance(0.9)) parts.push(field.bytes(1, chatText(rng)))
  if (rng.chance(0.8)) parts.push(field.varint(2, rng.pick([0n, BigInt(Date.now()), 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n])))
  if (rng.chance(0.1)) parts.push(field.varint(1, 12345n)) // text with the wrong wire type
  if (rng.chance(0.1)) parts.push(field.bytes(2, rng.bytes(8))) // sent_at with the wrong wire type
  if (rng.chance(0.1)) parts.push(randomField(rng))
  return concat(parts)
}

export function validChat (rng: Rng): Uint8Array {
  return ChatMessage.encode({ text: rng.text(1 + rng.size(100)), sentAt: BigInt(Date.now()) })
}

function chatProbe (rng: Rng): Case {
  const texts = Array.from({ length: 1 + rng.int(6) }, () => rng.pick(['ok', 'ok', 'ok', 'empty', 'too large']))
  const body = (t: string): string => t === 'ok' ? `fuzz probe ${rng.int(1e9)}` : t === 'empty' ? '' : 'x'.repeat(MAX_MESSAGE_BYTES + 1)
  return {
    protocol: CHAT,
    kind: 'probe: messages',
    frames: texts.map(t => lp(ChatMessage.encode({ text: body(t), sentAt: BigInt(Date.now()) }))),
    ending: 'close',
    probe: reply => {
      const statuses: string[] = []
      for (let rest = reply; rest.byteLength > 0;) {
        const frame = splitFrame(rest)
        if (frame == null) return `a partial Ack after ${statuses.length}`
        statuses.push(Ack.decode(frame.body).status)
        rest = frame.rest
      }
      const expected = texts.map(t => t === 'ok' ? Ack.Status.OK : Ack.Status.TOO_LARGE)
      return statuses.join(',') === expected.join(',') ? undefined : `sent ${texts.join(',')}, acknowledged ${statuses.join(',') || 'nothing'}`
    }
  }
}

export function chatCase (rng: Rng): Case {
  const r = rng.next()
  if (r < 0.1) return chatProbe(rng)
  if (r < 0.4) {
    const frames = Array.from({ length: 1 + rng.int(rng.chance(0.2) ? 80 : 4) }, () => lp(hostileChat(rng)))
    return { protocol: CHAT, kind: 'hostile messages', frames, ending: rng.chance(0.8) ? 'close' : 'keep' }
  }
  if (r < 0.45) {
    // 70 KiB of text: a frame above MAX_FRAME_BYTES
    const text = rng.text(70 * 1024)
    return { protocol: CHAT, kind: '70 KiB message', frames: [lp(ChatMessage.encode({ text, sentAt: 1n }))], ending: 'keep' }
  }
  return framingCase(rng, CHAT, MAX_FRAME_BYTES, () => validChat(rng), () => Ack.encode({ status: rng.pick([Ack.Status.OK, Ack.Status.ERROR]), reason: rng.text(rng.size(50)) }))
}
