/**
 * The local gateway: one HTTP server on 127.0.0.1 that every AWS SDK client of the product reaches
 * through AWS_ENDPOINT_URL. It routes by the SigV4 credential scope's service:
 *
 * - `ebs`: the EBS direct API emulator (local/ebs), in process;
 * - `ec2`: moto, plus snapshot freezing of replica volumes (ec2-snapshots.ts) and volumes made
 *   from snapshots that hold the snapshot's blocks (ec2-volumes.ts);
 * - `lambda` Invoke: in-process handlers registered with registerFunction();
 * - `events` PutEvents: moto, then the replica simulator sees the accepted entries (it answers
 *   `Checkpoint Requested` as the replication agent would), and the rules stored in moto hand them
 *   to their Lambda targets (local-event-rules.ts);
 * - `drs`: the local Elastic Disaster Recovery (local/drs), DescribeSourceServers from the replica
 *   volumes' tags in moto;
 * - everything else (S3, DynamoDB, Step Functions, Scheduler, ...): moto, streamed.
 *
 * and by path: `/_api/...` is an API Gateway-style Lambda-proxy endpoint for the API handler, and
 * `/_local/...` is the admin API (faults, statistics, replicas). Faults (latency, throttling, 5xx)
 * are injected before routing, in each service's own error shape.
 *
 * Once connected it also runs the local EventBridge Scheduler (local-scheduler.ts), which fires the
 * schedules stored in moto.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIST_PAGE_BLOCK_WINDOW, type EbsEmulator } from '../ebs/ebs-emulator.ts';
import type { EventEntry, ReplicaSimulator } from '../replica/replica-simulator.ts';
import type { ReplicaVolumes } from '../replica/replica-volumes.ts';
import { handleAdminRequest, ADMIN_PATH_PREFIX } from './admin-routes.ts';
import {
  apiContext,
  HANDLER_FAILED_RESULT,
  isApiPath,
  NO_API_HANDLER_RESULT,
  toProxyEvent,
  writeProxyResult,
  type ApiHandler,
} from './api-adapter.ts';
import { credentialScope, LAMBDA_INVOKE_PATH, operationName } from './aws-request.ts';
import { Ec2SnapshotBridge, type BufferedAnswer } from './ec2-snapshots.ts';
import { Ec2VolumeBridge } from './ec2-volumes.ts';
import { FaultConfigSchema, faultAnswer, FaultInjector, type FaultConfig } from './faults.ts';
import { forwardBuffered, forwardStreaming, readBody, sleep, writeAnswer, writeJson } from './http-util.ts';
import { LambdaFunctions, type LambdaHandler } from './lambda-functions.ts';
import { LocalScheduler } from './local-scheduler.ts';
import { LocalEventRules, type EventRuleEntry } from './local-event-rules.ts';
import { CommandFunctions } from './command-functions.ts';
import type { MotoAdmin } from '../moto/moto-admin.ts';
import { answerDrs, replicaVolumesOf } from '../drs/drs-service.ts';
import { EC2Client } from '@aws-sdk/client-ec2';
import { localClientConfig } from './local-account.ts';
import { systemClock, type Clock } from '../../lambdas/core/ports.ts';

export interface GatewayBackends {
  readonly motoEndpoint: string;
  readonly motoPid?: number;
  readonly moto: MotoAdmin;
  readonly emulator: EbsEmulator;
  readonly replicas: ReplicaVolumes;
  readonly agent: ReplicaSimulator;
  /** Time from EC2 CreateSnapshot of a replica until the snapshot is `completed`. */
  readonly snapshotCompletionDelayMs: number;
  /** Where images of volumes made from snapshots go (ec2-volumes.ts); default a directory under the OS's temp dir. */
  readonly volumeImageDir?: string;
  /** The time snapshot progress is computed against, and the local scheduler's; default the system clock. */
  readonly clock?: Clock;
}

/** Request counts by `service:Operation` (e.g. `ebs:GetSnapshotBlock`, `s3:PutObject`). */
export interface GatewayStats {
  /** Every AWS request that reached the gateway, including those answered with a fault. */
  readonly requests: Record<string, number>;
  /** Requests answered with an injected fault, by `service:Operation:kind`. */
  readonly faults: Record<string, number>;
}

