/**
 * Terminal column widths of text, so tables stay aligned with CJK names and emoji: East Asian
 * Wide and Fullwidth characters take two columns, combining marks and zero-width characters none
 * (Unicode Standard Annex #11, https://www.unicode.org/reports/tr11/). A small range table
 * covering the common blocks rather than a dependency: the CLI needs only this one function.
 */

/** [first, last] code points that take two columns. */
const WIDE_RANGES: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f], // Hangul Jamo initial consonants
  [0x2e80, 0x303e], // CJK radicals, Kangxi, CJK symbols and punctuation
  [0x3041, 0x33ff], // Hiragana, Katakana, Bopomofo, Hangul compatibility Jamo, CJK compatibility
  [0x3400, 0x4dbf], // CJK Unified Ideographs Extension A
  [0x4e00, 0x9fff], // CJK Unified Ideographs
  [0xa000, 0xa4cf], // Yi
  [0xac00, 0xd7a3], // Hangul syllables
  [0xf900, 0xfaff], // CJK compatibility ideographs
  [0xfe30, 0xfe4f], // CJK compatibility forms
  [0xff00, 0xff60], // Fullwidth forms
  [0xffe0, 0xffe6], // Fullwidth signs
  [0x1f300, 0x1f64f], // Miscellaneous symbols and pictographs, emoticons
  [0x1f900, 0x1f9ff], // Supplemental symbols and pictographs
  [0x20000, 0x3fffd], // CJK Unified Ideographs Extensions B-G
];

/** Combining marks and zero-width characters: no column of their own. */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\u200b-\u200f\u2060\ufeff]$/u;

function codePointWidth(codePoint: number, char: string): number {
  if (ZERO_WIDTH.test(char)) return 0;
  for (const [first, last] of WIDE_RANGES) {
    if (codePoint < first) return 1;
    if (codePoint <= last) return 2;
  }
  return 1;
}

/** Columns `text` takes on a terminal. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += codePointWidth(char.codePointAt(0)!, char);
  return width;
}

/** `text` cut to at most `columns` columns, with an ellipsis when cut. */
export function truncateToWidth(text: string, columns: number): string {
  if (displayWidth(text) <= columns) return text;
  let out = '';
  let width = 0;
  for (const char of text) {
    const next = codePointWidth(char.codePointAt(0)!, char);
    if (width + next > columns - 1) break;
    out += char;
    width += next;
  }
  return `${out}…`;
}

/** `text` padded with spaces to `columns` columns, at the end (or the start when `right`). */
export function padToWidth(text: string, columns: number, right = false): string {
  const padding = ' '.repeat(Math.max(0, columns - displayWidth(text)));
  return right ? padding + text : text + padding;
}
