/**
 * Reading official PyTorch CycleGAN checkpoints (`latest_net_G.pth`, the
 * pretrained `horse2zebra.pth`, ...) without Python.
 *
 * A `.pth` file written by `torch.save(net.state_dict(), path)` is a zip
 * (PyTorch >= 1.6) holding `<name>/data.pkl`, a Python pickle of an
 * OrderedDict of tensors, and one raw little-endian file per storage under
 * `<name>/data/`. Older files (the legacy format) are five pickles in a row
 * followed by the raw storages. Pickle is a small stack language whose
 * `GLOBAL` + `REDUCE` opcodes can call any Python function, so a pickle must
 * never be run by a general unpickler. The one here only builds data: it
 * knows the opcodes a state_dict uses, and the only callables it accepts
 * are `collections.OrderedDict` and torch's tensor rebuild functions, which
 * it interprets itself. Any other global (`os.system`, `builtins.eval`, a
 * pickled `nn.Module` class) is refused with {@link UnsafePickleError}
 * before anything else is read.
 *
 * The second half maps a state_dict onto our tf.LayersModel generator or
 * discriminator: the official conv weights are OIHW (out, in, kh, kw), a
 * transposed conv's are IOHW (in, out, kh, kw); ours are HWIO and HWOI.
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import * as yauzl from 'yauzl';
import { GeneratorType, NormType, TorchWeight,
  torchWeightMap } from './networks';

// ---------------------------------------------------------------------------
// The restricted unpickler

/** A pickle that asks for something a state_dict never needs. */
export class UnsafePickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePickleError';
  }
}

/** A Python tuple (arrays stand for lists). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** A `module.name` reference pushed by GLOBAL; never called directly. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What a persistent id of torch.save resolves to: one storage. */
export interface StorageRef {
  /** Storage class name, e.g. `FloatStorage`. */
  storageType: string;
  /** Its key: the file under `data/` (zip) or the legacy storage key. */
  key: string;
  /** Number of elements. */
  numel: number;
  /** Element offset into the root storage (legacy views), else 0. */
  viewOffset: number;
}

/** A tensor as the pickle describes it, before its bytes are read. */
export interface TensorRef {
  storage: StorageRef;
  /** Element offset into the storage. */
  offset: number;
  shape: number[];
  stride: number[];
}

/**
 * The globals a state_dict pickle may name. Storage classes are only type
 * tags inside persistent ids; the three callables are interpreted here.
 */
const STORAGE_TYPES: Record<string, { bytes: number; kind: StorageKind }> = {
  FloatStorage: { bytes: 4, kind: 'float32' },
  DoubleStorage: { bytes: 8, kind: 'float64' },
  HalfStorage: { bytes: 2, kind: 'float16' },
  BFloat16Storage: { bytes: 2, kind: 'bfloat16' },
  LongStorage: { bytes: 8, kind: 'int64' },
  IntStorage: { bytes: 4, kind: 'int32' },
  ShortStorage: { bytes: 2, kind: 'int16' },
  CharStorage: { bytes: 1, kind: 'int8' },
  ByteStorage: { bytes: 1, kind: 'uint8' },
  BoolStorage: { bytes: 1, kind: 'bool' },
};
type StorageKind = 'float32' | 'float64' | 'float16' | 'bfloat16' |
  'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
]);

function allowedGlobal(module: string, name: string): boolean {
  if (module === 'torch' && name in STORAGE_TYPES) return true;
  return CALLABLES.has(`${module}.${name}`);
}

/** Options of {@link unpickle}. */
export interface UnpickleOptions {
  /** Resolves a persistent id (BINPERSID); required if the pickle has one. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Named in error messages. */
  source?: string;
}

const MARK = Symbol('mark');

