/**
 * The grants behind the protected-volume registry (lambdas/core/lifecycle/protected-volumes.ts):
 * Commit Image registers the volume in the record's own transaction, an UpdateItem of
 * `VOLUME#~PROTECTED` (under the image records' VOLUME# prefix, so no new key prefix); the
 * lifecycle jobs read the registry with Query, write its backfill with UpdateItem and find older
 * volumes with a keys-only Scan.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PROTECTED_VOLUMES_PARTITION } from '../../lambdas/aws/dynamodb-image-records.ts';
import { roleStatements, type IamStatement, type TemplateResource } from '../support/iam-statements.ts';
import { oneServerStackResources } from '../support/stack-resources.ts';

let resources: Record<string, TemplateResource>;

beforeAll(() => {
  resources = oneServerStackResources();
});

const VOLUME_KEYS = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['VOLUME#*'] } };

function onVolumeKeys(statements: readonly IamStatement[]): IamStatement[] {
  return statements.filter((s) => JSON.stringify(s.Condition) === JSON.stringify(VOLUME_KEYS));
}

describe('protected-volume registry grants', () => {
  it('keeps the registry under the image records prefix', () => {
    expect(PROTECTED_VOLUMES_PARTITION.startsWith('VOLUME#')).toBe(true);
  });

  it('lets Commit Image update the registry item in its transaction, on VOLUME# keys only', () => {
    expect(
      onVolumeKeys(roleStatements(resources, 'ReplicaBackupCommitImageRole')).map((s) => s.Action),
    ).toEqual([
      [
        'dynamodb:Query',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:ConditionCheckItem',
      ],
    ]);
  });

  it('lets the lifecycle jobs query the registry, update it (backfill) and scan keys only', () => {
    const statements = roleStatements(resources, 'ReplicaBackupLifecycleJobRole');
    expect(onVolumeKeys(statements).map((s) => s.Action)).toEqual([
      ['dynamodb:GetItem', 'dynamodb:Query'],
      ['dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
    ]);
    expect(statements.filter((s) => s.Action === 'dynamodb:Scan').map((s) => s.Condition)).toEqual([
      {
        StringEquals: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
        'ForAllValues:StringLike': { 'dynamodb:Attributes': ['pk', 'sk'] },
      },
    ]);
  });
});
