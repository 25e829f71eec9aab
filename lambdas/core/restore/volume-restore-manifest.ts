/**
 * An image manifest read as a stream (Plan Restore): the manifest object arrives in pieces and is
 * parsed as they come, so a plan holds the fields around the segment list and one piece, never the
 * segment list itself (one 64-hex hash per GiB of the volume: 1.1 MB of JSON at 16 TiB, 4.4 MB at
 * 64 TiB; parsed, about 88 bytes per GiB).
 *
 * The manifest is one UTF-8 JSON document (docs/image-format.md, format-v1.ts). Its SHA-256, which
 * the image record gives, covers the whole object, so nothing can be verified before the last
 * piece: a caller may act on the hashes it is handed only in ways it can undo or that an attempt
 * reading other bytes would not confuse (Plan Restore writes content-addressed range objects), and
 * commits only once `next()` has answered `undefined`, which is when the digest, the schema and the
 * segment count have been checked. The fields before `segments` (the writer puts the volume size
 * there) are the `header`; a manifest that lists its segments first is refused, as is one whose
 * fields outside the segment list exceed MANIFEST_OTHER_FIELDS_MAX_CHARS.
 */
import { createHash, type Hash } from 'node:crypto';
import { IntegrityError, ValidationError } from '../errors.ts';
import { HEX_HASH_PATTERN } from '../image/hashing.ts';
import { FORMAT_V1, manifestV1Schema } from '../image/format-v1.ts';
import { READABLE_FORMAT_VERSIONS } from '../image/image-format.ts';
import { segmentCount } from '../image/image-types.ts';

/**
 * Characters of the manifest outside its segment list that a reader keeps (the ids, sizes and
 * stats of a version 1 manifest take under 1,000): a bound on what a damaged object can make it hold.
 */
export const MANIFEST_OTHER_FIELDS_MAX_CHARS = 64 * 1024;
/** Nesting a version 1 manifest uses: the document, and `segments` or `stats` inside it. */
const MAX_DEPTH = 2;
/** Characters of a JSON number or literal (true, false, null). */
const LITERAL_CHAR = /[0-9A-Za-z+\-.]/;
/** Longest number or literal kept: a volume size in bytes has at most 17 digits. */
const MAX_LITERAL_CHARS = 64;

/** A committed image's manifest object, read in pieces (lambdas/aws/s3-volume-restore-manifests.ts). */
export interface ManifestPieces {
  /** The object's key (for messages). */
  readonly key: string;
  /** Hex SHA-256 of the whole object, from the image record. */
  readonly sha256Hex: string;
  /** The object's bytes in order. */
  readonly pieces: AsyncIterable<Uint8Array>;
}

/** The fields a plan needs before the segment list, as the manifest gives them ahead of it. */
export interface ManifestHeader {
  readonly formatVersion: number;
  readonly volumeId: string;
  readonly imageId: string;
  readonly volumeSizeBytes: number;
}

export interface ManifestStream {
  readonly header: ManifestHeader;
  /** Segments in the volume (the length the list must have). */
  readonly segmentCount: number;
  /**
   * The next segment hash (64 hex), or `undefined` after the last: by then the object's SHA-256,
   * the whole document's schema and the segment count have been checked (IntegrityError otherwise).
   */
  next(): Promise<string | undefined>;
}

type Frame =
  | {
      kind: 'object';
      value: Record<string, unknown>;
      count: number;
      key: string | undefined;
      expect: 'key' | 'colon' | 'value' | 'comma';
    }
  | { kind: 'array'; value: unknown[]; count: number; expect: 'value' | 'comma'; streamed: boolean };

/**
 * A push parser of one JSON document that hands the elements of the top-level `segments` array to
 * `onSegment` instead of keeping them. Strings are parsed by JSON.parse once their closing quote is
 * seen, numbers and literals once a delimiter follows, so pieces may split any token.
 */
export class SegmentStreamingParser {
  private readonly stack: Frame[] = [];
  private root: Record<string, unknown> | undefined;
  private token: { text: string; string: boolean; escaped: boolean } | undefined;
  private kept = 0;
  private segmentsSeen = false;

  constructor(
    private readonly key: string,
    private readonly onHeader: (fields: Readonly<Record<string, unknown>>) => void,
    private readonly onSegment: (hash: string) => void,
  ) {}

  feed(text: string): void {
    for (let i = 0; i < text.length; i += 1) this.char(text[i]!);
  }

  /** The document with `segments` as [] (its elements went to onSegment). */
  end(): Record<string, unknown> {
    if (this.token !== undefined && !this.token.string) this.finishLiteral();
    if (this.root === undefined || this.token !== undefined)
      throw this.damaged('it ends inside the document');
    if (!this.segmentsSeen) throw this.damaged('it has no segment list');
    return this.root;
  }

  private damaged(why: string): IntegrityError {
    return new IntegrityError(`manifest ${this.key} cannot be read: ${why}`, { context: { key: this.key } });
  }

