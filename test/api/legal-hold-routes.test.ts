/**
 * PUT /images/{imageId}/legal-hold over the in-memory lifecycle records: set and lift (idempotent),
 * who and when, 404 for an unknown or deleted image, 409 once a deletion has begun, 400 for bad
 * input; and a held image's DELETE is refused until the hold is lifted.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { LifecycleService } from '../../lambdas/core/api/lifecycle-api.ts';
import { memoryApi } from '../fakes/memory-api-ports.ts';
import { answerOf, proxyEvent, type Answer, type EventSpec } from './api-events.ts';
import { newWorld, writeImage, type World } from '../lifecycle/lifecycle-fixture.ts';

/** The caller proxyEvent signs as (requestContext.identity.userArn). */
const OPERATOR = 'arn:aws:iam::123456789012:user/operator';

let world: World;
let handler: ApiProxyHandler;
const call = async (spec: EventSpec): Promise<Answer> => answerOf(await handler(proxyEvent(spec)));
const put = (imageId: string, body: unknown) =>
  call({ method: 'PUT', path: `/images/${imageId}/legal-hold`, body });

beforeEach(async () => {
  world = newWorld();
  await writeImage(world, 'vol-a', 'img-a1', new Map([[0, 1]]), { serverId: 'srv-1' });
  await writeImage(world, 'vol-a', 'img-a2', new Map([[0, 2]]), { serverId: 'srv-1' });
  const lifecycle = new LifecycleService({
    objects: world.bucket,
    records: world.records,
    clock: world.clock,
  });
  handler = createApiHandler({ ...memoryApi().deps, lifecycle }, () => undefined);
});

describe('PUT /images/{imageId}/legal-hold', () => {
  it('sets a hold with its reason, who and when; again is the same answer; the record carries it', async () => {
    const now = world.clock.now().toISOString();
    const held = {
      imageId: 'img-a1',
      volumeId: 'vol-a',
      legalHold: true,
      reason: 'case 4711',
      changedAt: now,
      changedBy: OPERATOR,
    };
    for (let i = 0; i < 2; i += 1) {
      const answer = await put('img-a1', { legalHold: true, reason: 'case 4711' });
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: held });
    }
    expect(world.records.images.get('vol-a/img-a1')?.legalHold).toBe(true);
    expect(world.records.holdDetails.get('vol-a/img-a1')).toEqual({
      reason: 'case 4711',
      changedAt: now,
      changedBy: OPERATOR,
    });
    expect(world.records.images.get('vol-a/img-a2')?.legalHold).toBeUndefined();
  });

  it('a held image is not deleted; lifted (twice, and on one never held) it is', async () => {
    await put('img-a1', { legalHold: true });
    const refused = await call({ method: 'DELETE', path: '/images/img-a1' });
    expect({ status: refused.status, body: refused.body }).toEqual({
      status: 409,
      body: {
        code: 'Conflict',
        message: 'image img-a1 of vol-a is under legal hold; not deleted',
        details: {
          reason: 'ImageDeletionRefusedError',
          volumeId: 'vol-a',
          imageId: 'img-a1',
          legalHold: true,
        },
      },
    });
    world.clock.advance(60_000);
    const lifted = {
      imageId: 'img-a1',
      volumeId: 'vol-a',
      legalHold: false,
      changedAt: world.clock.now().toISOString(),
      changedBy: OPERATOR,
    };
    for (let i = 0; i < 2; i += 1) {
      const answer = await put('img-a1', { legalHold: false });
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: lifted });
    }
    expect((await put('img-a2', { legalHold: false })).status).toBe(200);
    expect(world.records.images.get('vol-a/img-a1')?.legalHold).toBeUndefined();
    const deleted = await call({ method: 'DELETE', path: '/images/img-a1' });
    expect({ status: deleted.status, body: deleted.body }).toEqual({
      status: 200,
      body: { imageId: 'img-a1', volumeId: 'vol-a', status: 'deleted' },
    });
  });

  it('404 for an unknown image and for a deleted one', async () => {
    await call({ method: 'DELETE', path: '/images/img-a2' });
    for (const imageId of ['img-never', 'img-a2']) {
      const answer = await put(imageId, { legalHold: true });
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 404,
        body: { code: 'NotFound', message: `image ${imageId} does not exist`, details: { imageId } },
      });
    }
  });

  it('409 once the deletion has begun (record deleting), for a hold and a lift; nothing changes', async () => {
    await world.records.markDeleting('vol-a', 'img-a1');
    for (const [legalHold, verb] of [
      [true, 'set'],
      [false, 'lifted'],
    ] as const) {
      const answer = await put('img-a1', { legalHold });
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 409,
        body: {
          code: 'Conflict',
          message: `image img-a1 of vol-a is being deleted; a legal hold cannot be ${verb}`,
          details: { reason: 'ImageBeingDeletedError', imageId: 'img-a1', volumeId: 'vol-a' },
        },
      });
    }
    expect(world.records.images.get('vol-a/img-a1')).toMatchObject({ status: 'deleting' });
    expect(world.records.images.get('vol-a/img-a1')?.legalHold).toBeUndefined();
  });

  it.each([
    [{}, 'invalid request: body.legalHold: Invalid input: expected boolean, received undefined'],
    [
      { legalHold: 'yes' },
      'invalid request: body.legalHold: Invalid input: expected boolean, received string',
    ],
    [
      { legalHold: true, reason: '' },
      'invalid request: body.reason: Too small: expected string to have >=1 characters',
    ],
    [
      { legalHold: true, reason: 'x'.repeat(257) },
      'invalid request: body.reason: Too big: expected string to have <=256 characters',
    ],
    [
      { legalHold: false, reason: 'case 4711' },
      'invalid request: body.reason: a reason is given only with legalHold: true',
    ],
    [{ legalHold: true, until: '2027-01-01' }, 'invalid request: body: unknown field(s): until'],
  ])('400 for %j: %s', async (body, message) => {
    const answer = await put('img-a1', body);
    expect({ status: answer.status, message: answer.body.message }).toEqual({ status: 400, message });
    expect(world.records.images.get('vol-a/img-a1')?.legalHold).toBeUndefined();
  });

  it('400 for an image id that is not one, 405 for another method', async () => {
    const bad = await put('img%20a1', { legalHold: true });
    expect(bad.status).toBe(400);
    const get = await call({ method: 'GET', path: '/images/img-a1/legal-hold' });
    expect({ status: get.status, message: get.body.message }).toEqual({
      status: 405,
      message: 'method GET is not allowed here; allowed: PUT',
    });
  });
});
