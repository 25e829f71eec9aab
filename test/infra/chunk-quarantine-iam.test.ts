/**
 * The grants behind the chunk quarantine (lambdas/aws/dynamodb-chunk-quarantine.ts, pk
 * GC#QUARANTINE): Plan Backup reads it (Query) and drops a volume from an entry (UpdateItem); Copy
 * Range clears the entry of a chunk it repaired (DeleteItem); the lifecycle job (scrub) adds,
 * lists and clears entries under its GC#* grant. No other role reaches the partition.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { QUARANTINE_PARTITION } from '../../lambdas/aws/dynamodb-chunk-quarantine.ts';
import { roleStatements, type IamStatement, type TemplateResource } from '../support/iam-statements.ts';
import { oneServerStackResources } from '../support/stack-resources.ts';

let resources: Record<string, TemplateResource>;

beforeAll(() => {
  resources = oneServerStackResources();
});

function leadingKeys(statement: IamStatement): unknown {
  return statement.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'];
}

/** The actions a role has on the quarantine partition itself (its own statement). */
function quarantineActions(rolePrefix: string): unknown[] {
  return roleStatements(resources, rolePrefix)
    .filter((s) => JSON.stringify(leadingKeys(s)) === JSON.stringify([QUARANTINE_PARTITION]))
    .map((s) => s.Action);
}

describe('chunk quarantine grants', () => {
  it('lets Plan Backup query and update, Copy Range delete, on GC#QUARANTINE only', () => {
    expect(QUARANTINE_PARTITION).toBe('GC#QUARANTINE');
    expect(quarantineActions('ReplicaBackupPlanBackupRole')).toEqual([
      ['dynamodb:Query', 'dynamodb:UpdateItem'],
    ]);
    expect(quarantineActions('ReplicaBackupCopyRangeRole')).toEqual(['dynamodb:DeleteItem']);
  });

  it('gives no other role of the stack a statement on the partition', () => {
    const holders = Object.entries(resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
      .filter(([, r]) =>
        (r.Properties['PolicyDocument'] as { Statement: IamStatement[] }).Statement.some(
          (s) => JSON.stringify(leadingKeys(s)) === JSON.stringify([QUARANTINE_PARTITION]),
        ),
      )
      .map(([id]) => id.replace(/DefaultPolicy.*$/, ''));
    expect(holders.sort()).toEqual(['ReplicaBackupCopyRangeRole', 'ReplicaBackupPlanBackupRole']);
  });

  it('covers the scrub through the lifecycle job GC#* grant (add, list, clear)', () => {
    const gc = roleStatements(resources, 'ReplicaBackupLifecycleJobRole').find(
      (s) => JSON.stringify(leadingKeys(s)) === JSON.stringify(['GC#*']),
    );
    expect(gc?.Action).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:DeleteItem',
      'dynamodb:Query',
    ]);
  });
});