export interface LocalGatewayOptions {
  /** Default: a free port. */
  readonly port?: number;
}

function increment(table: Map<string, number>, key: string): void {
  table.set(key, (table.get(key) ?? 0) + 1);
}

export class LocalGateway {
  readonly functions = new LambdaFunctions();
  /** Functions made of a shell command (`rbp local function create`), in `functions` too. */
  readonly commandFunctions = new CommandFunctions(this.functions);
  private backendsValue: GatewayBackends | undefined;
  private bridge: Ec2SnapshotBridge | undefined;
  private volumeBridge: Ec2VolumeBridge | undefined;
  private apiHandler: ApiHandler | undefined;
  private schedulerValue: LocalScheduler | undefined;
  /** EventBridge rules with Lambda targets (undefined until connect()). */
  private eventRulesValue: LocalEventRules | undefined;
  /** Reads moto's replica volumes for the local DRS (undefined until connect()). */
  private motoEc2: EC2Client | undefined;
  private injector = new FaultInjector();
  private readonly requestCounts = new Map<string, number>();
  private readonly faultCounts = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts listening; AWS requests are answered once connect() has supplied the backends. */
  static async listen(options: LocalGatewayOptions = {}): Promise<LocalGateway> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const gateway = new LocalGateway(server, (server.address() as AddressInfo).port);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      gateway.onRequest(req, res).catch((error: unknown) => {
        if (!res.headersSent) writeJson(res, 500, { code: 'GatewayError', message: String(error) });
        else res.destroy();
      });
    });
    return gateway;
  }

  connect(backends: GatewayBackends): void {
    this.backendsValue = backends;
    const clock = backends.clock;
    this.volumeBridge = new Ec2VolumeBridge({
      emulator: backends.emulator,
      replicas: backends.replicas,
      imageDir: backends.volumeImageDir ?? join(tmpdir(), `rbp-local-volumes-${this.port}`),
    });
    this.bridge = new Ec2SnapshotBridge({
      emulator: backends.emulator,
      replicas: backends.replicas,
      moto: backends.moto,
      completionDelayMs: backends.snapshotCompletionDelayMs,
      ...(clock === undefined ? {} : { now: () => clock.now().getTime() }),
    });
    void this.schedulerValue?.close();
    this.schedulerValue = new LocalScheduler({
      motoEndpoint: backends.motoEndpoint,
      gatewayEndpoint: this.endpoint,
      clock: clock ?? systemClock,
    });
    this.schedulerValue.start();
    this.motoEc2?.destroy();
    this.motoEc2 = new EC2Client(localClientConfig(backends.motoEndpoint));
    this.eventRulesValue?.close();
    this.eventRulesValue = new LocalEventRules({
      motoEndpoint: backends.motoEndpoint,
      gatewayEndpoint: this.endpoint,
      clock: clock ?? systemClock,
    });
  }

  /** The local EventBridge rules' Lambda deliveries (undefined until connect()). */
  get eventRules(): LocalEventRules | undefined {
    return this.eventRulesValue;
  }

  /** The local EventBridge Scheduler (undefined until connect()). */
  get scheduler(): LocalScheduler | undefined {
    return this.schedulerValue;
  }

  get backends(): GatewayBackends | undefined {
    return this.backendsValue;
  }

  get snapshots(): Ec2SnapshotBridge | undefined {
    return this.bridge;
  }

  /** Lambda Invoke of `name` (or its ARN) runs `handler` in process. */
  registerFunction(name: string, handler: LambdaHandler): void {
    this.functions.register(name, handler);
  }

  unregisterFunction(name: string): boolean {
    return this.functions.unregister(name);
  }

  /** The handler behind `/_api/`; undefined answers 404 again. */
  setApiHandler(handler: ApiHandler | undefined): void {
    this.apiHandler = handler;
  }

  /** Replaces the fault configuration (validated) and restarts its generators from the seed. */
  setFaults(config: FaultConfig): void {
    const parsed = FaultConfigSchema.parse(config);
    this.injector = new FaultInjector(parsed);
    // Unset emulator faults go back to the emulator's defaults (setFaults merges what it is given).
    this.backendsValue?.emulator.setFaults({
      corruptBlockDataRate: parsed.corruptBlockDataRate ?? 0,
      perSnapshotRequestsPerSecond: parsed.perSnapshotRequestsPerSecond ?? Number.POSITIVE_INFINITY,
      listPageBlockWindow: parsed.listPageBlockWindow ?? DEFAULT_LIST_PAGE_BLOCK_WINDOW,
    });
  }

  faults(): FaultConfig {
    return this.injector.config;
  }

  stats(): GatewayStats {
    return {
      requests: Object.fromEntries([...this.requestCounts].sort(([a], [b]) => a.localeCompare(b))),
      faults: Object.fromEntries([...this.faultCounts].sort(([a], [b]) => a.localeCompare(b))),
    };
  }

  resetStats(): void {
    this.requestCounts.clear();
    this.faultCounts.clear();
  }

  async close(): Promise<void> {
    await this.schedulerValue?.close();
    this.eventRulesValue?.close();
    this.motoEc2?.destroy();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith(ADMIN_PATH_PREFIX)) {
      await handleAdminRequest(this, req, res, url, await readBody(req));
      return;
    }
    if (isApiPath(url.pathname)) {
      await this.onApiRequest(req, res, await readBody(req));
      return;
    }
    const backends = this.backendsValue;
    if (!backends) {
      writeJson(res, 503, { code: 'NotReady', message: 'the local gateway is starting' });
      return;
    }
    const upstream = new URL(backends.motoEndpoint);
    const scope = credentialScope(req.headers, url);
    const service = scope?.service ?? 'unsigned';
    const method = req.method ?? 'GET';

    if (service === 's3' || service === 'unsigned') {
      const operation = operationName(service, method, url, req.headers);
      if (await this.injectFault(service, operation, res)) {
        req.resume();
        return;
      }
      await forwardStreaming(upstream, req, res);
      return;
    }

    const body = await readBody(req);
    const operation = operationName(service, method, url, req.headers, body);
    if (await this.injectFault(service, operation, res)) return;
    const forward = (): Promise<BufferedAnswer> => forwardBuffered(upstream, req, req.url ?? '/', body);

    if (service === 'ebs') {
      await this.onEbsRequest(backends, req, res, url, body, operation);
    } else if (service === 'lambda' && operation === 'Invoke') {
      const identifier = decodeURIComponent(LAMBDA_INVOKE_PATH.exec(url.pathname)?.[1] ?? '');
      const invocationType = req.headers['x-amz-invocation-type'];
      const answer = await this.functions.invoke(
        identifier,
        body,
        typeof invocationType === 'string' ? invocationType : undefined,
        url.searchParams.get('Qualifier') ?? undefined,
      );
      writeAnswer(res, { ...answer, body: Buffer.from(answer.body) });
    } else if (service === 'drs') {
      const ec2 = this.motoEc2!;
      writeAnswer(res, await answerDrs(operation, body, () => replicaVolumesOf(ec2)));
    } else if (service === 'ec2') {
      writeAnswer(res, await this.onEc2Request(backends, url, body, operation, forward));
    } else if (service === 'events' && operation === 'PutEvents') {
      const answer = await forward();
      if (answer.status === 200) await deliverToAgent(backends.agent, body);
      if (answer.status === 200) await deliverToRules(this.eventRulesValue, body);
      writeAnswer(res, answer);
    } else {
      writeAnswer(res, await forward());
    }
  }

  private async injectFault(service: string, operation: string, res: ServerResponse): Promise<boolean> {
    increment(this.requestCounts, `${service}:${operation}`);
    const latency = this.injector.latencyMs(service, operation);
    if (latency > 0) await sleep(latency);
    const fault = this.injector.decide(service, operation);
    if (!fault) return false;
    increment(this.faultCounts, `${service}:${operation}:${fault}`);
    const answer = faultAnswer(service, fault);
    writeAnswer(res, {
      status: answer.status,
      headers: { ...answer.headers },
      body: Buffer.from(answer.body),
    });
    return true;
  }

  private async onEbsRequest(
    backends: GatewayBackends,
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: Buffer,
    operation: string,
  ): Promise<void> {
    const bridge = this.bridge!;
    const handle = (): Promise<void> => backends.emulator.handle(req, res, body);
    try {
      if (operation === 'StartSnapshot') {
        await holdingResponseEnd(res, handle, () => bridge.afterEbsStartSnapshot(body));
      } else if (operation === 'CompleteSnapshot') {
        const snapshotId = url.pathname.split('/').filter(Boolean)[2] ?? '';
        await holdingResponseEnd(res, handle, () => bridge.afterEbsCompleteSnapshot(snapshotId));
      } else {
        await handle();
      }
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(500, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'InternalServerException',
      });
      res.end(JSON.stringify({ Message: `local EBS emulator failure: ${String(error)}` }));
    }
  }

  private async onEc2Request(
    backends: GatewayBackends,
    url: URL,
    body: Buffer,
    action: string,
    forward: () => Promise<BufferedAnswer>,
  ): Promise<BufferedAnswer> {
    const bridge = this.bridge!;
    const params = new URLSearchParams(body.length > 0 ? body.toString('utf8') : url.search);
    switch (action) {
      case 'CreateSnapshot':
        return bridge.createSnapshot(params, forward);
      case 'CreateSnapshots':
        return bridge.createSnapshots(params, forward);
      case 'DescribeSnapshots':
        await bridge.beforeDescribeSnapshots();
        return forward();
      case 'DeleteSnapshot': {
        const answer = await forward();
        await bridge.afterDeleteSnapshot(params, answer);
        return answer;
      }
      case 'CreateVolume':
        return this.volumeBridge!.createVolume(params, forward);
      case 'DeleteVolume': {
        const answer = await forward();
        const volumeId = params.get('VolumeId');
        if (answer.status === 200 && volumeId) {
          await this.volumeBridge!.afterDeleteVolume(volumeId);
          await backends.replicas.forget(volumeId);
        }
        return answer;
      }
      default:
        return forward();
    }
  }

  private async onApiRequest(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const handler = this.apiHandler;
    if (!handler) {
      writeProxyResult(res, NO_API_HANDLER_RESULT);
      return;
    }
    try {
      writeProxyResult(res, await handler(toProxyEvent(req, body), apiContext()));
    } catch (error) {
      console.error('[local api] handler failed', error);
      writeProxyResult(res, HANDLER_FAILED_RESULT);
    }
  }
}