/**
 * Runs the data-building subset of the pickle machine (protocols 0-5) over
 * `bytes` from `start` and returns the value at STOP with the offset after
 * it. Dicts become `Map`s, lists arrays, tuples {@link PyTuple}, ints
 * numbers (or `bigint` past 2^53), `collections.OrderedDict()` a Map and
 * `_rebuild_tensor_v2(...)` a {@link TensorRef}. Opcodes that create
 * objects of arbitrary classes (INST, OBJ, NEWOBJ, EXT*) and any GLOBAL
 * outside the allow-list throw {@link UnsafePickleError}.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {},
  start = 0): { value: unknown; end: number } {
  const src = opts.source ?? 'pickle';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const utf8 = new TextDecoder('utf-8');
  const latin1 = new TextDecoder('latin1');
  let pos = start;

  const fail = (msg: string): never => {
    throw new Error(`${src}: ${msg} (pickle offset ${pos})`);
  };
  const need = (n: number): void => {
    if (pos + n > bytes.length) fail('the pickle ends early');
  };
  // Little-endian fixed-size reads, advancing `pos`.
  const fixed = (n: number): number => {
    need(n);
    pos += n;
    return pos - n;
  };
  const u8 = (): number => bytes[fixed(1)];
  const u16 = (): number => view.getUint16(fixed(2), true);
  const i32 = (): number => view.getInt32(fixed(4), true);
  const u32 = (): number => view.getUint32(fixed(4), true);
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('a length is too large');
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('a text argument has no newline');
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('the pickle pops an empty stack');
    const v = stack.pop();
    if (v === MARK) fail('the pickle pops a mark');
    return v;
  };
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('no mark on the stack');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const top = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) {
      fail('the pickle expects a value on the stack');
    }
    return stack[stack.length - 1];
  };
  const longFrom = (b: Uint8Array): number | bigint => {
    // Two's complement little-endian, as LONG1/LONG4 store it.
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    const small = v >= BigInt(Number.MIN_SAFE_INTEGER) &&
      v <= BigInt(Number.MAX_SAFE_INTEGER);
    return small ? Number(v) : v;
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) {
      (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
    }
  };
  const pushGlobal = (module: string, name: string): void => {
    if (!allowedGlobal(module, name)) {
      throw new UnsafePickleError(`${src}: refused: the pickle names the ` +
        `Python global ${module}.${name}, which a PyTorch state_dict never ` +
        'needs. Only collections.OrderedDict, torch._utils._rebuild_tensor_v2' +
        ', torch._utils._rebuild_parameter and torch.*Storage are allowed; ' +
        'nothing from the file was executed. (A file saved with ' +
        'torch.save(model) instead of torch.save(model.state_dict()) also ' +
        'ends here: re-save its state_dict.)');
    }
    stack.push(new PyGlobal(module, name));
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME: a length hint only
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: stack.push(MARK); break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(longFrom(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(longFrom(take(n)));
        break;
      }
      case 0x49: { // INT (text); '00'/'01' are False/True in protocol 0
        const s = line();
        if (s === '00' || s === '01') stack.push(s === '01');
        else stack.push(Number.parseInt(s, 10));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(Number.parseInt(line().replace(/L$/, ''), 10)); break;
      case 0x46: stack.push(Number.parseFloat(line())); break; // FLOAT
      case 0x47: { // BINFLOAT, big-endian
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58: stack.push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x56: stack.push(line()); break; // UNICODE (raw-unicode-escape)
      case 0x54: { // BINSTRING
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        stack.push(latin1.decode(take(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8()))); break;
      case 0x53: { // STRING: a quoted repr
        const s = line();
        stack.push(s.slice(1, -1));
        break;
      }
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x29: stack.push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x85: stack.push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop(); const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(); const b = pop(); const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: stack.push(new PyTuple(popMark())); break; // TUPLE
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) fail('APPEND to something not a list');
        (list as unknown[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail('APPENDS to something not a list');
        (list as unknown[]).push(...items);
        break;
      }
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const m = new Map();
        setItems(m, popMark());
        stack.push(m);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(); const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail('ADDITEMS to something not a set');
        for (const v of items) (s as Set<unknown>).add(v);
        break;
      }
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      case 0x70: memo.set(Number.parseInt(line(), 10), top()); break; // PUT
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x67: case 0x68: case 0x6a: { // GET, BINGET, LONG_BINGET
        const i = op === 0x67 ? Number.parseInt(line(), 10) :
          op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} is missing`);
        stack.push(memo.get(i));
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        pushGlobal(module, line());
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(); const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          fail('STACK_GLOBAL needs two strings');
        }
        pushGlobal(module as string, name as string);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('a persistent id without a loader');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(); const fn = pop();
        stack.push(callAllowed(fn, args, src));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        build(top(), state, src);
        break;
      }
      default: {
        const names: Record<number, string> = {
          0x69: 'INST', 0x6f: 'OBJ', 0x81: 'NEWOBJ', 0x92: 'NEWOBJ_EX',
          0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x50: 'PERSID',
          0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
        };
        const name = names[op];
        if (name) {
          throw new UnsafePickleError(`${src}: refused: the pickle uses the ` +
            `${name} opcode (pickle offset ${pos - 1}), which builds ` +
            'arbitrary Python objects; a PyTorch state_dict never needs it.');
        }
        fail(`unknown pickle opcode 0x${op.toString(16)}`);
      }
    }
  }
}

/** REDUCE, for the three callables a state_dict uses; others refused. */
function callAllowed(fn: unknown, args: unknown, src: string): unknown {
  const what = fn instanceof PyGlobal ? fn.qualified : typeof fn;
  if (!(fn instanceof PyGlobal) || !CALLABLES.has(fn.qualified)) {
    throw new UnsafePickleError(`${src}: refused: the pickle calls ${what} ` +
      '(REDUCE); a PyTorch state_dict only calls collections.OrderedDict ' +
      'and torch._utils._rebuild_tensor_v2. Nothing was executed.');
  }
  if (!(args instanceof PyTuple)) {
    throw new Error(`${src}: ${what} called with non-tuple arguments`);
  }
  const a = args.items;
  switch (fn.qualified) {
    case 'collections.OrderedDict': {
      const m = new Map<unknown, unknown>();
      if (a.length === 1 && Array.isArray(a[0])) {
        for (const pair of a[0] as unknown[]) {
          if (pair instanceof PyTuple && pair.items.length === 2) {
            m.set(pair.items[0], pair.items[1]);
          }
        }
      } else if (a.length > 0) {
        throw new Error(`${src}: OrderedDict called with ${a.length} ` +
          'arguments of an unexpected form');
      }
      return m;
    }
    case 'torch._utils._rebuild_tensor_v2': {
      // (storage, storage_offset, size, stride, requires_grad,
      //  backward_hooks[, metadata])
      const [storage, offset, size, stride] = a;
      const ints = (v: unknown): v is PyTuple => v instanceof PyTuple &&
        v.items.every((x) => Number.isInteger(x));
      if (!isStorageRef(storage) || !Number.isInteger(offset) ||
        !ints(size) || !ints(stride) || size.items.length !==
        stride.items.length) {
        throw new Error(`${src}: _rebuild_tensor_v2 called with arguments ` +
          'of an unexpected form');
      }
      const ref: TensorRef = {
        storage, offset: offset as number,
        shape: size.items as number[], stride: stride.items as number[],
      };
      return ref;
    }
    default: // torch._utils._rebuild_parameter(data, requires_grad, hooks)
      if (!isTensorRef(a[0])) {
        throw new Error(`${src}: _rebuild_parameter without a tensor`);
      }
      return a[0];
  }
}

