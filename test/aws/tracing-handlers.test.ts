/**
 * Which Lambda handlers load the X-Ray SDK: each handler module is imported in a fresh Node
 * process (bench/suites/tracing.ts as the child, under tsx as the other children), which reports
 * whether aws-xray-sdk-core is in the module cache and whether its cls-hooked namespace (the async
 * hooks that slow every await) exists. A data-plane handler that starts loading it again, directly
 * or through a shared module, fails here.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestEntries } from '../../lib/function-manifest.ts';
import { handlerModules, runTracingProbe } from '../../bench/suites/tracing.ts';

/** Each child loads the AWS SDK's modules under tsx: tens of seconds on a loaded 2-core machine. */
const PROBE_TIMEOUT_MS = 240_000;

describe('X-Ray SDK in the Lambda handlers', () => {
  it('only the control-plane functions are marked to load it', () => {
    expect(
      manifestEntries()
        .filter(([, entry]) => !entry.xraySdk)
        .map(([name]) => name),
    ).toEqual(['copyRange', 'buildCatalog', 'health', 'restoreWorker', 'volumeRestoreStep', 'lifecycleJob']);
  });

  it(
    'a process with every data-plane handler loaded has neither the SDK module nor its namespace',
    async () => {
      const result = await runTracingProbe({ modules: handlerModules(false), awaits: 0, rounds: 0 });
      expect(result).toEqual({ xraySdkModules: 0, xrayNamespace: false, roundCpuMs: [] });
    },
    PROBE_TIMEOUT_MS,
  );

  it(
    'a control-plane handler (backup-lock) loads it: its SDK calls are subsegments',
    async () => {
      const [backupLock] = handlerModules(true).filter((file) => path.basename(file) === 'backup-lock.ts');
      const result = await runTracingProbe({ modules: [backupLock!], awaits: 0, rounds: 0 });
      expect(result.xrayNamespace).toBe(true);
      expect(result.xraySdkModules).toBeGreaterThan(0);
    },
    PROBE_TIMEOUT_MS,
  );

  it.each(handlerModules(true).map((file) => [path.basename(file), file]))(
    'control-plane handler %s builds its clients through the traced wiring',
    async (_name, file) => {
      // One child per handler costs ~10 s each here; the module graph above shows tracing.ts loads it.
      const source = await readFile(file, 'utf8');
      expect(source).toContain("from '../aws/tracing.ts'");
      expect(source).not.toMatch(/\blambdaWiring\(/);
    },
  );
});
