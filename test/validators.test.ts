/**
 * The checks that stand between the network (or a package folder) and the node: file names,
 * node names, signed name records, package metadata. One row per rule and per edge of it.
 */
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { concat, equals, fromString } from 'uint8arrays'
import type { PrivateKey } from '@libp2p/interface'
import { readPackage } from '../daemon/packages.ts'
import { MAX_ADDR_BYTES, MAX_ADDRS, MAX_NAME_LENGTH, SIGNING_DOMAIN } from '../protocol/names/constants.ts'
import { isValidName } from '../protocol/names/name.ts'
import { NameRecord } from '../protocol/names/pb/names.ts'
import { signRecord, verifyRecord } from '../protocol/names/record.ts'
import { checkFileName, isValidFileName, MAX_FILE_NAME_BYTES } from '../storage/vfs.ts'
import { stopAll, tempHome } from './helpers.ts'

after(stopAll)

/** Any C0 or C1 control character. */
const CONTROL = /\p{Cc}/u

describe('file names', () => {
  const EMPTY = /it is empty$/
  const LONG = new RegExp(`it is longer than ${MAX_FILE_NAME_BYTES} bytes$`)
  const DIR = /it names a directory$/
  const SEPARATOR = /it contains a path separator$/
  const CONTROL_CHAR = /it contains a control character$/
  const RESERVED = /that prefix is reserved for partial downloads$/
  // [what, name, the reason it is refused for, or undefined when it is accepted]
  const rows: Array<[string, string, RegExp | undefined]> = [
    ['an ordinary name', 'my_file.txt', undefined],
    ['empty', '', EMPTY],
    ['255 ASCII bytes', 'a'.repeat(255), undefined],
    ['256 ASCII bytes', 'a'.repeat(256), LONG],
    ['255 bytes ending in a 2-byte character', 'a' + 'é'.repeat(127), undefined],
    ['256 bytes of 128 2-byte characters', 'é'.repeat(128), LONG],
    ['255 bytes of 85 3-byte characters', '€'.repeat(85), undefined],
    ['256 bytes: 85 3-byte characters and one more byte', '€'.repeat(85) + 'a', LONG],
    ['255 bytes, 66 characters, with 4-byte ones', '😀'.repeat(63) + 'abc', undefined],
    ['256 bytes in 64 4-byte characters (128 UTF-16 units)', '😀'.repeat(64), LONG],
    ['.', '.', DIR],
    ['..', '..', DIR],
    ['... (not a directory)', '...', undefined],
    ['a dot file', '.hidden', undefined],
    ['..a', '..a', undefined],
    ['a slash inside', 'a/b', SEPARATOR],
    ['a leading slash', '/etc', SEPARATOR],
    ['a trailing slash', 'a/', SEPARATOR],
    ['a climb', '../a', SEPARATOR],
    ['a backslash', 'a\\b', SEPARATOR],
    ['NUL', 'a\u0000b', CONTROL_CHAR],
    ['a newline', 'a\nb', CONTROL_CHAR],
    ['a carriage return', 'a\rb', CONTROL_CHAR],
    ['a tab', 'a\tb', CONTROL_CHAR],
    ['ESC', '\u001b[2Ja', CONTROL_CHAR],
    ['U+001F', 'a\u001f', CONTROL_CHAR],
    ['DEL, U+007F', 'a\u007f', CONTROL_CHAR],
    ['U+0080, the first C1', 'a\u0080', CONTROL_CHAR],
    ['U+009B, the C1 escape', 'a\u009b2J', CONTROL_CHAR],
    ['U+009F, the last C1', 'a\u009f', CONTROL_CHAR],
    ['a space', 'a b.txt', undefined],
    ['a tilde, U+007E', 'a~', undefined],
    ['a no-break space, U+00A0', 'a\u00a0b', undefined],
    ['ordinary unicode', 'çà-日本語-😀.txt', undefined],
    ['a colon', 'a:b', undefined],
    ['the reserved prefix', '.hwd-partial-0123abcd', RESERVED],
    ['the reserved prefix alone', '.hwd-partial-', RESERVED],
    ['the prefix, not at the start', 'x.hwd-partial-1', undefined],
    ['less than the prefix', '.hwd-partial', undefined]
  ]

  for (const [what, name, refused] of rows) {
    it(`${refused == null ? 'accepts' : 'refuses'} ${what}`, () => {
      assert.equal(isValidFileName(name), refused == null)
      if (refused == null) {
        assert.equal(checkFileName(name), name)
        return
      }
      assert.throws(() => checkFileName(name), (err: Error) => {
        assert.equal(err.name, 'InvalidFileNameError')
        assert.match(err.message, refused)
        return true
      })
    })
  }

  it('quotes a refused name escaped and cut short, so that it cannot drive a terminal', () => {
    const hostile = 'a\u001b[2J\nhwd: all is well\r\u0000\u009b' + 'x'.repeat(300)
    assert.throws(() => checkFileName(hostile), (err: Error) => {
      assert.equal(err.name, 'InvalidFileNameError')
      assert.doesNotMatch(err.message, CONTROL)
      assert.ok(err.message.includes('"a\\u001b[2J\\nhwd: all is well\\r\\u0000\\u009b'), err.message)
      assert.ok(err.message.length < 200, `${err.message.length} characters`)
      return true
    })
  })
})

