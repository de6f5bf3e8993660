import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { AddressBook, type NameEntry } from '../storage/address-book.ts'
import { tempHome } from './helpers.ts'

function entry (name: string, peerId: string, seq: bigint, fields: Partial<NameEntry> = {}): NameEntry {
  return { name, peerId, seq, record: Uint8Array.of(1, 2, Number(seq % 256n)), issuedAt: Number(seq), learnedAt: 1, trusted: false, ...fields }
}

async function bookIn (dir: string, capacity = 100): Promise<AddressBook> {
  return await AddressBook.open(join(dir, 'names.log'), { capacity, legacyPath: join(dir, 'names.json') })
}

function lines (text: string): number {
  return text.split('\n').length - 1
}

describe('address book', () => {
  it('replays its log after a restart: puts, updates and removals, provenance and pins', async () => {
    const dir = await tempHome()
    const book = await bookIn(dir)
    assert.equal(book.offer(entry('a.dev', 'P1', 1n, { via: 'X' })).outcome, 'new')
    assert.equal(book.offer(entry('b.dev', 'P2', 1n)).outcome, 'new')
    assert.equal(book.offer(entry('a.dev', 'P1', 2n, { via: 'Y' })).outcome, 'updated')
    book.trust('c.dev', 'P3', 5)
    assert.equal(book.offer(entry('d.dev', 'P4', 1n)).outcome, 'new')
    book.forget('d.dev')
    await book.close()
    const again = await bookIn(dir)
    assert.deepEqual(again.all().map(e => [e.name, e.peerId, e.seq, e.via, e.trusted]), [
      ['a.dev', 'P1', 2n, 'Y', false], ['b.dev', 'P2', 1n, undefined, false], ['c.dev', 'P3', 0n, undefined, true]
    ])
    assert.deepEqual(again.get('a.dev')!.record, Uint8Array.of(1, 2, 2))
    await again.close()
  })

  it('skips a torn last line and rewrites the log before appending to it', async () => {
    const dir = await tempHome()
    const book = await bookIn(dir)
    book.offer(entry('a.dev', 'P1', 1n))
    book.offer(entry('b.dev', 'P2', 1n))
    await book.close()
    const path = join(dir, 'names.log')
    const whole = await readFile(path, 'utf8')
    await appendFile(path, '{"put":{"name":"c.dev","peerId":"P3","se')
    const again = await bookIn(dir)
    assert.deepEqual(again.all().map(e => e.name), ['a.dev', 'b.dev'])
    assert.equal(await readFile(path, 'utf8'), whole, 'the torn line is gone')
    again.offer(entry('d.dev', 'P4', 1n))
    await again.close()
    assert.deepEqual((await bookIn(dir)).all().map(e => e.name), ['a.dev', 'b.dev', 'd.dev'])
  })

  it('holds at most its capacity, evicting the least recently seen name the user did not pin', async () => {
    const dir = await tempHome()
    const book = await bookIn(dir, 3)
    book.trust('pinned.dev', 'P0', 1)
    book.offer(entry('a.dev', 'P1', 1n))
    book.offer(entry('b.dev', 'P2', 1n))
    book.offer(entry('a.dev', 'P1', 1n)) // seen again: b.dev is now the least recent
    book.offer(entry('c.dev', 'P3', 1n))
    assert.deepEqual(book.all().map(e => e.name), ['a.dev', 'c.dev', 'pinned.dev'])
    for (let i = 0; i < 50; i++) book.offer(entry(`n${i}.dev`, `Q${i}`, 1n))
    assert.equal(book.size, 3)
    assert.ok(book.get('pinned.dev') != null, 'a name the user pinned stays')
    await book.close()
    assert.equal((await bookIn(dir, 3)).size, 3, 'and so it is on disk')
  })

  it('expires records signed before a time, except pins', async () => {
    const dir = await tempHome()
    const book = await bookIn(dir)
    book.offer(entry('old.dev', 'P1', 100n))
    book.offer(entry('new.dev', 'P2', 900n))
    book.trust('pinned.dev', 'P3', 1)
    assert.equal(book.expire(500), 1)
    assert.deepEqual(book.all().map(e => e.name), ['new.dev', 'pinned.dev'])
    await book.close()
  })

  it('lets a first-hand record take a name learned second-hand, and nothing take a first-hand or pinned one', async () => {
    const book = await bookIn(await tempHome())
    book.offer(entry('x.dev', 'SPAMMER', 1n, { via: 'FLOODER' }))
    const taken = book.offer(entry('x.dev', 'OWNER', 1n))
    assert.equal(taken.outcome, 'replaced')
    assert.deepEqual(book.offer(entry('x.dev', 'SPAMMER', 9n, { via: 'FLOODER' })), { outcome: 'conflict', pinnedTo: 'OWNER' })
    assert.deepEqual(book.offer(entry('x.dev', 'OTHER', 9n)), { outcome: 'conflict', pinnedTo: 'OWNER' }, 'first-seen among first-hand claims')
    book.offer(entry('y.dev', 'A', 1n, { via: 'B' }))
    assert.equal(book.offer(entry('y.dev', 'A', 2n)).outcome, 'updated')
    assert.equal(book.get('y.dev')!.via, undefined, 'the holder itself confirmed it: first-hand from now on')
    assert.equal(book.offer(entry('y.dev', 'A', 3n, { via: 'C' })).outcome, 'updated')
    assert.equal(book.get('y.dev')!.via, undefined, 'and it stays first-hand')
    book.trust('z.dev', 'MINE', 1)
    book.offer(entry('z.dev', 'OTHER', 1n))
    assert.equal(book.get('z.dev')!.peerId, 'MINE')
    assert.equal(book.offer(entry('z.dev', 'MINE', 4n)).outcome, 'updated', 'a pin takes its key\'s records')
    assert.equal(book.get('z.dev')!.trusted, true)
    await book.close()
  })

  it('costs one line per change on disk, rewriting only when the log is several times the book', async () => {
    const dir = await tempHome()
    const book = await bookIn(dir)
    for (let i = 0; i < 50; i++) book.offer(entry(`n${i}.dev`, `P${i}`, 1n))
    await book.flush()
    const path = join(dir, 'names.log')
    assert.equal(lines(await readFile(path, 'utf8')), 50)
    for (let seq = 2n; seq < 3000n; seq++) book.offer(entry('n0.dev', 'P0', seq))
    await book.flush()
    const after = lines(await readFile(path, 'utf8'))
    assert.ok(after < 2 * 50 + 1000 + 50, `${after} lines for 50 names after 3,000 changes`)
    assert.ok((await stat(path)).size < 200_000)
    await book.close()
  })

  it('migrates names.json once, its names of unknown provenance, then removes it', async () => {
    const dir = await tempHome()
    await writeFile(join(dir, 'names.json'), JSON.stringify({ names: [{ name: 'old.dev', peerId: 'P1', seq: '7', record: 'AQID' }] }))
    const book = await bookIn(dir)
    assert.deepEqual(book.all().map(e => [e.name, e.peerId, e.seq, e.via]), [['old.dev', 'P1', 7n, '']])
    await book.close()
    await assert.rejects(stat(join(dir, 'names.json')), { code: 'ENOENT' })
    assert.equal((await bookIn(dir)).get('old.dev')?.peerId, 'P1')
  })
})
