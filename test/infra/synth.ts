/**
 * The app as `cdk synth` builds it (bin/app.ts, which runs cdk-nag's AwsSolutions checks and fails
 * on an unacknowledged finding), without bundling the Lambdas (nag-and-lint.test.ts bundles), into
 * a scratch directory removed after the tests; the tests read the stack's resources.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll } from 'vitest';
import { buildApp } from '../../bin/app.ts';

export const STACK = 'ReplicaBackupProxy';

/** One synth with cdk-nag takes about a minute on a loaded two-core machine. */
const SYNTH_TIMEOUT_MS = 180_000;

export type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };

/** The synthesized stack: its resources by logical id and the template file's size in bytes. */
export interface SynthTemplate {
  readonly resources: Record<string, Resource>;
  readonly templateBytes: number;
}

/**
 * Synthesizes the app in eu-west-1 with the configuration `config` (none: the default) before the
 * tests of the enclosing block; the returned function gives the stack's template.
 */
export function useSynthTemplate(outdirPrefix: string, config?: unknown): () => SynthTemplate {
  let outdir: string | undefined;
  let template: SynthTemplate | undefined;
  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), outdirPrefix));
    buildApp(
      new App({
        outdir,
        context: {
          'rbp:region': 'eu-west-1',
          'aws:cdk:bundling-stacks': [],
          ...(config === undefined ? {} : { 'rbp:config': config }),
        },
      }),
    ).synth();
    const text = readFileSync(join(outdir, `${STACK}.template.json`), 'utf8');
    template = {
      resources: (JSON.parse(text) as { Resources: Record<string, Resource> }).Resources,
      templateBytes: Buffer.byteLength(text),
    };
  }, SYNTH_TIMEOUT_MS);
  afterAll(() => {
    if (outdir !== undefined) rmSync(outdir, { recursive: true, force: true });
  });
  return () => {
    if (template === undefined) throw new Error('the synth has not run (read the resources inside a test)');
    return template;
  };
}

/** As useSynthTemplate; the returned function gives the stack's resources by logical id. */
export function useSynthResources(outdirPrefix: string, config?: unknown): () => Record<string, Resource> {
  const template = useSynthTemplate(outdirPrefix, config);
  return () => template().resources;
}

/**
 * The settings of a single-metric CloudWatch alarm (AWS::CloudWatch::Alarm properties) under short
 * names, for one exact comparison per alarm.
 */
export function alarmSettings(alarm: Record<string, unknown>): Record<string, unknown> {
  return {
    namespace: alarm['Namespace'],
    dimensions: alarm['Dimensions'],
    statistic: alarm['Statistic'],
    period: alarm['Period'],
    threshold: alarm['Threshold'],
    comparison: alarm['ComparisonOperator'],
    evaluationPeriods: alarm['EvaluationPeriods'],
    missing: alarm['TreatMissingData'],
  };
}
