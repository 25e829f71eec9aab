/**
 * Object Lock in the deployment (issue 10): the configuration's `objectLock` (mode, days,
 * generationDays) becomes the image bucket's default retention, the OBJECT_LOCK variable of exactly
 * the functions that write, extend or delete image objects, and s3:PutObjectRetention on exactly
 * the prefixes each of them writes or extends; no role may bypass a governance lock. The synth runs
 * cdk-nag's AwsSolutions checks (bin/app.ts fails it on an unacknowledged finding).
 */
import '../support/quiet-powertools.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../bin/app.ts';
import { ConfigError, DEFAULT_OBJECT_LOCK_GENERATION_DAYS, parseConfig } from '../../lib/config.ts';
import { objectLockEnvironment } from '../../lib/constructs/backup-storage.ts';
import { readEnvironment } from '../../lambdas/aws/wiring.ts';

const STACK = 'ReplicaBackupProxy';
const LOCK = { mode: 'COMPLIANCE', days: 30, generationDays: 10 } as const;

type Statement = { Effect: string; Action?: string | string[]; Resource: unknown };
type Resource = { Type: string; Properties: Record<string, unknown> };

const outdirs: string[] = [];
let locked: Record<string, Resource>;
let unlocked: Record<string, Resource>;

function synth(config: unknown): Record<string, Resource> {
  const outdir = mkdtempSync(join(tmpdir(), 'rbp-object-lock-'));
  outdirs.push(outdir);
  // cdk-nag runs on this synth (buildApp attaches it); bundling is skipped (nag-and-lint.test.ts bundles).
  buildApp(
    new App({
      outdir,
      context: { 'rbp:region': 'eu-west-1', 'rbp:config': config, 'aws:cdk:bundling-stacks': [] },
    }),
  ).synth();
  return (
    JSON.parse(readFileSync(join(outdir, `${STACK}.template.json`), 'utf8')) as {
      Resources: Record<string, Resource>;
    }
  ).Resources;
}

beforeAll(() => {
  locked = synth({ objectLock: LOCK });
  unlocked = synth({});
}, 400_000);

afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
});

/** Function logical id stem (`CopyRange`) by role logical id. */
function functionsByRole(resources: Record<string, Resource>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const role = resource.Properties['Role'] as { 'Fn::GetAtt'?: [string, string] } | undefined;
    const stem = /^ReplicaBackup(\w+?)Function[0-9A-F]{8}$/.exec(id)?.[1];
    if (role?.['Fn::GetAtt'] !== undefined && stem !== undefined) out.set(role['Fn::GetAtt'][0], stem);
  }
  return out;
}

/** Every statement of every policy, with the functions whose roles carry it. */
function statements(resources: Record<string, Resource>): { fns: string[]; statement: Statement }[] {
  const byRole = functionsByRole(resources);
  const out: { fns: string[]; statement: Statement }[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type === 'AWS::IAM::Role') {
      // Inline policies of a role (custom resource providers write them so).
      const inline =
        (resource.Properties['Policies'] as { PolicyDocument: { Statement: Statement[] } }[] | undefined) ??
        [];
      for (const policy of inline)
        for (const statement of policy.PolicyDocument.Statement)
          out.push({ fns: [byRole.get(id) ?? id], statement });
      continue;
    }
    if (resource.Type !== 'AWS::IAM::Policy' && resource.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const roles = (resource.Properties['Roles'] as { Ref: string }[] | undefined) ?? [];
    const fns = roles.map((role) => byRole.get(role.Ref) ?? role.Ref);
    const document = resource.Properties['PolicyDocument'] as { Statement: Statement[] };
    for (const statement of document.Statement) out.push({ fns, statement });
  }
  return out;
}