/** BUILD: only the `_metadata` attribute torch puts on a state_dict. */
function build(obj: unknown, state: unknown, src: string): void {
  if (obj instanceof Map && state instanceof Map &&
    [...state.keys()].every((k) => k === '_metadata')) {
    return; // module versions; the official loader deletes them too
  }
  throw new UnsafePickleError(`${src}: refused: the pickle sets the state ` +
    'of an object (BUILD) other than a state_dict\'s _metadata.');
}

function isStorageRef(v: unknown): v is StorageRef {
  return typeof v === 'object' && v !== null && 'storageType' in v &&
    'key' in v;
}

/** True for a tensor description made by `_rebuild_tensor_v2`. */
export function isTensorRef(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && 'storage' in v &&
    'shape' in v && 'stride' in v;
}

/** torch.save's persistent id: ('storage', type, key, location, numel, …). */
function storageFromPid(pid: unknown, src: string,
  legacy: boolean): StorageRef {
  const bad = (): never => {
    throw new Error(`${src}: a persistent id of an unexpected form`);
  };
  if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage') bad();
  const [, type, key, , numel, view] = (pid as PyTuple).items;
  if (!(type instanceof PyGlobal) || !(type.name in STORAGE_TYPES) ||
    typeof key !== 'string' || !Number.isInteger(numel)) bad();
  const ref: StorageRef = {
    storageType: (type as PyGlobal).name, key: key as string,
    numel: numel as number, viewOffset: 0,
  };
  if (legacy && view instanceof PyTuple) {
    // (view_key, offset, view_size): a view into the root storage `key`.
    ref.viewOffset = view.items[1] as number;
    ref.numel = view.items[2] as number;
  }
  return ref;
}

// ---------------------------------------------------------------------------
// .pth files

