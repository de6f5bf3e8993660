import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { connected, eventually, hwd, knows, stopAll, tempHome, TestNode } from './helpers.ts'

afterEach(stopAll)
after(stopAll)

describe('a node', () => {
  it('prints its identity and answers status, in text and JSON', async () => {
    const a = await TestNode.start({ name: 'fake.dev' })
    assert.match(a.peerId, /^12D3KooW/)
    const s = await a.status()
    assert.equal(s.name, 'fake.dev')
    assert.equal(s.peerId, a.peerId)
    assert.equal(s.pid, a.proc.pid)
    assert.deepEqual(s.listen, [a.addr])
    assert.deepEqual(s.peers, [])
    const text = await hwd(['status', '--home', a.home])
    assert.equal(text.code, 0)
    assert.match(text.stdout, new RegExp(`^peer id\\s+${a.peerId}$`, 'm'))
    const mode = (await stat(join(a.home, 'identity.key'))).mode & 0o777
    assert.equal(mode, 0o600)
    assert.equal((await stat(join(a.home, 'hwd.sock'))).mode & 0o777, 0o600)
  })

  it('advertises --announce addresses instead of the listen addresses, and shows both', async () => {
    const a = await TestNode.start({ extra: ['--announce', '/ip4/198.51.100.7/tcp/4001'] })
    const s = await a.status()
    assert.deepEqual(s.listen, [a.addr])
    assert.deepEqual(s.addresses, [`/ip4/198.51.100.7/tcp/4001/p2p/${a.peerId}`])
    const text = await hwd(['status', '--home', a.home])
    assert.match(text.stdout, /^address\s+\/ip4\/198.51.100.7\/tcp\/4001\//m)
    assert.match(text.stdout, new RegExp(`^listening\\s+${a.addr}$`, 'm'))
  })

  it('takes its home from HWD_HOME when --home is not given, for start, run and status', async () => {
    const a = await TestNode.start({ name: 'fake.dev', homeInEnv: true })
    const env = { HWD_HOME: a.home }
    assert.equal((await a.status()).home, a.home)
    const status = await hwd(['status'], { env })
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, new RegExp(`^peer id\\s+${a.peerId}$`, 'm'))
    const run = await hwd(['run', 'peers'], { env })
    assert.equal(run.stdout, 'no peers connected\n')
    const flagWins = await hwd(['status', '--home', join(a.home, 'elsewhere')], { env })
    assert.notEqual(flagWins.code, 0, '--home overrides HWD_HOME')
  })

  it('keeps its peer id across restarts', async () => {
    const home = await tempHome()
    const first = await TestNode.start({ home })
    const id = first.peerId
    assert.equal(await first.stop(), 0)
    const second = await TestNode.start({ home })
    assert.equal(second.peerId, id)
  })

  it('refuses a second daemon on the same home, naming the first one\'s pid', async () => {
    const a = await TestNode.start()
    const r = await hwd(['start', '--home', a.home, '--port', '0', '--host', '127.0.0.1', '--no-mdns'])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, new RegExp(`in use by another hwd daemon \\(pid ${a.proc.pid}\\)`))
    assert.equal(r.stderr.trim().split('\n').length, 1)
    assert.equal((await a.status()).pid, a.proc.pid, 'the first daemon runs on')
  })

  it('starts over a lock left by a crashed daemon', async () => {
    const home = await tempHome()
    const crashed = await TestNode.start({ home })
    await crashed.stop('SIGKILL')
    assert.ok(existsSync(join(home, 'hwd.lock')), 'a killed daemon leaves its lock')
    const next = await TestNode.start({ home })
    assert.equal((await next.status()).pid, next.proc.pid)
  })

  it('refuses a busy port with the reason', async () => {
    const a = await TestNode.start()
    const home = await tempHome()
    const r = await hwd(['start', '--home', home, '--port', String(a.port), '--host', '127.0.0.1', '--no-mdns'])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, new RegExp(`^hwd: port ${a.port} on 127.0.0.1 is already in use\\n$`))
    assert.ok(!existsSync(join(home, 'hwd.lock')), 'the refused daemon leaves no lock')
  })

  it('stops on SIGTERM within seconds, removing socket and lock', async () => {
    const a = await TestNode.start()
    const started = Date.now()
    assert.equal(await a.stop('SIGTERM'), 0)
    assert.ok(Date.now() - started < 5_000)
    assert.ok(!existsSync(join(a.home, 'hwd.sock')))
    assert.ok(!existsSync(join(a.home, 'hwd.lock')))
    const r = await hwd(['status', '--home', a.home])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /no hwd daemon is running on home/)
  })

  it('reads commands from stdin, and keeps running once stdin ends', async () => {
    const a = await TestNode.start({ keepStdin: true })
    a.type('names')
    await a.waitForOutput(new RegExp(`fake.dev\\s+${a.peerId}\\s+SHA256:\\S+\\s+this node`))
    a.type('no-such-command')
    await a.waitForOutput(/^error: unknown command "no-such-command"; type help for the list$/m)
    a.proc.stdin!.end()
    await new Promise(resolve => a.proc.stdin!.on('finish', resolve))
    assert.equal((await a.status()).pid, a.proc.pid)
  })

  it('answers run with the command\'s output, and a one-line error for what fails', async () => {
    const a = await TestNode.start()
    const help = await a.run('help')
    assert.equal(help.code, 0)
    for (const cmd of ['help', 'peers', 'names', 'transfers', 'ping NODE']) assert.match(help.stdout, new RegExp(`^${cmd}\\s`, 'm'))
    const bad = await a.run('frobnicate')
    assert.notEqual(bad.code, 0)
    assert.equal(bad.stderr, 'hwd: unknown command "frobnicate"; type help for the list\n')
    const typo = await a.run('downlod:file-transfer:template.os', 'a.txt', 'fake2.dev')
    assert.equal(typo.stderr, 'hwd: unknown command "downlod:file-transfer:template.os"; did you mean download:file-transfer:template.os? type help for the list\n')
    const usage = await a.run('ping')
    assert.notEqual(usage.code, 0)
    assert.equal(usage.stderr, 'hwd: usage: ping NODE\n')
  })

  it('answers a malformed control request with an error and keeps serving', async () => {
    const a = await TestNode.start()
    const socket = join(a.home, 'hwd.sock')
    const ask = async (payload: string | Buffer): Promise<string> => await new Promise((resolve, reject) => {
      const c = createConnection(socket)
      let reply = ''
      c.setEncoding('utf8').on('data', (d: string) => { reply += d })
      c.on('close', () => { resolve(reply) })
      c.on('error', reject)
      c.write(payload)
    })
    assert.match(await ask('{not json\n'), /"t":"error","message":"malformed request:/)
    assert.match(await ask('{"op":"run","argv":[1,2]}\n'), /argv must be a non-empty array of strings/)
    assert.match(await ask(Buffer.alloc(100 * 1024, 'x')), /request longer than 65536 bytes/)
    assert.match(await ask('{"op":"status"}\n'), /"t":"ok"/)
    assert.equal((await a.status()).peerId, a.peerId)
  })
})

