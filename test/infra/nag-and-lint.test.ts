import '../support/quiet-powertools.ts';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../bin/app.ts';
import { manifestEntries } from '../../lib/function-manifest.ts';

const STACK = 'ReplicaBackupProxy';
let outdir: string;

beforeAll(() => {
  // The one synth that bundles every Lambda with esbuild (no Docker) and runs cdk-nag, as `cdk synth` does.
  outdir = mkdtempSync(join(tmpdir(), 'rbp-synth-'));
  buildApp(new App({ outdir, context: { 'rbp:region': 'eu-west-1' } })).synth();
}, 180_000);

afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

describe('bin/app.ts synth', () => {
  it('passes cdk-nag AwsSolutions with every acknowledgement carrying a reason', () => {
    const template = JSON.parse(readFileSync(join(outdir, `${STACK}.template.json`), 'utf8')) as {
      Resources: Record<
        string,
        { Metadata?: { cdk_nag?: { rules_to_suppress: { id: string; reason: string }[] } } }
      >;
    };
    const acknowledgements = Object.values(template.Resources).flatMap(
      (r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? [],
    );
    const ids = new Set(acknowledgements.map((a) => a.id.replace(/\[.*$/, '')));
    expect([...ids].sort()).toEqual([
      'AwsSolutions-APIG3',
      'AwsSolutions-COG4',
      'AwsSolutions-IAM4',
      'AwsSolutions-IAM5',
      'AwsSolutions-L1',
      'AwsSolutions-S1',
      // The API's cursor key (lib/constructs/restore-api.ts): replaced by redeploying, not rotated.
      'AwsSolutions-SMG4',
      // The schedules' dead-letter queue is itself a dead-letter queue (lib/constructs/backup-monitoring.ts).
      'AwsSolutions-SQS3',
      // aws-cdk-lib's own acknowledgement of the log bucket's AccessControl (needed for log delivery).
      'CloudFormation-Validate::W3045',
    ]);
    for (const { id, reason } of acknowledgements) expect(reason.length, id).toBeGreaterThan(30);
  });

  it('bundles each Lambda of the manifest as one ESM file with the require shim, without Docker', () => {
    const bundles = readdirSync(outdir).filter(
      (name) => name.startsWith('asset.') && !name.endsWith('.json'),
    );
    const handlers = bundles.filter((dir) => readdirSync(join(outdir, dir)).includes('index.mjs'));
    expect(handlers).toHaveLength(manifestEntries().length);
    for (const dir of handlers) {
      const code = readFileSync(join(outdir, dir, 'index.mjs'), 'utf8');
      expect(code.startsWith("import { createRequire as __rbpCreateRequire } from 'node:module';")).toBe(
        true,
      );
    }
  });

  it('a bundle loads and runs on Node 22: its error names survive minification for the ASL to match', async () => {
    const dir = readdirSync(outdir).find(
      (name) =>
        name.startsWith('asset.') &&
        !name.endsWith('.json') &&
        readdirSync(join(outdir, name)).includes('index.mjs') &&
        readFileSync(join(outdir, name, 'index.mjs'), 'utf8').includes('replica probed'),
    );
    expect(dir).toBeDefined();
    const bundle = (await import(pathToFileURL(join(outdir, dir!, 'index.mjs')).href)) as {
      handler: (event: unknown) => Promise<unknown>;
    };
    const error = await bundle.handler({ backup: {} }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('ValidationError');
    expect((error as Error).message).toMatch(/^probe-replica: invalid event: /);
  });

  it('cfn-lint finds no error in the synthesized template (warnings allowed)', () => {
    let output: string;
    let status = 0;
    try {
      output = execFileSync('cfn-lint', ['-t', join(outdir, `${STACK}.template.json`)], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (error) {
      const failed = error as { status: number; stdout: string };
      status = failed.status;
      output = failed.stdout;
    }
    // cfn-lint exit codes: 0 clean, 2 errors, 4 warnings, 8 informational (bit flags).
    expect(status & 2, output).toBe(0);
    expect(output.split('\n').filter((line) => /^E\d{4}/.test(line))).toEqual([]);
  }, 60_000);

  it('fails the synth on a finding nobody acknowledged', () => {
    const app = buildApp(
      new App({
        outdir: mkdtempSync(join(tmpdir(), 'rbp-nag-')),
        context: { 'rbp:region': 'eu-west-1', 'aws:cdk:bundling-stacks': [] },
      }),
    );
    new s3.Bucket(app.node.findChild(STACK), 'CarelessBucket');
    expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
  }, 120_000);

  it('refuses to synthesize without a region and with an invalid configuration', () => {
    const saved = { region: process.env['AWS_REGION'], cdk: process.env['CDK_DEFAULT_REGION'] };
    delete process.env['AWS_REGION'];
    delete process.env['CDK_DEFAULT_REGION'];
    try {
      expect(() => buildApp(new App())).toThrow(
        'no AWS region: set AWS_REGION (or CDK_DEFAULT_REGION), or pass -c rbp:region=<region>',
      );
    } finally {
      if (saved.region !== undefined) process.env['AWS_REGION'] = saved.region;
      if (saved.cdk !== undefined) process.env['CDK_DEFAULT_REGION'] = saved.cdk;
    }
    expect(() =>
      buildApp(
        new App({ context: { 'rbp:region': 'eu-west-1', 'rbp:config': { budgets: { rangeWorkers: 0 } } } }),
      ),
    ).toThrow('invalid context rbp:config:\n  - budgets.rangeWorkers: Too small: expected number to be >=1');
  });
});