/** A tensor read from a checkpoint, converted to float32, contiguous. */
export interface TorchTensor {
  shape: number[];
  /** The storage's dtype in the file, e.g. `float32`, `int64`. */
  dtype: StorageKind;
  /** Row-major values (int64 beyond 2^53 lose precision). */
  values: Float32Array;
}

/** An ordered state_dict: parameter name -> tensor. */
export type StateDict = Map<string, TorchTensor>;

function readZipEntries(file: string): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true }, (err, zip) => {
      if (err || !zip) {
        reject(new Error(`${file}: not a readable zip: ${err?.message}`));
        return;
      }
      const out = new Map<string, Buffer>();
      zip.on('error', (e: Error) => reject(new Error(`${file}: ${e.message}`)));
      zip.on('end', () => resolve(out));
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) {
            reject(new Error(`${file}: cannot read ${entry.fileName}: ` +
              `${e?.message}`));
            return;
          }
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', (se: Error) => reject(se));
          stream.on('end', () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

function decodeStorage(raw: Uint8Array, kind: StorageKind,
  littleEndian: boolean): Float32Array {
  const { bytes } = STORAGE_TYPES[Object.keys(STORAGE_TYPES).find(
    (k) => STORAGE_TYPES[k].kind === kind)!];
  const n = Math.floor(raw.length / bytes);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(n);
  const le = littleEndian;
  for (let i = 0; i < n; i++) {
    const o = i * bytes;
    switch (kind) {
      case 'float32': out[i] = v.getFloat32(o, le); break;
      case 'float64': out[i] = v.getFloat64(o, le); break;
      case 'float16': out[i] = halfToFloat(v.getUint16(o, le)); break;
      case 'bfloat16': {
        const b = new DataView(new ArrayBuffer(4));
        b.setUint32(0, v.getUint16(o, le) << 16);
        out[i] = b.getFloat32(0);
        break;
      }
      case 'int64': out[i] = Number(v.getBigInt64(o, le)); break;
      case 'int32': out[i] = v.getInt32(o, le); break;
      case 'int16': out[i] = v.getInt16(o, le); break;
      case 'int8': out[i] = v.getInt8(o); break;
      default: out[i] = v.getUint8(o); break; // uint8, bool
    }
  }
  return out;
}

/** IEEE 754 half (binary16) bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Gathers a strided view into a contiguous row-major array. */
function gather(storage: Float32Array, ref: TensorRef, src: string,
  name: string): Float32Array {
  const { shape, stride } = ref;
  const offset = ref.offset + ref.storage.viewOffset;
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  if (size === 0) return out;
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
  if (offset < 0 || last >= storage.length) {
    throw new Error(`${src}: tensor '${name}' (shape [${shape}]) reaches ` +
      `past the end of its storage ${ref.storage.key} ` +
      `(${storage.length} elements)`);
  }
  let contiguous = true;
  for (let d = shape.length - 1, step = 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== step) contiguous = false;
    step *= shape[d];
  }
  if (contiguous) return storage.slice(offset, offset + size);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < size; i++) {
    let o = offset;
    for (let d = 0; d < shape.length; d++) o += idx[d] * stride[d];
    out[i] = storage[o];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** The legacy (pre-1.6) magic number, the first pickle of such a file. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * Reads a `torch.save`d object from `file` with the restricted unpickler
 * and returns it; every tensor comes back as a {@link TorchTensor}. Both
 * the zip format and the legacy one are read. Throws
 * {@link UnsafePickleError} for a pickle that would run code.
 */
export async function readTorchFile(file: string): Promise<unknown> {
  let head: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    head = Buffer.alloc(4);
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
  } catch (e) {
    throw new Error(`${file}: cannot read: ${(e as Error).message}`);
  }
  let value: unknown;
  let storageBytes: (s: StorageRef) => Uint8Array;
  let littleEndian = true;

  if (head.readUInt32LE(0) === 0x04034b50) { // 'PK\x03\x04'
    const entries = await readZipEntries(file);
    const pkl = [...entries.keys()].find((k) => /^[^/]*\/?data\.pkl$/.test(k));
    if (!pkl) {
      throw new Error(`${file}: a zip without data.pkl is not a torch.save ` +
        'checkpoint');
    }
    const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
    const order = entries.get(`${prefix}byteorder`)?.toString('ascii');
    littleEndian = order !== 'big';
    value = unpickle(entries.get(pkl)!, {
      source: file,
      persistentLoad: (pid) => storageFromPid(pid, file, false),
    }).value;
    storageBytes = (s) => {
      const b = entries.get(`${prefix}data/${s.key}`);
      if (!b) throw new Error(`${file}: storage data/${s.key} is missing`);
      return b;
    };
  } else if (head[0] === 0x80) {
    const bytes = fs.readFileSync(file);
    const opts = { source: file };
    const magic = unpickle(bytes, opts);
    if (magic.value !== LEGACY_MAGIC) {
      throw new Error(`${file}: a pickle, but not a torch.save checkpoint ` +
        '(no magic number)');
    }
    const proto = unpickle(bytes, opts, magic.end);
    const info = unpickle(bytes, opts, proto.end);
    if (info.value instanceof Map &&
      info.value.get('little_endian') === false) {
      littleEndian = false;
    }
    const main = unpickle(bytes, {
      source: file,
      persistentLoad: (pid) => storageFromPid(pid, file, true),
    }, info.end);
    value = main.value;
    const keys = unpickle(bytes, opts, main.end);
    if (!Array.isArray(keys.value)) {
      throw new Error(`${file}: legacy checkpoint without a storage list`);
    }
    // Then, per key: int64 element count and the raw elements.
    const offsets = new Map<string, Uint8Array>();
    let p = keys.end;
    const typeOf = new Map<string, string>();
    walk(value, (r) => typeOf.set(r.storage.key, r.storage.storageType));
    for (const k of keys.value as string[]) {
      const type = typeOf.get(k);
      if (p + 8 > bytes.length) {
        throw new Error(`${file}: legacy checkpoint ends inside storage ${k}`);
      }
      const n = Number(bytes.readBigInt64LE(p));
      const size = n * (type ? STORAGE_TYPES[type].bytes : 4);
      offsets.set(k, bytes.subarray(p + 8, p + 8 + size));
      p += 8 + size;
    }
    storageBytes = (s) => {
      const b = offsets.get(s.key);
      if (!b) throw new Error(`${file}: storage ${s.key} is missing`);
      return b;
    };
  } else {
    throw new Error(`${file}: not a PyTorch checkpoint (expected a zip ` +
      'written by torch.save, or the legacy pickle format)');
  }

  // Replace every TensorRef by its values, decoding each storage once.
  const decoded = new Map<string, Float32Array>();
  const resolve = (ref: TensorRef, name: string): TorchTensor => {
    const kind = STORAGE_TYPES[ref.storage.storageType].kind;
    let data = decoded.get(ref.storage.key);
    if (!data) {
      data = decodeStorage(storageBytes(ref.storage), kind, littleEndian);
      decoded.set(ref.storage.key, data);
    }
    return { shape: ref.shape, dtype: kind,
      values: gather(data, ref, file, name) };
  };
  return mapTensors(value, resolve, '');
}

