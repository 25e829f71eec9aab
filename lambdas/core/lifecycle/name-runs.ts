/**
 * Sorted runs of 32-byte names (chunk names, segment hashes) spilled to the object store, so the
 * collector's memory does not grow with the number of chunks. A run object is:
 *
 * | Offset | Size | Field |
 * | --- | --- | --- |
 * | 0 | 4 | magic `RBPN` |
 * | 4 | 1 | version (1) |
 * | 5 | 3 | reserved, 0 |
 * | 8 | 4 | name count n, little-endian u32 |
 * | 12 | 4 × 4,096 | fan-out: entry i = number of names whose first three hex digits are ≤ i (LE u32) |
 * | 16,396 | 32 × n | the names, raw, sorted ascending, unique |
 *
 * Content hashes are uniform, so the names of one key range (a shard: a run of three-hex-digit
 * prefixes) are one contiguous byte range of every run, read with one ranged GET per run.
 */
import { IntegrityError } from '../errors.ts';
import { sha256Base64, sha256Hex } from '../image/hashing.ts';
import type { LifecycleObjectStore } from './ports.ts';
import { LIST_MAX_KEYS } from './ports.ts';

export const NAME_BYTES = 32;
/** Shards are unions of three-hex-digit prefixes: 4,096 of them, enough for 400 million chunks at 100,000 per shard. */
export const FANOUT_PREFIXES = 4096;
const MAGIC = 'RBPN';
const RUN_VERSION = 1;
export const RUN_HEADER_BYTES = 12 + FANOUT_PREFIXES * 4;

export function prefixOf(hexName: string): number {
  return Number.parseInt(hexName.slice(0, 3), 16);
}

export function encodeRun(sortedUnique: readonly string[]): Uint8Array {
  const out = Buffer.alloc(RUN_HEADER_BYTES + sortedUnique.length * NAME_BYTES);
  out.write(MAGIC, 0, 'ascii');
  out[4] = RUN_VERSION;
  out.writeUInt32LE(sortedUnique.length, 8);
  const counts = new Uint32Array(FANOUT_PREFIXES);
  sortedUnique.forEach((name, i) => {
    counts[prefixOf(name)]! += 1;
    out.write(name, RUN_HEADER_BYTES + i * NAME_BYTES, 'hex');
  });
  let cumulative = 0;
  for (let p = 0; p < FANOUT_PREFIXES; p += 1) {
    cumulative += counts[p]!;
    out.writeUInt32LE(cumulative, 12 + p * 4);
  }
  return out;
}

function checkHeader(header: Uint8Array, key: string): Buffer {
  const view = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  if (view.length < RUN_HEADER_BYTES || view.toString('ascii', 0, 4) !== MAGIC || view[4] !== RUN_VERSION) {
    throw new IntegrityError(`name run ${key} has no valid header`, { context: { key } });
  }
  return view;
}

/** Name count of a run from its header. */
export function runCount(header: Uint8Array, key: string): number {
  return checkHeader(header, key).readUInt32LE(8);
}

/** Byte range of the names with prefixes in [fromPrefix, toPrefix). */
export function runByteRange(
  header: Uint8Array,
  key: string,
  fromPrefix: number,
  toPrefix: number,
): [number, number] {
  const view = checkHeader(header, key);
  const start = fromPrefix === 0 ? 0 : view.readUInt32LE(12 + (fromPrefix - 1) * 4);
  const end = toPrefix === 0 ? 0 : view.readUInt32LE(12 + (toPrefix - 1) * 4);
  return [RUN_HEADER_BYTES + start * NAME_BYTES, RUN_HEADER_BYTES + end * NAME_BYTES];
}

/** Collects names in memory and spills them as a sorted run when the buffer is full or on flush. */
export class RunWriter {
  private buffer: string[] = [];
  runsWritten = 0;

  constructor(
    private readonly objects: LifecycleObjectStore,
    /** Key prefix of this writer's runs, e.g. `gc/<runId>/chunks/`. */
    private readonly base: string,
    private readonly maxNames: number,
  ) {}

  async add(hexName: string): Promise<void> {
    this.buffer.push(hexName);
    if (this.buffer.length >= this.maxNames) await this.flush();
  }

  /** Writes the buffered names as one run, named by its content (a re-run writes the same key). */
  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const sorted = this.buffer.sort();
    const unique = sorted.filter((name, i) => i === 0 || name !== sorted[i - 1]);
    this.buffer = [];
    const body = encodeRun(unique);
    await this.objects.putIfAbsent({
      key: `${this.base}${sha256Hex(body)}`,
      body,
      sha256Base64: sha256Base64(body),
      contentType: 'application/octet-stream',
    });
    this.runsWritten += 1;
  }
}

/** Every key under `prefix`, in order, a page at a time. */
export async function* listAll(objects: LifecycleObjectStore, prefix: string): AsyncGenerator<string> {
  let startAfter: string | undefined;
  for (;;) {
    const page = await objects.listPage(prefix, startAfter, LIST_MAX_KEYS);
    for (const object of page.objects) yield object.key;
    if (!page.isTruncated || page.objects.length === 0) return;
    startAfter = page.objects.at(-1)!.key;
  }
}

/** The runs under one prefix with their headers (16 KiB each), read once per phase. */
export class RunSet {
  private constructor(
    private readonly objects: LifecycleObjectStore,
    readonly runs: readonly { readonly key: string; readonly header: Uint8Array }[],
  ) {}

  static async open(objects: LifecycleObjectStore, base: string): Promise<RunSet> {
    const runs: { key: string; header: Uint8Array }[] = [];
    for await (const key of listAll(objects, base)) {
      runs.push({ key, header: await objects.getRange(key, 0, RUN_HEADER_BYTES) });
    }
    return new RunSet(objects, runs);
  }

  /** Sum of the runs' name counts (names in several runs count several times). */
  totalNames(): number {
    return this.runs.reduce((sum, run) => sum + runCount(run.header, run.key), 0);
  }

  /** The distinct names with prefixes in [fromPrefix, toPrefix): one ranged GET per run. */
  async namesIn(fromPrefix: number, toPrefix: number): Promise<Set<string>> {
    const names = new Set<string>();
    for (const run of this.runs) {
      const [start, end] = runByteRange(run.header, run.key, fromPrefix, toPrefix);
      if (end <= start) continue;
      const bytes = Buffer.from(await this.objects.getRange(run.key, start, end));
      if (bytes.length !== end - start) {
        throw new IntegrityError(`name run ${run.key} is shorter than its header says`, {
          context: { key: run.key },
        });
      }
      for (let offset = 0; offset < bytes.length; offset += NAME_BYTES) {
        names.add(bytes.toString('hex', offset, offset + NAME_BYTES));
      }
    }
    return names;
  }
}

/** Shard `index` of `count` as a prefix range [from, to) over the 4,096 three-hex-digit prefixes. */
export function shardPrefixes(index: number, count: number): [number, number] {
  return [Math.floor((index * FANOUT_PREFIXES) / count), Math.floor(((index + 1) * FANOUT_PREFIXES) / count)];
}

/** The three-hex-digit prefix as text. */
export function prefixHex(prefix: number): string {
  return prefix.toString(16).padStart(3, '0');
}