  private char(c: string): void {
    const top = this.stack.at(-1);
    if (top?.kind !== 'array' || !top.streamed) {
      this.kept += 1;
      if (this.kept > MANIFEST_OTHER_FIELDS_MAX_CHARS)
        throw this.damaged(
          `its fields outside the segment list exceed ${MANIFEST_OTHER_FIELDS_MAX_CHARS} characters`,
        );
    }
    const token = this.token;
    if (token?.string === true) {
      token.text += c;
      if (token.text.length > MANIFEST_OTHER_FIELDS_MAX_CHARS) throw this.damaged('a string is too long');
      if (token.escaped) token.escaped = false;
      else if (c === '\\') token.escaped = true;
      else if (c === '"') {
        this.token = undefined;
        this.value(this.parseToken(token.text));
      }
      return;
    }
    if (token !== undefined) {
      if (LITERAL_CHAR.test(c)) {
        token.text += c;
        if (token.text.length > MAX_LITERAL_CHARS) throw this.damaged('a number or literal is too long');
        return;
      }
      this.finishLiteral();
    }
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') return;
    if (this.root !== undefined) throw this.damaged('it goes on after the document');
    switch (c) {
      case '{':
        this.open({ kind: 'object', value: {}, count: 0, key: undefined, expect: 'key' });
        return;
      case '[':
        this.openArray();
        return;
      case '}':
      case ']':
        this.close(c);
        return;
      case ':':
        this.punctuation(c, 'colon', 'value');
        return;
      case ',':
        this.punctuation(c, 'comma', this.stack.at(-1)?.kind === 'object' ? 'key' : 'value');
        return;
      case '"':
        this.token = { text: c, string: true, escaped: false };
        return;
      default:
        this.token = { text: c, string: false, escaped: false };
    }
  }

  private parseToken(text: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new IntegrityError(`manifest ${this.key} is not JSON near ${JSON.stringify(text.slice(0, 80))}`, {
        cause: error,
        context: { key: this.key },
      });
    }
  }

  private finishLiteral(): void {
    const text = this.token!.text;
    this.token = undefined;
    this.value(this.parseToken(text));
  }

  private punctuation(c: string, expected: 'colon' | 'comma', then: 'key' | 'value'): void {
    const top = this.stack.at(-1);
    if (top === undefined || top.expect !== expected) throw this.damaged(`unexpected "${c}"`);
    top.expect = then;
  }

  /** A value may start here (the document itself, an object's value or an array's element). */
  private checkValuePosition(): void {
    const top = this.stack.at(-1);
    if (top !== undefined && top.expect !== 'value') throw this.damaged('a value where none belongs');
  }

  private openArray(): void {
    const parent = this.stack.at(-1);
    const streamed = this.stack.length === 1 && parent?.kind === 'object' && parent.key === 'segments';
    this.open({ kind: 'array', value: [], count: 0, expect: 'value', streamed });
    if (!streamed) return;
    if (this.segmentsSeen) throw this.damaged('it has two segment lists');
    this.segmentsSeen = true;
    this.onHeader({ ...parent.value });
  }

  private open(frame: Frame): void {
    this.checkValuePosition();
    if (this.stack.length > MAX_DEPTH || (this.stack.length === 0 && frame.kind !== 'object'))
      throw this.damaged('it is not a manifest document');
    this.stack.push(frame);
  }

  private close(c: '}' | ']'): void {
    const top = this.stack.at(-1);
    const emptyAt = top?.kind === 'object' ? 'key' : 'value';
    if (
      top === undefined ||
      (c === '}') !== (top.kind === 'object') ||
      !(top.expect === 'comma' || (top.count === 0 && top.expect === emptyAt))
    )
      throw this.damaged(`unexpected "${c}"`);
    this.stack.pop();
    this.deliver(top.value);
  }

  private value(value: unknown): void {
    const top = this.stack.at(-1);
    if (top?.kind === 'object' && top.expect === 'key') {
      if (typeof value !== 'string') throw this.damaged('a key that is not a string');
      if (Object.hasOwn(top.value, value)) throw this.damaged(`"${value}" twice`);
      top.key = value;
      top.expect = 'colon';
      return;
    }
    this.checkValuePosition();
    if (top?.kind === 'array' && top.streamed) {
      if (typeof value !== 'string' || !HEX_HASH_PATTERN.test(value))
        throw this.damaged(`segment ${top.count} is not a 64-hex hash`);
      top.count += 1;
      top.expect = 'comma';
      this.onSegment(value);
      return;
    }
    this.deliver(value);
  }

  private deliver(value: unknown): void {
    const top = this.stack.at(-1);
    if (top === undefined) {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw this.damaged('it is not a manifest document');
      this.root = value as Record<string, unknown>;
      return;
    }
    top.count += 1;
    top.expect = 'comma';
    if (top.kind === 'object') top.value[top.key!] = value;
    else top.value.push(value);
  }
}

