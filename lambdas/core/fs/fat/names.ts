/**
 * Names and checksums: FAT 8.3 short names (OEM code page 437, as Linux's vfat and mtools use by
 * default), VFAT long-name checksums, the exFAT up-case table, name hash and entry-set checksum.
 */
import { FilesystemCorruptError } from '../errors.ts';
import { MAX_UPCASE_TABLE_BYTES } from './limits.ts';

/** Code page 437, bytes 0x80..0xFF. */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function cp437(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80]!;
  return out;
}

/** NT reserved byte (offset 12) flags that Windows and Linux honour: the base or extension is lower case. */
const NT_LOWER_BASE = 0x08;
const NT_LOWER_EXT = 0x10;

/** "README  TXT" → "README.TXT" (or "readme.txt" with the NT lower-case flags); 0x05 stands for 0xE5. */
export function shortNameOf(raw: Uint8Array, ntFlags: number): string {
  const name = Uint8Array.from(raw.subarray(0, 11));
  if (name[0] === 0x05) name[0] = 0xe5;
  let base = cp437(name.subarray(0, 8)).replace(/ +$/, '');
  let ext = cp437(name.subarray(8, 11)).replace(/ +$/, '');
  if (ntFlags & NT_LOWER_BASE) base = base.toLowerCase();
  if (ntFlags & NT_LOWER_EXT) ext = ext.toLowerCase();
  return ext === '' ? base : `${base}.${ext}`;
}

/** The checksum of an 11-byte short name that each of its long-name entries carries (fatgen103 §7). */
export function lfnChecksum(raw: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i += 1) sum = ((sum & 1 ? 0x80 : 0) + (sum >>> 1) + raw[i]!) & 0xff;
  return sum;
}

/** UTF-16LE code units to a string; unpaired surrogates become U+FFFD. */
export function utf16(units: readonly number[]): string {
  let out = '';
  for (let i = 0; i < units.length; i += 1) {
    const u = units[i]!;
    if (u >= 0xd800 && u <= 0xdbff && i + 1 < units.length) {
      const low = units[i + 1]!;
      if (low >= 0xdc00 && low <= 0xdfff) {
        out += String.fromCharCode(u, low);
        i += 1;
        continue;
      }
    }
    out += u >= 0xd800 && u <= 0xdfff ? '\ufffd' : String.fromCharCode(u);
  }
  return out;
}

/** exFAT entry-set checksum (§6.3.3): all bytes of the set except the checksum field itself. */
export function entrySetChecksum(set: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < set.length; i += 1) {
    if (i === 2 || i === 3) continue;
    sum = ((sum & 1 ? 0x8000 : 0) + (sum >>> 1) + set[i]!) & 0xffff;
  }
  return sum;
}

/** exFAT table checksum (§7.2.2), used for the up-case table. */
export function tableChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const byte of bytes) sum = ((((sum & 1) << 31) | (sum >>> 1)) + byte) >>> 0;
  return sum;
}

/** The up-case table: a mapping of UTF-16 units, compressed with 0xFFFF + run-length of identity (§7.2.5.1). */
export class UpcaseTable {
  private constructor(private readonly map: Uint16Array) {}

  /** Characters map to themselves: used when the volume's table cannot be read. */
  static identity(): UpcaseTable {
    const map = new Uint16Array(65_536);
    for (let i = 0; i < map.length; i += 1) map[i] = i;
    return new UpcaseTable(map);
  }

  static parse(bytes: Uint8Array): UpcaseTable {
    if (bytes.length > MAX_UPCASE_TABLE_BYTES || bytes.length % 2 !== 0) {
      throw new FilesystemCorruptError(`exFAT up-case table has an invalid length ${bytes.length}`);
    }
    const map = new Uint16Array(65_536);
    for (let i = 0; i < map.length; i += 1) map[i] = i;
    let unit = 0;
    for (let at = 0; at + 1 < bytes.length && unit < 65_536; at += 2) {
      const value = bytes[at]! | (bytes[at + 1]! << 8);
      if (value === 0xffff && at + 3 < bytes.length) {
        unit += bytes[at + 2]! | (bytes[at + 3]! << 8); // a run of identity mappings
        at += 2;
        continue;
      }
      map[unit] = value;
      unit += 1;
    }
    return new UpcaseTable(map);
  }

  upcase(units: readonly number[]): number[] {
    return units.map((u) => this.map[u]!);
  }

  /** The NameHash of a stream extension entry (§7.6.4): over the up-cased name's UTF-16LE bytes. */
  nameHash(units: readonly number[]): number {
    let hash = 0;
    for (const u of units) {
      const up = this.map[u]!;
      hash = ((hash & 1 ? 0x8000 : 0) + (hash >>> 1) + (up & 0xff)) & 0xffff;
      hash = ((hash & 1 ? 0x8000 : 0) + (hash >>> 1) + (up >>> 8)) & 0xffff;
    }
    return hash;
  }
}

/** UTF-16 code units of a JavaScript string. */
export function unitsOf(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i += 1) out.push(text.charCodeAt(i));
  return out;
}