describe('node names', () => {
  const label = (c: string, n: number): string => c.repeat(n)
  const longest = [label('a', 63), label('b', 63), label('c', 63), label('d', MAX_NAME_LENGTH - 3 * 64)].join('.')
  const rows: Array<[string, string, boolean]> = [
    ['a name of two labels', 'fake2.dev', true],
    ['one label', 'localhost', true],
    ['many labels', 'a.b.c.d.e', true],
    ['digits only', '123.456', true],
    ['inner hyphens', 'my-node--1.dev', true],
    ['a one-character label', 'a.b', true],
    ['empty', '', false],
    ['upper case', 'Fake.dev', false],
    ['upper case at the end', 'fake.DEV', false],
    ['a leading hyphen', '-fake.dev', false],
    ['a trailing hyphen', 'fake-.dev', false],
    ['a hyphen label', 'fake.-', false],
    ['an empty label', 'fake..dev', false],
    ['a leading dot', '.fake.dev', false],
    ['a trailing dot', 'fake.dev.', false],
    ['a dot alone', '.', false],
    ['two dots', '..', false],
    ['an underscore', 'fake_2.dev', false],
    ['a space', 'fake 2.dev', false],
    ['a slash', 'fake/2.dev', false],
    ['a newline', 'fake.dev\n', false],
    ['a non-ASCII letter', 'fakeé.dev', false],
    ['a full-width letter', 'ｆake.dev', false],
    ['punycode, which is ASCII', 'xn--fak-dma.dev', true],
    ['a 63-character label', `${label('a', 63)}.dev`, true],
    ['a 64-character label', `${label('a', 64)}.dev`, false],
    [`${MAX_NAME_LENGTH} characters in all`, longest, true],
    [`${MAX_NAME_LENGTH + 1} characters in all`, longest + 'd', false],
    [`${MAX_NAME_LENGTH} characters in short labels`, 'a.'.repeat(126) + 'a', true],
    [`${MAX_NAME_LENGTH + 1} characters in short labels`, 'a.'.repeat(126) + 'aa', false]
  ]

  it('are made of the lengths the rows say', () => {
    assert.equal(longest.length, MAX_NAME_LENGTH)
    assert.equal(('a.'.repeat(126) + 'a').length, MAX_NAME_LENGTH)
  })

  for (const [what, name, valid] of rows) {
    it(`${valid ? 'accepts' : 'refuses'} ${what}`, () => {
      assert.equal(isValidName(name), valid)
    })
  }
})

