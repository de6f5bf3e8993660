import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Request {
  kind: Request.Kind
  drive: string
  file: string
  offset: number
  ifVersion: Uint8Array<ArrayBuffer>
}

export namespace Request {
  export enum Kind {
    LIST = 'LIST',
    DOWNLOAD = 'DOWNLOAD'
  }

  enum __KindValues {
    LIST = 0,
    DOWNLOAD = 1
  }

  export namespace Kind {
    export const codec = (): Codec<Kind> => {
      return enumeration<Kind>(__KindValues)
    }
  }

  let _codec: Codec<Request>

  export const codec = (): Codec<Request> => {
    if (_codec == null) {
      _codec = message<Request>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.kind != null && __KindValues[obj.kind] !== 0) {
          w.uint32(8)
          Request.Kind.codec().encode(obj.kind, w)
        }

        if ((obj.drive != null && obj.drive !== '')) {
          w.uint32(18)
          w.string(obj.drive)
        }

        if ((obj.file != null && obj.file !== '')) {
          w.uint32(26)
          w.string(obj.file)
        }

        if ((obj.offset != null && obj.offset !== 0)) {
          w.uint32(32)
          w.uint64Number(obj.offset)
        }

        if ((obj.ifVersion != null && obj.ifVersion.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.ifVersion)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          kind: Kind.LIST,
          drive: '',
          file: '',
          offset: 0,
          ifVersion: uint8ArrayAlloc(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.kind = Request.Kind.codec().decode(reader)
              break
            }
            case 2: {
              obj.drive = reader.string()
              break
            }
            case 3: {
              obj.file = reader.string()
              break
            }
            case 4: {
              obj.offset = reader.uint64Number()
              break
            }
            case 5: {
              obj.ifVersion = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.kind`,
                value: Request.Kind.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.drive`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.file`,
                value: reader.string()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.offset`,
                value: reader.uint64Number()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.ifVersion`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface RequestKindFieldEvent {
    field: '$.kind'
    value: Request.Kind
  }

  export interface RequestDriveFieldEvent {
    field: '$.drive'
    value: string
  }

  export interface RequestFileFieldEvent {
    field: '$.file'
    value: string
  }

  export interface RequestOffsetFieldEvent {
    field: '$.offset'
    value: number
  }

  export interface RequestIfVersionFieldEvent {
    field: '$.ifVersion'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Request>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Request.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Request>): Request {
    return decodeMessage(buf, Request.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Request>): Generator<RequestKindFieldEvent | RequestDriveFieldEvent | RequestFileFieldEvent | RequestOffsetFieldEvent | RequestIfVersionFieldEvent> {
    return streamMessage(buf, Request.codec(), opts)
  }
}

export interface FileEntry {
  name: string
  size: number
}

export namespace FileEntry {
  let _codec: Codec<FileEntry>

  export const codec = (): Codec<FileEntry> => {
    if (_codec == null) {
      _codec = message<FileEntry>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(10)
          w.string(obj.name)
        }

        if ((obj.size != null && obj.size !== 0)) {
          w.uint32(16)
          w.uint64Number(obj.size)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          name: '',
          size: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.name = reader.string()
              break
            }
            case 2: {
              obj.size = reader.uint64Number()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.size`,
                value: reader.uint64Number()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface FileEntryNameFieldEvent {
    field: '$.name'
    value: string
  }

  export interface FileEntrySizeFieldEvent {
    field: '$.size'
    value: number
  }

  export function encode (obj: Partial<FileEntry>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, FileEntry.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileEntry>): FileEntry {
    return decodeMessage(buf, FileEntry.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<FileEntry>): Generator<FileEntryNameFieldEvent | FileEntrySizeFieldEvent> {
    return streamMessage(buf, FileEntry.codec(), opts)
  }
}

export interface Response {
  status: Response.Status
  reason: string
  size: number
  version: Uint8Array<ArrayBuffer>
  files: FileEntry[]
  offset: number
}

export namespace Response {
  export enum Status {
    OK = 'OK',
    NOT_FOUND = 'NOT_FOUND',
    REFUSED = 'REFUSED',
    BUSY = 'BUSY',
    ERROR = 'ERROR'
  }

  enum __StatusValues {
    OK = 0,
    NOT_FOUND = 1,
    REFUSED = 2,
    BUSY = 3,
    ERROR = 4
  }

  export namespace Status {
    export const codec = (): Codec<Status> => {
      return enumeration<Status>(__StatusValues)
    }
  }

  let _codec: Codec<Response>

  export const codec = (): Codec<Response> => {
    if (_codec == null) {
      _codec = message<Response>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __StatusValues[obj.status] !== 0) {
          w.uint32(8)
          Response.Status.codec().encode(obj.status, w)
        }

        if ((obj.reason != null && obj.reason !== '')) {
          w.uint32(18)
          w.string(obj.reason)
        }

        if ((obj.size != null && obj.size !== 0)) {
          w.uint32(24)
          w.uint64Number(obj.size)
        }

        if ((obj.version != null && obj.version.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.version)
        }

        if (obj.files != null && obj.files.length > 0) {
          for (const value of obj.files) {
            w.uint32(42)
            FileEntry.codec().encode(value, w)
          }
        }

        if ((obj.offset != null && obj.offset !== 0)) {
          w.uint32(48)
          w.uint64Number(obj.offset)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: Status.OK,
          reason: '',
          size: 0,
          version: uint8ArrayAlloc(0),
          files: [],
          offset: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = Response.Status.codec().decode(reader)
              break
            }
            case 2: {
              obj.reason = reader.string()
              break
            }
            case 3: {
              obj.size = reader.uint64Number()
              break
            }
            case 4: {
              obj.version = reader.bytes()
              break
            }
            case 5: {
              if (opts.limits?.files != null && obj.files.length === opts.limits.files) {
                throw new MaxLengthError('Decode error - repeated field "files" had too many elements')
              }

              obj.files.push(FileEntry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.files$
              }))
              break
            }
            case 6: {
              obj.offset = reader.uint64Number()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          files: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: Response.Status.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.reason`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.size`,
                value: reader.uint64Number()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.version`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              if (opts.limits?.files != null && obj.files === opts.limits.files) {
                throw new MaxLengthError('Streaming decode error - repeated field "files" had too many elements')
              }

              for (const evt of FileEntry.codec().stream(reader, reader.uint32(), `${prefix}.files[]`, {
                limits: opts.limits?.files$
              })) {
                yield {
                  ...evt,
                  index: obj.files
                }
              }

              obj.files++

              break
            }
            case 6: {
              yield {
                field: `${prefix}.offset`,
                value: reader.uint64Number()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ResponseStatusFieldEvent {
    field: '$.status'
    value: Response.Status
  }

  export interface ResponseReasonFieldEvent {
    field: '$.reason'
    value: string
  }

  export interface ResponseSizeFieldEvent {
    field: '$.size'
    value: number
  }

  export interface ResponseVersionFieldEvent {
    field: '$.version'
    value: Uint8Array<ArrayBuffer>
  }

  export interface ResponseFilesNameFieldEvent {
    field: '$.files[].name'
    value: string
    index: number
  }

  export interface ResponseFilesSizeFieldEvent {
    field: '$.files[].size'
    value: number
    index: number
  }

  export interface ResponseOffsetFieldEvent {
    field: '$.offset'
    value: number
  }

  export function encode (obj: Partial<Response>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Response.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Response>): Response {
    return decodeMessage(buf, Response.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Response>): Generator<ResponseStatusFieldEvent | ResponseReasonFieldEvent | ResponseSizeFieldEvent | ResponseVersionFieldEvent | ResponseFilesNameFieldEvent | ResponseFilesSizeFieldEvent | ResponseOffsetFieldEvent> {
    return streamMessage(buf, Response.codec(), opts)
  }
}
