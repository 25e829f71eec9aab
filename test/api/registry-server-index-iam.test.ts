/**
 * The grants behind the registry's index by server (dynamodb-image-records.ts
 * REGISTRY_BY_SERVER_KEY): its items live on GSI2 under `IMAGEID#`, the key space the API role may
 * Query there (looking images up by id), so `GET /servers` reads it with no new grant; the index's
 * marker is an item of the registry's `VOLUME#` partition, which the API role reads. The lifecycle
 * jobs' backfill reads the registry with Query and files its items with UpdateItem
 * (protected-volume-iam.test.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { REGISTRY_BY_SERVER_KEY } from '../../lambdas/aws/dynamodb-image-records.ts';
import { REGISTRY_SERVER_INDEX_MARKER_KEY } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { roleStatements, type TemplateResource } from '../support/iam-statements.ts';
import { oneServerStackResources } from '../support/stack-resources.ts';

let resources: Record<string, TemplateResource>;

beforeAll(() => {
  resources = oneServerStackResources();
});

/** IAM's StringLike with `*` only (the only wildcard these grants use). */
function like(pattern: string, value: string): boolean {
  return value.startsWith(pattern.slice(0, pattern.indexOf('*'))) || pattern === value;
}

describe('registry index by server grants', () => {
  it('lets the API role Query the index on GSI2 and read its marker', () => {
    const statements = roleStatements(resources, 'ReplicaBackupApiRole');
    const gsi2 = statements.filter(
      (s) => s.Action === 'dynamodb:Query' && JSON.stringify(s.Resource).includes('/index/GSI2'),
    );
    const leading = gsi2.flatMap(
      (s) =>
        (s.Condition as Record<string, Record<string, string[]>> | undefined)?.['ForAllValues:StringLike']?.[
          'dynamodb:LeadingKeys'
        ] ?? [],
    );
    expect(leading.some((pattern) => like(pattern, REGISTRY_BY_SERVER_KEY))).toBe(true);
    const gets = statements.filter((s) => [s.Action].flat().includes('dynamodb:GetItem'));
    const keys = gets.flatMap(
      (s) =>
        (s.Condition as Record<string, Record<string, string[]>> | undefined)?.['ForAllValues:StringLike']?.[
          'dynamodb:LeadingKeys'
        ] ?? [],
    );
    expect(keys.some((pattern) => like(pattern, REGISTRY_SERVER_INDEX_MARKER_KEY.pk))).toBe(true);
  });
});
