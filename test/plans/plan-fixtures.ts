/**
 * What the plan tests share: the example plan (as docs/plans.md shows it), and the CLI run
 * against a deployed API as an operator runs it.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** The example plan, exactly as written (docs/plans.md). */
export const NIGHTLY_QA = {
  name: 'nightly-qa',
  enabled: true,
  schedules: [{ expression: 'cron(0 1 * * ? *)', timeZone: 'Europe/Berlin' }],
  window: {
    days: ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'],
    start: '00:00',
    end: '23:59',
    timeZone: 'UTC',
  },
  activities: [
    { servers: 'QA*' },
    { servers: ['TEST8', 'TEST9'], applications: 'DOMAIN*', quiesce: { timeoutSeconds: 60 } },
  ],
};

/** The nightly-qa plan document as docs/plans.md shows it (its JSON text). */
export async function docsExample(): Promise<string> {
  const text = await readFile(new URL('../../docs/plans.md', import.meta.url), 'utf8');
  const block = /```json\n(\{\n {2}"name": "nightly-qa"[\s\S]*?)\n```/.exec(text);
  if (block === null) throw new Error('docs/plans.md has no nightly-qa example');
  return block[1]!;
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `rbp ARGS` against the API at `apiUrl` (dummy credentials, as the local stack takes any). */
export function rbpAgainst(
  apiUrl: string,
  env: NodeJS.ProcessEnv,
  args: readonly string[],
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'cli/main.ts', ...args, '--endpoint', apiUrl, '--region', 'us-east-1'],
      { env: { ...env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' } },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stdout, stderr }),
    );
  });
}