function walk(v: unknown, fn: (r: TensorRef) => void): void {
  if (isTensorRef(v)) fn(v);
  else if (v instanceof Map) for (const x of v.values()) walk(x, fn);
  else if (Array.isArray(v)) for (const x of v) walk(x, fn);
  else if (v instanceof PyTuple) for (const x of v.items) walk(x, fn);
}

function mapTensors(v: unknown, fn: (r: TensorRef, name: string) => unknown,
  name: string): unknown {
  if (isTensorRef(v)) return fn(v, name);
  if (v instanceof Map) {
    const m = new Map<unknown, unknown>();
    for (const [k, x] of v) m.set(k, mapTensors(x, fn, String(k)));
    return m;
  }
  const item = (x: unknown, i: number): unknown =>
    mapTensors(x, fn, `${name}[${i}]`);
  if (Array.isArray(v)) return v.map(item);
  if (v instanceof PyTuple) {
    return new PyTuple(v.items.map(item));
  }
  return v;
}

/**
 * Reads a checkpoint holding a state_dict (the official
 * `<epoch>_net_G_A.pth`, `latest_net_D_B.pth` or a pretrained
 * `horse2zebra.pth`) into an ordered map of float32 tensors. A `module.`
 * prefix on every key (a save of a DataParallel wrapper) is removed. Norm
 * buffers stay; {@link loadStateDict} drops those our model lacks.
 */
