import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { TransferTable, type TransferInfo } from '../daemon/transfers.ts'

const info = (id: string, drive: string): TransferInfo => ({ id, label: 'a.bin', drive, peer: 'fake2.dev', direction: 'download', done: 0, startedAt: Date.now() })

describe('the transfer table', () => {
  it('keeps a cancelled transfer, and its file, until its worker ends; a finishing one is not cancelled', () => {
    const table = new TransferTable()
    const reasons: string[] = []
    table.begin(info('one', 'x:p'), err => { reasons.push(err.message) })
    table.begin(info('two', 'y:p'), err => { reasons.push(err.message) })
    assert.deepEqual(table.find('a.bin').map(t => t.id), ['one', 'two'], 'a file names every transfer of it')
    assert.deepEqual(table.find('one').map(t => t.id), ['one'], 'an id names one')
    assert.ok(table.cancel('one'))
    assert.deepEqual(reasons, ['a.bin: cancelled'])
    assert.ok(table.has('download', 'x:p', 'a.bin'), 'cleaning up, it still holds its file')
    assert.ok(!table.cancel('one'), 'a transfer is cancelled once')
    assert.deepEqual(table.find('a.bin').map(t => t.id), ['two'], 'what is cancelled is not found again')
    table.end('one')
    assert.ok(!table.has('download', 'x:p', 'a.bin'))
    assert.ok(table.has('download', 'y:p', 'a.bin'), 'the same name in another drive is another transfer')
    assert.ok(!table.has('upload', 'y:p', 'a.bin'))
    table.begin(info('three', 'x:p'), () => { assert.fail('a finishing transfer is not cancelled') })
    table.finishing('three')
    assert.ok(!table.cancel('three'))
    assert.deepEqual(table.find('three'), [])
  })
})
