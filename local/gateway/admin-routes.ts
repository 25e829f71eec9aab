/**
 * The gateway's admin API under /_local/ (JSON; unsigned, loopback only):
 *
 *   GET    /_local/health                          {status, endpoint, motoEndpoint, motoPid, functions}
 *   GET    /_local/faults                          the fault configuration
 *   PUT    /_local/faults                          replace it (FaultConfig JSON); DELETE clears it
 *   GET    /_local/stats                           {requests, faults} by service:Operation; DELETE resets
 *   GET    /_local/replicas                        registered replica volumes
 *   POST   /_local/replicas                        {imagePath, serverId?, device?} → 201 the record
 *   GET    /_local/replicas/{volumeId}             one record
 *   PUT    /_local/replicas/{volumeId}/data?offset=N   raw body written at byte N (replica simulator)
 *   POST   /_local/replicas/{volumeId}/discard     {offset, length}
 *   POST   /_local/replicas/{volumeId}/checkpoint  {checkpointId, checkpointTime?, syncState?, backlogBytes?}
 *   POST   /_local/replicas/{volumeId}/sync        {syncState, backlogBytes}
 *   GET    /_local/agent                           {settings, held, actions} of the simulated agent
 *   PUT    /_local/agent                           {autoCheckpoint?, answerDelayMs?} → the settings
 *   GET    /_local/functions                       {functions: [{name, arn, command, timeoutSeconds}]} (command functions)
 *   POST   /_local/functions                       {name, command, timeoutSeconds?} → 201 the function (409 if the name exists)
 *   GET    /_local/functions/{name}                one command function
 *   DELETE /_local/functions/{name}                remove it → the function
 *   POST   /_local/servers/{serverId}/replication  {replication, lagSeconds?} → {serverId, replicas} (what the agent reports)
 *   GET    /_local/primaries                       registered primary volumes
 *   POST   /_local/primaries                       {imagePath, serverId, device?} → 201 the record
 *   GET    /_local/schedules                       {running, firings} of the local EventBridge Scheduler
 *   POST   /_local/schedules/tick                  look at the schedules now → {firings} of this look
 *
 * Errors: {code, message} with 400 (bad input), 404 (unknown), 405, 409 (exists), 503 (not ready), 500.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import { SYNC_STATES } from '../replica/replica-tags.ts';
import { REPLICATION_STATES } from '../../lambdas/core/plans/servers.ts';
import { writeJson } from './http-util.ts';
import type { GatewayBackends, LocalGateway } from './local-gateway.ts';

export const ADMIN_PATH_PREFIX = '/_local/';

const RegisterVolumeSchema = z
  .object({
    serverId: z.string().min(1),
    device: z.string().min(1).optional(),
  })
  .strict();

const CreateReplicaSchema = z
  .object({
    imagePath: z.string().min(1),
    serverId: z.string().min(1).optional(),
    device: z.string().min(1).optional(),
  })
  .strict();
const DiscardSchema = z.object({ offset: z.number().int().min(0), length: z.number().int().min(0) }).strict();
const CheckpointSchema = z
  .object({
    checkpointId: z.string().min(1),
    checkpointTime: z.iso.datetime().optional(),
    syncState: z.enum(SYNC_STATES).optional(),
    backlogBytes: z.number().int().min(0).optional(),
  })
  .strict();
const AgentSettingsSchema = z
  .object({ autoCheckpoint: z.boolean().optional(), answerDelayMs: z.number().int().min(0).optional() })
  .strict();
const CreateFunctionSchema = z
  .object({
    name: z.string().min(1),
    command: z.string().min(1),
    timeoutSeconds: z.number().int().optional(),
  })
  .strict();
const ReplicationSchema = z
  .object({ replication: z.enum(REPLICATION_STATES), lagSeconds: z.number().int().min(0).optional() })
  .strict();
const CreatePrimarySchema = z
  .object({
    imagePath: z.string().min(1),
    serverId: z.string().min(1),
    device: z.string().min(1).optional(),
  })
  .strict();
const SyncSchema = z
  .object({ syncState: z.enum(SYNC_STATES), backlogBytes: z.number().int().min(0) })
  .strict();

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ValidationError('the body is not valid JSON', { cause: error });
  }
}

function parseWith<T>(schema: z.ZodType<T>, body: Buffer): T {
  const result = schema.safeParse(parseJson(body));
  if (!result.success) throw new ValidationError(z.prettifyError(result.error).replace(/\n/g, '; '));
  return result.data;
}

class MethodNotAllowedError extends Error {}

export async function handleAdminRequest(
  gateway: LocalGateway,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  body: Buffer,
): Promise<void> {
  try {
    const [status, value] = await route(gateway, req.method ?? 'GET', url, body);
    writeJson(res, status, value);
  } catch (error) {
    if (error instanceof ValidationError)
      writeJson(res, 400, { code: 'ValidationError', message: error.message });
    else if (error instanceof NotFoundError)
      writeJson(res, 404, { code: 'NotFound', message: error.message });
    else if (error instanceof ConflictError)
      writeJson(res, 409, { code: 'Conflict', message: error.message });
    else if (error instanceof MethodNotAllowedError)
      writeJson(res, 405, { code: 'MethodNotAllowed', message: error.message });
    else if (error instanceof z.ZodError)
      writeJson(res, 400, { code: 'ValidationError', message: z.prettifyError(error) });
    else writeJson(res, 500, { code: 'InternalError', message: String(error) });
  }
}

async function route(
  gateway: LocalGateway,
  method: string,
  url: URL,
  body: Buffer,
): Promise<[number, unknown]> {
  const parts = url.pathname.slice(ADMIN_PATH_PREFIX.length).split('/').filter(Boolean);
  const notAllowed = (): never => {
    throw new MethodNotAllowedError(`${method} is not allowed on ${url.pathname}`);
  };
  const backends = (): GatewayBackends => {
    const value = gateway.backends;
    if (!value) throw new NotFoundError('the local stack is still starting');
    return value;
  };

  switch (parts[0]) {
    case 'health': {
      const value = gateway.backends;
      return [
        200,
        {
          status: value ? 'ok' : 'starting',
          endpoint: gateway.endpoint,
          motoEndpoint: value?.motoEndpoint ?? null,
          motoPid: value?.motoPid ?? null,
          functions: gateway.functions.names(),
        },
      ];
    }
    case 'faults':
      if (method === 'GET') return [200, gateway.faults()];
      if (method === 'PUT' || method === 'POST') {
        gateway.setFaults(parseJson(body) as never);
        return [200, gateway.faults()];
      }
      if (method === 'DELETE') {
        gateway.setFaults({});
        return [200, gateway.faults()];
      }
      return notAllowed();
    case 'stats':
      if (method === 'GET') return [200, gateway.stats()];
      if (method === 'DELETE') {
        gateway.resetStats();
        return [200, gateway.stats()];
      }
      return notAllowed();
    case 'agent': {
      const agent = backends().agent;
      if (method === 'GET')
        return [
          200,
          { settings: agent.agentSettings(), held: agent.heldCheckpoints(), actions: agent.actions() },
        ];
      if (method === 'PUT' || method === 'POST') {
        const settings = parseWith(AgentSettingsSchema, body);
        return [
          200,
          agent.configureAgent({
            ...(settings.autoCheckpoint === undefined ? {} : { autoCheckpoint: settings.autoCheckpoint }),
            ...(settings.answerDelayMs === undefined ? {} : { answerDelayMs: settings.answerDelayMs }),
          }),
        ];
      }
      return notAllowed();
    }
    case 'functions': {
      const commands = gateway.commandFunctions;
      const name = parts[1] === undefined ? undefined : decodeURIComponent(parts[1]);
      if (name === undefined) {
        if (method === 'GET') return [200, { functions: commands.list() }];
        if (method === 'POST') {
          const spec = parseWith(CreateFunctionSchema, body);
          return [
            201,
            await commands.create({
              name: spec.name,
              command: spec.command,
              ...(spec.timeoutSeconds === undefined ? {} : { timeoutSeconds: spec.timeoutSeconds }),
            }),
          ];
        }
        return notAllowed();
      }
      if (parts.length > 2) throw new NotFoundError(`no admin route ${url.pathname}`);
      if (method === 'GET') return [200, commands.get(name)];
      if (method === 'DELETE') return [200, await commands.remove(name)];
      return notAllowed();
    }
    case 'servers': {
      const serverId = parts[1] === undefined ? undefined : decodeURIComponent(parts[1]);
      if (serverId === undefined || parts[2] !== 'replication' || parts.length > 3)
        throw new NotFoundError(`no admin route ${url.pathname}`);
      if (method !== 'POST' && method !== 'PUT') return notAllowed();
      const report = parseWith(ReplicationSchema, body);
      const replicas = await backends().agent.reportReplication(serverId, {
        replication: report.replication,
        ...(report.lagSeconds === undefined ? {} : { lagSeconds: report.lagSeconds }),
      });
      return [200, { serverId, replicas }];
    }
    case 'primaries': {
      if (parts.length > 1) throw new NotFoundError(`no admin route ${url.pathname}`);
      const replicas = backends().replicas;
      if (method === 'GET') return [200, { primaries: replicas.primaries() }];
      if (method === 'POST') {
        const spec = parseWith(CreatePrimarySchema, body);
        return [
          201,
          await replicas.createPrimary({
            imagePath: spec.imagePath,
            serverId: spec.serverId,
            ...(spec.device === undefined ? {} : { device: spec.device }),
          }),
        ];
      }
      return notAllowed();
    }
    case 'schedules': {
      const scheduler = gateway.scheduler;
      if (!scheduler) throw new NotFoundError('the local stack is still starting');
      if (parts[1] === undefined && method === 'GET')
        return [200, { running: scheduler.running, firings: scheduler.firings() }];
      if (parts[1] === 'tick' && method === 'POST') return [200, { firings: await scheduler.tick() }];
      if (parts[1] === undefined || parts[1] === 'tick') return notAllowed();
      throw new NotFoundError(`no admin route ${url.pathname}`);
    }
    case 'replicas':
      return replicaRoute(backends(), method, url, parts.slice(1), body, notAllowed);
    case 'volumes': {
      // Volumes EC2 CreateVolume made from snapshots (ec2-volumes.ts), and their registration as replicas.
      const replicas = backends().replicas;
      if (parts[1] === undefined) {
        if (method === 'GET') return [200, { volumes: replicas.volumesFromSnapshots() }];
        return notAllowed();
      }
      if (parts[2] === 'replica' && parts[3] === undefined) {
        if (method !== 'POST') return notAllowed();
        const spec = parseWith(RegisterVolumeSchema, body);
        return [
          200,
          await replicas.registerVolumeAsReplica(parts[1], {
            serverId: spec.serverId,
            ...(spec.device === undefined ? {} : { device: spec.device }),
          }),
        ];
      }
      throw new NotFoundError(`no admin route ${url.pathname}`);
    }
    default:
      throw new NotFoundError(`no admin route ${url.pathname}`);
  }
}

async function replicaRoute(
  backends: GatewayBackends,
  method: string,
  url: URL,
  parts: string[],
  body: Buffer,
  notAllowed: () => never,
): Promise<[number, unknown]> {
  const [volumeId, action] = parts;
  if (volumeId === undefined) {
    if (method === 'GET') return [200, { replicas: backends.replicas.list() }];
    if (method === 'POST') return [201, await backends.replicas.create(parseWith(CreateReplicaSchema, body))];
    return notAllowed();
  }
  switch (action) {
    case undefined:
      if (method !== 'GET') return notAllowed();
      return [200, backends.replicas.require(volumeId)];
    case 'data': {
      if (method !== 'PUT') return notAllowed();
      const offset = Number(url.searchParams.get('offset') ?? 'NaN');
      if (!Number.isSafeInteger(offset))
        throw new ValidationError('offset must be an integer query parameter');
      await backends.agent.write(volumeId, offset, body);
      return [200, { volumeId, offset, length: body.length }];
    }
    case 'discard': {
      if (method !== 'POST') return notAllowed();
      const { offset, length } = parseWith(DiscardSchema, body);
      await backends.agent.discard(volumeId, offset, length);
      return [200, { volumeId, offset, length }];
    }
    case 'checkpoint': {
      if (method !== 'POST') return notAllowed();
      const report = parseWith(CheckpointSchema, body);
      return [
        200,
        await backends.agent.reportCheckpoint(volumeId, {
          checkpointId: report.checkpointId,
          ...(report.checkpointTime === undefined ? {} : { checkpointTime: new Date(report.checkpointTime) }),
          ...(report.syncState === undefined ? {} : { syncState: report.syncState }),
          ...(report.backlogBytes === undefined ? {} : { backlogBytes: report.backlogBytes }),
        }),
      ];
    }
    case 'sync': {
      if (method !== 'POST') return notAllowed();
      return [200, await backends.agent.reportSync(volumeId, parseWith(SyncSchema, body))];
    }
    default:
      throw new NotFoundError(`no admin route ${url.pathname}`);
  }
}