/** A TCP relay on 127.0.0.1 to `port`, counting the connections it carries. */
class Relay {
  connections = 0
  port?: number
  private readonly sockets = new Set<Socket>()

  private constructor (private readonly server: Server) {
    server.on('connection', client => {
      this.connections++
      const target = createConnection(this.port!, '127.0.0.1')
      for (const socket of [client, target]) {
        this.sockets.add(socket)
        socket.on('close', () => { this.sockets.delete(socket) })
        socket.on('error', () => { client.destroy(); target.destroy() })
      }
      client.pipe(target).pipe(client)
    })
  }

  static async start (): Promise<Relay> {
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    return new Relay(server)
  }

  get addr (): string {
    return `/ip4/127.0.0.1/tcp/${(this.server.address() as AddressInfo).port}`
  }

  async close (): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise(resolve => this.server.close(resolve))
  }
}

describe('names', () => {
  it('two nodes joined by --peer learn each other\'s names', async () => {
    const a = await TestNode.start({ name: 'fake.dev' })
    const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
    await eventually('a knows fake2.dev', async () => knows(await a.status(), 'fake2.dev', b.peerId))
    await eventually('b knows fake.dev', async () => knows(await b.status(), 'fake.dev', a.peerId))
    const log = (await readFile(join(a.home, 'names.log'), 'utf8')).trim().split('\n').map(line => JSON.parse(line))
    assert.equal(log[0].put.name, 'fake2.dev', 'the address book is on disk')
  })

  it('a node learns a name through its peer\'s peer, and both ways', async t => {
    // a and c are known to others only by the relays they announce, so every connection
    // between them, either way, passes a relay and is counted there
    const [toA, toC] = [await Relay.start(), await Relay.start()]
    t.after(async () => { await Promise.all([toA.close(), toC.close()]) })
    const a = await TestNode.start({ name: 'fake.dev', extra: ['--announce', toA.addr] })
    toA.port = a.port
    const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
    await eventually('b knows fake.dev', async () => knows(await b.status(), 'fake.dev', a.peerId))
    const c = await TestNode.start({ name: 'fake3.dev', peers: [`127.0.0.1:${b.port}`], extra: ['--announce', toC.addr] })
    toC.port = c.port
    await eventually('c knows fake.dev through b', async () => knows(await c.status(), 'fake.dev', a.peerId))
    await eventually('a knows fake3.dev through b', async () => knows(await a.status(), 'fake3.dev', c.peerId))
    assert.deepEqual([toA.connections, toC.connections], [0, 0], 'a and c connected before either knew the other\'s name')
    const ping = await c.run('ping', 'fake.dev')
    assert.equal(ping.code, 0, ping.stderr)
    assert.match(ping.stdout, new RegExp(`^fake.dev \\(${a.peerId}\\): \\d+ ms$`, 'm'))
    assert.ok(toA.connections > 0, 'c reached a at the address it learned through b')
  })

  it('refuses a different key claiming a pinned name, and says so', async () => {
    const a = await TestNode.start({ name: 'fake.dev' })
    const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
    await eventually('a knows fake2.dev', async () => knows(await a.status(), 'fake2.dev', b.peerId))
    const impostor = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
    await a.waitForOutput(new RegExp(`refused a claim to fake2.dev by ${impostor.peerId} .*pinned to ${b.peerId}`))
    assert.ok(knows(await a.status(), 'fake2.dev', b.peerId))
    await a.stop()
    const restarted = await TestNode.start({ name: 'fake.dev', home: a.home })
    assert.ok(knows(await restarted.status(), 'fake2.dev', b.peerId), 'the pin survives a restart')
  })

  it('an unknown name is a clear error listing the names known; an offline one fails fast', async () => {
    const a = await TestNode.start({ name: 'fake.dev' })
    const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
    await eventually('a knows fake2.dev', async () => knows(await a.status(), 'fake2.dev', b.peerId))
    const unknown = await a.run('ping', 'nobody.dev')
    assert.notEqual(unknown.code, 0)
    assert.equal(unknown.stderr, 'hwd: unknown node "nobody.dev"; known names: fake.dev, fake2.dev\n')
    await b.stop()
    const offline = await a.run('ping', 'fake2.dev')
    assert.notEqual(offline.code, 0)
    assert.match(offline.stderr, /^hwd: fake2.dev is offline: cannot connect within 5s/)
    assert.ok(offline.ms < 10_000, `took ${offline.ms} ms`)
  })

  it('re-dials a --peer whose connection dropped, and says in the terminal who came and went', async () => {
    const a = await TestNode.start({ name: 'fake.dev' })
    const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
    // a first meeting: the name comes after the connection
    await b.waitForOutput(/^fake.dev connected$/m)
    await a.waitForOutput(/^fake2.dev connected$/m)
    const port = a.port
    await a.stop()
    await b.waitForOutput(/^fake.dev disconnected$/m)
    assert.ok(!connected(await b.status(), a.peerId), 'the line comes once the connection is gone')
    const again = await TestNode.start({ name: 'fake.dev', home: a.home, port })
    assert.equal(again.peerId, a.peerId)
    // a name known from before: told at once, and once per connection
    await b.waitForOutput(/^fake.dev disconnected\nfake.dev connected$/m, 15_000)
    assert.ok(connected(await b.status(), a.peerId))
    assert.equal(b.output.match(/^fake.dev connected$/gm)?.length, 2)
  })

  it('refuses an invalid --name and --peer with a usage error', async () => {
    const home = await tempHome()
    const name = await hwd(['start', '--home', home, '--name', 'Bad Name', '--no-mdns'])
    assert.equal(name.code, 2)
    assert.match(name.stderr, /--name "Bad Name": a node name is lower-case DNS labels/)
    const peer = await hwd(['start', '--home', home, '--peer', 'nonsense', '--no-mdns'])
    assert.equal(peer.code, 2)
    assert.match(peer.stderr, /--peer nonsense: expected a multiaddr/)
  })
})
