/**
 * The workflow routes and `rbp workflows …` through the API handler, over the DynamoDB workflow
 * store and EC2 (volumes, a running instance, an attachment) on moto, built by
 * createWorkflowApiDeps. The CLI talks HTTP to the handler through the local gateway's API
 * Gateway proxy adapter.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttachVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbWorkflowRuns } from '../../lambdas/aws/workflow-run-adapters.ts';
import { createWorkflowApiDeps } from '../../lambdas/aws/workflow-wiring.ts';
import { parseWorkflowDocument } from '../../lambdas/core/workflows/workflow-document.ts';
import { WORKFLOW_RUN_FORMAT_VERSION } from '../../lambdas/core/workflows/workflow-run.ts';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { toProxyEvent, writeProxyResult } from '../../local/gateway/api-adapter.ts';
import { LOCAL_ACCOUNT_ID } from '../../local/gateway/local-account.ts';
import { answerOf, proxyEvent, type Answer, type EventSpec } from '../api/api-events.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { memoryApi } from '../fakes/memory-api-ports.ts';
import { rbpWith, type CliResult } from '../support/cli.ts';
import { createTaggedVolume, launchInstance } from '../support/ec2-instances.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { DIRECT_MOUNT_EXAMPLE, LIVE_CLONE_EXAMPLE } from './workflow-fixtures.ts';

const local = useLocalStack();
const TABLE = 'rbp-workflows';
const ZONE = 'us-east-1a';

let handler: ApiProxyHandler;
let documents: DynamoDBDocumentClient;
let ec2: EC2Client;
let instanceId = '';
let http: Server;
let base = '';
const call = async (spec: EventSpec): Promise<Answer> => answerOf(await handler(proxyEvent(spec)));

function tagged(tags: Record<string, string>): Promise<string> {
  return createTaggedVolume(ec2, ZONE, tags);
}

beforeAll(async () => {
  documents = await createCatalogTable(local.clientConfig(), TABLE);
  ec2 = new EC2Client(local.clientConfig());
  await tagged({ 'rbp:replica': 'true', 'rbp:source-server': 'web01' });
  await tagged({ 'rbp:replica': 'true', 'rbp:source-server': 'web01' });
  instanceId = await launchInstance(ec2, ZONE);
  const busy = await tagged({ team: 'qa' });
  await ec2.send(new AttachVolumeCommand({ VolumeId: busy, InstanceId: instanceId, Device: '/dev/sdg' }));
  const api = memoryApi();
  const workflows = createWorkflowApiDeps(
    { tableName: TABLE, account: LOCAL_ACCOUNT_ID, region: 'us-east-1' },
    { documents, ec2 },
    api.clock,
  );
  handler = createApiHandler({ ...api.deps, workflows }, () => undefined);
  http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void handler(toProxyEvent(req, Buffer.concat(chunks))).then((result) => writeProxyResult(res, result));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/_api`;
}, 120_000);
afterAll(async () => {
  ec2.destroy();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

const directMount = () => ({
  ...DIRECT_MOUNT_EXAMPLE,
  target: { ...DIRECT_MOUNT_EXAMPLE.target, instanceId },
});
const names = async (): Promise<string[]> =>
  ((await call({ method: 'GET', path: '/workflows' })).body.items as { name: string }[]).map((w) => w.name);

describe('workflow routes over DynamoDB and EC2 (moto)', () => {
  it('creates the LiveClone example; a duplicate name is 400 naming it and changes nothing', async () => {
    const created = await call({ method: 'POST', path: '/workflows', body: LIVE_CLONE_EXAMPLE });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ name: 'qaclone', type: 'LiveClone', enabled: true, revision: 1 });
    const duplicate = await call({
      method: 'POST',
      path: '/workflows',
      body: { ...LIVE_CLONE_EXAMPLE, image: 'img-x' },
    });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body).toEqual({
      code: 'InvalidRequest',
      message: 'workflow qaclone already exists',
      details: {
        workflow: 'qaclone',
        issues: [{ field: 'name', message: 'a workflow named qaclone exists' }],
      },
    });
    expect((await call({ method: 'GET', path: '/workflows/qaclone' })).body).toMatchObject({
      document: { image: 'latest' },
    });
  });

  it('creates the DirectMount example on a real instance; the same document naming an absent instance is 400', async () => {
    const absent = await call({ method: 'POST', path: '/workflows', body: DIRECT_MOUNT_EXAMPLE });
    expect(absent.status).toBe(400);
    expect(absent.body).toMatchObject({
      code: 'InvalidRequest',
      message: 'target instance i-0123456789abcdef0 does not exist',
      details: { issues: [{ field: 'target.instanceId', message: 'no instance i-0123456789abcdef0' }] },
    });
    expect(await names()).toEqual(['qaclone']);
    const created = await call({ method: 'POST', path: '/workflows', body: directMount() });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ name: 'qamount', type: 'DirectMount', revision: 1 });
  });

  it('refuses, with nothing created: an AZ mismatch, a device in use, special characters, an unknown server, another region', async () => {
    const refusals: [unknown, string][] = [
      [
        {
          ...directMount(),
          name: 'otherzone',
          target: { ...directMount().target, availabilityZone: 'us-east-1b' },
        },
        `target instance ${instanceId} is in us-east-1a, not in us-east-1b: a volume attaches only to an instance in its own availability zone`,
      ],
      [
        { ...directMount(), name: 'busydevice', target: { ...directMount().target, device: '/dev/sdg' } },
        `invalid DirectMount target: target.device: /dev/sdg is already in use on ${instanceId}`,
      ],
      [
        { ...LIVE_CLONE_EXAMPLE, name: 'qa_clone' },
        'invalid workflow: name: must be letters and digits only (no special characters)',
      ],
      [
        { ...LIVE_CLONE_EXAMPLE, name: 'nosuch', server: 'web99' },
        'server web99 is not a protected server (no replica volume carries rbp:source-server=web99)',
      ],
      [
        { ...LIVE_CLONE_EXAMPLE, name: 'faraway', target: { region: 'eu-west-1' } },
        "invalid workflow: target.region: cross-region workflows are not supported yet: use this deployment's region us-east-1",
      ],
    ];
    for (const [body, message] of refusals) {
      const answer = await call({ method: 'POST', path: '/workflows', body });
      expect(answer.status, message).toBe(400);
      expect(answer.body.message).toBe(message);
    }
    expect(await names()).toEqual(['qaclone', 'qamount']);
  });

  it('a delete while a run of the workflow is going on is 409 naming the run, and nothing is deleted', async () => {
    const document = { ...LIVE_CLONE_EXAMPLE, name: 'qabusy' };
    expect((await call({ method: 'POST', path: '/workflows', body: document })).status).toBe(200);
    const runId = 'wr-20261203t060000000z-00ff';
    await dynamoDbWorkflowRuns(documents, TABLE).create({
      formatVersion: WORKFLOW_RUN_FORMAT_VERSION,
      name: runId,
      revision: 1,
      runId,
      workflow: 'qabusy',
      type: 'LiveClone',
      action: 'run',
      trigger: 'api',
      status: 'Running',
      phase: 'Restore',
      startedAt: '2026-12-03T06:00:00.000Z',
      document: parseWorkflowDocument(document),
      volumes: [],
      nonSensitive: false,
    });
    for (const created of ['keep', 'remove']) {
      const refused = await call({ method: 'DELETE', path: '/workflows/qabusy', query: { created } });
      expect({ status: refused.status, message: refused.body.message }).toEqual({
        status: 409,
        message: `workflow qabusy has a run going on (run ${runId}): delete it once that run has finished`,
      });
    }
    expect((await call({ method: 'GET', path: '/workflows/qabusy' })).status).toBe(200);
  });

  it('an update may change the image and the schedule, not name, type, target or schedule type (400 naming each)', async () => {
    const refused = await call({
      method: 'PUT',
      path: '/workflows/qamount',
      body: { ...LIVE_CLONE_EXAMPLE, name: 'qamount' },
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({
      message:
        'workflow qamount cannot be updated: type: cannot be changed after the workflow is created; target: cannot be changed after the workflow is created; schedule.type: cannot be changed after the workflow is created',
      details: {
        issues: [
          { field: 'type', message: 'cannot be changed after the workflow is created' },
          { field: 'target', message: 'cannot be changed after the workflow is created' },
          { field: 'schedule.type', message: 'cannot be changed after the workflow is created' },
        ],
      },
    });
    expect((await call({ method: 'GET', path: '/workflows/qamount' })).body).toMatchObject({ revision: 1 });
    const changed = await call({
      method: 'PUT',
      path: '/workflows/qamount',
      body: {
        ...directMount(),
        image: 'img-20261101t010000000z-0a1b',
        schedule: { type: 'scheduled', expression: 'cron(0 7 * * ? *)', timeZone: 'Europe/Berlin' },
      },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ revision: 2, document: { image: 'img-20261101t010000000z-0a1b' } });
  });
});

const cli = rbpWith(() => ({ ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }));

function rbp(...args: string[]): Promise<CliResult> {
  return cli(...args, '--endpoint', base, '--region', 'us-east-1');
}

describe('rbp workflows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rbp-workflows-'));
  const file = (name: string, body: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(body));
    return path;
  };

  it('create, ls, disable, enable, show and delete, with the exit codes of the API answers', async () => {
    const created = await rbp(
      'workflows',
      'create',
      '--file',
      file('c.json', { ...LIVE_CLONE_EXAMPLE, name: 'cliclone' }),
    );
    expect(created, created.stderr).toMatchObject({ code: 0 });
    expect(created.stdout.trim()).toBe('workflow cliclone created (LiveClone, revision 1, enabled)');
    const table = await rbp('workflows', 'ls');
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^WORKFLOW\s+TYPE\s+ENABLED\s+SOURCE\s+IMAGE\s+SCHEDULE\s+TARGET\s+MASKING\s+REVISION$/,
    );
    expect(lines.find((l) => l.startsWith('cliclone'))).toMatch(
      /^cliclone\s+LiveClone\s+yes\s+web01\s+latest\s+on-demand\s+us-east-1\s+-\s+1$/,
    );
    const disabled = await rbp('workflows', 'disable', 'cliclone');
    expect(disabled.stdout.trim()).toBe('workflow cliclone disabled (LiveClone, revision 2, disabled)');
    const enabled = await rbp('workflows', 'enable', 'cliclone', '--json');
    expect(enabled, enabled.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(enabled.stdout)).toMatchObject({ name: 'cliclone', enabled: true, revision: 3 });
    const shown = await rbp('workflows', 'show', 'cliclone');
    expect(JSON.parse(shown.stdout)).toMatchObject({ name: 'cliclone', type: 'LiveClone', server: 'web01' });
    const deleted = await rbp('workflows', 'delete', 'cliclone');
    expect(deleted.stdout.trim()).toBe('workflow cliclone deleted');
    const gone = await rbp('workflows', 'show', 'cliclone');
    expect(gone.code).toBe(3);
    expect(gone.stderr).toContain('workflow cliclone does not exist');
  }, 120_000);

  it('a refused document or update exits 5 with the message naming the problem; a duplicate exits 5 too', async () => {
    const special = await rbp(
      'workflows',
      'create',
      '--file',
      file('s.json', { ...LIVE_CLONE_EXAMPLE, name: 'qa clone' }),
    );
    expect(special.code, special.stderr).toBe(5);
    expect(special.stderr).toContain(
      'invalid workflow: name: must be letters and digits only (no special characters)',
    );
    const duplicate = await rbp('workflows', 'create', '--file', file('d.json', LIVE_CLONE_EXAMPLE));
    expect(duplicate.stderr).toContain('workflow qaclone already exists');
    expect(duplicate.code).toBe(5);
    const immutable = await rbp(
      'workflows',
      'update',
      'qaclone',
      '--file',
      file('u.json', { ...LIVE_CLONE_EXAMPLE, type: 'DirectMount', target: directMount().target }),
    );
    expect(immutable.code).toBe(5);
    expect(immutable.stderr).toContain('workflow qaclone cannot be updated: type: cannot be changed');
  }, 120_000);
});
