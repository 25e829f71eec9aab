/**
 * `rbp scrub run` with more findings than a run keeps (scrub.ts MAX_SCRUB_FINDINGS_KEPT, 50 of each
 * kind; MAX_SCRUB_FINDING_IMAGES, 10 images each): the totals in the first line, the kept findings,
 * a finding's image count where its images are cut, and "… and N more" for the rest. The run is
 * the API's view (scrubRunOf) of a finished job whose result scrubResultOf made from its progress.
 */
import { describe, expect, it } from 'vitest';
import { scrubSummary, scrubText } from '../../cli/commands/lifecycle.ts';
import { JOB_RECORD_VERSION } from '../../lambdas/core/jobs/job-store.ts';
import { SCRUB_JOB_KIND, scrubRunOf } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import {
  MAX_SCRUB_FINDINGS_KEPT,
  scrubFindingOf,
  scrubResultOf,
  startScrubProgress,
} from '../../lambdas/core/lifecycle/scrub.ts';

const two = (n: number): string => String(n).padStart(2, '0');
/** Images `v/i00`… (short, so that no cell is cut at the table's 80 characters). */
const images = (count: number): string[] => Array.from({ length: count }, (_, n) => `v/i${two(n)}`);

/** 60 corrupt findings kept in progress order (the first breaking 12 images), 75 found; 1 missing. */
function runWithManyFindings() {
  const corrupt = Array.from({ length: 60 }, (_, n) =>
    scrubFindingOf(`chunks/k${two(59 - n)}`, images(n === 59 ? 12 : 1), 'bad'),
  );
  const progress = {
    ...startScrubProgress({ all: true, runNumber: 0 }),
    done: true,
    slices: 1,
    chunksVerified: 9,
    corrupt,
    missing: [scrubFindingOf('chunks/m00', images(2), 'gone')],
    corruptCount: 75,
    missingCount: 1,
  };
  return scrubRunOf({
    version: JOB_RECORD_VERSION,
    kind: SCRUB_JOB_KIND,
    jobId: 'scrub-1',
    status: 'SUCCEEDED',
    params: { all: true },
    result: { ...scrubResultOf(progress) },
    createdAt: '2026-12-04T18:00:00.000Z',
    updatedAt: '2026-12-04T18:01:00.000Z',
    expiresAtEpochSeconds: 0,
  });
}

describe('rbp scrub run with more findings than kept', () => {
  it('prints the totals, the kept findings and how many more', () => {
    const run = runWithManyFindings();
    expect(run.corrupt).toHaveLength(MAX_SCRUB_FINDINGS_KEPT);
    const rows = Array.from({ length: 49 }, (_, n) => `corrupt  chunks/k${two(n + 1)}  v/i00`);
    expect(scrubText(run)).toBe(
      [
        'scrub scrub-1: findings, 9 chunks verified, 75 corrupt, 1 missing',
        'FINDING  KEY         IMAGES',
        'corrupt  chunks/k00  12 images: v/i00, v/i01, v/i02, v/i03, v/i04, v/i05, v/i06, v/i07, v/i08, v/i09',
        ...rows,
        'missing  chunks/m00  v/i00, v/i01',
        '… and 25 more corrupt',
      ].join('\n'),
    );
  });

  it('--json: the kept findings, an image count where the images are cut, and the totals', () => {
    const summary = scrubSummary(runWithManyFindings());
    expect(summary.corrupt).toHaveLength(50);
    expect(summary.corrupt[0]).toEqual({
      key: 'chunks/k00',
      images: images(10),
      imageCount: 12,
    });
    expect(summary.corrupt[49]).toEqual({ key: 'chunks/k49', images: ['v/i00'] });
    expect({ ...summary, corrupt: undefined }).toEqual({
      status: 'findings',
      chunksVerified: 9,
      corrupt: undefined,
      missing: [{ key: 'chunks/m00', images: ['v/i00', 'v/i01'] }],
      corruptCount: 75,
      missingCount: 1,
    });
  });

  it('prints no "more" line when every finding is listed', () => {
    const run = { ...runWithManyFindings(), corrupt: [], corruptCount: 0 };
    expect(scrubText(run)).toBe(
      [
        'scrub scrub-1: findings, 9 chunks verified, 0 corrupt, 1 missing',
        'FINDING  KEY         IMAGES',
        'missing  chunks/m00  v/i00, v/i01',
      ].join('\n'),
    );
  });
});
