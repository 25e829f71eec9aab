/**
 * `rbp images hold IMAGE [--reason TEXT]` and `rbp images release IMAGE`, through the API handler
 * over the in-memory lifecycle records: the line each prints, --json as the API answered, and the
 * exit codes of a refusal (4: the image is being deleted; 3: no such image; 5: bad input).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { LifecycleService } from '../../lambdas/core/api/lifecycle-api.ts';
import { memoryApi } from '../fakes/memory-api-ports.ts';
import { newWorld, writeImage, type World } from '../lifecycle/lifecycle-fixture.ts';
import { useHandlerStandIn } from '../support/handler-stand-in.ts';

/** The caller proxyEvent signs as. */
const OPERATOR = 'arn:aws:iam::123456789012:user/operator';
const IMAGE = 'img-bk-20261120t120000000z-0a1b2c3d4e5f6071';
const VOLUME = 'vol-0123456789abcdef0';

let world: World;
let handler: ApiProxyHandler;

const standIn = useHandlerStandIn(() => handler);

beforeEach(async () => {
  world = newWorld();
  await writeImage(world, VOLUME, IMAGE, new Map([[0, 1]]));
  const lifecycle = new LifecycleService({
    objects: world.bucket,
    records: world.records,
    clock: world.clock,
  });
  handler = createApiHandler({ ...memoryApi().deps, lifecycle }, () => undefined);
});

describe('rbp images hold / release', () => {
  it('hold prints what the image is now, who changed it and when; --json is the API’s answer', async () => {
    const at = world.clock.now().toISOString();
    const held = await standIn.rbp(['images', 'hold', IMAGE, '--reason', 'case 4711']);
    expect(held).toEqual({
      code: 0,
      stdout: `image ${IMAGE} of ${VOLUME} is under legal hold (case 4711): changed by ${OPERATOR} at ${at}\n`,
      stderr: '',
    });
    expect(world.records.images.get(`${VOLUME}/${IMAGE}`)?.legalHold).toBe(true);
    const json = await standIn.rbp(['images', 'hold', IMAGE, '--json']);
    expect(json.code).toBe(0);
    expect(json.stdout).toBe(
      `${JSON.stringify(
        { imageId: IMAGE, volumeId: VOLUME, legalHold: true, changedAt: at, changedBy: OPERATOR },
        null,
        2,
      )}\n`,
    );
  });

  it('release lifts it (and again: nothing to lift is success); the image can then be deleted', async () => {
    await standIn.rbp(['images', 'hold', IMAGE]);
    const refused = await standIn.rbp(['images', 'delete', IMAGE]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toBe(
      `rbp: image ${IMAGE} of ${VOLUME} is under legal hold; not deleted (HTTP 409 Conflict)\n`,
    );
    world.clock.advance(60_000);
    const at = world.clock.now().toISOString();
    for (let i = 0; i < 2; i += 1) {
      expect(await standIn.rbp(['images', 'release', IMAGE])).toEqual({
        code: 0,
        stdout: `image ${IMAGE} of ${VOLUME} is not under legal hold: changed by ${OPERATOR} at ${at}\n`,
        stderr: '',
      });
    }
    const json = await standIn.rbp(['images', 'release', IMAGE, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({
      imageId: IMAGE,
      volumeId: VOLUME,
      legalHold: false,
      changedAt: at,
      changedBy: OPERATOR,
    });
    expect((await standIn.rbp(['images', 'delete', IMAGE])).code).toBe(0);
  });

  it('exit 4 once the deletion has begun, 3 for an unknown image, 5 for a reason too long', async () => {
    await world.records.markDeleting(VOLUME, IMAGE);
    const deleting = await standIn.rbp(['images', 'hold', IMAGE]);
    expect(deleting).toEqual({
      code: 4,
      stdout: '',
      stderr: `rbp: image ${IMAGE} of ${VOLUME} is being deleted; a legal hold cannot be set (HTTP 409 Conflict)\n`,
    });
    const unknown = await standIn.rbp(['images', 'release', 'img-bk-20261120t120000000z-ffffffffffffffff']);
    expect(unknown).toEqual({
      code: 3,
      stdout: '',
      stderr: 'rbp: image img-bk-20261120t120000000z-ffffffffffffffff does not exist (HTTP 404 NotFound)\n',
    });
    const long = await standIn.rbp(['images', 'hold', IMAGE, '--reason', 'x'.repeat(257)]);
    expect(long.code).toBe(5);
    expect(long.stderr).toBe(
      'rbp: invalid request: body.reason: Too big: expected string to have <=256 characters (HTTP 400 InvalidRequest)\n',
    );
  });
});
