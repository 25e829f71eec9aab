/**
 * What the plan tests share: the example plan (as docs/plans.md shows it), and the CLI run
 * against a deployed API as an operator runs it.
 */
import { readFile } from 'node:fs/promises';
import { runCli, type CliResult } from '../support/cli.ts';

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

export type { CliResult };

/** `rbp ARGS` against the API at `apiUrl` (dummy credentials, as the local stack takes any). */
export function rbpAgainst(
  apiUrl: string,
  env: NodeJS.ProcessEnv,
  args: readonly string[],
): Promise<CliResult> {
  return runCli(args, apiUrl, { region: 'us-east-1', env, accessKeyId: 'testing' });
}