export async function readStateDict(file: string): Promise<StateDict> {
  const obj = await readTorchFile(file);
  if (!(obj instanceof Map)) {
    throw new Error(`${file}: holds a ${describe(obj)}, expected a ` +
      'state_dict (an OrderedDict of tensors)');
  }
  const stateDict: StateDict = new Map();
  const keys = [...obj.keys()].map(String);
  const prefixed = keys.length > 0 &&
    keys.every((k) => k.startsWith('module.'));
  for (const [k, v] of obj) {
    const key = prefixed ? String(k).slice('module.'.length) : String(k);
    if (!(typeof v === 'object' && v !== null && 'values' in v)) {
      throw new Error(`${file}: entry '${key}' is a ${describe(v)}, ` +
        'not a tensor');
    }
    stateDict.set(key, v as TorchTensor);
  }
  return stateDict;
}

// ---------------------------------------------------------------------------
// Loading a state_dict into our networks

/**
 * Norm buffers that old checkpoints carry and our networks have no slot
 * for: PyTorch < 0.4 saved `running_mean` / `running_var` (and 0.4.1
 * `num_batches_tracked`) for InstanceNorm2d, which the official
 * `load_networks` deletes before loading; tfjs batch norm keeps no
 * `num_batches_tracked` either.
 */
export const NORM_BUFFER_SUFFIXES = ['running_mean', 'running_var',
  'num_batches_tracked'] as const;

/** What {@link loadStateDict} did. */
export interface LoadResult {
  /** Tensors copied into the model. */
  loaded: number;
  /** Parameters (numbers) copied. */
  params: number;
  /** Norm-buffer keys skipped (see {@link NORM_BUFFER_SUFFIXES}). */
  dropped: string[];
}

/** `torchShape` with `perm` applied: our shape. */
function permuted(shape: number[], perm?: number[]): number[] {
  return perm ? perm.map((p) => shape[p]) : shape;
}

/** The PyTorch shape that becomes `ours` under `perm`. */
function unpermuted(ours: number[], perm?: number[]): number[] {
  if (!perm) return ours;
  const out = new Array<number>(ours.length);
  perm.forEach((p, i) => { out[p] = ours[i]; });
  return out;
}

/**
 * Copies an official state_dict into a generator or discriminator built
 * by `defineG` / `defineD` in this process, using `torchWeightMap` (which
 * official key feeds which tfjs weight, and the axis order: conv OIHW →
 * HWIO, transposed conv IOHW → HW,out,in). Every expected key must be
 * there with the right shape, and every key of the file must be used
 * (InstanceNorm buffers of old checkpoints excepted, which are dropped):
 * otherwise nothing is loaded and the error lists each missing,
 * misshapen or unexpected key with the expected and found shapes, which
 * usually means the wrong `--netG`, `--ngf` or `--norm`.
 */
export function loadStateDict(model: tf.LayersModel, stateDict: StateDict,
  source = 'state_dict'): LoadResult {
  const entries = torchWeightMap(model);
  const problems: string[] = [];
  const used = new Set<string>();
  for (const e of entries) {
    const ours = model.getLayer(e.layer).weights[e.index].shape as number[];
    const want = unpermuted(ours, e.perm);
    const t = stateDict.get(e.torchKey);
    if (!t) {
      problems.push(`missing key ${e.torchKey}: our layer '${e.layer}' ` +
        `expects a tensor of shape [${want}]`);
      continue;
    }
    used.add(e.torchKey);
    if (t.shape.length !== want.length ||
      t.shape.some((d, i) => d !== want[i])) {
      problems.push(`key ${e.torchKey}: expected shape [${want}] (our ` +
        `layer '${e.layer}'), found [${t.shape}]`);
    }
  }
  const dropped: string[] = [];
  for (const key of stateDict.keys()) {
    if (used.has(key)) continue;
    const last = key.split('.').pop() ?? '';
    if ((NORM_BUFFER_SUFFIXES as readonly string[]).includes(last)) {
      dropped.push(key);
    } else {
      problems.push(`unexpected key ${key} (shape ` +
        `[${stateDict.get(key)!.shape}]): this ${model.name} has no ` +
        'such weight');
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 12);
    if (problems.length > shown.length) {
      shown.push(`... and ${problems.length - shown.length} more`);
    }
    throw new Error(`${source}: the state_dict (${stateDict.size} keys) ` +
      `does not fit the model '${model.name}' (${entries.length} ` +
      'weights); are --netG, --ngf, --norm and the channel counts ' +
      `right?\n  ${shown.join('\n  ')}`);
  }
  const byLayer = new Map<string, TorchWeight[]>();
  for (const e of entries) {
    byLayer.set(e.layer, [...(byLayer.get(e.layer) ?? []), e]);
  }
  let params = 0;
  for (const [name, list] of byLayer) {
    const layer = model.getLayer(name);
    tf.tidy(() => {
      const values = layer.getWeights().slice();
      for (const e of list) {
        const t = stateDict.get(e.torchKey)!;
        const x = tf.tensor(t.values, t.shape, 'float32');
        values[e.index] = e.perm ? x.transpose(e.perm) : x;
        params += t.values.length;
      }
      layer.setWeights(values);
    });
  }
  return { loaded: entries.length, params, dropped };
}