function actions(statement: Statement): string[] {
  if (statement.Action === undefined) return []; // a NotAction statement
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

/**
 * Per function, the image-bucket object ARNs (`chunks/*`) on which its role may put a retention:
 * `{"Fn::Join": ["", [{"Fn::GetAtt": ["ReplicaBackupImageBucket…", "Arn"]}, "/chunks/*"]]}`.
 */
function imageBucketRetention(resources: Record<string, Resource>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { fns, statement } of statements(resources)) {
    if (!actions(statement).includes('s3:PutObjectRetention')) continue;
    for (const arn of Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]) {
      const parts = (arn as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join']?.[1];
      const bucket = (parts?.[0] as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];
      if (bucket === undefined || !bucket.startsWith('ReplicaBackupImageBucket')) continue;
      for (const fn of fns) (out[fn] ??= []).push(String(parts!.at(-1)).replace(/^\//, ''));
    }
  }
  for (const prefixes of Object.values(out)) prefixes.sort();
  return out;
}

function objectLockVariables(resources: Record<string, Resource>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const variables = (
      resource.Properties['Environment'] as { Variables?: Record<string, string> } | undefined
    )?.Variables;
    const value = variables?.['OBJECT_LOCK'];
    if (value !== undefined) out[/^ReplicaBackup(\w+?)Function/.exec(id)![1]!] = value;
  }
  return out;
}

/** Whether an IAM action pattern (`s3:Put*`, case-insensitive, `*` and `?` wildcards) covers `action`. */
function actionAllows(pattern: string, action: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return pattern === '*' || new RegExp(`^${source}$`, 'i').test(action);
}

/** The functions (or role logical ids) with an Allow statement that covers `action`, sorted. */
function rolesAllowed(resources: Record<string, Resource>, action: string): string[] {
  const out = new Set<string>();
  for (const { fns, statement } of statements(resources)) {
    if (statement.Effect !== 'Allow') continue;
    if (actions(statement).some((pattern) => actionAllows(pattern, action)))
      for (const fn of fns) out.add(fn);
  }
  return [...out].sort();
}

describe('Object Lock in the deployment', () => {
  it('turns on Object Lock on the image bucket with the configured mode and days as default retention', () => {
    const buckets = Object.values(locked).filter(
      (r) => r.Type === 'AWS::S3::Bucket' && r.Properties['ObjectLockEnabled'] === true,
    );
    expect(buckets).toHaveLength(1);
    expect(buckets[0]!.Properties['ObjectLockConfiguration']).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } },
    });
    expect(buckets[0]!.Properties['VersioningConfiguration']).toEqual({ Status: 'Enabled' });
  });

  it('gives OBJECT_LOCK to exactly the writers, the lifecycle job and the API, and the lambdas read it', () => {
    const expected = JSON.stringify({ mode: 'COMPLIANCE', retentionDays: 30, generationDays: 10 });
    expect(objectLockVariables(locked)).toEqual({
      CopyRange: expected,
      CommitImage: expected,
      LifecycleJob: expected,
      Api: expected,
    });
    expect(readEnvironment(['OBJECT_LOCK'], { OBJECT_LOCK: expected }).OBJECT_LOCK).toEqual({
      mode: 'COMPLIANCE',
      retentionDays: 30,
      generationDays: 10,
    });
    expect(objectLockVariables(unlocked)).toEqual({});
  });

  it('lets each role put a retention on exactly the image-bucket prefixes it writes or extends; nobody may bypass a lock', () => {
    // Writers PUT with a retain-until date and extend on a 412; the collector extends. Without
    // Object Lock no role may put a retention at all (not even the plan run's probe).
    expect(imageBucketRetention(locked)).toEqual({
      CopyRange: ['chunks/*', 'segments/*'],
      CommitImage: ['images/*'],
      LifecycleJob: ['chunks/*', 'segments/*'],
    });
    expect(imageBucketRetention(unlocked)).toEqual({});
    expect(rolesAllowed(locked, 's3:PutObjectRetention')).toEqual([
      'CommitImage',
      'CopyRange',
      'LifecycleJob',
    ]);
    expect(rolesAllowed(unlocked, 's3:PutObjectRetention')).toEqual([]);
  });

  it('grants nobody a legal hold, a governance bypass or a wildcard that covers them (policies and managed policies)', () => {
    expect(actionAllows('s3:Put*', 's3:PutObjectLegalHold')).toBe(true);
    expect(actionAllows('s3:*', 's3:BypassGovernanceRetention')).toBe(true);
    expect(actionAllows('s3:PutObject', 's3:PutObjectLegalHold')).toBe(false);
    for (const resources of [locked, unlocked]) {
      for (const action of ['s3:PutObjectLegalHold', 's3:BypassGovernanceRetention']) {
        expect(rolesAllowed(resources, action)).toEqual([]);
      }
      // The writers' own grants: s3:PutObject, plus s3:AbortMultipartUpload only for part uploads.
      const functions = new Set(functionsByRole(resources).values());
      expect(rolesAllowed(resources, 's3:AbortMultipartUpload').filter((fn) => functions.has(fn))).toEqual([
        'RestoreWorker',
      ]);
    }
  });
});

describe('the objectLock configuration', () => {
  it('keeps {mode, days} valid with the default generation window, capped at days', () => {
    expect(parseConfig({ objectLock: { mode: 'GOVERNANCE', days: 30 } }).objectLock).toEqual({
      mode: 'GOVERNANCE',
      days: 30,
      generationDays: DEFAULT_OBJECT_LOCK_GENERATION_DAYS,
    });
    expect(parseConfig({ objectLock: { mode: 'GOVERNANCE', days: 3 } }).objectLock?.generationDays).toBe(3);
    expect(objectLockEnvironment(parseConfig({ objectLock: LOCK }))).toEqual({
      OBJECT_LOCK: '{"mode":"COMPLIANCE","retentionDays":30,"generationDays":10}',
    });
    expect(objectLockEnvironment(parseConfig({}))).toEqual({});
  });

  it('refuses a generation window longer than the retention, naming the field', () => {
    expect(() => parseConfig({ objectLock: { mode: 'COMPLIANCE', days: 7, generationDays: 8 } })).toThrow(
      new ConfigError(
        'invalid configuration:\n  - objectLock.generationDays: the generation window (8 days) must not exceed the retention (days: 7): an object written at the start of a generation would be unlocked before its next extension',
      ),
    );
  });

  it('refuses an OBJECT_LOCK variable that is not a valid configuration', () => {
    expect(() => readEnvironment(['OBJECT_LOCK'], { OBJECT_LOCK: 'GOVERNANCE' })).toThrow(
      'Lambda environment is incomplete: OBJECT_LOCK: must be JSON: {"mode","retentionDays","generationDays"}',
    );
    expect(() =>
      readEnvironment(['OBJECT_LOCK'], {
        OBJECT_LOCK: '{"mode":"GOVERNANCE","retentionDays":1,"generationDays":2}',
      }),
    ).toThrow('OBJECT_LOCK: the generation window must not exceed the retention');
  });
});
