/**
 * The grants of restores that make volumes (`rbp restore server --availability-zone`), on the app
 * as `cdk synth` builds it (cdk-nag runs in the synth and fails on an unacknowledged finding): the
 * volume-restore step may CreateVolume only encrypted and with the rbp:restore-id request tag, and
 * only from snapshots a restore wrote; CreateTags only as part of CreateVolume; the API may
 * DescribeAvailabilityZones and nothing more of EC2 volumes.
 */
import { describe, expect, it } from 'vitest';
import { roleStatements, type IamStatement } from '../support/iam-statements.ts';
import { useSynthResources } from './synth.ts';

const resources = useSynthResources('rbp-volume-restore-volumes-');

const actionsOf = (s: IamStatement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const withAction = (statements: IamStatement[], action: string): IamStatement[] =>
  statements.filter((s) => actionsOf(s).includes(action));
/** The resource ARN's resource part (`volume/*`), whatever the partition/region tokens. */
function resourceType(s: IamStatement): string {
  const joined = JSON.stringify(s.Resource);
  const match = /:(snapshot|volume)\/\*/.exec(joined);
  return match === null ? joined : `${match[1]}/*`;
}

describe('restored volumes: IAM', () => {
  it('lets the step create only encrypted, rbp:restore-id-tagged volumes from restored snapshots', () => {
    const step = roleStatements(resources(), 'ReplicaBackupVolumeRestoreStepRole');
    const create = withAction(step, 'ec2:CreateVolume');
    expect(create.map((s) => [actionsOf(s), resourceType(s), s.Condition])).toEqual([
      [
        ['ec2:CreateVolume'],
        'volume/*',
        { Bool: { 'ec2:Encrypted': 'true' }, StringLike: { 'aws:RequestTag/rbp:restore-id': '*' } },
      ],
      [['ec2:CreateVolume'], 'snapshot/*', { StringLike: { 'aws:ResourceTag/rbp:restore-id': '*' } }],
    ]);
    const tags = withAction(step, 'ec2:CreateTags').map((s) => [resourceType(s), s.Condition]);
    expect(tags).toEqual([
      ['snapshot/*', { StringEquals: { 'ec2:CreateAction': 'StartSnapshot' } }],
      ['volume/*', { StringEquals: { 'ec2:CreateAction': 'CreateVolume' } }],
    ]);
    expect(withAction(step, 'ec2:DescribeVolumes').map((s) => [actionsOf(s), s.Resource])).toEqual([
      [['ec2:DescribeVolumes'], '*'],
    ]);
    // Nothing else of EC2 volumes: no attach, delete or modify.
    const volumeActions = step.flatMap(actionsOf).filter((a) => /^ec2:.*Volume/.test(a));
    expect([...new Set(volumeActions)].sort()).toEqual(['ec2:CreateVolume', 'ec2:DescribeVolumes']);
  });

  it('lets the API describe Availability Zones and create no volume', () => {
    const api = roleStatements(resources(), 'ReplicaBackupApiRole');
    expect(
      withAction(api, 'ec2:DescribeAvailabilityZones').map((s) => [actionsOf(s), s.Resource, s.Condition]),
    ).toEqual([[['ec2:DescribeAvailabilityZones'], '*', undefined]]);
    expect(withAction(api, 'ec2:CreateVolume')).toEqual([]);
  });
});