/** Segment hashes parsed from a piece and not yet handed out: at most one piece's worth. */
class SegmentQueue {
  private items: string[] = [];
  private at = 0;
  push(hash: string): void {
    this.items.push(hash);
  }
  shift(): string | undefined {
    if (this.at === this.items.length) return undefined;
    const hash = this.items[this.at]!;
    this.at += 1;
    if (this.at === this.items.length) {
      this.items = [];
      this.at = 0;
    }
    return hash;
  }
}

function verifiedManifest(
  source: ManifestPieces,
  document: Record<string, unknown>,
  segments: number,
  digest: Hash,
): void {
  const actual = digest.digest('hex');
  if (actual !== source.sha256Hex) {
    throw new IntegrityError(`manifest ${source.key} does not match the digest in its image record`, {
      context: { key: source.key, expectedSha256: source.sha256Hex },
    });
  }
  const parsed = manifestV1Schema.safeParse(document);
  if (!parsed.success) {
    throw new IntegrityError(
      `manifest ${source.key} is not a valid version 1 manifest: ${parsed.error.message}`,
      { context: { key: source.key } },
    );
  }
  const expected = segmentCount(parsed.data.volumeSizeBytes);
  if (segments !== expected) {
    throw new IntegrityError(
      `manifest ${source.key} lists ${segments} segments for a volume that has ${expected}`,
      { context: { key: source.key } },
    );
  }
}

function headerOf(
  source: ManifestPieces,
  fields: Readonly<Record<string, unknown>>,
  expected: { volumeId: string; imageId: string },
): ManifestHeader {
  const { formatVersion, volumeId, imageId, volumeSizeBytes } = fields;
  if (typeof formatVersion === 'number' && formatVersion !== FORMAT_V1) {
    throw new ValidationError(`image format version ${formatVersion} is not supported by this reader`, {
      context: { version: formatVersion, readable: READABLE_FORMAT_VERSIONS.join(',') },
    });
  }
  if (
    formatVersion !== FORMAT_V1 ||
    typeof volumeId !== 'string' ||
    typeof imageId !== 'string' ||
    typeof volumeSizeBytes !== 'number' ||
    !Number.isSafeInteger(volumeSizeBytes) ||
    volumeSizeBytes <= 0
  ) {
    throw new IntegrityError(
      `manifest ${source.key} does not give its formatVersion, volumeId, imageId and volumeSizeBytes before its segment list`,
      { context: { key: source.key } },
    );
  }
  if (volumeId !== expected.volumeId || imageId !== expected.imageId) {
    throw new IntegrityError(`manifest ${source.key} describes ${volumeId}/${imageId}`, {
      context: { key: source.key },
    });
  }
  return { formatVersion, volumeId, imageId, volumeSizeBytes };
}

/**
 * Opens a manifest as a stream: reads pieces until the segment list starts (the header), then
 * one piece at a time as `next()` asks for hashes.
 */
export async function openManifestStream(
  source: ManifestPieces,
  expected: { readonly volumeId: string; readonly imageId: string },
): Promise<ManifestStream> {
  const pieces = source.pieces[Symbol.asyncIterator]();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const digest = createHash('sha256');
  const queue = new SegmentQueue();
  let headerFields: Readonly<Record<string, unknown>> | undefined;
  let segments = 0;
  let finished = false;
  const parser = new SegmentStreamingParser(
    source.key,
    (fields) => {
      headerFields = fields;
    },
    (hash) => {
      segments += 1;
      queue.push(hash);
    },
  );
  const decode = (bytes?: Uint8Array): string => {
    try {
      return bytes === undefined ? decoder.decode() : decoder.decode(bytes, { stream: true });
    } catch (error) {
      throw new IntegrityError(`manifest ${source.key} is not UTF-8`, {
        cause: error,
        context: { key: source.key },
      });
    }
  };
  /** Reads one more piece; false at the end of the object (then the manifest is verified). */
  const readPiece = async (): Promise<boolean> => {
    const piece = await pieces.next();
    if (piece.done === true) {
      parser.feed(decode());
      verifiedManifest(source, parser.end(), segments, digest);
      finished = true;
      return false;
    }
    digest.update(piece.value);
    parser.feed(decode(piece.value));
    return true;
  };
  while (headerFields === undefined) {
    if (!(await readPiece()))
      throw new IntegrityError(`manifest ${source.key} has no segment list`, {
        context: { key: source.key },
      });
  }
  let header: ManifestHeader;
  try {
    header = headerOf(source, headerFields, expected);
  } catch (error) {
    // An unsupported version may be a changed byte: the digest decides, over the rest of the object.
    for (let piece = await pieces.next(); piece.done !== true; piece = await pieces.next())
      digest.update(piece.value);
    if (digest.digest('hex') !== source.sha256Hex) {
      throw new IntegrityError(`manifest ${source.key} does not match the digest in its image record`, {
        context: { key: source.key, expectedSha256: source.sha256Hex },
      });
    }
    throw error;
  }
  return {
    header,
    segmentCount: segmentCount(header.volumeSizeBytes),
    async next() {
      for (;;) {
        const hash = queue.shift();
        if (hash !== undefined) return hash;
        if (finished || !(await readPiece())) return undefined;
      }
    },
  };
}
