import { describe, expect, it } from 'vitest';
import { blocksInVolume, chunkIndexOfBlock, chunksInVolume } from '../lambdas/core/geometry.ts';

describe('geometry', () => {
  it('counts 2,048 EBS blocks and 1,024 chunks per GiB', () => {
    expect(blocksInVolume(1)).toBe(2048);
    expect(chunksInVolume(1)).toBe(1024);
  });
  it('maps blocks 2k and 2k+1 to chunk k', () => {
    expect(chunkIndexOfBlock(6)).toBe(3);
    expect(chunkIndexOfBlock(7)).toBe(3);
    expect(chunkIndexOfBlock(8)).toBe(4);
  });
});