describe('name records', () => {
  const addrs = [multiaddr('/ip4/127.0.0.1/tcp/8080'), multiaddr('/ip6/::1/tcp/8081')]

  /** Sign `record` as the protocol says: SIGNING_DOMAIN, then the record with its signature unset. */
  async function signAs (key: PrivateKey, record: NameRecord): Promise<NameRecord> {
    const bytes = concat([fromString(SIGNING_DOMAIN), NameRecord.encode({ ...record, signature: new Uint8Array(0) })])
    return { ...record, signature: await key.sign(bytes) as Uint8Array<ArrayBuffer> }
  }

  async function keys (): Promise<[PrivateKey, PrivateKey]> {
    return [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')]
  }

  it('verifies a record its key signed, naming the peer id of that key', async () => {
    const [key] = await keys()
    const record = await signRecord(key, 'fake.dev', addrs, 42n, Date.now())
    const { entry, addrs: got } = await verifyRecord(record)
    assert.equal(entry.name, 'fake.dev')
    assert.equal(entry.peerId, peerIdFromPrivateKey(key).toString())
    assert.equal(entry.seq, 42n)
    assert.ok(equals(entry.record!, NameRecord.encode(record)), 'the entry keeps the record as it came')
    assert.deepEqual(got.map(a => a.toString()), addrs.map(a => a.toString()))
  })

  it('verifies a record with no addresses, and one with MAX_ADDRS', async () => {
    const [key] = await keys()
    assert.deepEqual((await verifyRecord(await signRecord(key, 'fake.dev', [], 1n, Date.now()))).addrs, [])
    const many = Array.from({ length: MAX_ADDRS }, (_, i) => multiaddr(`/ip4/10.0.0.${i}/tcp/1`))
    assert.equal((await verifyRecord(await signRecord(key, 'fake.dev', many, 1n, Date.now()))).addrs.length, MAX_ADDRS)
  })

  it(`verifies an address of ${MAX_ADDR_BYTES} bytes`, async () => {
    const [key] = await keys()
    const record = await signRecord(key, 'fake.dev', [], 1n, Date.now())
    const longest = multiaddr(`/dns4/${'a'.repeat(MAX_ADDR_BYTES - 5)}/tcp/1`).bytes as Uint8Array<ArrayBuffer>
    assert.equal(longest.byteLength, MAX_ADDR_BYTES)
    await verifyRecord(await signAs(key, { ...record, addrs: [longest] }))
  })

  // Each row: a record made from a good one signed by key A (B is another key), and the refusal;
  // undefined where a decoder refuses a malformed field in words of its own. The rows that break
  // a rule other than the signature sign again, so that rule alone fails.
  const rows: Array<[string, (good: NameRecord, a: PrivateKey, b: PrivateKey) => Promise<NameRecord>, string | undefined]> = [
    ['a signature with a byte changed', async good => ({ ...good, signature: flip(good.signature) }), 'bad signature'],
    ['no signature', async good => ({ ...good, signature: new Uint8Array(0) }), undefined],
    ['a signature cut short', async good => ({ ...good, signature: good.signature.slice(0, 63) }), undefined],
    ['a signature by another key than the one the record names', async (good, a, b) => await signAs(b, good), 'bad signature'],
    ['another key put in place of the signer\'s', async (good, a, b) => ({ ...good, publicKey: (await signRecord(b, 'fake.dev', [], 1n, Date.now())).publicKey }), 'bad signature'],
    ['a name changed after signing', async good => ({ ...good, name: 'fake2.dev' }), 'bad signature'],
    ['an address changed after signing', async good => ({ ...good, addrs: [multiaddr('/ip4/6.6.6.6/tcp/8080').bytes as Uint8Array<ArrayBuffer>, good.addrs[1]] }), 'bad signature'],
    ['an address added after signing', async good => ({ ...good, addrs: [...good.addrs, multiaddr('/ip4/6.6.6.6/tcp/1').bytes as Uint8Array<ArrayBuffer>] }), 'bad signature'],
    ['an address removed after signing', async good => ({ ...good, addrs: good.addrs.slice(1) }), 'bad signature'],
    ['a seq raised after signing', async good => ({ ...good, seq: good.seq + 1n }), 'bad signature'],
    ['a signature without the signing domain', async (good, a) => ({ ...good, signature: await a.sign(NameRecord.encode({ ...good, signature: new Uint8Array(0) })) as Uint8Array<ArrayBuffer> }), 'bad signature'],
    ['an upper-case name, signed', async (good, a) => await signAs(a, { ...good, name: 'Fake.dev' }), 'invalid name'],
    ['an empty name, signed', async (good, a) => await signAs(a, { ...good, name: '' }), 'invalid name'],
    ['a name with a control character, signed', async (good, a) => await signAs(a, { ...good, name: 'fake.dev\n' }), 'invalid name'],
    [`${MAX_ADDRS + 1} addresses, signed`, async (good, a) => await signAs(a, { ...good, addrs: Array.from({ length: MAX_ADDRS + 1 }, () => good.addrs[0]) }), 'too many addresses'],
    [`an address of ${MAX_ADDR_BYTES + 1} bytes, signed`, async (good, a) => await signAs(a, { ...good, addrs: [multiaddr(`/dns4/${'a'.repeat(MAX_ADDR_BYTES - 4)}/tcp/1`).bytes as Uint8Array<ArrayBuffer>] }), 'address too long'],
    ['an address that is no multiaddr, signed', async (good, a) => await signAs(a, { ...good, addrs: [Uint8Array.of(0xff, 0xff, 0xff)] }), undefined],
    ['no public key', async good => ({ ...good, publicKey: new Uint8Array(0) }), undefined],
    ['a public key that is not one', async good => ({ ...good, publicKey: Uint8Array.of(8, 1, 18, 3, 1, 2, 3) }), undefined]
  ]

  for (const [what, make, refusal] of rows) {
    it(`refuses ${what}`, async () => {
      const [a, b] = await keys()
      const good = await signRecord(a, 'fake.dev', addrs, 7n, Date.now())
      await verifyRecord(good)
      const bad = await make(good, a, b)
      await assert.rejects(verifyRecord(bad), refusal == null ? Error : { message: refusal })
    })
  }
})

function flip (bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(bytes)
  copy[copy.length - 1] ^= 1
  return copy
}

describe('package metadata', () => {
  const valid = {
    package_name: 'greeter',
    publisher: 'test.os',
    version: '1.0.0',
    description: 'says hello',
    entry: 'index.js',
    dependencies: ['file-transfer:template.os'],
    scripts: { hello: { args: 'NAME', summary: 'say hello', minArgs: 1, maxArgs: 1 } }
  }

  /** A package folder holding `metadata` as metadata.json (as given when a string), or none. */
  async function folder (metadata: unknown): Promise<string> {
    const dir = join(await tempHome('hwd-meta-'), 'pkg')
    await mkdir(dir)
    if (metadata !== undefined) await writeFile(join(dir, 'metadata.json'), typeof metadata === 'string' ? metadata : JSON.stringify(metadata))
    return dir
  }

  it('reads valid metadata, its id, and the folder as an absolute path', async () => {
    const dir = await folder(valid)
    const pkg = await readPackage(relative(process.cwd(), dir))
    assert.equal(pkg.id, 'greeter:test.os')
    assert.equal(pkg.dir, dir)
    assert.deepEqual(pkg.metadata, valid)
  })

  it('takes no dependencies and no scripts when they are left out or null, and ignores a description that is no string', async () => {
    const { dependencies, scripts, ...rest } = valid
    for (const omitted of [rest, { ...rest, dependencies: null, scripts: null }]) {
      const pkg = await readPackage(await folder({ ...omitted, description: 7 }))
      assert.deepEqual(pkg.metadata.dependencies, [])
      assert.deepEqual(pkg.metadata.scripts, {})
      assert.equal(pkg.metadata.description, undefined)
    }
  })

  it('accepts the edges of each rule', async () => {
    const edges: Array<Record<string, unknown>> = [
      { package_name: 'a'.repeat(63) },
      { package_name: '0-' },
      { publisher: 'a'.repeat(253) },
      { publisher: 'my-company.example.os' },
      { entry: 'lib/../index.js' },
      { entry: './dist/index.js' },
      { dependencies: [] },
      { scripts: {} },
      { scripts: { go: { args: '', summary: '', minArgs: 0 } } }
    ]
    for (const edge of edges) await readPackage(await folder({ ...valid, ...edge }))
  })

  const scriptRow = (what: string, script: unknown): [string, unknown, string] =>
    [`a script with ${what}`, { ...valid, scripts: { hello: script } }, 'script "hello"']
  // [what, metadata.json's content (undefined: no file), what the message must name]
  const rows: Array<[string, unknown, string]> = [
    ['no metadata.json', undefined, 'metadata.json (no such file)'],
    ['metadata.json that is not JSON', '{ nope', 'cannot read metadata.json'],
    ['JSON null', 'null', 'is not a JSON object'],
    ['a JSON string', '"greeter"', 'is not a JSON object'],
    ['a JSON number', '42', 'is not a JSON object'],
    ['a JSON list', '[]', 'package_name'],
    ['no package_name', { ...valid, package_name: undefined }, 'package_name'],
    ['a package_name that is no string', { ...valid, package_name: 7 }, 'package_name'],
    ['an empty package_name', { ...valid, package_name: '' }, 'package_name'],
    ['an upper-case package_name', { ...valid, package_name: 'Greeter' }, 'package_name'],
    ['a package_name with a colon', { ...valid, package_name: 'greeter:x' }, 'package_name'],
    ['a package_name with a dot', { ...valid, package_name: 'greeter.x' }, 'package_name'],
    ['a package_name with a slash', { ...valid, package_name: '../greeter' }, 'package_name'],
    ['a package_name starting with a hyphen', { ...valid, package_name: '-greeter' }, 'package_name'],
    ['a package_name of 64 characters', { ...valid, package_name: 'a'.repeat(64) }, 'package_name'],
    ['no publisher', { ...valid, publisher: undefined }, 'publisher'],
    ['an upper-case publisher', { ...valid, publisher: 'Test.os' }, 'publisher'],
    ['a publisher starting with a dot', { ...valid, publisher: '.os' }, 'publisher'],
    ['a publisher with a colon', { ...valid, publisher: 'test:os' }, 'publisher'],
    ['a publisher with a slash', { ...valid, publisher: 'test/os' }, 'publisher'],
    ['a publisher of 254 characters', { ...valid, publisher: 'a'.repeat(254) }, 'publisher'],
    ['no version', { ...valid, version: undefined }, 'version'],
    ['a version that is no string', { ...valid, version: 1 }, 'version'],
    ['an empty version', { ...valid, version: '' }, 'version'],
    ['no entry', { ...valid, entry: undefined }, 'entry'],
    ['an entry that is no string', { ...valid, entry: ['index.js'] }, 'entry'],
    ['an absolute entry', { ...valid, entry: '/tmp/index.js' }, 'entry'],
    ['an entry in the parent folder', { ...valid, entry: '../index.js' }, 'entry'],
    ['an entry that is the parent folder', { ...valid, entry: '..' }, 'entry'],
    ['an entry that climbs out through a subfolder', { ...valid, entry: 'lib/../../index.js' }, 'entry'],
    ['dependencies that are no list', { ...valid, dependencies: 'file-transfer:template.os' }, 'dependencies'],
    ['a dependency that is no string', { ...valid, dependencies: [7] }, 'dependencies'],
    ['a dependency with no publisher', { ...valid, dependencies: ['file-transfer'] }, 'dependencies'],
    ['a dependency with an empty package', { ...valid, dependencies: [':template.os'] }, 'dependencies'],
    ['a dependency with an empty publisher', { ...valid, dependencies: ['file-transfer:'] }, 'dependencies'],
    ['a dependency with two colons', { ...valid, dependencies: ['a:b:c'] }, 'dependencies'],
    ['a dependency with a space', { ...valid, dependencies: ['file transfer:template.os'] }, 'dependencies'],
    ['scripts that are a list', { ...valid, scripts: [] }, 'scripts'],
    ['scripts that are a string', { ...valid, scripts: 'hello' }, 'scripts'],
    ['a script named in upper case', { ...valid, scripts: { Hello: valid.scripts.hello } }, 'script "Hello"'],
    ['a script named with a colon', { ...valid, scripts: { 'a:b': valid.scripts.hello } }, 'script "a:b"'],
    scriptRow('null metadata', null),
    scriptRow('a string for metadata', 'say hello'),
    scriptRow('no args', { summary: 's', minArgs: 0 }),
    scriptRow('args that are no string', { args: 1, summary: 's', minArgs: 0 }),
    scriptRow('no summary', { args: '', minArgs: 0 }),
    scriptRow('no minArgs', { args: '', summary: 's' }),
    scriptRow('a fractional minArgs', { args: '', summary: 's', minArgs: 0.5 }),
    scriptRow('a minArgs that is a string', { args: '', summary: 's', minArgs: '1' }),
    scriptRow('a fractional maxArgs', { args: '', summary: 's', minArgs: 0, maxArgs: 1.5 }),
    scriptRow('a null maxArgs', { args: '', summary: 's', minArgs: 0, maxArgs: null })
  ]

  for (const [what, metadata, field] of rows) {
    it(`refuses ${what}, naming ${field}`, async () => {
      const dir = await folder(metadata)
      await assert.rejects(readPackage(dir), (err: Error) => {
        assert.equal(err.name, 'PackageError')
        assert.ok(err.message.startsWith(`package at ${dir}: `), err.message)
        assert.ok(err.message.includes(field), `"${err.message}" does not name ${field}`)
        return true
      })
    })
  }
})
