/**
 * LVM2's metadata text format ("Text Format Volume Group", lib/format_text in the LVM2 sources):
 * nested sections `name { ... }` holding assignments `key = value`, where a value is a number, a
 * "string" (with \" and \\ escapes) or a [list, of, values]; `#` starts a comment. This is a small
 * strict parser with limits, not LVM2's config engine: anything else is a FilesystemCorruptError.
 */
import { FilesystemCorruptError, FilesystemLimitError } from '../errors.ts';
import { MAX_METADATA_DEPTH, MAX_METADATA_ITEMS, MAX_METADATA_STRING_BYTES } from './limits.ts';

export type MetadataValue = number | string | readonly MetadataValue[];

export interface MetadataSection {
  readonly values: ReadonlyMap<string, MetadataValue>;
  readonly sections: ReadonlyMap<string, MetadataSection>;
  /** Section names in the order written (segment1, segment2, ...; LVs in metadata order). */
  readonly order: readonly string[];
}

interface MutableSection {
  readonly values: Map<string, MetadataValue>;
  readonly sections: Map<string, MutableSection>;
  readonly order: string[];
}

const WORD = /[A-Za-z0-9_.+-]/;

function newSection(): MutableSection {
  return { values: new Map(), sections: new Map(), order: [] };
}

export function parseMetadataText(text: string): MetadataSection {
  let at = 0;
  let items = 0;
  const fail = (what: string): never => {
    const line = text.slice(0, at).split('\n').length;
    throw new FilesystemCorruptError(`LVM metadata text, line ${line}: ${what}`, { line });
  };
  const count = (): void => {
    items += 1;
    if (items > MAX_METADATA_ITEMS) {
      throw new FilesystemLimitError(`LVM metadata text has more than ${MAX_METADATA_ITEMS} items`);
    }
  };
  const skipSpace = (): void => {
    while (at < text.length) {
      const c = text[at]!;
      if (c === '#') {
        const end = text.indexOf('\n', at);
        at = end < 0 ? text.length : end + 1;
      } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\0') at += 1;
      else break;
    }
  };
  const word = (): string => {
    const start = at;
    while (at < text.length && WORD.test(text[at]!)) at += 1;
    if (at === start) fail(`unexpected ${at < text.length ? JSON.stringify(text[at]) : 'end of text'}`);
    if (at - start > MAX_METADATA_STRING_BYTES) fail('word too long');
    return text.slice(start, at);
  };
  const string = (): string => {
    at += 1; // opening quote
    let out = '';
    for (;;) {
      if (at >= text.length) fail('unterminated string');
      const c = text[at]!;
      if (c === '"') {
        at += 1;
        return out;
      }
      if (c === '\\' && at + 1 < text.length) {
        out += text[at + 1];
        at += 2;
      } else {
        out += c;
        at += 1;
      }
      if (out.length > MAX_METADATA_STRING_BYTES) fail('string too long');
    }
  };
  const value = (depth: number): MetadataValue => {
    skipSpace();
    count();
    const c = text[at];
    if (c === '"') return string();
    if (c === '[') {
      if (depth >= MAX_METADATA_DEPTH) fail('lists nested too deeply');
      at += 1;
      const list: MetadataValue[] = [];
      skipSpace();
      if (text[at] === ']') {
        at += 1;
        return list;
      }
      for (;;) {
        list.push(value(depth + 1));
        skipSpace();
        if (text[at] === ',') {
          at += 1;
          continue;
        }
        if (text[at] === ']') {
          at += 1;
          return list;
        }
        fail('expected "," or "]" in a list');
      }
    }
    const w = word();
    if (!/^-?\d+$/.test(w)) fail(`value ${JSON.stringify(w)} is neither a number nor a string`);
    const n = Number(w);
    if (!Number.isSafeInteger(n)) fail(`number ${w} is too large`);
    return n;
  };
  const body = (section: MutableSection, depth: number, closing: boolean): void => {
    for (;;) {
      skipSpace();
      if (at >= text.length) {
        if (closing) fail('missing "}"');
        return;
      }
      if (text[at] === '}') {
        if (!closing) fail('unexpected "}"');
        at += 1;
        return;
      }
      const key = word();
      count();
      skipSpace();
      if (text[at] === '{') {
        if (depth >= MAX_METADATA_DEPTH) fail('sections nested too deeply');
        at += 1;
        if (section.sections.has(key) || section.values.has(key)) fail(`"${key}" defined twice`);
        const child = newSection();
        section.sections.set(key, child);
        section.order.push(key);
        body(child, depth + 1, true);
      } else if (text[at] === '=') {
        at += 1;
        if (section.sections.has(key) || section.values.has(key)) fail(`"${key}" defined twice`);
        section.values.set(key, value(depth));
      } else {
        fail(`expected "{" or "=" after "${key}"`);
      }
    }
  };
  const root = newSection();
  body(root, 0, false);
  return root;
}

/** Typed accessors that turn a missing or mistyped field into a FilesystemCorruptError. */
export function numberField(section: MetadataSection, key: string, where: string): number {
  const v = section.values.get(key);
  if (typeof v !== 'number' || v < 0) {
    throw new FilesystemCorruptError(`LVM metadata: ${where} has no valid "${key}"`, { field: key });
  }
  return v;
}

export function stringField(section: MetadataSection, key: string, where: string): string {
  const v = section.values.get(key);
  if (typeof v !== 'string') {
    throw new FilesystemCorruptError(`LVM metadata: ${where} has no valid "${key}"`, { field: key });
  }
  return v;
}

export function stringList(section: MetadataSection, key: string): string[] {
  const v = section.values.get(key);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
