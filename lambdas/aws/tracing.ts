/**
 * X-Ray subsegments of the SDK calls, for the control-plane functions only (the functions whose
 * lib/function-manifest.ts entry has `xraySdk: true`; test/aws/tracing-handlers.test.ts holds every
 * handler module to its entry).
 *
 * Every function has Lambda active tracing, which records the function's segment without any SDK
 * in the function (https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html). Subsegments per
 * SDK call need Powertools' Tracer, which loads aws-xray-sdk-core; that module creates a
 * cls-hooked namespace whose async_hooks run on every promise of the process
 * (https://github.com/aws/aws-xray-sdk-node/tree/master/packages/core#automatic-mode): measured at
 * ~15× the CPU of a bare `await Promise.resolve()`. Worth it in a function making a handful of
 * calls; not in a data-plane worker awaiting millions of times (copy, catalog, restore, scrub, GC).
 * A data-plane handler therefore never imports this module, directly or through another.
 */
import { Tracer } from '@aws-lambda-powertools/tracer';
import { SERVICE_NAME } from '../core/metrics.ts';
import type { CaptureClient } from './sdk-clients.ts';
import { LambdaWiring } from './wiring.ts';

export const tracer = new Tracer({ serviceName: SERVICE_NAME });

/** X-Ray tracing of an SDK client (a no-op outside Lambda). */
export const traceClient: CaptureClient = (client) => tracer.captureAWSv3Client(client);

let traced: LambdaWiring | undefined;

/** The container's wiring with every SDK client traced: the control-plane handlers' `lambdaWiring()`. */
export function tracedLambdaWiring(): LambdaWiring {
  traced ??= new LambdaWiring(process.env, traceClient);
  return traced;
}
