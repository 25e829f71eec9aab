/** The rolling scrub's cursor in memory: the same conditional move as DynamoDbScrubCursor. */
import type { ScrubCursor, ScrubCursorStore } from '../../lambdas/core/lifecycle/scrub.ts';

export class MemoryScrubCursor implements ScrubCursorStore {
  cursor: ScrubCursor | undefined;

  get(): Promise<ScrubCursor | undefined> {
    return Promise.resolve(this.cursor);
  }

  advance(from: ScrubCursor | undefined, to: ScrubCursor): Promise<boolean> {
    const same =
      from === undefined
        ? this.cursor === undefined
        : this.cursor?.runNumber === from.runNumber && this.cursor.coverRuns === from.coverRuns;
    if (same) this.cursor = to;
    return Promise.resolve(same);
  }
}
