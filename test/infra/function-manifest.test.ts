/**
 * lib/function-manifest.ts is the one list of the product's functions: the backup definition's
 * `${…}` placeholders are exactly the manifest's, and the synthesised functions have exactly the
 * manifest's environment keys, memory and timeout.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import { BACKUP_ASL_PATH } from '../../lib/constructs/backup-state-machine.ts';
import {
  OBJECT_LOCK_ENVIRONMENT_KEYS,
  aslPlaceholders,
  functionIdStem,
  manifestEntries,
  stateMachineFunctionName,
} from '../../lib/function-manifest.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
let resources: Record<string, Resource>;

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ReplicaBackupStack(app, 'ManifestTest', {
    config: parseConfig({ servers: [] }),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  resources = Template.fromStack(stack).toJSON()['Resources'] as Record<string, Resource>;
});

describe('function manifest', () => {
  it('names exactly the placeholders of statemachines/backup.asl.json', () => {
    const inDefinition = [...readFileSync(BACKUP_ASL_PATH, 'utf8').matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map(
      (m) => m[1]!,
    );
    expect([...new Set(inDefinition)].sort()).toEqual([...aslPlaceholders()].sort());
    expect(new Set(aslPlaceholders()).size).toBe(aslPlaceholders().length);
  });

  it('gives the state machine functions distinct local names', () => {
    const names = manifestEntries().flatMap(([, e]) =>
      e.aslPlaceholder === undefined ? [] : [stateMachineFunctionName(e.aslPlaceholder)],
    );
    expect(names).toHaveLength(11);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[A-Z][A-Za-z]+Function$/);
  });

  it('is what the construct deploys: one function per entry with its environment keys, memory and timeout', () => {
    const functions = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    expect(functions).toHaveLength(manifestEntries().length);
    for (const [name, entry] of manifestEntries()) {
      const found = functions.filter(([id]) => id.startsWith(`ReplicaBackup${functionIdStem(name)}Function`));
      expect(found, name).toHaveLength(1);
      const properties = found[0]![1].Properties;
      const variables = (properties['Environment'] as { Variables: Record<string, unknown> }).Variables;
      // This configuration has no Object Lock, so OBJECT_LOCK is not set (test/infra/object-lock.test.ts).
      const configured = entry.environment.filter(
        (key) => !OBJECT_LOCK_ENVIRONMENT_KEYS.some((k) => k === key),
      );
      expect(Object.keys(variables).sort(), name).toEqual([...configured].sort());
      expect(properties['MemorySize'], name).toBe(entry.memoryMb);
      expect(properties['Timeout'], name).toBe(entry.timeoutSeconds);
      expect(properties['Description'], name).toBe(entry.description);
    }
  });
});
