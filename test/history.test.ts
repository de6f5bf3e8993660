import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { access, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import { request } from '../daemon/control-client.ts'
import { homePaths } from '../storage/home.ts'
import { CLI, eventually, pair, stopAll, tempHome, TestNode } from './helpers.ts'
import { nodeFlagsOf } from './launcher.ts'
import { chatState, legacyText, writeLegacyLog } from './legacy-chat-log.ts'
import { PROGRESS_LINES } from '../packages/chat-with-file-transfer/legacy-log.ts'

const SEND = 'send:chat-with-file-transfer:template.os'
const HISTORY = 'history:chat-with-file-transfer:template.os'
const SEARCH = 'search:chat-with-file-transfer:template.os'
const OLDER = /^\(older messages: history \S+ --before (\S+)\)$/
const MIGRATED = /^chat history: (\d+) messages moved from chat.log into the database; the old log is kept as chat.log.migrated$/m

afterEach(stopAll)
after(stopAll)

/** A history page's lines, and the `--before` its first line offers for the page before. */
async function historyPage (node: TestNode, ...args: string[]): Promise<{ lines: string[], before?: string }> {
  const h = await node.run(HISTORY, ...args)
  assert.equal(h.code, 0, h.stderr)
  const lines = h.stdout.trimEnd().split('\n')
  const older = OLDER.exec(lines[0])
  return older == null ? { lines } : { lines: lines.slice(1), before: older[1] }
}

/** Each history line without its time. */
function texts (lines: string[]): string[] {
  return lines.map(l => l.replace(/^\S+ /, ''))
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

describe('chat history', () => {
  it('pages back through a conversation, each message exactly once and in order', async () => {
    const [a] = await pair()
    const count = 130
    // 8 at a time, so that several share a millisecond and a page may have to end among them
    let next = 0
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < count) {
        const i = next++
        await request(homePaths(a.home).socket, a.home, { op: 'run', argv: [SEND, 'fake2.dev', `paged ${i}`] }, {})
      }
    }))
    const pages: string[][] = []
    let page = await historyPage(a, 'fake2.dev')
    pages.push(page.lines)
    while (page.before != null) {
      page = await historyPage(a, 'fake2.dev', '--before', page.before, '--last', '40')
      pages.unshift(page.lines)
    }
    assert.ok(pages[pages.length - 1].length >= 50 && pages.length >= 3, `${pages.length} pages`)
    const seen = texts(pages.flat())
    assert.equal(seen.length, count)
    assert.deepEqual(new Set(seen), new Set(Array.from({ length: count }, (_, i) => `fake.dev: paged ${i}`)))
    const times = pages.flat().map(l => l.split(' ')[0])
    assert.deepEqual(times, [...times].sort(), 'oldest first')
    // a page never splits a millisecond: --last 3 holds more when the third shares one with those before it
    const last = texts((await historyPage(a, 'fake2.dev', '--last', '3')).lines)
    assert.ok(last.length >= 3, `${last.length} lines`)
    assert.deepEqual(last, seen.slice(-last.length))
    const bad = await a.run(HISTORY, 'fake2.dev', '--before', 'yesterday')
    assert.equal(bad.stderr, 'hwd: --before takes a time as history prints it (1970-01-01T00:00:00.000Z), not yesterday\n')
  })

  it('finds a message among many by any part of its text, newest first', async () => {
    const [a, b] = await pair()
    await a.stop()
    await writeLegacyLog(a.home, b.peerId, 5000)
    const a2 = await TestNode.start({ name: 'fake.dev', home: a.home, peers: [b.addr], startMs: 60_000 })
    await a2.waitForOutput(MIGRATED)
    for (const text of ['needle in a haystack', 'another NEEDLE']) {
      const sent = await a2.run(SEND, 'fake2.dev', text)
      assert.equal(sent.code, 0, sent.stderr)
    }
    const found = await a2.run(SEARCH, 'needle')
    assert.equal(found.code, 0, found.stderr)
    assert.deepEqual(texts(found.stdout.trimEnd().split('\n')), ['fake.dev → fake2.dev: another NEEDLE', 'fake.dev → fake2.dev: needle in a haystack'])
    const one = await a2.run(SEARCH, '#4321#', 'fake2.dev')
    assert.deepEqual(texts(one.stdout.trimEnd().split('\n')), [`fake2.dev: ${legacyText(4321)}`])
    assert.match((await b.run(SEARCH, 'haystack', 'fake.dev')).stdout, /^\S+ fake.dev: needle in a haystack\n$/)
    assert.equal((await a2.run(SEARCH, 'nowhere to be found')).stdout, 'no messages contain nowhere to be found\n')
    assert.equal((await a2.run(SEARCH, 'ne')).stderr, 'hwd: search for at least 3 characters\n')
  })

  it('migrates a legacy chat.log once, keeping its order and its unconfirmed marks', async () => {
    const [a, b] = await pair()
    await a.stop()
    const count = 1001
    const log = await writeLegacyLog(a.home, b.peerId, count, { markEvery: 10, tornTail: true })
    const a2 = await TestNode.start({ name: 'fake.dev', home: a.home, peers: [b.addr], startMs: 60_000 })
    assert.equal((await a2.waitForOutput(MIGRATED))[1], String(count))
    assert.ok(!await exists(log) && await exists(`${log}.migrated`))
    const last = await historyPage(a2, 'fake2.dev', '--last', '3')
    assert.deepEqual(texts(last.lines), [
      `fake.dev: ${legacyText(998)}`, `fake2.dev: ${legacyText(999)}`, `fake.dev: ${legacyText(1000)} (no ack for #1000)`
    ])
    const sent = await a2.run(SEND, 'fake2.dev', 'after the move')
    assert.equal(sent.code, 0, sent.stderr)
    await a2.stop('SIGKILL')
    const a3 = await TestNode.start({ name: 'fake.dev', home: a.home })
    const again = await historyPage(a3, 'fake2.dev', '--last', '2')
    assert.deepEqual(texts(again.lines), [`fake.dev: ${legacyText(1000)} (no ack for #1000)`, 'fake.dev: after the move'])
    assert.doesNotMatch(a3.output, MIGRATED, 'migrated once')
  })

  it('redoes a migration cut by a kill -9, without duplicates, telling how far a long one has got', async () => {
    const home = await tempHome()
    const peer = '12D3KooWGRUVh2rGmRdQMXKXfRzYvNzn6yXQeQ4ZkoMyjFPZnmmH'
    const count = 2.5 * PROGRESS_LINES
    const log = await writeLegacyLog(home, peer, count)
    const db = join(chatState(home), 'chat.db')
    // The copy is one transaction: once its pages spill from SQLite's cache into the WAL, it has
    // begun, and until the log is renamed it has not ended. Kill it in between.
    const daemon = spawn(process.execPath, [...nodeFlagsOf(CLI), CLI, 'start', '--home', home, '--host', '127.0.0.1', '--port', '0', '--no-mdns'], { stdio: 'ignore' })
    const exited = new Promise(resolve => daemon.on('exit', resolve))
    await eventually('the migration under way', async () => ((await stat(`${db}-wal`).catch(() => undefined))?.size ?? 0) > 4 * 1024 * 1024, 30_000)
    daemon.kill('SIGKILL')
    await exited
    assert.ok(await exists(log), 'cut before the end')
    const cut = new Database(db, { readonly: true })
    assert.equal(cut.prepare('SELECT count(*) FROM messages').pluck().get(), 0, 'nothing of the cut copy committed')
    cut.close()

    const node = await TestNode.start({ name: 'fake2.dev', home, startMs: 60_000 })
    assert.equal((await node.waitForOutput(MIGRATED))[1], String(count))
    const progress = [...node.output.matchAll(/^chat history: moving chat\.log into the database: (\d+) lines so far, (\d+)% of it read$/mg)]
    assert.deepEqual(progress.map(m => Number(m[1])), [PROGRESS_LINES, 2 * PROGRESS_LINES], 'a line every PROGRESS_LINES')
    assert.ok(Number(progress[0][2]) < Number(progress[1][2]) && Number(progress[1][2]) <= 100, progress.map(m => m[0]).join('\n'))
    assert.ok(node.output.indexOf(progress[1][0]) < node.output.search(MIGRATED), 'before the line that says it is done')
    for (const i of [0, count - 1]) {
      const found = await node.run(SEARCH, `#${i}#`)
      assert.equal(found.stdout.trimEnd().split('\n').length, 1, found.stdout)
    }
  })
})
