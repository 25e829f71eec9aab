/**
 * `files ls` tables (issue 14): modes as `ls -l` shows them, and columns that stay aligned when
 * names hold CJK characters (two terminal columns each) or combining marks (none).
 */
import { describe, expect, it } from 'vitest';
import { renderTable } from '../../cli/api/output.ts';
import { displayWidth, truncateToWidth } from '../../cli/api/text-width.ts';
import { formatMode } from '../../cli/commands/files.ts';

describe('files ls table', () => {
  it('shows modes as ls -l does', () => {
    expect(formatMode('directory', 0o40755)).toBe('drwxr-xr-x');
    expect(formatMode('file', 0o100644)).toBe('-rw-r--r--');
    expect(formatMode('symlink', 0o120777)).toBe('lrwxrwxrwx');
    expect(formatMode('file', 0o104755)).toBe('-rwsr-xr-x');
    expect(formatMode('file', 0o102640)).toBe('-rw-r-S---');
    expect(formatMode('directory', 0o41777)).toBe('drwxrwxrwt');
    expect(formatMode('directory', 0o41770)).toBe('drwxrwx--T');
    expect(formatMode('fifo', 0o10600)).toBe('prw-------');
    expect(formatMode('char-device', 0o20620)).toBe('crw--w----');
    expect(formatMode('file', undefined)).toBe('-?????????');
  });

  it('measures wide and zero-width characters in terminal columns', () => {
    expect(displayWidth('abc')).toBe(3);
    expect(displayWidth('日本語.txt')).toBe(10);
    expect(displayWidth('한국어')).toBe(6);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth('📁x')).toBe(3);
    expect(truncateToWidth('日本語日本語', 7)).toBe('日本語…');
    expect(displayWidth(truncateToWidth('日本語日本語', 7))).toBeLessThanOrEqual(7);
  });

  it('keeps the columns after a wide name aligned', () => {
    const rows = [
      { name: '日本語.txt', size: '1 B' },
      { name: 'plain.txt', size: '22 B' },
      { name: 'cafe\u0301', size: '333 B' },
    ];
    const lines = renderTable(rows, [
      { header: 'NAME', value: (r) => r.name },
      { header: 'SIZE', value: (r) => r.size, right: true },
    ])
      .trimEnd()
      .split('\n');
    const widths = lines.map(displayWidth);
    expect(new Set(widths).size).toBe(1);
    expect(lines[1]).toBe('日本語.txt    1 B');
  });
});
