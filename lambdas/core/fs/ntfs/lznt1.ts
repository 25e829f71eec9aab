/**
 * LZNT1 decompression, as used by NTFS compressed files ([MS-XCA] 2.5,
 * https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-xca/). The input is a sequence
 * of chunks, each with a 16-bit header: bits 0-11 are the chunk's size minus 3, bit 15 says
 * whether it is compressed. A compressed chunk decodes to at most 4 KiB: flag bytes, each followed
 * by 8 tokens (bit 0 = a literal byte, 1 = a 16-bit back reference whose split between offset and
 * length depends on the position in the chunk). An uncompressed chunk is 4 KiB of raw bytes.
 */
import { FilesystemCorruptError } from '../errors.ts';

/** Every LZNT1 chunk decodes to at most 4 KiB. */
export const LZNT1_CHUNK_BYTES = 4096;

/**
 * Decompresses `input` into `output` (the whole compression unit, pre-filled with zeros by the
 * caller); returns the number of bytes produced. Stops at a zero chunk header, the end of the
 * input or a full output. Never reads or writes out of bounds: damage is a FilesystemCorruptError.
 */
export function decompressLznt1(input: Uint8Array, output: Uint8Array): number {
  let inAt = 0;
  let outAt = 0;
  while (inAt + 2 <= input.length && outAt < output.length) {
    const header = input[inAt]! | (input[inAt + 1]! << 8);
    if (header === 0) break;
    const chunkEnd = inAt + 3 + (header & 0x0fff);
    if (chunkEnd > input.length)
      throw new FilesystemCorruptError('LZNT1 chunk runs past the compressed data');
    inAt += 2;
    const chunkStart = outAt;
    const chunkLimit = Math.min(output.length, chunkStart + LZNT1_CHUNK_BYTES);
    if ((header & 0x8000) === 0) {
      const n = Math.min(chunkEnd - inAt, chunkLimit - outAt);
      output.set(input.subarray(inAt, inAt + n), outAt);
      inAt = chunkEnd;
      // An uncompressed chunk always stands for a full 4 KiB of output.
      outAt = Math.min(chunkLimit, chunkStart + LZNT1_CHUNK_BYTES);
      continue;
    }
    while (inAt < chunkEnd && outAt < chunkLimit) {
      const flags = input[inAt]!;
      inAt += 1;
      for (let bit = 0; bit < 8 && inAt < chunkEnd && outAt < chunkLimit; bit += 1) {
        if ((flags & (1 << bit)) === 0) {
          output[outAt] = input[inAt]!;
          outAt += 1;
          inAt += 1;
          continue;
        }
        if (inAt + 2 > chunkEnd) throw new FilesystemCorruptError('LZNT1 back reference cut off');
        const token = input[inAt]! | (input[inAt + 1]! << 8);
        inAt += 2;
        // Offset bits grow with the position in the chunk: 4 bits up to 16 bytes, then one more per doubling.
        let offsetBits = 4;
        for (let p = outAt - chunkStart - 1; p >= 0x10; p >>>= 1) offsetBits += 1;
        const lengthBits = 16 - offsetBits;
        const back = (token >>> lengthBits) + 1;
        const length = (token & ((1 << lengthBits) - 1)) + 3;
        if (back > outAt - chunkStart)
          throw new FilesystemCorruptError('LZNT1 back reference before the chunk start');
        const n = Math.min(length, chunkLimit - outAt);
        // Byte by byte: the source may overlap the destination (run-length style references).
        for (let i = 0; i < n; i += 1) output[outAt + i] = output[outAt + i - back]!;
        outAt += n;
      }
    }
    inAt = chunkEnd;
    // A chunk that decoded to less than 4 KiB is zero-padded to 4 KiB (ntfs-3g and Windows do
    // the same): the next chunk starts on the next 4 KiB boundary of the output.
    outAt = chunkLimit;
  }
  return outAt;
}

/**
 * LZNT1 compression (literal and back-reference tokens, greedy longest match in the chunk so far).
 * Not used by the reader: it exists so that property tests can check that any byte string
 * survives a round trip through decompressLznt1.
 */
export function compressLznt1(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let start = 0; start < data.length; start += LZNT1_CHUNK_BYTES) {
    const chunk = data.subarray(start, Math.min(data.length, start + LZNT1_CHUNK_BYTES));
    const body: number[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      const flagAt = body.length;
      body.push(0);
      for (let bit = 0; bit < 8 && pos < chunk.length; bit += 1) {
        let offsetBits = 4;
        for (let p = pos - 1; p >= 0x10; p >>>= 1) offsetBits += 1;
        const lengthBits = 16 - offsetBits;
        const maxLength = (1 << lengthBits) - 1 + 3;
        let bestLength = 0;
        let bestBack = 0;
        for (let back = 1; back <= Math.min(pos, 1 << offsetBits); back += 1) {
          let n = 0;
          while (n < maxLength && pos + n < chunk.length && chunk[pos + n] === chunk[pos + n - back]) n += 1;
          if (n > bestLength) {
            bestLength = n;
            bestBack = back;
          }
        }
        if (bestLength >= 3) {
          const token = ((bestBack - 1) << lengthBits) | (bestLength - 3);
          body.push(token & 0xff, token >>> 8);
          body[flagAt] = body[flagAt]! | (1 << bit);
          pos += bestLength;
        } else {
          body.push(chunk[pos]!);
          pos += 1;
        }
      }
    }
    const header = 0x8000 | 0x3000 | (body.length - 1);
    out.push(header & 0xff, header >>> 8, ...body);
  }
  return new Uint8Array(out);
}