/** The official architecture a generator state_dict was saved from. */
export interface InferredGenerator {
  netG: GeneratorType;
  ngf: number;
  inputNc: number;
  outputNc: number;
  /** `instance` unless the file has batch-norm weights and statistics. */
  norm: NormType;
  /**
   * ResNet blocks with Dropout (trained without `--no_dropout`): the
   * block's second conv sits at `conv_block.6` instead of `.5`. Always
   * false for U-Nets, whose dropout leaves no trace in the keys.
   */
  useDropout: boolean;
}

/**
 * Reads `--netG`, `--ngf`, `--input_nc`, `--output_nc` and the norm off a
 * generator state_dict's keys and shapes: `model.1.weight` (7×7 stem) and
 * the number of `model.N.conv_block` blocks make a ResNet (9 or 6),
 * `model.model.0.weight` a U-Net (its nesting depth gives 8 or 7 levels).
 * Throws, naming the keys it looked for, when neither fits.
 */
export function inferGenerator(stateDict: StateDict,
  source = 'state_dict'): InferredGenerator {
  const get = (k: string): TorchTensor | undefined => stateDict.get(k);
  const hasBatchNorm = [...stateDict.keys()].some((k) =>
    k.endsWith('.running_mean') && stateDict.has(
      k.replace(/running_mean$/, 'weight')));
  const norm: NormType = hasBatchNorm ? 'batch' : 'instance';
  const stem = get('model.1.weight');
  if (stem && stem.shape.length === 4 && stem.shape[2] === 7) {
    const blocks = new Set<number>();
    for (const k of stateDict.keys()) {
      const m = /^model\.(\d+)\.conv_block\./.exec(k);
      if (m) blocks.add(Number(m[1]));
    }
    const netG = blocks.size === 9 ? 'resnet_9blocks' :
      blocks.size === 6 ? 'resnet_6blocks' : undefined;
    const last = [...stateDict.entries()].filter(([k, t]) =>
      k.endsWith('.weight') && t.shape.length === 4 && t.shape[2] === 7);
    const second = get(`model.10.conv_block.6.weight`);
    const useDropout = second !== undefined && second.shape.length === 4;
    if (netG && last.length >= 2) {
      return { netG, ngf: stem.shape[0], inputNc: stem.shape[1],
        outputNc: last[last.length - 1][1].shape[0], norm, useDropout };
    }
    throw new Error(`${source}: a ResNet generator with ${blocks.size} ` +
      'residual blocks; expected 9 (resnet_9blocks) or 6 (resnet_6blocks)');
  }
  const first = get('model.model.0.weight');
  if (first && first.shape.length === 4) {
    let depth = 1;
    let prefix = 'model.model.1';
    while (stateDict.has(`${prefix}.model.1.weight`)) {
      depth++;
      prefix += '.model.3';
    }
    const netG = depth === 8 ? 'unet_256' : depth === 7 ? 'unet_128' :
      undefined;
    const out = get('model.model.3.weight');
    if (netG && out) {
      return { netG, ngf: first.shape[0], inputNc: first.shape[1],
        outputNc: out.shape[1], norm, useDropout: false };
    }
    throw new Error(`${source}: a U-Net generator with ${depth} levels; ` +
      'expected 8 (unet_256) or 7 (unet_128)');
  }
  throw new Error(`${source}: not an official generator state_dict: it ` +
    'has neither model.1.weight with a 7x7 kernel (ResNet) nor ' +
    'model.model.0.weight (U-Net); its first keys are ' +
    [...stateDict.keys()].slice(0, 4).join(', '));
}

function describe(v: unknown): string {
  if (v instanceof Map) return 'dict';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  return v === null ? 'None' : typeof v;
}