/** Hands the entries of an accepted PutEvents to the matching rules' Lambda targets; never fails the call. */
async function deliverToRules(rules: LocalEventRules | undefined, body: Buffer): Promise<void> {
  if (rules === undefined) return;
  try {
    const request = JSON.parse(body.toString('utf8')) as { Entries?: EventRuleEntry[] };
    await rules.deliver(request.Entries ?? []);
  } catch (error) {
    console.error('[local gateway] delivering a PutEvents to the event rules failed', error);
  }
}

/** Hands the entries of an accepted PutEvents to the simulated agent; its failures never fail the call. */
async function deliverToAgent(agent: ReplicaSimulator, body: Buffer): Promise<void> {
  try {
    const request = JSON.parse(body.toString('utf8')) as { Entries?: EventEntry[] };
    await agent.onEvents(request.Entries ?? []);
  } catch (error) {
    console.error('[local gateway] the replica agent failed on a PutEvents', error);
  }
}

/**
 * Runs `handle` (which answers on `res`) but holds back the final `end()` until `after` has run,
 * so that a client cannot observe the answer before its side effects (e.g. the snapshot being
 * registered in moto) are in place.
 */
async function holdingResponseEnd(
  res: ServerResponse,
  handle: () => Promise<void>,
  after: () => Promise<void>,
): Promise<void> {
  const target = res as unknown as { end: (...args: unknown[]) => unknown };
  const originalEnd = target.end;
  let heldArguments: unknown[] | undefined;
  target.end = (...args: unknown[]) => {
    heldArguments = args;
    return res;
  };
  try {
    await handle();
  } finally {
    target.end = originalEnd;
  }
  try {
    if (res.statusCode < 300) await after();
  } finally {
    if (heldArguments) originalEnd.apply(res, heldArguments);
  }
}
