/** The workflow document: the issue's examples accepted as written, every problem listed, immutables. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deviceAssignment, nextDeviceName } from '../../lambdas/core/workflows/devices.ts';
import {
  changedImmutableFields,
  parseWorkflowDocument,
} from '../../lambdas/core/workflows/workflow-document.ts';
import { refusalOf } from '../support/document-problems.ts';
import { DIRECT_MOUNT_EXAMPLE, LIVE_CLONE_EXAMPLE } from './workflow-fixtures.ts';

function problems(raw: unknown): { message: string; issues: readonly { field: string; message: string }[] } {
  return refusalOf(parseWorkflowDocument, raw);
}

describe('workflow document', () => {
  it('accepts both examples of the issue exactly as written, with the defaults filled in', () => {
    expect(parseWorkflowDocument(LIVE_CLONE_EXAMPLE)).toEqual({
      ...LIVE_CLONE_EXAMPLE,
      image: 'latest',
      nonSensitive: false,
      enabled: true,
    });
    expect(parseWorkflowDocument(DIRECT_MOUNT_EXAMPLE)).toEqual({
      ...DIRECT_MOUNT_EXAMPLE,
      image: 'latest',
      nonSensitive: false,
      enabled: true,
    });
  });

  it('refuses special characters in the name and unknown fields, naming both', () => {
    const refused = problems({ ...LIVE_CLONE_EXAMPLE, name: 'qa-clone!', colour: 'red' });
    expect(refused.issues).toEqual([
      { field: 'name', message: 'must be letters and digits only (no special characters)' },
      { field: '(workflow)', message: 'Unrecognized key: "colour"' },
    ]);
    expect(refused.message).toBe(
      'invalid workflow: name: must be letters and digits only (no special characters); (workflow): Unrecognized key: "colour"',
    );
  });

  it('lists every problem of a bad DirectMount at once, schema and cross-field rules together', () => {
    const refused = problems({
      name: 'x',
      type: 'DirectMount',
      volumes: ['vol-1'],
      server: 'a',
      schedule: { type: 'scheduled', expression: 'rate(1 days)' },
      target: { region: 'us-east-1', device: '/dev/hda' },
      masking: { function: 'mask' },
      createVolume: true,
      tags: { 'rbp:workflow': 'x', 'aws:owner': 'y', team: 'qa' },
    });
    expect(refused.issues).toEqual([
      { field: 'volumes.0', message: 'must be an EBS volume id (vol- and 8 or 17 hex digits)' },
      { field: 'target.device', message: 'must be an EBS device name such as /dev/sdf' },
      { field: 'schedule.expression', message: 'rate: a value of 1 takes the singular unit day' },
      { field: 'schedule.timeZone', message: 'is required' },
      { field: 'tags.rbp:workflow', message: 'tag keys starting with rbp: are set by the workflow itself' },
      { field: 'tags.aws:owner', message: 'tag keys starting with aws: are reserved by AWS' },
      { field: '(workflow)', message: 'give exactly one of server and volumes' },
      { field: 'target.instanceId', message: 'a DirectMount needs the instance to attach to' },
      { field: 'target.availabilityZone', message: "a DirectMount needs the instance's availability zone" },
      {
        field: 'masking',
        message: 'a DirectMount presents the data without masking; use a LiveClone to mask',
      },
      { field: 'createVolume', message: 'a DirectMount always creates the volume it attaches' },
    ]);
  });

  it('keeps a LiveClone off instances, asks createVolume for a zone, and lets masking alone flag non-sensitive', () => {
    const refused = problems({
      ...LIVE_CLONE_EXAMPLE,
      target: { instanceId: 'i-0123456789abcdef0' },
      createVolume: true,
      masking: { function: 'mask', timeoutSeconds: 30 },
      nonSensitive: true,
    });
    expect(refused.issues).toEqual([
      { field: 'target.instanceId', message: 'only a DirectMount attaches to an instance' },
      {
        field: 'target.availabilityZone',
        message: 'createVolume needs the availability zone to create the volumes in',
      },
      {
        field: 'nonSensitive',
        message: 'a masked workflow is flagged non-sensitive by its masking step; do not declare it',
      },
    ]);
    expect(parseWorkflowDocument({ ...LIVE_CLONE_EXAMPLE, masking: { function: 'mask' } }).masking).toEqual({
      function: 'mask',
      timeoutSeconds: 60,
    });
  });

  it('names each immutable field an update changes, and nothing for mutable ones', () => {
    const current = parseWorkflowDocument(DIRECT_MOUNT_EXAMPLE);
    const mutable = parseWorkflowDocument({
      ...DIRECT_MOUNT_EXAMPLE,
      image: 'img-20261101t010000000z-0a1b',
      enabled: false,
      schedule: { type: 'scheduled', expression: 'cron(0 7 * * ? *)', timeZone: 'Europe/Berlin' },
      tags: { team: 'qa' },
    });
    expect(changedImmutableFields(current, mutable)).toEqual([]);
    const reordered = parseWorkflowDocument({
      ...DIRECT_MOUNT_EXAMPLE,
      target: { device: '/dev/sdf', availabilityZone: 'us-east-1a', instanceId: 'i-0123456789abcdef0' },
    });
    expect(changedImmutableFields(current, reordered)).toEqual([]);
    const everything = parseWorkflowDocument({
      ...LIVE_CLONE_EXAMPLE,
      name: 'other',
      schedule: { type: 'on-demand' },
    });
    expect(changedImmutableFields(current, everything).map((i) => i.field)).toEqual([
      'name',
      'type',
      'target',
      'schedule.type',
    ]);
  });
});

describe('DirectMount device assignment', () => {
  const instance = {
    instanceId: 'i-0123456789abcdef0',
    availabilityZone: 'us-east-1a',
    devicesInUse: ['/dev/xvda', '/dev/sdg'],
  };

  it('gives the first volume the named device and the next free names to the others', () => {
    const assigned = deviceAssignment(['vol-1', 'vol-2', 'vol-3'], { device: '/dev/sdf' }, instance);
    expect([...assigned]).toEqual([
      ['vol-1', '/dev/sdf'],
      ['vol-2', '/dev/sdh'],
      ['vol-3', '/dev/sdi'],
    ]);
    expect(nextDeviceName('/dev/sdz')).toBeUndefined();
  });

  it('refuses a device in use and volumes that an explicit map leaves out, naming each', () => {
    expect(() => deviceAssignment(['vol-1'], { device: '/dev/sdg' }, instance)).toThrow(
      'invalid DirectMount target: target.device: /dev/sdg is already in use on i-0123456789abcdef0',
    );
    expect(() =>
      deviceAssignment(
        ['vol-1', 'vol-2'],
        { devices: { 'vol-1': '/dev/sdf', 'vol-9': '/dev/sdh' } },
        instance,
      ),
    ).toThrow(
      "invalid DirectMount target: target.devices: no device for volume vol-2; target.devices.vol-9: vol-9 is not one of the workflow's volumes",
    );
  });

  it('property: assigned names are distinct, free on the instance, and the first is the named one', () => {
    const letters = 'fghijklmnop';
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.subarray([...letters]),
        fc.constantFrom(...letters),
        (count, used, first) => {
          const volumes = Array.from({ length: count }, (_, i) => `vol-${i}`);
          const target = { device: `/dev/sd${first}` };
          const busy = {
            ...instance,
            devicesInUse: used.filter((l) => l !== first).map((l) => `/dev/sd${l}`),
          };
          const assigned = [...deviceAssignment(volumes, target, busy).values()];
          expect(assigned[0]).toBe(`/dev/sd${first}`);
          expect(new Set(assigned).size).toBe(count);
          for (const device of assigned) expect(busy.devicesInUse).not.toContain(device);
        },
      ),
    );
  });
});
