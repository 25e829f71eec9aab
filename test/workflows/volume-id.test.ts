/**
 * One definition of an EBS volume id: workflow documents and the masking hook contract accept
 * exactly what the REST API accepts (`vol-` and 8 or 17 hex digits) and refuse anything else with
 * the API's message.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VOLUME_ID_PATTERN, volumeIdSchema } from '../../lambdas/core/api/schemas.ts';
import { maskingHookEventSchema, type MaskingHookEvent } from '../../lambdas/core/workflows/masking.ts';
import { parseWorkflowDocument } from '../../lambdas/core/workflows/workflow-document.ts';
import { refusalOf } from '../support/document-problems.ts';
import { LIVE_CLONE_EXAMPLE } from './workflow-fixtures.ts';

const MESSAGE = 'must be an EBS volume id (vol- and 8 or 17 hex digits)';
/** 12 hex digits: between the old (8) and the current (17) form, so no EC2 volume has it. */
const TWELVE_DIGITS = 'vol-0123456789ab';
const SEVENTEEN_DIGITS = 'vol-0123456789abcdef0';
const EIGHT_DIGITS = 'vol-0123abcd';

/** `vol-` and 1 to 20 hex digits, every length equally likely (so 8 and 17 come up often). */
const hexVolumeId = fc
  .integer({ min: 1, max: 20 })
  .chain((digits) =>
    fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: digits, maxLength: digits }),
  )
  .map((digits) => `vol-${digits}`);

function workflowWithVolumes(volumes: readonly string[]): unknown {
  const { server: _server, ...rest } = LIVE_CLONE_EXAMPLE;
  return { ...rest, volumes };
}

function maskingEvent(sourceVolumeId: string, volumeId?: string): MaskingHookEvent {
  return {
    version: 1,
    phase: 'masking',
    workflow: 'qaclone',
    runId: 'wfr-1',
    deadline: '2026-12-03T08:00:00Z',
    tags: {},
    devices: [
      {
        sourceVolumeId,
        imageId: 'img-1',
        snapshotId: 'snap-0aaaaaaaaaaaaaaa1',
        ...(volumeId === undefined ? {} : { volumeId }),
        sizeGiB: 1,
      },
    ],
  };
}

function maskingProblems(event: MaskingHookEvent): { path: string; message: string }[] {
  const parsed = maskingHookEventSchema.safeParse(event);
  return parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

describe('EBS volume ids in workflows and masking', () => {
  it('a 12-digit id is refused by the API, a workflow document and the masking event with one message', () => {
    expect(volumeIdSchema.safeParse(TWELVE_DIGITS).error?.issues.map((issue) => issue.message)).toEqual([
      MESSAGE,
    ]);
    expect(refusalOf(parseWorkflowDocument, workflowWithVolumes([TWELVE_DIGITS])).issues).toEqual([
      { field: 'volumes.0', message: MESSAGE },
    ]);
    expect(maskingProblems(maskingEvent(TWELVE_DIGITS))).toEqual([
      { path: 'devices.0.sourceVolumeId', message: MESSAGE },
    ]);
    expect(maskingProblems(maskingEvent(SEVENTEEN_DIGITS, TWELVE_DIGITS))).toEqual([
      { path: 'devices.0.volumeId', message: MESSAGE },
    ]);
  });

  it('8 and 17 digits are accepted everywhere', () => {
    expect(parseWorkflowDocument(workflowWithVolumes([EIGHT_DIGITS, SEVENTEEN_DIGITS]))).toMatchObject({
      volumes: [EIGHT_DIGITS, SEVENTEEN_DIGITS],
    });
    expect(maskingProblems(maskingEvent(EIGHT_DIGITS, SEVENTEEN_DIGITS))).toEqual([]);
  });

  it('for any vol- followed by 1 to 20 hex digits, the workflow document and masking accept exactly what the API accepts', () => {
    fc.assert(
      fc.property(hexVolumeId, (id) => {
        const apiAccepts = VOLUME_ID_PATTERN.test(id);
        let workflowAccepts = true;
        try {
          parseWorkflowDocument(workflowWithVolumes([id]));
        } catch {
          workflowAccepts = false;
        }
        expect(workflowAccepts).toBe(apiAccepts);
        expect(maskingProblems(maskingEvent(id)).length === 0).toBe(apiAccepts);
      }),
    );
  });
});
