/** A test file's scratch directory, made and removed by vitest hooks. */
import { afterAll, beforeAll } from 'vitest';
import { removeDir, scratchDir } from './fs-images.ts';

/**
 * A scratch directory for the calling test file, made before its tests and removed after them;
 * the returned function gives its path. Call it at the top level, before the file's own beforeAll:
 * vitest runs beforeAll hooks in the order they are registered and afterAll hooks in reverse.
 */
export function useScratchDir(prefix: string): () => string {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await scratchDir(prefix);
  });
  afterAll(async () => {
    if (dir !== undefined) await removeDir(dir);
  });
  return () => {
    if (dir === undefined) throw new Error(`the ${prefix} scratch directory is made in beforeAll`);
    return dir;
  };
}
